import Foundation
import Testing
@testable import CRMFlowCore
@testable import CRMFlowIO

/// The pieces of the Excel reader and writer, table-driven.
struct XLSXPartsTests {
    @Test(arguments: [
        // 1900 system: serial 1 is 1900-01-01, 60 the phantom 29 February, 61 the first of March.
        (1.0, false, "1900-01-01"), (59.0, false, "1900-02-28"), (61.0, false, "1900-03-01"), (45292.0, false, "2024-01-01"),
        (45296.4375, false, "2024-01-05T10:30:00"), (0.5, false, "12:00:00"), (45292.9999999999, false, "2024-01-02"), (45292.99999999, false, "2024-01-01T23:59:59.999"),
        (36525.0, false, "1999-12-31"),
        // 1904 system: serial 0 is 1904-01-01.
        (0.0, true, "1904-01-01"), (43830.0, true, "2024-01-01"), (1.25, true, "1904-01-02T06:00:00"),
    ])
    func serialDates(_ serial: Double, _ date1904: Bool, _ expected: String) {
        #expect(XLSXReader.dateText(serial: serial, date1904: date1904) == expected)
    }

    @Test func invalidSerials() {
        #expect(XLSXReader.dateText(serial: 60, date1904: false) == nil)
        #expect(XLSXReader.dateText(serial: -1, date1904: true) == nil)
        #expect(XLSXReader.dateText(serial: .nan, date1904: false) == nil)
        #expect(XLSXReader.dateText(serial: 3e6, date1904: false) == nil)
    }

    @Test(arguments: [
        ("yyyy-mm-dd", true), ("dd/mm/yyyy", true), ("m/d/yy h:mm", true), ("[h]:mm:ss", true), ("mmm d, yyyy", true),
        ("General", false), ("0.00", false), ("#,##0", false), ("\"$\"#,##0.00", false), ("[$€-2] #,##0.00", false),
        ("0.00E+00", false), ("\"days\" 0", false), ("[Red]#,##0;[Blue]-#,##0", false), ("@", false), ("yyyy\\-mm\\-dd", true),
    ])
    func dateFormats(_ code: String, _ isDate: Bool) {
        #expect(XLSXReader.isDateFormat(code) == isDate, "\(code)")
    }

    @Test(arguments: [("A1", 1, 0), ("B17", 17, 1), ("Z9", 9, 25), ("AA1", 1, 26), ("XFD1048576", 1_048_576, 16_383)])
    func cellReferences(_ text: String, _ row: Int, _ column: Int) {
        let r = XLSXReader.cellReference(Array(text.utf8))
        #expect(r?.row == row && r?.column == column)
        #expect(XLSXReader.columnName(column) == String(text.prefix { $0.isLetter }))
    }

    @Test func cellReferencesRejectOtherText() {
        for text in ["", "1A", "A", "A0", "ABCD1", "A1:B2", "é1"] { #expect(XLSXReader.cellReference(Array(text.utf8)) == nil, "\(text)") }
    }

    @Test func scannerDecodesEntitiesCDATAAndSkipsDoctypesAndComments() {
        let xml = Array("""
        <?xml version="1.0"?><!DOCTYPE x [<!ENTITY boom "&#x41;&#x41;">]><!-- a <comment> --><x:root a='1' b="&lt;&amp;&#233;&#x1F600;">\
        t&amp;x<![CDATA[<raw> &amp;]]><e/></x:root>
        """.utf8)
        var s = XMLScanner(xml)
        var seen: [String] = []
        while let t = s.next() {
            switch t {
            case .open(let name, let attrs, let selfClosing):
                seen.append("open \(String(decoding: xml[name], as: UTF8.self)) \(selfClosing) b=\(s.attribute("b", in: attrs) ?? "-") a=\(s.attribute("a", in: attrs) ?? "-")")
                #expect(s.isNamed(name, "root") || s.isNamed(name, "e"))
            case .close(let name): seen.append("close \(String(decoding: xml[name], as: UTF8.self))")
            case .text(let r, let cdata): seen.append("text \(cdata ? String(decoding: xml[r], as: UTF8.self) : s.decoded(r))")
            }
        }
        #expect(seen == ["open x:root false b=<&é😀 a=1", "text t&x", "text <raw> &amp;", "open e true b=- a=-", "close x:root"])
    }

    @Test func officeEscapes() {
        #expect(XLSXReader.unescapedOOXML("a_x000D_b_x0009_c") == "a\rb\tc")
        #expect(XLSXReader.unescapedOOXML("keep_x_this_xZZZZ_") == "keep_x_this_xZZZZ_")
        #expect(XLSXWriter.escaped("a\u{1}b<&>") == "a_x0001_b&lt;&amp;&gt;")
    }

    @Test func sheetNamesAreValidAndUnique() {
        #expect(XLSXWriter.sheetNames(["a/b", "A/B", String(repeating: "x", count: 40), "", "Won revenue by owner and month (USD)"])
                == ["a_b", "A_B (2)", String(repeating: "x", count: 30) + "…", "Sheet", "Won revenue by owner and…"])
    }

    @Test func writtenWorkbookReadsBackWithEveryType() throws {
        let dir = FileManager.default.temporaryDirectory.path + "/crmflow-xlsx-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let schema = Schema([Field(name: "name", type: .string), Field(name: "n", type: .integer), Field(name: "x", type: .double),
                             Field(name: "ok", type: .boolean), Field(name: "day", type: .date), Field(name: "at", type: .timestamp),
                             Field(name: "amount", type: .money)])
        let table = Table(schema: schema, columns: [
            Column.make(.string, [.string("=cmd|' /C calc'!A0"), .string("Ann & <Bob>"), .null]),
            Column.make(.integer, [.integer(1), .integer(-7), .null]),
            Column.make(.double, [.double(1.5), .double(1e-7), .double(2)]),
            Column.make(.boolean, [.boolean(true), .boolean(false), .null]),
            Column.make(.date, [.date(19_723), .date(-25_567), .null]),
            Column.make(.timestamp, [.timestamp(1_704_450_600_000_000), .null, .null]),
            Column.make(.money, [.money(120_050, "USD"), .money(-5, "USD"), .null]),
        ], rowCount: 3)
        let path = dir + "/t.xlsx"
        try XLSXWriter.write([("Report", table)], to: path)
        let back = try XLSXReader.read(path: path, sheet: "Report", headerRow: nil, declared: { _ in ["amount": ColumnPlan(type: .money, isDeclared: true)] }, source: path)
        #expect(back.rejects.isEmpty)
        #expect(back.table.schema.names == schema.names)
        #expect(back.table.columns[0].value(at: 0) == .string("=cmd|' /C calc'!A0"))
        #expect(back.table.columns[0].value(at: 1) == .string("Ann & <Bob>"))
        #expect(back.table.columns[1].value(at: 1) == .integer(-7))
        #expect(back.table.columns[2].value(at: 1) == .double(1e-7))
        #expect(back.table.columns[3].value(at: 0) == .boolean(true))
        #expect(back.table.columns[4].value(at: 0) == .date(19_723))
        #expect(back.table.columns[4].value(at: 1) == .date(-25_567))
        #expect(back.table.columns[5].value(at: 0) == .timestamp(1_704_450_600_000_000))
        #expect(back.table.columns[6].value(at: 0) == .money(120_050, "USD") || back.table.columns[6].value(at: 0) == .money(120_050, ""))
        // Byte for byte the same workbook from the same table.
        #expect(try XLSXWriter.workbook([("Report", table)]) == XLSXWriter.workbook([("Report", table)]))
    }
}
