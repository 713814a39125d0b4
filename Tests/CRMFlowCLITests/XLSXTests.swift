import Foundation
import Testing

/// Excel workbooks in and out, on workbooks written by openpyxl and by LibreOffice (Tests/Fixtures/xlsx/, made by
/// scripts/make-xlsx-fixtures.py), one converted live by LibreOffice when it is installed, and openpyxl reading what
/// crmflow writes.
@Suite(.serialized) struct XLSXTests {
    static let fixtures = CLI.packageRoot.appendingPathComponent("Tests/Fixtures/xlsx").path
    static var soffice: String? { ["/usr/bin/soffice", "/usr/bin/libreoffice"].first { FileManager.default.isExecutableFile(atPath: $0) } }
    static var hasOpenpyxl: Bool { (try? python("import openpyxl"))?.status == 0 }

    static func python(_ code: String, _ args: [String] = []) throws -> (status: Int32, out: String) {
        try CLI.tool("/usr/bin/env", ["python3", "-c", code] + args)
    }

    static let expectedCustomers = """
        Customer ID,Name,Region,ZIP,Phone,Signed,Last Contact,Revenue,Seats,Active
        101,"Acme, Inc.",North,02139,+1 555 010 1234,2019-03-12,2024-01-05T10:30:00Z,1200000.5,12,true
        102,"Globex ""GX"" Ltd",North,00501,555-010-2222,1999-12-31,2024-02-07T08:00:00Z,850000.0,40,false
        103,Initech,North,94105,(555) 010-3333,2020-02-29,,0.1,7,true
        105,Société Générale,South,75008,+33 1 42 14 20 00,1900-03-01,2024-06-01T12:00:00Z,3.75,8,true
        106,Stark Industries,West,90210,555 010 6666,2024-01-01,2024-07-04T09:15:00Z,99.99,1,true

        """

    static func pipeline(_ workbook: String, extra: String = "") -> String {
        CLI.write("""
        pipeline: workbook
        stages:
          customers:
            ingest: { path: "\(workbook)"\(extra) }
          deals:
            ingest: { path: "\(workbook)", sheet: 2 }
          c:
            emit: { input: customers, path: customers.csv, formula_guard: false }
          d:
            emit: { input: deals, path: deals.csv }
        """, "workbook.yaml")
    }

    @Test(arguments: ["legacy-openpyxl.xlsx", "legacy-libreoffice.xlsx"])
    func readsLegacyWorkbooks(_ name: String) throws {
        let dir = CLI.scratch("xlsx-\(name)")
        let book = Self.fixtures + "/" + name
        let r = try CLI.run(["run", Self.pipeline(book), "--out", dir])
        #expect(r.status == 0, "\(r.stderr)")
        // Title and blank rows skipped, the merged region filled down, dates from serials, ZIPs kept as text,
        // numbers stored as text ("40") read as numbers, the blank row between records skipped.
        #expect(try String(contentsOfFile: dir + "/customers.csv", encoding: .utf8) == Self.expectedCustomers)
        #expect(try String(contentsOfFile: dir + "/deals.csv", encoding: .utf8) == "Deal,Customer ID,Amount,Close\nD-1,101,5000.0,2024-03-01\nD-2,103,750.25,2024-04-15\n")
        // The error cell's row is a reject naming the sheet and cell, with the whole record as the sheet shows it.
        let rejects = try String(contentsOfFile: dir + "/customers.rejects.csv", encoding: .utf8)
        #expect(rejects.contains("\(book),7,customers,E_TYPE,Customers!F7 holds the error #N/A,\"104,Umbrella Corp.,South,10001,555 010 4444,#N/A,2023-12-31T23:59:59,42,3,false\""), "\(rejects)")
        #expect(r.stderr.contains("every row accounted for"))
        let summary = try String(contentsOfFile: dir + "/run-summary.json", encoding: .utf8)
        #expect(summary.contains("header found in row 3 of sheet 'Customers'"))
        #expect(summary.contains("1 merged ranges: 2 covered cells take the value of their range's top-left cell"))
    }

    @Test func the1904DateSystemAndDeclaredTypesRejectByCell() throws {
        let dir = CLI.scratch("xlsx-1904")
        let book = Self.fixtures + "/legacy-1904.xlsx"
        let r = try CLI.run(["run", Self.pipeline(book, extra: ", sheet: Customers, header_row: 3, columns: { Seats: integer, Phone: integer }"), "--out", dir])
        #expect(r.status == 0, "\(r.stderr)")
        let rejects = try String(contentsOfFile: dir + "/customers.rejects.csv", encoding: .utf8)
        // 1900-03-01 cannot be written in the 1904 system (a negative serial): a reject, not a wrong date.
        #expect(rejects.contains("Customers!F8: -1401 is not a date in the workbook's 1904 date system"), "\(rejects)")
        #expect(rejects.contains(",4,customers,E_TYPE,Customers!E4: column 'Phone': '+1 555 010 1234' is not a valid integer"), "\(rejects)")
        let out = try String(contentsOfFile: dir + "/customers.csv", encoding: .utf8)
        #expect(out.isEmpty || !out.contains("1904-"), "dates are read in the 1904 system: \(out)")
        #expect(!out.contains("Acme"))
        #expect(r.stderr.contains("every row accounted for"))
    }

    @Test func badWorkbooksAndSheetsGetClearErrors() throws {
        let dir = CLI.scratch("xlsx-bad")
        let book = Self.fixtures + "/legacy-openpyxl.xlsx"
        let p = CLI.write("pipeline: b\nstages:\n  c:\n    ingest: { path: \"\(book)\", sheet: Contacts }\n", "bad-sheet.yaml")
        let v = try CLI.run(["validate", p])
        #expect(v.status == 78)
        #expect(v.stderr.contains("bad-sheet.yaml:4:"), "\(v.stderr)")
        #expect(v.stderr.contains("has no sheet 'Contacts'") && v.stderr.contains("sheets: Customers, Deals"), "\(v.stderr)")
        let fake = CLI.write("this is a CSV renamed\n1,2\n", "fake.xlsx")
        let f = try CLI.run(["run", CLI.write("pipeline: f\nstages:\n  c:\n    ingest: { path: \"\(fake)\" }\n", "fake.yaml"), "--out", dir])
        #expect(f.status == 65 || f.status == 78, "\(f.stderr)")
        #expect(f.stderr.contains("not an .xlsx workbook"), "\(f.stderr)")
    }

    @Test(.enabled(if: hasOpenpyxl)) func writesWorkbooksExcelAndOpenpyxlRead() throws {
        let dir = CLI.scratch("xlsx-out")
        let csv = CLI.write("owner,deals,revenue,won_rate,last_close,open\nAnn,12,120500.50,0.25,2024-03-01,true\n=HYPERLINK(\"x\"),3,99.99,0.5,2024-04-15,false\n", "owners.csv")
        let p = CLI.write("""
        pipeline: w
        stages:
          o:
            ingest: { path: \(csv), columns: { revenue: money } }
          x:
            emit: { input: o, path: owners.xlsx, sheet: Revenue by owner }
        """, "w.yaml")
        let r = try CLI.run(["run", p, "--out", dir])
        #expect(r.status == 0, "\(r.stderr)")
        let check = try Self.python("""
        import sys, openpyxl
        wb = openpyxl.load_workbook(sys.argv[1])
        ws = wb["Revenue by owner"]
        print(ws.freeze_panes, ws.auto_filter.ref, all(c.font.b for c in ws[1]))
        for row in ws.iter_rows(values_only=True): print(repr(row))
        print(ws["E2"].number_format, ws["C2"].number_format, ws["A3"].data_type)
        """, [dir + "/owners.xlsx"])
        #expect(check.status == 0, "\(check.out)")
        #expect(check.out == """
            A2 A1:F3 True
            ('owner', 'deals', 'revenue', 'won_rate', 'last_close', 'open')
            ('Ann', 12, 120500.5, 0.25, datetime.datetime(2024, 3, 1, 0, 0), True)
            ('=HYPERLINK("x")', 3, 99.99, 0.5, datetime.datetime(2024, 4, 15, 0, 0), False)
            yyyy\\-mm\\-dd #,##0.00 s

            """, "\(check.out)")
        // And crmflow reads its own workbook back to the same rows.
        let back = CLI.write("pipeline: b\nstages:\n  o:\n    ingest: { path: \(dir)/owners.xlsx, columns: { revenue: money } }\n  e:\n    emit: { input: o, path: back.csv, formula_guard: false }\n", "b.yaml")
        #expect(try CLI.run(["run", back, "--out", dir + "/back"]).status == 0)
        #expect(try String(contentsOfFile: dir + "/back/back.csv", encoding: .utf8) == "owner,deals,revenue,won_rate,last_close,open\nAnn,12,120500.50,0.25,2024-03-01,true\n\"=HYPERLINK(\"\"x\"\")\",3,99.99,0.5,2024-04-15,false\n")
    }

    @Test(.enabled(if: soffice != nil)) func readsAWorkbookLibreOfficeWritesNow() throws {
        let dir = CLI.scratch("xlsx-lo")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.soffice!)
        p.arguments = ["--headless", "-env:UserInstallation=file://\(dir)/profile", "--convert-to", "xlsx", "--outdir", dir + "/lo", Self.fixtures + "/legacy-1904.xlsx"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let book = dir + "/lo/legacy-1904.xlsx"
        let r = try CLI.run(["run", Self.pipeline(book), "--out", dir + "/out"])
        #expect(r.status == 0, "\(r.stderr)")
        let out = try String(contentsOfFile: dir + "/out/customers.csv", encoding: .utf8)
        // LibreOffice keeps the 1904 system; the rows read are the same as from openpyxl's workbook.
        #expect(out.contains("101,\"Acme, Inc.\",North,02139,+1 555 010 1234,2019-03-12,2024-01-05T10:30:00Z,1200000.5,12,true"), "\(out)")
        #expect(out.contains("106,Stark Industries,West,90210,555 010 6666,2024-01-01,2024-07-04T09:15:00Z,99.99,1,true"), "\(out)")
    }

    @Test(.enabled(if: hasOpenpyxl)) func theNightlyReportAsAWorkbookHasASheetPerSection() throws {
        let out = CLI.scratch("xlsx-report")
        #expect(try CLI.run(["run", "pipelines/nightly.yaml", "--as-of", "2024-12-31", "--out", out, "--quiet"]).status == 0)
        let check = try Self.python("""
        import sys, openpyxl
        wb = openpyxl.load_workbook(sys.argv[1])
        print(wb.sheetnames[:4])
        c = wb["Contents"]
        print(c.max_row - 1, [x.value for x in c[1]])
        k = wb[wb.sheetnames[1]]
        print(k.freeze_panes, all(x.font.b for x in k[1]))
        r = wb["Won revenue by owner and…"]
        print([type(x.value).__name__ for x in r[2]])
        """, [out + "/report.xlsx"])
        #expect(check.status == 0, "\(check.out)")
        let lines = check.out.split(separator: "\n").map(String.init)
        #expect(lines.first == "['Contents', 'KPIs this quarter', 'Sales funnel', 'Won revenue trend (USD)']" || lines.first?.hasPrefix("['Contents', 'KPIs this quarter'") == true, "\(check.out)")
        #expect(lines.count > 3 && lines[1].hasPrefix("12 ['section', 'title', 'rows', 'note']"), "\(check.out)")
        #expect(lines.count > 3 && lines[2] == "A2 True", "\(check.out)")
        #expect(lines.count > 3 && lines[3].contains("'str'") && (lines[3].contains("'float'") || lines[3].contains("'int'")), "\(check.out)")
    }

    /// A hostile workbook: a merged range over the whole sheet, a zip entry that claims to be the sheet twice over, a
    /// DTD with an entity bomb. Read in well under a second with a clear result, never filled cell by cell.
    @Test func hostileWorkbooksAreReadWithinBounds() throws {
        let dir = CLI.scratch("xlsx-hostile")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let make = try CLI.tool("/usr/bin/env", ["python3", "-c", """
        import sys, zipfile
        z = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED)
        z.writestr('[Content_Types].xml', '<Types/>')
        z.writestr('xl/workbook.xml', '<workbook><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>')
        z.writestr('xl/_rels/workbook.xml.rels', '<Relationships><Relationship Id="rId1" Target="worksheets/sheet1.xml"/></Relationships>')
        bomb = '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        z.writestr('xl/worksheets/sheet1.xml', '<?xml version="1.0"?>' + bomb + '<worksheet><sheetData>'
            '<row r="1"><c r="A1" t="inlineStr"><is><t>name</t></is></c><c r="B1" t="inlineStr"><is><t>&c;</t></is></c></row>'
            '<row r="2"><c r="A2" t="inlineStr"><is><t>Ann</t></is></c><c r="B2"><v>1</v></c></row>'
            '</sheetData><mergeCells><mergeCell ref="A2:XFD1048576"/></mergeCells></worksheet>')
        z.close()
        """, dir + "/hostile.xlsx"])
        #expect(make.status == 0, "\(make.out)")
        let p = CLI.write("pipeline: h\nstages:\n  s:\n    ingest: { path: \(dir)/hostile.xlsx, header_row: 1 }\n  e:\n    emit: { input: s, path: s.csv }\n", "hostile.yaml")
        let start = Date()
        let r = try CLI.run(["run", p, "--out", dir + "/out"])
        #expect(Date().timeIntervalSince(start) < 10)
        #expect(r.status == 0, "\(r.stderr)")
        // The entity is not expanded (the text stays as written), and the merge fills only where the sheet has cells.
        let out = try String(contentsOfFile: dir + "/out/s.csv", encoding: .utf8)
        #expect(out == "name,&c;\nAnn,Ann\n", "\(out)")
    }
}
