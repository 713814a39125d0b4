import CLibCSV
import Foundation
import CRMFlowCore

/// Rows of one chunk as text columns, before typing. Line numbers are relative to the chunk's first line.
struct RawChunk: Sendable {
    var columns: [StringBuffer]
    var validity: [Bitmap]
    /// Physical line (relative, 0-based) where each kept row starts.
    var rowLines: [Int32]
    /// Line breaks consumed by this chunk.
    var lineCount: Int
    var rejects: [RawReject]
    /// Rows padded or truncated under `RaggedPolicy.pad`.
    var adjustedRows: Int
    /// False when the chunk ended inside a record (its start or end was not a record boundary).
    var endedClean: Bool
    /// The relative line of the first record with invalid UTF-8, if any.
    var invalidUTF8Line: Int?
    var overflowed = false
    var evidence: [ColumnEvidence] = []
    /// Bytes of the file fed to the parser for this chunk (for progress estimates).
    var byteCount = 0
    var rowCount: Int { rowLines.count }
}

struct RawReject: Sendable {
    var line: Int
    var code: String
    var reason: String
    var record: String
}

/// Parser state reached from libcsv's callbacks through the `void *` context; used by one thread at a time.
final class ChunkParserState {
    let columnCount: Int
    let delimiter: UInt8
    let ragged: RaggedPolicy
    let rejectInvalidEncoding: Bool
    let builders: UnsafeMutablePointer<TextColumnBuilder>
    // NB: the per-field and per-row state is only touched by the one thread that parses this chunk, from libcsv's
    // callbacks; unchecked exclusivity spares a runtime access check on every field.
    @exclusivity(unchecked) var field = 0
    var extra: [[UInt8]?] = []
    @exclusivity(unchecked) var line = 0
    @exclusivity(unchecked) var rowStartLine = 0
    @exclusivity(unchecked) var lastWasCR = false
    @exclusivity(unchecked) var rowLines: [Int32] = []
    var lineBase = 0
    var bytesFed = 0, bytesAtDetach = 0
    var rejects: [RawReject] = []
    var adjustedRows = 0
    @exclusivity(unchecked) var rowHasNUL = false
    @exclusivity(unchecked) var rowHasInvalid = false
    /// The chunk holds no quote, NUL or non-ASCII byte: no field can hold a line break or bad text, so fields are
    /// not inspected one by one.
    @exclusivity(unchecked) var plainText = false
    var invalidUTF8Line: Int?
    /// A column's text in this chunk passed 4 GiB (only a gigantic single record can do that).
    var overflowed = false
    /// With no columns declared, every record's fields (used to read a header).
    var capturedRows: [[[UInt8]?]] = []

    /// Columns whose text is not kept (stored as null); their current field is kept only to rebuild a rejected record.
    let skip: [Bool]
    var skippedField: [[UInt8]?]

    init(columnCount: Int, delimiter: UInt8, ragged: RaggedPolicy, rejectInvalidEncoding: Bool, expectedBytes: Int, skip: Set<Int> = []) {
        self.columnCount = columnCount
        self.skip = (0..<columnCount).map { skip.contains($0) }
        skippedField = [[UInt8]?](repeating: nil, count: columnCount)
        self.delimiter = delimiter
        self.ragged = ragged
        self.rejectInvalidEncoding = rejectInvalidEncoding
        let estRows = expectedBytes / max(columnCount * 8, 16)
        let perColumn = expectedBytes / max(columnCount, 1) + 64
        builders = .allocate(capacity: max(columnCount, 1))
        // NB: builders are recycled between chunks: fresh memory costs a page fault per 4 KiB, a large share of parsing.
        let recycled = BuilderPool.shared.take(columnCount: columnCount)
        for c in 0..<columnCount {
            (builders + c).initialize(to: recycled?[c] ?? TextColumnBuilder(rows: estRows, bytes: perColumn))
        }
        rowLines.reserveCapacity(estRows)
    }

    deinit {
        var set: [TextColumnBuilder] = []
        set.reserveCapacity(columnCount)
        for c in 0..<columnCount {
            builders[c].reset()
            set.append(builders[c])
        }
        BuilderPool.shared.give(set)
        builders.deinitialize(count: columnCount)
        builders.deallocate()
    }

    @inline(__always)
    func addField(_ data: UnsafeMutableRawPointer?, _ length: Int) {
        if field == 0 {
            rowStartLine = line
            lastWasCR = false
        }
        if let data {
            let p = UnsafeRawBufferPointer(start: data, count: length)
            if length > 0, !plainText { inspect(p.bindMemory(to: UInt8.self)) }
            if field < columnCount, skip[field] {
                skippedField[field] = Array(p.bindMemory(to: UInt8.self))
                builders[field].appendNull()
            } else if field < columnCount {
                if builders[field].byteCount + length > Int(UInt32.max) - 16 {
                    // NB: offsets are 32-bit; rather than wrap silently, stop with an error (see `readChunks`).
                    overflowed = true
                    builders[field].appendNull()
                } else {
                    builders[field].append(data, length)
                }
            } else {
                extra.append(Array(p.bindMemory(to: UInt8.self)))
            }
        } else {
            if field < columnCount {
                if skip[field] { skippedField[field] = nil }
                builders[field].appendNull()
            } else {
                extra.append(nil)
            }
        }
        field += 1
    }

    /// Counts line breaks inside a (quoted) field and checks for NUL and invalid UTF-8, 8 bytes at a time.
    @inline(__always)
    func inspect(_ p: UnsafeBufferPointer<UInt8>) {
        let n = p.count
        var i = 0
        var suspicious = false
        let base = UnsafeRawPointer(p.baseAddress!)
        while i + 8 <= n {
            let w = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            let lf = w ^ 0x0A0A_0A0A_0A0A_0A0A
            let cr = w ^ 0x0D0D_0D0D_0D0D_0D0D
            let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
            let special = ((w &- ones) & ~w) | ((lf &- ones) & ~lf) | ((cr &- ones) & ~cr) | w
            if special & highs != 0 {
                suspicious = true
                break
            }
            i += 8
        }
        if !suspicious {
            while i < n {
                let c = p[i]
                if c >= 0x80 || c == 0 || c == 10 || c == 13 {
                    suspicious = true
                    break
                }
                i += 1
            }
        }
        guard suspicious else { return }
        var highBit = false
        var k = 0
        while k < n {
            let c = p[k]
            if c == 10 {
                line += 1
            } else if c == 13 {
                if !(k + 1 < n && p[k + 1] == 10) { line += 1 }
            } else if c == 0 {
                rowHasNUL = true
            } else if c >= 0x80 {
                highBit = true
            }
            k += 1
        }
        if highBit, UTF8Validation.firstInvalid(p) != nil {
            rowHasInvalid = true
            if invalidUTF8Line == nil { invalidUTF8Line = rowStartLine - lineBase }
        }
    }

    @inline(__always)
    func endRow(_ terminator: Int32) {
        if field == 0 {
            // A blank line, or the LF of a CRLF.
            if terminator == 10, lastWasCR {
                lastWasCR = false
                return
            }
            if terminator >= 0 { line += 1 }
            lastWasCR = terminator == 13
            // NB: in a one-column file a blank line is a null value (that is how a null is written), not a gap.
            if columnCount == 1, terminator >= 0 {
                builders[0].appendNull()
                rowLines.append(Int32(truncatingIfNeeded: line - 1 - lineBase))
            }
            return
        }
        let startLine = rowStartLine
        if terminator >= 0 { line += 1 }
        lastWasCR = terminator == 13
        let fields = field
        field = 0
        if columnCount == 0 {
            capturedRows.append(extra)
            extra.removeAll()
            return
        }
        if rowHasNUL || (rowHasInvalid && rejectInvalidEncoding) {
            let record = rawRecord(fields: fields)
            let (code, reason) = rowHasNUL ? ("E_NUL_BYTE", "the record contains a NUL byte") : ("E_ENCODING", invalidEncodingReason(fields: fields))
            rollBack(fields: fields)
            rejects.append(RawReject(line: startLine - lineBase, code: code, reason: reason, record: record))
            rowHasNUL = false
            rowHasInvalid = false
            return
        }
        rowHasInvalid = false
        if fields == columnCount {
            rowLines.append(Int32(truncatingIfNeeded: startLine - lineBase))
            return
        }
        switch ragged {
        case .pad:
            if fields < columnCount {
                for c in fields..<columnCount { builders[c].appendNull() }
            }
            extra.removeAll(keepingCapacity: true)
            adjustedRows += 1
            rowLines.append(Int32(truncatingIfNeeded: startLine - lineBase))
        case .reject, .error:
            let record = rawRecord(fields: fields)
            rollBack(fields: fields)
            let reason = "expected \(columnCount) field(s), found \(fields)"
            rejects.append(RawReject(line: startLine - lineBase, code: fields < columnCount ? "E_TOO_FEW_FIELDS" : "E_TOO_MANY_FIELDS", reason: reason, record: record))
        }
    }

    /// Which field holds the first byte that is not valid UTF-8, and where in it.
    func invalidEncodingReason(fields: Int) -> String {
        var values: [[UInt8]?] = []
        for c in 0..<min(fields, columnCount) { values.append(skip[c] ? skippedField[c] : builders[c].last()) }
        values.append(contentsOf: extra)
        for (k, v) in values.enumerated() {
            guard let v, let bad = UTF8Validation.firstInvalid(v[...]) else { continue }
            return "the record is not valid UTF-8: field \(k + 1), byte \(bad + 1) of the field (0x\(String(v[bad], radix: 16, uppercase: true)))"
        }
        return "the record is not valid UTF-8"
    }

    func rollBack(fields: Int) {
        for c in 0..<min(fields, columnCount) { builders[c].removeLast() }
        extra.removeAll(keepingCapacity: true)
    }

    /// The last `fields` fields re-encoded as one CSV record.
    func rawRecord(fields: Int, pending: [UInt8]? = nil) -> String {
        var values: [[UInt8]?] = []
        for c in 0..<min(fields, columnCount) { values.append(skip[c] ? skippedField[c] : builders[c].last()) }
        values.append(contentsOf: extra)
        var out: [UInt8] = []
        for (k, v) in values.enumerated() {
            if k > 0 { out.append(delimiter) }
            if let v { CSVQuoting.appendField(v[...], delimiter: delimiter, to: &out, force: v.isEmpty) }
        }
        if let pending {
            if !values.isEmpty { out.append(delimiter) }
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: pending)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Takes the completed rows as a chunk; a partly read row moves to the next chunk.
    func detach(endedClean: Bool) -> RawChunk {
        var carried: [[UInt8]?] = []
        for c in stride(from: min(field, columnCount) - 1, through: 0, by: -1) {
            carried.append(skip[c] ? nil : builders[c].last())
            builders[c].removeLast()
        }
        carried.reverse()
        var columns: [StringBuffer] = []
        var validity: [Bitmap] = []
        for c in 0..<columnCount {
            let (b, v) = builders[c].finished()
            columns.append(b)
            validity.append(v)
            builders[c].reset()
        }
        let chunk = RawChunk(columns: columns, validity: validity, rowLines: rowLines, lineCount: line - lineBase, rejects: rejects,
                             adjustedRows: adjustedRows, endedClean: endedClean, invalidUTF8Line: invalidUTF8Line, overflowed: overflowed,
                             byteCount: bytesFed - bytesAtDetach)
        bytesAtDetach = bytesFed
        for (c, item) in carried.enumerated() {
            if let item { item.withUnsafeBytes { builders[c].append($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, item.count) } } else { builders[c].appendNull() }
        }
        rowLines = []
        rowLines.reserveCapacity(chunk.rowLines.count)
        rejects = []
        adjustedRows = 0
        invalidUTF8Line = nil
        lineBase = line
        return chunk
    }
}

/// A few sets of column builders kept for reuse across chunks (bounded: the rest are freed).
final class BuilderPool: @unchecked Sendable {
    // NB: `sets` is guarded by `lock`; a builder set is owned by exactly one parser state at a time.
    static let shared = BuilderPool()
    private let lock = NSLock()
    private var sets: [[TextColumnBuilder]] = []

    func take(columnCount: Int) -> [TextColumnBuilder]? {
        lock.lock()
        defer { lock.unlock() }
        guard let i = sets.lastIndex(where: { $0.count == columnCount }) else { return nil }
        return sets.remove(at: i)
    }

    func give(_ set: [TextColumnBuilder]) {
        guard !set.isEmpty else { return }
        lock.lock()
        // NB: a set grown by an outsized field (a 100 MB cell) is not worth keeping.
        if sets.count < 4, set.allSatisfy({ $0.byteCapacity <= 64 << 20 }) {
            sets.append(set)
            lock.unlock()
            return
        }
        lock.unlock()
        for b in set { b.deallocate() }
    }
}

private func fieldCallback(_ data: UnsafeMutableRawPointer?, _ length: Int, _ context: UnsafeMutableRawPointer?) {
    // NB: the parser's owner keeps the state alive; borrowing avoids a retain/release per field.
    Unmanaged<ChunkParserState>.fromOpaque(context!)._withUnsafeGuaranteedRef { $0.addField(data, length) }
}

private func rowCallback(_ terminator: Int32, _ context: UnsafeMutableRawPointer?) {
    Unmanaged<ChunkParserState>.fromOpaque(context!)._withUnsafeGuaranteedRef { $0.endRow(terminator) }
}


/// One libcsv parser, configured to keep fields byte-exact and report every line end.
final class LibCSVParser {
    private var parser = csv_parser()
    let state: ChunkParserState

    /// `mayHoldBlanks: false` promises the input has no space or tab, so libcsv's trimming cannot change a field and
    /// its inline space test can stay (the byte-exact space function costs a call per character).
    init(state: ChunkParserState, delimiter: UInt8, quote: UInt8, mayHoldBlanks: Bool = true) {
        self.state = state
        _ = csv_init(&parser, UInt8(CSV_REPALL_NL | CSV_EMPTY_IS_NULL))
        csv_set_delim(&parser, delimiter)
        csv_set_quote(&parser, quote)
        // NB: libcsv trims spaces and tabs around unquoted fields by default; crmflow keeps data byte-exact.
        if mayHoldBlanks { csv_set_space_func(&parser, crmflow_csv_no_space) }
        csv_set_blk_size(&parser, 1 << 16)
    }

    deinit { csv_free(&parser) }

    /// Feeds bytes; returns false on an allocation failure inside libcsv.
    func parse(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return true }
        let context = Unmanaged.passUnretained(state).toOpaque()
        state.bytesFed += bytes.count
        let consumed = csv_parse(&parser, base, bytes.count, fieldCallback, rowCallback, context)
        return consumed == bytes.count
    }

    /// True when the parser sits between records.
    var isAtRecordBoundary: Bool { parser.pstate == 0 }

    /// True when input ended inside a quoted field.
    var isInsideQuotes: Bool { parser.quoted != 0 && parser.pstate == 2 }

    /// Ends the input: completes a last record without a line end, or rejects an unterminated quoted field.
    func finish() {
        let context = Unmanaged.passUnretained(state).toOpaque()
        if isInsideQuotes {
            let pending = parser.entry_buf.map { Array(UnsafeBufferPointer(start: $0, count: parser.entry_pos)) } ?? []
            let fields = state.field
            if fields == 0 { state.rowStartLine = state.line }
            let record = state.rawRecord(fields: fields, pending: pending)
            state.rollBack(fields: fields)
            state.field = 0
            state.rejects.append(RawReject(line: state.rowStartLine - state.lineBase, code: "E_UNTERMINATED_QUOTE",
                                           reason: "a quoted field opened on this line is never closed before the end of the file", record: record))
            _ = csv_fini(&parser, nil, nil, nil)
            return
        }
        _ = csv_fini(&parser, fieldCallback, rowCallback, context)
    }
}

/// True when the bytes hold no `quote`, NUL or byte of 0x80 and above (8 bytes at a time).
func isPlainText(_ bytes: UnsafeRawBufferPointer, quote: UInt8) -> Bool {
    guard let base = bytes.baseAddress else { return true }
    let n = bytes.count
    let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
    let quotes = UInt64(quote) &* ones
    var i = 0
    var bad: UInt64 = 0
    while i + 8 <= n {
        let w = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
        let q = w ^ quotes
        bad |= ((w &- ones) & ~w) | ((q &- ones) & ~q) | w
        i += 8
        if i & 4095 == 0, bad & highs != 0 { return false }
    }
    if bad & highs != 0 { return false }
    while i < n {
        let c = base.load(fromByteOffset: i, as: UInt8.self)
        if c == 0 || c == quote || c >= 0x80 { return false }
        i += 1
    }
    return true
}

/// True when libcsv's default treatment of spaces and tabs could change a field of these bytes (a chunk starting at
/// a record boundary), so the parser needs the byte-exact space function; false for blanks only inside quotes or
/// between the ordinary bytes of a field ("Hugo Novak", "  ann@x.org" quoted), the usual case.
func blanksMatter(_ bytes: UnsafeRawBufferPointer, delimiter: UInt8, quote: UInt8) -> Bool {
    guard let base = bytes.baseAddress, !bytes.isEmpty else { return false }
    return crmflow_csv_blanks_matter(base.assumingMemoryBound(to: UInt8.self), bytes.count, delimiter, quote) != 0
}

/// RFC 4180 quoting of one field.
public enum CSVQuoting {
    /// The CSV record `record` with `transform` applied to each of its fields, written back in the same dialect.
    public static func mapFields(_ record: String, delimiter: UInt8, quote: UInt8 = 34, _ transform: (String) -> String) -> String {
        let fields = CSVFile.parseFields(Array(record.utf8), delimiter: delimiter, quote: quote)
        var out: [UInt8] = []
        for (k, f) in fields.enumerated() {
            if k > 0 { out.append(delimiter) }
            appendField(Array(transform(f).utf8)[...], delimiter: delimiter, to: &out)
        }
        return String(decoding: out, as: UTF8.self)
    }

    @inline(__always)
    public static func needsQuotes(_ v: UnsafeBufferPointer<UInt8>, delimiter: UInt8) -> Bool {
        for c in v where c == delimiter || c == 34 || c == 10 || c == 13 { return true }
        if let f = v.first, f == 32 || f == 9 { return true }
        if let l = v.last, l == 32 || l == 9 { return true }
        return false
    }

    public static func appendField(_ v: ArraySlice<UInt8>, delimiter: UInt8, to out: inout [UInt8], force: Bool = false) {
        v.withUnsafeBufferPointer { appendField($0, delimiter: delimiter, to: &out, force: force) }
    }

    @inline(__always)
    public static func appendField(_ v: UnsafeBufferPointer<UInt8>, delimiter: UInt8, to out: inout [UInt8], force: Bool = false) {
        if force || needsQuotes(v, delimiter: delimiter) {
            out.append(34)
            for c in v {
                if c == 34 { out.append(34) }
                out.append(c)
            }
            out.append(34)
        } else {
            out.append(contentsOf: v)
        }
    }
}
