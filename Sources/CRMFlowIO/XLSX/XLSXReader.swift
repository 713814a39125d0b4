import CRMFlowCore
import Foundation
import ZIPFoundation

/// Excel workbooks (`.xlsx`, Office Open XML) as a source: one sheet, by name or 1-based index, becomes a table.
///
/// - The header is the given row, else the first row near the top whose text cells fill at least half the width of
///   the rows below it (title rows and blank rows above it are skipped and named in a note).
/// - Numeric cells with a date or time format become dates or timestamps, in the workbook's 1900 or 1904 date system
///   (1900's phantom 29 February accounted for); other cells are text typed like CSV (so numbers stored as text are
///   numbers), or as declared.
/// - A merged range takes the value of its top-left cell in every cell it covers.
/// - A cell holding an error (`#N/A`, `#DIV/0!`) or a value that does not fit its column's declared type sends its row
///   to the rejects, named by sheet and cell (`Sheet1!B17`); line = the sheet's row number.
public enum XLSXReader {
    /// One cell as stored.
    enum Cell {
        case text(String)
        case number(String, style: Int)
        case boolean(Bool)
        case error(String)
    }

    struct Sheet {
        var name: String
        /// Row number (1-based) → cells by column index (0-based).
        var rows: [(number: Int, cells: [(column: Int, cell: Cell)])]
        var merges: [(top: Int, left: Int, bottom: Int, right: Int)]
    }

    struct Workbook {
        var sheetNames: [String]
        var sheetParts: [String]
        var date1904: Bool
        /// Per cell style index: true when its number format shows a date or time.
        var dateStyles: [Bool]
        var sharedStrings: [String]
    }

    static func failure(_ path: String, _ message: String, hint: String? = nil) -> CRMFlowError {
        CRMFlowError(.badData, message, at: path, hint: hint)
    }

    static func part(_ archive: Archive, _ name: String, path: String) throws(CRMFlowError) -> [UInt8]? {
        let key = name.hasPrefix("/") ? String(name.dropFirst()) : name
        guard let entry = archive[key] else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(entry.uncompressedSize))
        do {
            // NB: a zip bomb is refused: no part may inflate past 2 GiB.
            guard entry.uncompressedSize < 1 << 31 else { throw failure(path, "the workbook part '\(key)' is larger than 2 GiB") }
            _ = try archive.extract(entry, skipCRC32: false) { data in bytes.append(contentsOf: data) }
        } catch let e as CRMFlowError {
            throw e
        } catch {
            throw failure(path, "cannot read the workbook part '\(key)': \(error)", hint: "is the file a complete .xlsx workbook?")
        }
        return bytes
    }

    /// Opens the package and reads what every sheet needs: sheet names, date system, styles, shared strings.
    static func workbook(_ archive: Archive, path: String) throws(CRMFlowError) -> Workbook {
        guard let wb = try part(archive, "xl/workbook.xml", path: path) else {
            throw failure(path, "'\(path)' is a zip file but not an Excel workbook (no xl/workbook.xml)", hint: "only .xlsx (Excel 2007 and later) is read; save .xls files as .xlsx")
        }
        var names: [String] = [], ids: [String] = []
        var date1904 = false
        var s = XMLScanner(wb)
        while let t = s.next() {
            guard case .open(let name, let attrs, _) = t else { continue }
            if s.isNamed(name, "sheet") {
                names.append(s.attribute("name", in: attrs) ?? "Sheet\(names.count + 1)")
                ids.append(s.attribute("id", in: attrs) ?? "")
            } else if s.isNamed(name, "workbookPr"), let v = s.attribute("date1904", in: attrs) {
                date1904 = v == "1" || v == "true"
            }
        }
        var targets: [String: String] = [:]
        if let rels = try part(archive, "xl/_rels/workbook.xml.rels", path: path) {
            var r = XMLScanner(rels)
            while let t = r.next() {
                if case .open(let name, let attrs, _) = t, r.isNamed(name, "Relationship"), let id = r.attribute("Id", in: attrs),
                   let target = r.attribute("Target", in: attrs) {
                    targets[id] = target.hasPrefix("/") ? String(target.dropFirst()) : "xl/" + target
                }
            }
        }
        let parts = ids.enumerated().map { targets[$1] ?? "xl/worksheets/sheet\($0 + 1).xml" }
        var shared: [String] = []
        if let ss = try part(archive, "xl/sharedStrings.xml", path: path) {
            shared = sharedStrings(ss)
        }
        var dateStyles: [Bool] = []
        if let st = try part(archive, "xl/styles.xml", path: path) {
            dateStyles = styles(st)
        }
        return Workbook(sheetNames: names, sheetParts: parts, date1904: date1904, dateStyles: dateStyles, sharedStrings: shared)
    }

    /// `_x000D_` and the like: how Office writes characters XML cannot hold.
    static func unescapedOOXML(_ s: String) -> String {
        guard s.contains("_x") else { return s }
        var out = ""
        var rest = Substring(s)
        while let r = rest.range(of: "_x") {
            out += rest[..<r.lowerBound]
            let after = rest[r.upperBound...]
            if after.count >= 5, after[after.index(after.startIndex, offsetBy: 4)] == "_",
               let code = UInt32(after.prefix(4), radix: 16), let scalar = Unicode.Scalar(code) {
                out.unicodeScalars.append(scalar)
                rest = after.dropFirst(5)
            } else {
                out += "_x"
                rest = after
            }
        }
        return out + rest
    }

    static func sharedStrings(_ bytes: [UInt8]) -> [String] {
        var s = XMLScanner(bytes)
        var out: [String] = []
        var current: [UInt8] = []
        var inItem = false, inText = false, phonetic = 0
        while let t = s.next() {
            switch t {
            case .open(let name, _, let selfClosing):
                if s.isNamed(name, "si") {
                    inItem = true
                    current = []
                    if selfClosing { out.append(""); inItem = false }
                } else if s.isNamed(name, "rPh") {
                    if !selfClosing { phonetic += 1 }
                } else if s.isNamed(name, "t"), inItem, !selfClosing {
                    inText = true
                }
            case .close(let name):
                if s.isNamed(name, "t") {
                    inText = false
                } else if s.isNamed(name, "rPh") {
                    phonetic -= 1
                } else if s.isNamed(name, "si") {
                    out.append(unescapedOOXML(String(decoding: current, as: UTF8.self)))
                    inItem = false
                }
            case .text(let r, let cdata):
                if inText, phonetic == 0 {
                    if cdata { current.append(contentsOf: bytes[r]) } else { s.appendDecoded(r, to: &current) }
                }
            }
        }
        return out
    }

    /// True when an Excel number format shows a date or time (`yyyy-mm-dd`, `d/m/yy h:mm`, `[h]:mm`).
    static func isDateFormat(_ code: String) -> Bool {
        var cleaned = ""
        var inQuote = false, inBracket = false, escaped = false
        for ch in code {
            if escaped { escaped = false; continue }
            if inQuote { if ch == "\"" { inQuote = false }; continue }
            if inBracket {
                if ch == "]" { inBracket = false }
                else if "hms".contains(ch.lowercased()) { cleaned.append("h") }  // [h]:mm elapsed time
                continue
            }
            switch ch {
            case "\\": escaped = true
            case "\"": inQuote = true
            case "[": inBracket = true
            case ";": return !cleaned.isEmpty && cleaned.lowercased().contains(where: { "ymdhs".contains($0) })
            default: cleaned.append(ch)
            }
        }
        if cleaned.lowercased() == "general" { return false }
        return cleaned.lowercased().contains(where: { "ymdhs".contains($0) })
    }

    static let builtInDateFormats: Set<Int> = Set(14...22).union(27...36).union(45...47).union(50...58)

    static func styles(_ bytes: [UInt8]) -> [Bool] {
        var s = XMLScanner(bytes)
        var custom: [Int: Bool] = [:]
        var cellXfs: [Bool] = []
        var inCellXfs = false
        while let t = s.next() {
            switch t {
            case .open(let name, let attrs, let selfClosing):
                if s.isNamed(name, "numFmt"), let id = s.attribute("numFmtId", in: attrs).flatMap({ Int($0) }) {
                    custom[id] = isDateFormat(s.attribute("formatCode", in: attrs) ?? "")
                } else if s.isNamed(name, "cellXfs") {
                    inCellXfs = !selfClosing
                } else if inCellXfs, s.isNamed(name, "xf") {
                    let id = s.attribute("numFmtId", in: attrs).flatMap { Int($0) } ?? 0
                    cellXfs.append(custom[id] ?? builtInDateFormats.contains(id))
                }
            case .close(let name):
                if s.isNamed(name, "cellXfs") { inCellXfs = false }
            case .text: break
            }
        }
        return cellXfs
    }

    /// `B17` → (row 17, column 1); nil when not a cell reference.
    static func cellReference(_ text: some Collection<UInt8>) -> (row: Int, column: Int)? {
        var column = 0, row = 0, letters = 0, digits = 0
        for b in text {
            if digits == 0, (b | 0x20) >= UInt8(ascii: "a"), (b | 0x20) <= UInt8(ascii: "z") {
                column = column * 26 + Int((b | 0x20) - UInt8(ascii: "a") + 1)
                letters += 1
            } else if b >= 48, b <= 57, letters > 0 {
                row = row * 10 + Int(b - 48)
                digits += 1
            } else {
                return nil
            }
            if letters > 3 || digits > 7 { return nil }
        }
        guard letters > 0, digits > 0, row > 0 else { return nil }
        return (row, column - 1)
    }

    /// `0` → `A`, `27` → `AB`.
    public static func columnName(_ index: Int) -> String {
        var n = index + 1
        var out: [Character] = []
        while n > 0 {
            let r = (n - 1) % 26
            out.insert(Character(Unicode.Scalar(UInt8(65 + r))), at: 0)
            n = (n - 1) / 26
        }
        return String(out)
    }

    static func sheet(_ bytes: [UInt8], name sheetName: String, workbook: Workbook, path: String) throws(CRMFlowError) -> Sheet {
        var s = XMLScanner(bytes)
        var rows: [(number: Int, cells: [(column: Int, cell: Cell)])] = []
        var merges: [(Int, Int, Int, Int)] = []
        var rowNumber = 0, column = -1
        var cells: [(column: Int, cell: Cell)] = []
        var type = "", style = 0
        var value: [UInt8] = [], inline: [UInt8] = []
        var inValue = false, inInline = false, inCell = false, hasValue = false
        // NB: a cell outside any <row> (malformed XML) starts a row of its own, numbered after the one before.
        var inRow = false
        while let t = s.next() {
            switch t {
            case .open(let name, let attrs, let selfClosing):
                if s.isNamed(name, "c") {
                    if !inRow {
                        rowNumber += 1
                        column = -1
                        cells = []
                        inRow = true
                    }
                    if let r = s.attributeRange("r", in: attrs), let ref = cellReference(bytes[r]) { column = ref.column } else { column += 1 }
                    guard column < 16_384 else { throw failure(path, "\(sheetName): a cell lies past column XFD (the last Excel allows)") }
                    type = s.attribute("t", in: attrs) ?? "n"
                    style = s.attribute("s", in: attrs).flatMap { Int($0) } ?? 0
                    value = []; inline = []
                    hasValue = false
                    inCell = !selfClosing
                } else if s.isNamed(name, "v"), inCell, !selfClosing {
                    inValue = true
                    hasValue = true
                } else if s.isNamed(name, "is"), inCell, !selfClosing {
                    inInline = true
                    hasValue = true
                } else if s.isNamed(name, "row") {
                    if let r = s.attribute("r", in: attrs).flatMap({ Int($0) }), r > rowNumber { rowNumber = r } else { rowNumber += 1 }
                    column = -1
                    cells = []
                    inRow = !selfClosing
                    // NB: a row opened inside a cell (malformed XML) ends that cell.
                    inCell = false
                    inValue = false
                    inInline = false
                    if selfClosing { rows.append((rowNumber, [])) }
                } else if s.isNamed(name, "mergeCell"), let ref = s.attribute("ref", in: attrs) {
                    let corners = ref.split(separator: ":").map { cellReference(Array($0.utf8)) }
                    if corners.count == 2, let a = corners[0], let b = corners[1] {
                        merges.append((min(a.row, b.row), min(a.column, b.column), max(a.row, b.row), max(a.column, b.column)))
                    }
                }
            case .close(let name):
                if s.isNamed(name, "v") {
                    inValue = false
                } else if s.isNamed(name, "is") {
                    inInline = false
                } else if s.isNamed(name, "c") {
                    guard inCell, hasValue, column >= 0 else { inCell = false; continue }
                    inCell = false
                    let text = String(decoding: value, as: UTF8.self)
                    let cell: Cell
                    switch type {
                    case "s":
                        guard let i = Int(text), i >= 0, i < workbook.sharedStrings.count else {
                            throw failure(path, "\(sheetName)!\(columnName(column))\(rowNumber) refers to shared string \(text), which the workbook does not have")
                        }
                        cell = .text(workbook.sharedStrings[i])
                    case "inlineStr": cell = .text(unescapedOOXML(String(decoding: inline, as: UTF8.self)))
                    case "str": cell = .text(unescapedOOXML(text))
                    case "b": cell = .boolean(text == "1" || text == "true")
                    case "e": cell = .error(text)
                    default:
                        if text.isEmpty { continue }
                        cell = .number(text, style: style)
                    }
                    cells.append((column, cell))
                } else if s.isNamed(name, "row"), inRow {
                    rows.append((rowNumber, cells))
                    cells = []
                    inRow = false
                }
            case .text(let r, let cdata):
                if inValue {
                    if cdata { value.append(contentsOf: bytes[r]) } else { s.appendDecoded(r, to: &value) }
                } else if inInline {
                    // NB: phonetic runs (<rPh>) inside an inline string are rare enough to keep; only <t> text is here.
                    if cdata { inline.append(contentsOf: bytes[r]) } else { s.appendDecoded(r, to: &inline) }
                }
            }
        }
        if inRow, !cells.isEmpty { rows.append((rowNumber, cells)) }
        return Sheet(name: sheetName, rows: rows, merges: merges.map { (top: $0.0, left: $0.1, bottom: $0.2, right: $0.3) })
    }

    /// The ISO text of an Excel serial date (`2024-01-05`, or `2024-01-05T10:30:00` with a time of day).
    static func dateText(serial: Double, date1904: Bool) -> String? {
        guard serial.isFinite, serial >= 0, serial < 2_958_466 else { return nil }
        var days = serial.rounded(.down)
        var fraction = serial - days
        // Round to the millisecond, as Excel shows times.
        var millis = (fraction * 86_400_000).rounded()
        if millis >= 86_400_000 { days += 1; millis = 0 }
        fraction = millis
        let epochDays: Int
        if date1904 {
            epochDays = Int(days) - 24_107
        } else {
            // NB: 1900 serials count a 29 February 1900 that never was (serial 60); days before it are one off.
            guard days != 60 else { return nil }
            epochDays = Int(days) - (days < 60 ? 25_568 : 25_569)
        }
        if serial < 1, !date1904 {
            // A time of day alone.
            let ms = Int(fraction)
            return String(format: "%02d:%02d:%02d", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60)
        }
        var out: [UInt8] = []
        CivilDate.appendISO(days: epochDays, to: &out)
        var text = String(decoding: out, as: UTF8.self)
        if fraction > 0 {
            let ms = Int(fraction)
            text += String(format: "T%02d:%02d:%02d", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60)
            if ms % 1000 != 0 { text += String(format: ".%03d", ms % 1000) }
        }
        return text
    }

    /// Reads `bytes` as each XML part the reader parses — shared strings, styles, a worksheet — and checks what comes
    /// back (the fuzz target of the Excel reader; the zip container is ZIPFoundation's).
    public static func readParts(_ bytes: [UInt8]) {
        _ = sharedStrings(bytes)
        _ = styles(bytes)
        let book = Workbook(sheetNames: ["Sheet1"], sheetParts: ["xl/worksheets/sheet1.xml"], date1904: (bytes.first ?? 0) & 1 == 1,
                            dateStyles: [false, true, true], sharedStrings: ["a", "b", ""])
        if let sheet = try? sheet(bytes, name: "Sheet1", workbook: book, path: "fuzz.xlsx") {
            for r in sheet.rows {
                precondition(r.number >= 1, "row number \(r.number)")
                for c in r.cells { precondition(c.column >= 0 && c.column < 16_384, "cell column \(c.column)") }
            }
        }
        for serial in [Double(bytes.count) * 97.3, -Double(bytes.count), 60, 0.999999] { _ = dateText(serial: serial, date1904: book.date1904) }
    }

    /// The sheet names of a workbook, in order.
    public static func sheetNames(path: String) throws(CRMFlowError) -> [String] {
        let archive = try open(path)
        return try workbook(archive, path: path).sheetNames
    }

    static func open(_ path: String) throws(CRMFlowError) -> Archive {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CRMFlowError(.inputMissing, "the workbook '\(path)' does not exist", hint: "check the path (relative to where crmflow runs)")
        }
        do {
            return try Archive(url: URL(fileURLWithPath: path), accessMode: .read)
        } catch {
            throw failure(path, "'\(path)' is not an .xlsx workbook (not a zip file)", hint: "only .xlsx (Excel 2007 and later) is read; save .xls files as .xlsx, or export CSV")
        }
    }

    /// The rows of one sheet, cell values as text (dates as ISO text), header found, merged ranges filled.
    struct Grid {
        var sheet: String
        var headerRow: Int
        var names: [String]
        /// Data rows: sheet row number, text per column (nil = empty or an error), every cell as the sheet shows it
        /// (for rejects), and the first error cell, if any.
        var rows: [(number: Int, values: [String?], record: [String], error: String?)]
        var notes: [String]
    }

    static func grid(path: String, sheet selector: String?, headerRow: Int?) throws(CRMFlowError) -> Grid {
        let archive = try open(path)
        let book = try workbook(archive, path: path)
        guard !book.sheetNames.isEmpty else { throw failure(path, "the workbook '\(path)' has no sheets") }
        var index = 0
        if let selector {
            if let i = book.sheetNames.firstIndex(of: selector) {
                index = i
            } else if let n = Int(selector), n >= 1, n <= book.sheetNames.count {
                index = n - 1
            } else {
                throw CRMFlowError(.badPipeline, "the workbook '\(path)' has no sheet '\(selector)'",
                                   hint: "sheets: " + book.sheetNames.joined(separator: ", ") + " (or a number from 1)")
            }
        }
        let name = book.sheetNames[index]
        guard let bytes = try part(archive, book.sheetParts[index], path: path) else {
            throw failure(path, "the workbook '\(path)' lists sheet '\(name)' but does not hold it (\(book.sheetParts[index]))")
        }
        var sheet = try sheet(bytes, name: name, workbook: book, path: path)
        var notes: [String] = []
        // Merged ranges: every covered cell takes the top-left value.
        if !sheet.merges.isEmpty {
            var byRow: [Int: Int] = [:]
            for (k, r) in sheet.rows.enumerated() { byRow[r.number] = k }
            var filled = 0
            // NB: a range is filled only as far as the sheet holds cells (a hostile `A1:XFD1048576` would otherwise ask
            // for 17 billion), and at most 10 million cells in all.
            let lastRow = sheet.rows.map(\.number).max() ?? 0
            let lastColumn = sheet.rows.flatMap { $0.cells.map(\.column) }.max() ?? 0
            for m in sheet.merges {
                guard let top = byRow[m.top], let source = sheet.rows[top].cells.first(where: { $0.column == m.left })?.cell else { continue }
                let bottom = min(m.bottom, lastRow), right = min(m.right, lastColumn)
                guard bottom >= m.top, right >= m.left else { continue }
                if filled + (bottom - m.top + 1) * (right - m.left + 1) > 10_000_000 {
                    throw failure(path, "the merged ranges of sheet '\(name)' cover more than 10,000,000 cells", hint: "unmerge the cells in Excel, or export the sheet as CSV")
                }
                for rowNumber in m.top...bottom {
                    if byRow[rowNumber] == nil {
                        sheet.rows.append((rowNumber, []))
                        byRow[rowNumber] = sheet.rows.count - 1
                    }
                    let k = byRow[rowNumber]!
                    for c in m.left...right where !(rowNumber == m.top && c == m.left) {
                        if let j = sheet.rows[k].cells.firstIndex(where: { $0.column == c }) { sheet.rows[k].cells[j].cell = source } else { sheet.rows[k].cells.append((c, source)) }
                        filled += 1
                    }
                }
            }
            sheet.rows.sort { $0.number < $1.number }
            notes.append("\(sheet.merges.count) merged ranges: \(filled) covered cells take the value of their range's top-left cell")
        }
        func text(_ cell: Cell) -> String? {
            switch cell {
            case .text(let s): return s
            case .boolean(let b): return b ? "true" : "false"
            case .error: return nil
            case .number(let s, let style):
                if style < book.dateStyles.count, book.dateStyles[style], let d = Double(s), let iso = dateText(serial: d, date1904: book.date1904) { return iso }
                return s
            }
        }
        func isText(_ cell: Cell) -> Bool { if case .text(let s) = cell { return !s.trimmingCharacters(in: .whitespaces).isEmpty }; return false }
        func nonEmpty(_ r: (number: Int, cells: [(column: Int, cell: Cell)])) -> [(column: Int, cell: Cell)] {
            r.cells.filter { if case .text(let s) = $0.cell { return !s.trimmingCharacters(in: .whitespaces).isEmpty }; return true }
        }
        let candidates = sheet.rows.filter { !nonEmpty($0).isEmpty }
        guard !candidates.isEmpty else {
            return Grid(sheet: name, headerRow: 0, names: [], rows: [], notes: notes + ["sheet '\(name)' is empty"])
        }
        var header: (number: Int, cells: [(column: Int, cell: Cell)])
        if let headerRow {
            guard let r = sheet.rows.first(where: { $0.number == headerRow }) else {
                throw CRMFlowError(.badData, "row \(headerRow) of sheet '\(name)' is empty, so it cannot be the header", at: path, hint: "set header_row to the row holding the column names")
            }
            header = r
        } else {
            // The header: the first row (of the first 30 that hold anything) whose cells are all distinct text and
            // span at least half the width of the widest of those rows.
            let top = Array(candidates.prefix(30))
            let widest = top.map { nonEmpty($0).count }.max() ?? 1
            header = top.first { r in
                let cells = nonEmpty(r)
                // NB: a title merged across the columns fills them all with one text: names must differ.
                let names = cells.map { text($0.cell) ?? "" }
                return cells.count * 2 >= widest && cells.allSatisfy { isText($0.cell) } && Set(names).count == names.count
            } ?? candidates[0]
            let skipped = candidates.filter { $0.number < header.number }.map { String($0.number) }
            if !skipped.isEmpty {
                notes.append("header found in row \(header.number) of sheet '\(name)'; rows above it (\(skipped.joined(separator: ", "))) are titles, not records (set header_row to choose another)")
            }
        }
        let data = sheet.rows.filter { $0.number > header.number }
        var width = (header.cells.map(\.column).max() ?? -1) + 1
        for r in data { for c in nonEmpty(r) { width = max(width, c.column + 1) } }
        var names = [String](repeating: "", count: width)
        for c in header.cells { names[c.column] = (text(c.cell) ?? "").trimmingCharacters(in: .whitespacesAndNewlines) }
        var unnamed = 0
        for k in names.indices where names[k].isEmpty {
            names[k] = "column_" + columnName(k)
            unnamed += 1
        }
        if unnamed > 0 { notes.append("\(unnamed) columns have no name in the header row: named column_<letter>") }
        var out: [(number: Int, values: [String?], record: [String], error: String?)] = []
        var blank = 0
        for r in data {
            let cells = nonEmpty(r)
            if cells.isEmpty { blank += 1; continue }
            var values = [String?](repeating: nil, count: width)
            var record = [String](repeating: "", count: width)
            var error: String?
            for c in cells {
                let ref = "\(name)!\(columnName(c.column))\(r.number)"
                switch c.cell {
                case .error(let e):
                    record[c.column] = e
                    if error == nil { error = "\(ref) holds the error \(e)" }
                case .number(let n, let style) where style < book.dateStyles.count && book.dateStyles[style]:
                    if let v = text(c.cell), v != n {
                        values[c.column] = v
                        record[c.column] = v
                    } else {
                        record[c.column] = n
                        if error == nil { error = "\(ref): \(n) is not a date in the workbook's \(book.date1904 ? "1904" : "1900") date system" }
                    }
                default:
                    values[c.column] = text(c.cell)
                    record[c.column] = values[c.column] ?? ""
                }
            }
            out.append((r.number, values, record, error))
        }
        if blank > 0 { notes.append("\(blank) blank rows skipped") }
        return Grid(sheet: name, headerRow: header.number, names: names, rows: out, notes: notes)
    }

    /// Reads one sheet as a table (see the type's comment). `declared` gives the declared plans for the header's
    /// names (keys are header names).
    public static func read(path: String, sheet: String?, headerRow: Int?, declared: ([String]) -> [String: ColumnPlan] = { _ in [:] },
                            allStrings: Bool = false, source: String) throws(CRMFlowError) -> LoadedTable {
        let grid = try grid(path: path, sheet: sheet, headerRow: headerRow)
        let declared = declared(grid.names)
        var columns: [CRMFlowCore.Column] = []
        var notes: [String: String] = [:]
        var failed: [Int: String] = [:]
        for (r, row) in grid.rows.enumerated() where row.error != nil { failed[r] = row.error }
        for (c, name) in grid.names.enumerated() {
            var cells = TextCells()
            for row in grid.rows { if let v = row.values[c] { cells.append(v) } else { cells.appendNull() } }
            let (column, note, failures) = cells.typed(name: name, native: nil, declared: declared[name], allStrings: allStrings)
            columns.append(column)
            if let note { notes[name] = note }
            for (r, reason) in failures where failed[r] == nil {
                failed[r] = "\(grid.sheet)!\(columnName(c))\(grid.rows[r].number): " + reason
            }
        }
        var loaded = DatabaseRows.loaded(names: grid.names, columns: columns, notes: notes, failed: failed, rowCount: grid.rows.count,
                                         source: source, lines: grid.rows.map(\.number)) { r in
            grid.rows[r].record
        }
        loaded.headerNotes = grid.notes
        return loaded
    }

    /// The header names of a sheet, without typing its rows.
    public static func columnNames(path: String, sheet: String?, headerRow: Int?) throws(CRMFlowError) -> [String] {
        try grid(path: path, sheet: sheet, headerRow: headerRow).names
    }
}
