import CRMFlowCore

/// A strict RFC 8259 reader that turns JSON or NDJSON into rows, without recursion (any nesting depth is safe).
///
/// Documented choices for what RFC 8259 leaves open: a UTF-8 byte-order mark is skipped; integers beyond Int64 become doubles;
/// numbers beyond Double's range are kept as their text; a lone `\u` surrogate decodes to U+FFFD; invalid UTF-8 is an error.
public struct JSONReader {
    public struct SyntaxError: Error, Sendable, Equatable {
        public var message: String
        public var offset: Int
        public var line: Int
        public var column: Int
    }

    /// One cell as read: the JSON kind decides the column type later.
    enum Cell: Sendable {
        case null
        case bool(Bool)
        case integer(Int64)
        case double(Double, String)
        case text(String)
        /// An array (or a value in a mixed column) kept as JSON text.
        case json(String)
    }

    let bytes: [UInt8]
    var i: Int
    let end: Int

    init(bytes: [UInt8], start: Int = 0, end: Int? = nil) {
        self.bytes = bytes
        i = start
        self.end = end ?? bytes.count
    }

    // MARK: errors

    func error(_ message: String, at offset: Int? = nil) -> SyntaxError {
        let o = min(offset ?? i, bytes.count)
        var line = 1, col = 1
        var k = 0
        while k < o {
            if bytes[k] == 10 { line += 1; col = 1 } else if bytes[k] & 0xC0 != 0x80 { col += 1 }
            k += 1
        }
        return SyntaxError(message: message, offset: o, line: line, column: col)
    }

    // MARK: lexing

    @inline(__always) mutating func skipWhitespace() {
        while i < end {
            let c = bytes[i]
            if c == 32 || c == 9 || c == 10 || c == 13 { i += 1 } else { return }
        }
    }

    @inline(__always) func peek() -> UInt8? { i < end ? bytes[i] : nil }

    mutating func expectLiteral(_ word: String) throws(SyntaxError) {
        for b in word.utf8 {
            guard i < end, bytes[i] == b else { throw error("invalid literal; expected '\(word)'") }
            i += 1
        }
    }

    /// Reads a string starting at its opening quote.
    mutating func readString() throws(SyntaxError) -> String {
        let start = i
        i += 1
        var out: [UInt8] = []
        var runStart = i
        while true {
            guard i < end else { throw error("unterminated string", at: start) }
            let c = bytes[i]
            if c == 34 {
                out.append(contentsOf: bytes[runStart..<i])
                i += 1
                break
            }
            if c < 0x20 { throw error("control character U+00\(String(c, radix: 16, uppercase: true)) must be escaped inside a string") }
            if c == 92 {
                out.append(contentsOf: bytes[runStart..<i])
                i += 1
                guard i < end else { throw error("unterminated escape") }
                let e = bytes[i]
                i += 1
                switch e {
                case 34: out.append(34)
                case 92: out.append(92)
                case 47: out.append(47)
                case UInt8(ascii: "b"): out.append(8)
                case UInt8(ascii: "f"): out.append(12)
                case UInt8(ascii: "n"): out.append(10)
                case UInt8(ascii: "r"): out.append(13)
                case UInt8(ascii: "t"): out.append(9)
                case UInt8(ascii: "u"):
                    var scalar = try readHex4()
                    if scalar >= 0xD800, scalar < 0xDC00 {
                        if i + 1 < end, bytes[i] == 92, bytes[i + 1] == UInt8(ascii: "u") {
                            let save = i
                            i += 2
                            let low = try readHex4()
                            if low >= 0xDC00, low < 0xE000 {
                                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                            } else {
                                i = save
                                scalar = 0xFFFD
                            }
                        } else {
                            scalar = 0xFFFD
                        }
                    } else if scalar >= 0xDC00, scalar < 0xE000 {
                        scalar = 0xFFFD
                    }
                    UTF8Validation.append(scalar, to: &out)
                default:
                    throw error("invalid escape '\\\(String(UnicodeScalar(e)))'", at: i - 2)
                }
                runStart = i
                continue
            }
            if c >= 0x80 {
                let len = c & 0xE0 == 0xC0 ? 2 : c & 0xF0 == 0xE0 ? 3 : c & 0xF8 == 0xF0 ? 4 : 0
                guard len > 0, i + len <= end, UTF8Validation.firstInvalid(bytes[i..<(i + len)]) == nil else {
                    throw error("invalid UTF-8 byte 0x\(String(c, radix: 16)) in string")
                }
                i += len
                continue
            }
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    mutating func readHex4() throws(SyntaxError) -> UInt32 {
        guard i + 4 <= end else { throw error("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            let d: UInt32
            switch c {
            case 48...57: d = UInt32(c - 48)
            case 65...70: d = UInt32(c - 55)
            case 97...102: d = UInt32(c - 87)
            default: throw error("invalid hex digit in \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    /// Reads a number per RFC 8259's grammar.
    mutating func readNumber() throws(SyntaxError) -> Cell {
        let start = i
        if peek() == UInt8(ascii: "-") { i += 1 }
        guard let first = peek(), first &- 48 < 10 else { throw error("invalid number") }
        if first == 48 {
            i += 1
            if let c = peek(), c &- 48 < 10 { throw error("numbers cannot have leading zeros", at: start) }
        } else {
            while let c = peek(), c &- 48 < 10 { i += 1 }
        }
        var isInteger = true
        if peek() == UInt8(ascii: ".") {
            isInteger = false
            i += 1
            guard let c = peek(), c &- 48 < 10 else { throw error("a digit must follow the decimal point") }
            while let c = peek(), c &- 48 < 10 { i += 1 }
        }
        if let c = peek(), c | 0x20 == UInt8(ascii: "e") {
            isInteger = false
            i += 1
            if let s = peek(), s == UInt8(ascii: "+") || s == UInt8(ascii: "-") { i += 1 }
            guard let d = peek(), d &- 48 < 10 else { throw error("a digit must follow the exponent") }
            while let c = peek(), c &- 48 < 10 { i += 1 }
        }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        if isInteger, let v = Int64(text) { return .integer(v) }
        let d = bytes[start..<i].withUnsafeBufferPointer { Scalars.double($0, strict: false) }
        if let d { return .double(d, text) }
        return .json(text)
    }

    /// Skips over any value, validating it, without recursion; returns its text.
    mutating func readRawValue() throws(SyntaxError) -> String {
        let start = i
        var stack: [UInt8] = []  // '[' or '{'
        var expectValue = true
        while true {
            skipWhitespace()
            guard let c = peek() else { throw error("unexpected end of input") }
            if expectValue {
                switch c {
                case UInt8(ascii: "["):
                    stack.append(c)
                    i += 1
                    skipWhitespace()
                    if peek() == UInt8(ascii: "]") {
                        i += 1
                        stack.removeLast()
                        expectValue = false
                    }
                    continue
                case UInt8(ascii: "{"):
                    stack.append(c)
                    i += 1
                    skipWhitespace()
                    if peek() == UInt8(ascii: "}") {
                        i += 1
                        stack.removeLast()
                        expectValue = false
                        break
                    }
                    try readKeyAndColon()
                    continue
                case 34: _ = try readString()
                case UInt8(ascii: "t"): try expectLiteral("true")
                case UInt8(ascii: "f"): try expectLiteral("false")
                case UInt8(ascii: "n"): try expectLiteral("null")
                default: _ = try readNumber()
                }
                expectValue = false
            } else {
                guard let top = stack.last else { break }
                if c == UInt8(ascii: ",") {
                    i += 1
                    if top == UInt8(ascii: "{") { skipWhitespace(); try readKeyAndColon() }
                    expectValue = true
                } else if (c == UInt8(ascii: "]") && top == UInt8(ascii: "[")) || (c == UInt8(ascii: "}") && top == UInt8(ascii: "{")) {
                    i += 1
                    stack.removeLast()
                } else {
                    throw error(top == UInt8(ascii: "[") ? "expected ',' or ']'" : "expected ',' or '}'")
                }
            }
            if stack.isEmpty { break }
        }
        return Self.compacted(bytes[start..<i])
    }

    /// JSON text without the whitespace outside strings.
    static func compacted(_ text: ArraySlice<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        var inString = false, escaped = false
        for c in text {
            if inString {
                out.append(c)
                if escaped { escaped = false } else if c == 92 { escaped = true } else if c == 34 { inString = false }
            } else if c == 34 {
                inString = true
                out.append(c)
            } else if c != 32 && c != 9 && c != 10 && c != 13 {
                out.append(c)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    mutating func readKeyAndColon() throws(SyntaxError) {
        skipWhitespace()
        guard peek() == 34 else { throw error("expected a string key") }
        _ = try readString()
        skipWhitespace()
        guard peek() == UInt8(ascii: ":") else { throw error("expected ':' after key") }
        i += 1
    }

    /// Reads a scalar or an array (as text).
    mutating func readCell() throws(SyntaxError) -> Cell {
        skipWhitespace()
        guard let c = peek() else { throw error("unexpected end of input") }
        switch c {
        case 34: return .text(try readString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "["), UInt8(ascii: "{"): return .json(try readRawValue())
        case UInt8(ascii: "-"), 48...57: return try readNumber()
        default: throw error("unexpected character '\(String(UnicodeScalar(c)))'")
        }
    }

    /// Levels of nested objects flattened to dotted names; deeper ones are kept as compact JSON text.
    static let maxFlattenedDepth = 32

    /// Reads an object as one row, flattening nested objects to dotted names, iteratively.
    mutating func readRecord(into row: inout [(String, Cell)]) throws(SyntaxError) {
        var prefixes: [String] = [""]
        i += 1  // '{'
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            i += 1
            return
        }
        while true {
            skipWhitespace()
            guard peek() == 34 else { throw error("expected a string key") }
            let key = try readString()
            skipWhitespace()
            guard peek() == UInt8(ascii: ":") else { throw error("expected ':' after key") }
            i += 1
            skipWhitespace()
            let name = prefixes[prefixes.count - 1] + key
            // NB: past `maxFlattenedDepth` levels an object stays JSON text: every level's dotted prefix is kept, so
            // flattening a pathologically deep object would take memory quadratic in its depth.
            if peek() == UInt8(ascii: "{"), prefixes.count <= Self.maxFlattenedDepth {
                i += 1
                skipWhitespace()
                if peek() == UInt8(ascii: "}") {
                    i += 1
                    row.append((name, .json("{}")))
                } else {
                    prefixes.append(name + ".")
                    continue
                }
            } else {
                row.append((name, try readCell()))
            }
            // After a value: ',' continues, '}' closes one or more levels.
            while true {
                skipWhitespace()
                guard let c = peek() else { throw error("unexpected end of input; expected ',' or '}'") }
                if c == UInt8(ascii: ",") {
                    i += 1
                    break
                }
                guard c == UInt8(ascii: "}") else { throw error("expected ',' or '}'") }
                i += 1
                prefixes.removeLast()
                if prefixes.isEmpty { return }
            }
        }
    }

    /// Reads one top-level value as rows.
    mutating func readDocument(rows: inout JSONTableBuilder, arrayIsRows: Bool) throws(SyntaxError) {
        skipWhitespace()
        guard let c = peek() else { throw error("empty input: expected a JSON value") }
        if c == UInt8(ascii: "{") {
            var row: [(String, Cell)] = []
            try readRecord(into: &row)
            rows.add(row)
        } else if c == UInt8(ascii: "["), arrayIsRows {
            i += 1
            skipWhitespace()
            if peek() == UInt8(ascii: "]") {
                i += 1
            } else {
                while true {
                    skipWhitespace()
                    if peek() == UInt8(ascii: "{") {
                        var row: [(String, Cell)] = []
                        try readRecord(into: &row)
                        rows.add(row)
                    } else {
                        rows.add([("value", try readCell())])
                    }
                    skipWhitespace()
                    guard let d = peek() else { throw error("unexpected end of input; expected ',' or ']'") }
                    i += 1
                    if d == UInt8(ascii: "]") { break }
                    guard d == UInt8(ascii: ",") else { throw error("expected ',' or ']'", at: i - 1) }
                }
            }
        } else {
            rows.add([("value", try readCell())])
        }
        skipWhitespace()
        if i < end { throw error("unexpected data after the JSON value") }
    }

    // MARK: public API

    /// Reads a JSON document (`.json`) or newline-delimited values (`ndjson: true`) into a table.
    /// NDJSON lines that fail to parse become rejects; a JSON document that fails to parse is an error.
    public static func read(path: String, ndjson: Bool) throws(CRMFlowError) -> LoadedTable {
        let file = try FileInput(path: path)
        var bytes = try file.readAll()
        var start = 0
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { start = 3 }
        if bytes.count >= 2, (bytes[0] == 0xFF && bytes[1] == 0xFE) || (bytes[0] == 0xFE && bytes[1] == 0xFF) {
            throw CRMFlowError(.badData, "JSON must be UTF-8; this file starts with a UTF-16 byte-order mark", at: "\(path):1:1",
                               hint: "convert the file to UTF-8 (iconv -f UTF-16 -t UTF-8)")
        }
        var rows = JSONTableBuilder()
        var rejects: [Reject] = []
        // The line of each NDJSON row (a JSON document's rows are numbered by their place in it, from 1).
        var lines: [Int32] = []
        if ndjson {
            var lineStart = start
            var line = 1
            while lineStart < bytes.count {
                var lineEnd = lineStart
                while lineEnd < bytes.count, bytes[lineEnd] != 10 { lineEnd += 1 }
                let content = bytes[lineStart..<lineEnd]
                if content.contains(where: { $0 != 32 && $0 != 9 && $0 != 13 }) {
                    var reader = JSONReader(bytes: bytes, start: lineStart, end: lineEnd > lineStart && bytes[lineEnd - 1] == 13 ? lineEnd - 1 : lineEnd)
                    // A line is parsed on its own first, so a bad line leaves nothing behind in the table.
                    var lineRows = JSONTableBuilder()
                    do {
                        try reader.readDocument(rows: &lineRows, arrayIsRows: false)
                        if let row = lineRows.single {
                            rows.add(row)
                            lines.append(Int32(line))
                        }
                    } catch {
                        let column = String(decoding: bytes[lineStart..<min(error.offset, lineEnd)], as: UTF8.self).count + 1
                        rejects.append(Reject(source: path, line: line, code: "E_JSON_SYNTAX", reason: "\(error.message) (column \(column))",
                                              record: String(decoding: content, as: UTF8.self)))
                    }
                }
                line += 1
                lineStart = lineEnd + 1
            }
        } else {
            var reader = JSONReader(bytes: bytes, start: start)
            do {
                try reader.readDocument(rows: &rows, arrayIsRows: true)
            } catch {
                throw CRMFlowError(.badData, error.message, at: "\(path):\(error.line):\(error.column)", hint: "crmflow reads strict JSON (RFC 8259): no comments, trailing commas, single quotes or NaN")
            }
        }
        bytes = []
        var (table, bad) = rows.makeTable()
        if !ndjson { lines = (0..<table.rowCount).map { Int32($0 + 1) } }
        if !bad.isEmpty {
            // NB: a number no double holds (1e400) rejects its row with the reason; the column stays numeric.
            let badRows = Set(bad.map(\.row))
            for b in bad.sorted(by: { $0.row < $1.row }) {
                rejects.append(Reject(source: path, line: Int(lines[b.row]), code: "E_NUMBER_RANGE", reason: b.reason, record: rows.record(b.row)))
            }
            let kept = (0..<table.rowCount).filter { !badRows.contains($0) }
            table = table.selecting(kept)
            lines = kept.map { lines[$0] }
        }
        rejects.sort { $0.line < $1.line }
        var loaded = LoadedTable(table: table, rejects: rejects, recordsRead: table.rowCount + rejects.count, adjustedRows: 0, columnNotes: [:], dialect: nil, headerNotes: [])
        loaded.rowLines = lines
        return loaded
    }

}

/// Accumulates JSON rows column by column as compact text plus the JSON kinds seen, instead of keeping every row.
struct JSONTableBuilder {
    private var names: [String] = []
    private var index: [String: Int] = [:]
    /// Bit per JSON kind seen in each column: 1 boolean, 2 integer, 4 double, 8 string, 16 JSON text; 32 marks a number
    /// beyond a double's range.
    private var kinds: [UInt8] = []
    private var text: [StringBuffer] = []
    private var valid: [Bitmap] = []
    private(set) var rowCount = 0
    /// The only row, when exactly one was added without a table being built (NDJSON lines).
    private(set) var single: [(String, JSONReader.Cell)]?

    mutating func add(_ row: [(String, JSONReader.Cell)]) {
        if rowCount == 0, single == nil, names.isEmpty {
            single = row
        } else {
            single = nil
        }
        for (name, cell) in row {
            let c: Int
            if let k = index[name] {
                c = k
            } else {
                c = names.count
                index[name] = c
                names.append(name)
                kinds.append(0)
                var t = StringBuffer()
                var v = Bitmap()
                for _ in 0..<rowCount {
                    t.appendEmpty()
                    v.append(false)
                }
                text.append(t)
                valid.append(v)
            }
            if text[c].count > rowCount {
                // A key repeated within one object: the last value wins.
                text[c].removeLast()
                valid[c].removeLast()
            }
            switch cell {
            case .null:
                text[c].appendEmpty()
                valid[c].append(false)
                continue
            case .bool(let b): kinds[c] |= 1; text[c].append(b ? "true" : "false")
            case .integer(let i): kinds[c] |= 2; text[c].append(String(i))
            case .double(let d, let source): kinds[c] |= d.isFinite ? 4 : 4 | 32; text[c].append(source)
            case .text(let s): kinds[c] |= 8; text[c].append(s)
            case .json(let s): kinds[c] |= 16; text[c].append(s)
            }
            valid[c].append(true)
        }
        rowCount += 1
        for c in names.indices where text[c].count < rowCount {
            text[c].appendEmpty()
            valid[c].append(false)
        }
    }

    /// Columns in order of first appearance; each column's type is the JSON kind all its values share
    /// (integers and doubles together make a double column; any other mix is text, numbers keeping their source text).
    /// The table, and the rows whose number no double can hold (`1e400`): their column stays numeric and the caller
    /// rejects them with the reason.
    func makeTable() -> (Table, [(row: Int, reason: String)]) {
        var fields: [Field] = []
        var columns: [Column] = []
        var bad: [(row: Int, reason: String)] = []
        for c in names.indices {
            let k = kinds[c]
            let type: DataType = k == 1 ? .boolean : k == 2 ? .integer : (k != 0 && k & ~(6 | 32) == 0) ? .double : .string
            var validity = valid[c]
            if k & 32 != 0, type == .double {
                // Those rows are rejected by the caller; converted as null here so the column stays numeric.
                for r in 0..<rowCount where valid[c][r] && Self.overflows(text[c].string(r)) {
                    validity[r] = false
                    bad.append((r, "the number \(text[c].string(r)) in '\(names[c])' is beyond the range of a double (about ±1.8e308)"))
                }
            }
            // NB: "declared" parsing accepts every Int64 (inference's stricter rule stops at 18 digits).
            var outcome = ColumnConversion.convert(text[c], validity: validity, plan: ColumnPlan(type: type, isDeclared: true))
            if !outcome.failedRows.isEmpty {
                // Never lose a value: a column that does not convert cleanly stays text.
                outcome = ColumnConversion.convert(text[c], validity: valid[c], plan: ColumnPlan(type: .string))
            }
            fields.append(Field(name: names[c], type: outcome.column.type))
            columns.append(outcome.column)
        }
        return (Table(schema: Schema(fields), columns: columns, rowCount: rowCount), bad)
    }

    /// A JSON number too large for a double: its literal parses to infinity.
    static func overflows(_ literal: String) -> Bool {
        guard let d = Double(literal) else { return false }
        return d.isInfinite
    }

    /// Row `r` written back as a JSON object (for a reject's record).
    func record(_ r: Int) -> String {
        var parts: [String] = []
        for c in names.indices where valid[c][r] {
            let v = text[c].string(r)
            let bare = kinds[c] & 8 == 0
            parts.append(JSONText.quoted(names[c]) + ": " + (bare ? v : JSONText.quoted(v)))
        }
        return "{" + parts.joined(separator: ", ") + "}"
    }

}
