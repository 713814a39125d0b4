import CRMFlowCore
import Foundation
import ZIPFoundation

/// Writes tables as an Excel workbook (`.xlsx`) a manager opens as is: one sheet per table, typed cells (numbers as
/// numbers, dates and timestamps as Excel dates with a date format, money with two decimals, booleans as booleans),
/// a bold header row on a grey fill, frozen so it stays in view, with a filter on it, and column widths from the
/// values. Text cells are inline strings, never formulas, so a value starting with `=` cannot run in Excel.
/// Written to a temporary file and renamed, like every output.
public enum XLSXWriter {
    public static let maxRows = 1_048_576
    public static let maxColumns = 16_384

    /// A sheet name Excel accepts: at most 31 characters (longer ones cut, with an ellipsis), none of `[]:*?/\`,
    /// unique in the workbook.
    static func sheetNames(_ wanted: [String]) -> [String] {
        var used: Set<String> = []
        return wanted.map { w in
            var base = String(w.map { "[]:*?/\\".contains($0) ? "_" : $0 })
            // NB: longer names are cut at a word where one is near, and end in an ellipsis.
            if base.count > 31 {
                var cut = String(base.prefix(30))
                if let space = cut.lastIndex(of: " "), cut.distance(from: cut.startIndex, to: space) >= 20 { cut = String(cut[..<space]) }
                base = cut.trimmingCharacters(in: .whitespaces) + "…"
            }
            if base.isEmpty { base = "Sheet" }
            var name = base, k = 2
            while used.contains(name.lowercased()) {
                let suffix = " (\(k))"
                name = String(base.prefix(31 - suffix.count)) + suffix
                k += 1
            }
            used.insert(name.lowercased())
            return name
        }
    }

    static func escaped(_ s: String, attribute: Bool = false) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for u in s.unicodeScalars {
            switch u {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"" where attribute: out += "&quot;"
            case "\t", "\n", "\r": out.unicodeScalars.append(u)
            default:
                // Characters XML 1.0 cannot hold are written as Office does: _xHHHH_.
                if u.value < 0x20 || u.value == 0xFFFE || u.value == 0xFFFF {
                    out += String(format: "_x%04X_", u.value)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out
    }

    /// Style indexes in styles.xml's cellXfs.
    enum Style: Int { case plain = 0, header, date, timestamp, money, integer }

    static let styles = """
        <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
        <styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
        <numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd"/><numFmt numFmtId="165" formatCode="yyyy\\-mm\\-dd\\ hh:mm:ss"/></numFmts>
        <fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts>
        <fills count="3"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill><fill><patternFill patternType="solid"><fgColor rgb="FFD9D9D9"/><bgColor indexed="64"/></patternFill></fill></fills>
        <borders count="2"><border><left/><right/><top/><bottom/><diagonal/></border><border><left/><right/><top/><bottom style="thin"><color auto="1"/></bottom><diagonal/></border></borders>
        <cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>
        <cellXfs count="6"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="0" fontId="1" fillId="2" borderId="1" xfId="0" applyFont="1" applyFill="1" applyBorder="1"/><xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/><xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/><xf numFmtId="4" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/><xf numFmtId="1" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>
        <cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>
        </styleSheet>
        """

    /// The 1900-system serial of a day (days since 1970-01-01): Excel counts a 29 February 1900 that never was, so
    /// days before 1 March 1900 are one lower.
    static func serial(days: Int) -> Int {
        let s = days + 25_569
        return s < 61 ? s - 1 : s
    }

    /// The XML of one worksheet.
    static func sheetXML(_ table: CRMFlowCore.Table) -> [UInt8] {
        let columns = table.schema.names.count
        var out: [UInt8] = []
        out.reserveCapacity(64 + table.rowCount * max(columns, 1) * 24)
        func put(_ s: String) { out.append(contentsOf: s.utf8) }
        let letters = (0..<max(columns, 1)).map { XLSXReader.columnName($0) }
        // Widths: the longest text of the header and the first 1,000 rows, within 8…60 characters.
        var widths = table.schema.names.map { $0.count + 2 }
        for c in 0..<columns {
            for r in 0..<min(table.rowCount, 1000) {
                let v = table.columns[c].value(at: r)
                let n: Int
                switch v {
                case .date: n = 10
                case .timestamp: n = 19
                default: n = v.description.count
                }
                widths[c] = max(widths[c], n + 1)
            }
        }
        put("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">")
        let last = columns > 0 ? "\(letters[columns - 1])\(table.rowCount + 1)" : "A1"
        put("<dimension ref=\"A1:\(last)\"/>")
        put("<sheetViews><sheetView workbookViewId=\"0\"><pane ySplit=\"1\" topLeftCell=\"A2\" activePane=\"bottomLeft\" state=\"frozen\"/><selection pane=\"bottomLeft\" activeCell=\"A2\" sqref=\"A2\"/></sheetView></sheetViews>")
        put("<sheetFormatPr defaultRowHeight=\"15\"/>")
        if columns > 0 {
            put("<cols>")
            for c in 0..<columns { put("<col min=\"\(c + 1)\" max=\"\(c + 1)\" width=\"\(min(60, max(8, widths[c])))\" customWidth=\"1\"/>") }
            put("</cols>")
        }
        put("<sheetData><row r=\"1\">")
        for (c, name) in table.schema.names.enumerated() {
            put("<c r=\"\(letters[c])1\" s=\"\(Style.header.rawValue)\" t=\"inlineStr\"><is><t xml:space=\"preserve\">\(escaped(name))</t></is></c>")
        }
        put("</row>")
        let mixed = table.columns.map { (c: CRMFlowCore.Column) -> Bool in if case .money(_, _, let codes) = c.storage { return codes.count > 1 }; return false }
        for r in 0..<table.rowCount {
            let rowNumber = r + 2
            put("<row r=\"\(rowNumber)\">")
            for c in 0..<columns {
                let ref = "\(letters[c])\(rowNumber)"
                switch table.columns[c].value(at: r) {
                case .null: continue
                case .string(let s):
                    put("<c r=\"\(ref)\" t=\"inlineStr\"><is><t xml:space=\"preserve\">\(escaped(s))</t></is></c>")
                case .integer(let i):
                    put("<c r=\"\(ref)\"><v>\(i)</v></c>")
                case .double(let d):
                    if d.isFinite { put("<c r=\"\(ref)\"><v>\(DoubleFormatting.string(d))</v></c>") } else { put("<c r=\"\(ref)\" t=\"e\"><v>#NUM!</v></c>") }
                case .boolean(let b):
                    put("<c r=\"\(ref)\" t=\"b\"><v>\(b ? 1 : 0)</v></c>")
                case .date(let days):
                    put("<c r=\"\(ref)\" s=\"\(Style.date.rawValue)\"><v>\(serial(days: Int(days)))</v></c>")
                case .timestamp(let micros):
                    let days = Int((Double(micros) / 86_400_000_000).rounded(.down))
                    let time = Double(micros - Int64(days) * 86_400_000_000) / 86_400_000_000
                    put("<c r=\"\(ref)\" s=\"\(Style.timestamp.rawValue)\"><v>\(DoubleFormatting.string(Double(serial(days: days)) + time))</v></c>")
                case .money(let minor, let currency):
                    var amount: [UInt8] = []
                    Money.appendAmount(minor, to: &amount)
                    let text = String(decoding: amount, as: UTF8.self)
                    if mixed[c] {
                        put("<c r=\"\(ref)\" t=\"inlineStr\"><is><t>\(escaped(text + " " + currency))</t></is></c>")
                    } else {
                        put("<c r=\"\(ref)\" s=\"\(Style.money.rawValue)\"><v>\(text)</v></c>")
                    }
                }
            }
            put("</row>")
        }
        put("</sheetData>")
        if columns > 0 { put("<autoFilter ref=\"A1:\(last)\"/>") }
        put("<pageMargins left=\"0.7\" right=\"0.7\" top=\"0.75\" bottom=\"0.75\" header=\"0.3\" footer=\"0.3\"/></worksheet>")
        return out
    }

    /// The workbook's bytes: one sheet per `(name, table)`.
    public static func workbook(_ sheets: [(name: String, table: CRMFlowCore.Table)]) throws(CRMFlowError) -> [UInt8] {
        for s in sheets {
            if s.table.rowCount + 1 > maxRows {
                throw CRMFlowError(.cannotWrite, "'\(s.name)' has \(s.table.rowCount) rows; an Excel sheet holds at most \(maxRows - 1) below its header",
                                   hint: "write CSV for tables this large, or filter / aggregate first")
            }
            if s.table.schema.names.count > maxColumns {
                throw CRMFlowError(.cannotWrite, "'\(s.name)' has \(s.table.schema.names.count) columns; an Excel sheet holds at most \(maxColumns)")
            }
        }
        let names = sheetNames(sheets.map(\.name))
        var parts: [(String, [UInt8])] = []
        parts.append(("[Content_Types].xml", Array(("""
            <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
            <Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/><Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/><Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/>
            """ + names.indices.map { "<Override PartName=\"/xl/worksheets/sheet\($0 + 1).xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/>" }.joined() + "</Types>").utf8)))
        parts.append(("_rels/.rels", Array("""
            <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
            <Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/><Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties" Target="docProps/app.xml"/></Relationships>
            """.utf8)))
        parts.append(("docProps/core.xml", Array("""
            <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
            <cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>crmflow</dc:creator></cp:coreProperties>
            """.utf8)))
        parts.append(("docProps/app.xml", Array("""
            <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
            <Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"><Application>crmflow</Application></Properties>
            """.utf8)))
        var filters: [String] = []
        for (k, s) in sheets.enumerated() where !s.table.schema.names.isEmpty {
            let sheet = names[k].replacingOccurrences(of: "'", with: "''")
            let corner = XLSXReader.columnName(s.table.schema.names.count - 1)
            filters.append("<definedName name=\"_xlnm._FilterDatabase\" localSheetId=\"\(k)\" hidden=\"1\">'\(escaped(sheet))'!$A$1:$\(corner)$\(s.table.rowCount + 1)</definedName>")
        }
        var workbookXML = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
        workbookXML += "<workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\">"
        workbookXML += "<workbookPr date1904=\"0\"/><bookViews><workbookView activeTab=\"0\"/></bookViews><sheets>"
        for (k, name) in names.enumerated() { workbookXML += "<sheet name=\"\(escaped(name, attribute: true))\" sheetId=\"\(k + 1)\" r:id=\"rId\(k + 1)\"/>" }
        workbookXML += "</sheets>"
        if !filters.isEmpty { workbookXML += "<definedNames>" + filters.joined() + "</definedNames>" }
        workbookXML += "</workbook>"
        parts.append(("xl/workbook.xml", Array(workbookXML.utf8)))
        parts.append(("xl/_rels/workbook.xml.rels", Array(("""
            <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
            <Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
            """ + names.indices.map { "<Relationship Id=\"rId\($0 + 1)\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet\" Target=\"worksheets/sheet\($0 + 1).xml\"/>" }.joined()
            + "<Relationship Id=\"rId\(names.count + 1)\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles\" Target=\"styles.xml\"/></Relationships>").utf8)))
        parts.append(("xl/styles.xml", Array(styles.utf8)))
        for (k, s) in sheets.enumerated() { parts.append(("xl/worksheets/sheet\(k + 1).xml", sheetXML(s.table))) }
        do {
            let archive = try Archive(data: Data(), accessMode: .create)
            // A fixed time, so the same tables give the same bytes.
            let when = Date(timeIntervalSince1970: 1_704_067_200)
            for (name, bytes) in parts {
                let data = Data(bytes)
                try archive.addEntry(with: name, type: .file, uncompressedSize: Int64(data.count), modificationDate: when, compressionMethod: .deflate) { position, size in
                    data.subdata(in: Int(position)..<Int(position) + size)
                }
            }
            guard let data = archive.data else { throw CRMFlowError(.cannotWrite, "cannot assemble the workbook") }
            return [UInt8](data)
        } catch let e as CRMFlowError {
            throw e
        } catch {
            throw CRMFlowError(.cannotWrite, "cannot assemble the workbook: \(error)")
        }
    }

    /// Writes the workbook to `path` atomically.
    public static func write(_ sheets: [(name: String, table: CRMFlowCore.Table)], to path: String, inputs: [String] = []) throws(CRMFlowError) {
        let bytes = try workbook(sheets)
        let out = try AtomicOutput(path: path, inputs: inputs)
        try out.write(bytes)
        try out.commit()
    }
}
