import CRMFlowCore

/// File formats crmflow reads and writes.
public enum FileFormat: String, Sendable, CaseIterable {
    case csv, json, ndjson, markdown
    /// An Excel workbook: read by `XLSXReader`, written whole by `XLSXWriter` (never through `TableEncoder`).
    case xlsx

    /// The format an extension implies (`.tsv` is CSV with tabs, `.jsonl` is NDJSON, `.md` is Markdown).
    public init?(path: String) {
        let ext = path.split(separator: ".").last.map { $0.lowercased() } ?? ""
        switch ext {
        case "csv", "tsv", "txt", "psv": self = .csv
        case "json": self = .json
        case "ndjson", "jsonl": self = .ndjson
        case "md", "markdown": self = .markdown
        case "xlsx", "xlsm": self = .xlsx
        default: return nil
        }
    }

    public init?(userName: String) {
        switch userName.lowercased() {
        case "csv", "tsv": self = .csv
        case "json": self = .json
        case "ndjson", "jsonl": self = .ndjson
        case "md", "markdown": self = .markdown
        case "xlsx", "excel": self = .xlsx
        default: return nil
        }
    }
}

/// How tables are written.
public struct WriterOptions: Sendable {
    public var delimiter: UInt8 = UInt8(ascii: ",")
    /// Start CSV with a UTF-8 byte-order mark, so Excel detects UTF-8.
    public var bom = false
    /// Prefix text cells starting with `= + - @ |`, tab or CR with `'` so spreadsheets do not run them as formulas.
    public var formulaGuard = true
    public var header = true
    public init() {}
}

/// Serialises tables chunk by chunk: `prologue`, then `rows` for each chunk (concurrently if wanted), then `epilogue`.
/// Every JSON row is written with a leading separator; the writer drops the very first one (see `TableFileWriter`).
public struct TableEncoder: Sendable {
    public let format: FileFormat
    public let options: WriterOptions
    public let schema: Schema

    public init(format: FileFormat, schema: Schema, options: WriterOptions = WriterOptions()) {
        self.format = format
        self.schema = schema
        self.options = options
    }

    public func prologue() -> [UInt8] {
        var out: [UInt8] = []
        switch format {
        case .csv, .xlsx:
            if options.bom { out.append(contentsOf: [0xEF, 0xBB, 0xBF]) }
            if options.header {
                for (c, f) in schema.fields.enumerated() {
                    if c > 0 { out.append(options.delimiter) }
                    var bytes = Array(f.name.utf8)
                    if options.formulaGuard, Self.isFormulaLike(bytes[...]) { bytes.insert(UInt8(ascii: "'"), at: 0) }
                    CSVQuoting.appendField(bytes[...], delimiter: options.delimiter, to: &out)
                }
                if !schema.fields.isEmpty { out.append(10) }
            }
        case .json:
            out.append(UInt8(ascii: "["))
        case .ndjson:
            break
        case .markdown:
            out.append(UInt8(ascii: "|"))
            for f in schema.fields {
                out.append(32)
                Self.appendMarkdown(Array(f.name.utf8)[...], to: &out)
                out.append(contentsOf: " |".utf8)
            }
            out.append(contentsOf: "\n|".utf8)
            for f in schema.fields {
                let numeric = f.type == .integer || f.type == .double || f.type == .money
                out.append(contentsOf: (numeric ? " ---: |" : " --- |").utf8)
            }
            out.append(10)
        }
        return out
    }

    public func epilogue(wroteRows: Bool) -> [UInt8] {
        format == .json ? Array((wroteRows ? "\n]\n" : "]\n").utf8) : []
    }

    @inline(__always)
    static func isFormulaLike(_ v: ArraySlice<UInt8>) -> Bool {
        guard let f = v.first else { return false }
        if f == UInt8(ascii: "+") || f == UInt8(ascii: "-") {
            // A signed number or an E.164 phone number (`+15550101234`, `-12.5`) is data, not a formula.
            let rest = v.dropFirst()
            if !rest.isEmpty, rest.allSatisfy({ $0 &- 48 < 10 || $0 == UInt8(ascii: ".") }) { return false }
            return true
        }
        // NB: `|` starts a DDE call in some spreadsheets (`|cmd /C calc`).
        return f == UInt8(ascii: "=") || f == UInt8(ascii: "@") || f == UInt8(ascii: "|") || f == 9 || f == 13
    }

    static func appendMarkdown(_ v: ArraySlice<UInt8>, to out: inout [UInt8]) {
        for c in v {
            switch c {
            case UInt8(ascii: "|"): out.append(contentsOf: "\\|".utf8)
            case 10: out.append(contentsOf: "<br>".utf8)
            case 13: break
            default: out.append(c)
            }
        }
    }

    static func appendJSONString(_ v: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        var plain = true
        for c in v where c < 0x20 || c == 34 || c == 92 {
            plain = false
            break
        }
        if plain {
            out.append(34)
            out.append(contentsOf: v)
            out.append(34)
            return
        }
        out.append(34)
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        for c in v {
            switch c {
            case 34: out.append(92); out.append(34)
            case 92: out.append(92); out.append(92)
            case 10: out.append(92); out.append(UInt8(ascii: "n"))
            case 13: out.append(92); out.append(UInt8(ascii: "r"))
            case 9: out.append(92); out.append(UInt8(ascii: "t"))
            case 0..<0x20:
                out.append(contentsOf: "\\u00".utf8)
                out.append(hex[Int(c >> 4)])
                out.append(hex[Int(c & 15)])
            default: out.append(c)
            }
        }
        out.append(34)
    }

    /// Appends one cell's text form: `json` true for JSON syntax (quoted strings, bare numbers, null).
    @inline(__always)
    func appendCell(_ column: ColumnView, _ r: Int, json: Bool, to out: inout [UInt8]) {
        if column.isNull(r) {
            if json { out.append(contentsOf: "null".utf8) }
            return
        }
        switch column.kind {
        case .string(let bytes, let offsets):
            let v = UnsafeBufferPointer(start: bytes.baseAddress.map { $0 + Int(offsets[r]) }, count: Int(offsets[r + 1] &- offsets[r]))
            if json {
                Self.appendJSONString(v, to: &out)
            } else if format == .markdown {
                Self.appendMarkdown(ArraySlice(v), to: &out)
            } else if options.formulaGuard, let f = v.first, f == UInt8(ascii: "=") || f == UInt8(ascii: "+") || f == UInt8(ascii: "-") || f == UInt8(ascii: "@") || f == UInt8(ascii: "|") || f == 9 || f == 13,
                      Self.isFormulaLike(ArraySlice(v)) {
                var guarded: [UInt8] = [UInt8(ascii: "'")]
                guarded.append(contentsOf: v)
                CSVQuoting.appendField(guarded[...], delimiter: options.delimiter, to: &out)
            } else {
                // NB: an empty string is quoted so it reads back as "" rather than null.
                CSVQuoting.appendField(v, delimiter: options.delimiter, to: &out, force: v.isEmpty)
            }
        case .integer(let a):
            Self.appendInteger(a[r], to: &out)
        case .double(let a):
            let d = a[r]
            if json, !d.isFinite { out.append(contentsOf: "null".utf8) } else if d == d.rounded(), abs(d) < 1e15 {
                Self.appendInteger(Int64(d), to: &out)
                out.append(contentsOf: ".0".utf8)
            } else {
                out.append(contentsOf: DoubleFormatting.string(d).utf8)
            }
        case .boolean(let a):
            out.append(contentsOf: (a[r] ? "true" : "false").utf8)
        case .date(let a):
            if json { out.append(34) }
            CivilDate.appendISO(days: Int(a[r]), to: &out)
            if json { out.append(34) }
        case .timestamp(let a):
            if json { out.append(34) }
            CivilDate.appendISO(micros: a[r], to: &out)
            if json { out.append(34) }
        case .money(let a, let c, let codes):
            // NB: JSON keeps the currency with every amount ("1234.50 USD", exact and read back as money); CSV writes
            // it only when the column mixes currencies.
            let code = codes.isEmpty ? "" : codes[Int(c[r])]
            let withCode = !code.isEmpty && (json || codes.count > 1)
            if json && withCode { out.append(34) }
            Money.appendAmount(a[r], to: &out)
            if withCode {
                out.append(32)
                out.append(contentsOf: code.utf8)
            }
            if json && withCode { out.append(34) }
        }
    }

    @inline(__always)
    static func appendInteger(_ value: Int64, to out: inout [UInt8]) {
        if value == Int64.min {
            out.append(contentsOf: String(value).utf8)
            return
        }
        var v = value
        if v < 0 {
            out.append(UInt8(ascii: "-"))
            v = -v
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { buf in
            var n = 0
            repeat {
                buf[23 - n] = UInt8(48 + v % 10)
                v /= 10
                n += 1
            } while v > 0
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buf[(24 - n)...]))
        }
    }

    /// The rows of `table` in this format.
    public func rows(_ table: Table) -> [UInt8] {
        var out: [UInt8] = []
        let nameBytes = schema.fields.reduce(0) { $0 + $1.name.utf8.count + 4 }
        var textBytes = 0
        for c in table.columns { if case .string(let b) = c.storage { textBytes += b.bytes.count } }
        let perRow = (format == .json || format == .ndjson ? nameBytes : 0) + max(table.columns.count, 1) * 8
        out.reserveCapacity(textBytes + textBytes / 16 + table.rowCount * perRow)
        rows(table, 0..<table.rowCount, into: &out)
        return out
    }

    /// Rows `range` of `table` in this format, appended to `out`.
    public func rows(_ table: Table, _ range: Range<Int>, into out: inout [UInt8]) {
        let names: [[UInt8]] = schema.fields.map { f in
            var n: [UInt8] = []
            Array(f.name.utf8).withUnsafeBufferPointer { Self.appendJSONString($0, to: &n) }
            n.append(UInt8(ascii: ":"))
            return n
        }
        ColumnView.with(table.columns) { views in
            for r in range {
                switch format {
                case .csv, .xlsx:
                    for c in views.indices {
                        if c > 0 { out.append(options.delimiter) }
                        appendCell(views[c], r, json: false, to: &out)
                    }
                    out.append(10)
                case .json, .ndjson:
                    if format == .json { out.append(contentsOf: ",\n".utf8) }
                    out.append(UInt8(ascii: "{"))
                    for c in views.indices {
                        if c > 0 { out.append(UInt8(ascii: ",")) }
                        out.append(contentsOf: names[c])
                        appendCell(views[c], r, json: true, to: &out)
                    }
                    out.append(UInt8(ascii: "}"))
                    if format == .ndjson { out.append(10) }
                case .markdown:
                    out.append(UInt8(ascii: "|"))
                    for c in views.indices {
                        out.append(32)
                        appendCell(views[c], r, json: false, to: &out)
                        out.append(contentsOf: " |".utf8)
                    }
                    out.append(10)
                }
            }
        }
    }
}

/// Borrowed pointers into a column's storage, valid inside `ColumnView.with`; no reference counting per cell.
public struct ColumnView {
    public enum Kind {
        case string(UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt32>)
        case integer(UnsafeBufferPointer<Int64>)
        case double(UnsafeBufferPointer<Double>)
        case boolean(UnsafeBufferPointer<Bool>)
        case date(UnsafeBufferPointer<Int32>)
        case timestamp(UnsafeBufferPointer<Int64>)
        /// Minor units, currency index per row, and the currency codes (pointers keep the view free of reference
        /// counting: it is copied for every cell written).
        case money(UnsafeBufferPointer<Int64>, UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<String>)
    }
    public var kind: Kind
    /// Validity words, or nil when every value is present.
    public var validity: UnsafeBufferPointer<UInt64>?

    @inline(__always)
    public func isNull(_ r: Int) -> Bool {
        guard let validity else { return false }
        return validity[r >> 6] & (1 << UInt64(r & 63)) == 0
    }

    /// Calls `body` with views of every column; the pointers live until `body` returns.
    public static func with<R>(_ columns: [Column], _ body: ([ColumnView]) throws -> R) rethrows -> R {
        guard columns.count <= maxBorrowed else { return try copied(columns, body) }
        var views: [ColumnView] = []
        views.reserveCapacity(columns.count)
        return try nest(columns, 0, &views, body)
    }

    /// Borrowing takes a few stack frames per column; past this many columns the storage is copied instead.
    static let maxBorrowed = 128

    /// Views over copies of the columns' storage, freed when `body` returns.
    // NB: a wide file (thousands of columns) overflowed the stack when every column added a nested closure.
    private static func copied<R>(_ columns: [Column], _ body: ([ColumnView]) throws -> R) rethrows -> R {
        var releases: [() -> Void] = []
        defer { releases.forEach { $0() } }
        func copy<T>(_ values: [T]) -> UnsafeBufferPointer<T> {
            let p = UnsafeMutableBufferPointer<T>.allocate(capacity: max(values.count, 1))
            let count = values.count
            _ = p.initialize(from: values)
            releases.append {
                p.baseAddress!.deinitialize(count: count)
                p.deallocate()
            }
            return UnsafeBufferPointer(rebasing: p[0..<count])
        }
        let views: [ColumnView] = columns.map { column in
            let validity = column.validity.map { copy($0.words) }
            switch column.storage {
            case .string(let b): return ColumnView(kind: .string(copy(b.bytes), copy(b.offsets)), validity: validity)
            case .integer(let a): return ColumnView(kind: .integer(copy(a)), validity: validity)
            case .double(let a): return ColumnView(kind: .double(copy(a)), validity: validity)
            case .boolean(let a): return ColumnView(kind: .boolean(copy(a)), validity: validity)
            case .date(let a): return ColumnView(kind: .date(copy(a)), validity: validity)
            case .timestamp(let a): return ColumnView(kind: .timestamp(copy(a)), validity: validity)
            case .money(let a, let c, let codes): return ColumnView(kind: .money(copy(a), copy(c), copy(codes)), validity: validity)
            }
        }
        return try body(views)
    }

    private static func nest<R>(_ columns: [Column], _ k: Int, _ views: inout [ColumnView], _ body: ([ColumnView]) throws -> R) rethrows -> R {
        if k == columns.count { return try body(views) }
        let column = columns[k]
        func withValidity<T>(_ make: (UnsafeBufferPointer<UInt64>?) throws -> T) rethrows -> T {
            if let v = column.validity { return try v.words.withUnsafeBufferPointer { try make($0) } }
            return try make(nil)
        }
        return try withValidity { validity in
            switch column.storage {
            case .string(let b):
                return try b.bytes.withUnsafeBufferPointer { bytes in
                    try b.offsets.withUnsafeBufferPointer { offsets in
                        views.append(ColumnView(kind: .string(bytes, offsets), validity: validity))
                        return try nest(columns, k + 1, &views, body)
                    }
                }
            case .integer(let a):
                return try a.withUnsafeBufferPointer { views.append(ColumnView(kind: .integer($0), validity: validity)); return try nest(columns, k + 1, &views, body) }
            case .double(let a):
                return try a.withUnsafeBufferPointer { views.append(ColumnView(kind: .double($0), validity: validity)); return try nest(columns, k + 1, &views, body) }
            case .boolean(let a):
                return try a.withUnsafeBufferPointer { views.append(ColumnView(kind: .boolean($0), validity: validity)); return try nest(columns, k + 1, &views, body) }
            case .date(let a):
                return try a.withUnsafeBufferPointer { views.append(ColumnView(kind: .date($0), validity: validity)); return try nest(columns, k + 1, &views, body) }
            case .timestamp(let a):
                return try a.withUnsafeBufferPointer { views.append(ColumnView(kind: .timestamp($0), validity: validity)); return try nest(columns, k + 1, &views, body) }
            case .money(let a, let c, let codes):
                return try a.withUnsafeBufferPointer { minor in
                    try c.withUnsafeBufferPointer { cur in
                        try codes.withUnsafeBufferPointer { codes in
                            views.append(ColumnView(kind: .money(minor, cur, codes), validity: validity))
                            return try nest(columns, k + 1, &views, body)
                        }
                    }
                }
            }
        }
    }
}

/// Writes encoded chunks to an atomic output in order, handling the JSON separators.
public final class TableFileWriter {
    public let encoder: TableEncoder
    let output: AtomicOutput
    var wroteRows = false
    public private(set) var rowsWritten = 0

    public init(path: String, encoder: TableEncoder, inputs: [String]) throws(CRMFlowError) {
        guard encoder.format != .xlsx else {
            throw CRMFlowError(.cannotWrite, "an Excel workbook is written whole (XLSXWriter), not row by row", at: path)
        }
        self.encoder = encoder
        output = try AtomicOutput(path: path, inputs: inputs)
        try output.write(encoder.prologue())
    }

    /// Writes bytes produced by `encoder.rows(_:)` for `rowCount` rows.
    public func write(encodedRows bytes: [UInt8], rowCount: Int) throws(CRMFlowError) {
        guard rowCount > 0 else { return }
        if encoder.format == .json, !wroteRows {
            try output.write(Array(bytes.dropFirst(1)))
        } else {
            try output.write(bytes)
        }
        wroteRows = true
        rowsWritten += rowCount
    }

    /// Writes `table` encoded a slice of rows at a time through one reused buffer: a whole-table encoding of a 1 M-row
    /// output was a second copy of it in memory, every page of it fresh (zeroed by the kernel), and it was written
    /// only once complete.
    public func write(_ table: Table) throws(CRMFlowError) {
        let slice = 16_384
        var buffer: [UInt8] = []
        var start = 0
        while start < table.rowCount {
            let end = min(table.rowCount, start + slice)
            buffer.removeAll(keepingCapacity: true)
            encoder.rows(table, start..<end, into: &buffer)
            try write(encodedRows: buffer, rowCount: end - start)
            start = end
        }
    }

    public func restart() throws(CRMFlowError) {
        try output.truncate()
        wroteRows = false
        rowsWritten = 0
        try output.write(encoder.prologue())
    }

    public func commit() throws(CRMFlowError) {
        try output.write(encoder.epilogue(wroteRows: wroteRows))
        try output.commit()
    }

    public func abandon() { output.abandon() }

    /// Writes a whole table to `path` atomically.
    public static func write(_ table: Table, to path: String, format: FileFormat, options: WriterOptions = WriterOptions(), inputs: [String] = []) throws(CRMFlowError) {
        let w = try TableFileWriter(path: path, encoder: TableEncoder(format: format, schema: table.schema, options: options), inputs: inputs)
        do { try w.write(table) } catch { w.abandon(); throw error }
        try w.commit()
    }
}

/// Writes rejects as CSV: source, line, code, reason, record.
public enum RejectsWriter {
    public static func write(_ rejects: [Reject], to path: String, inputs: [String]) throws(CRMFlowError) {
        let rows: [[Value]] = rejects.map { [.string($0.source), .integer(Int64($0.line)), .string($0.code), .string($0.reason), .string($0.record)] }
        let table = Table(names: Reject.columnNames, types: [.string, .integer, .string, .string, .string], rows: rows)
        var options = WriterOptions()
        options.formulaGuard = true
        try TableFileWriter.write(table, to: path, format: .csv, options: options, inputs: inputs)
    }
}

/// JSON text helpers for the small documents crmflow writes itself (profiles, run manifests).
public enum JSONText {
    /// `s` as a JSON string literal, quotes included (the table writer's escaping).
    public static func quoted(_ s: String) -> String {
        var out: [UInt8] = []
        var text = s
        text.withUTF8 { TableEncoder.appendJSONString($0, to: &out) }
        return String(decoding: out, as: UTF8.self)
    }
}
