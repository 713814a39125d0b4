/// Dense integer codes for key values across one or more tables: the shared machinery of group-by, joins and
/// de-duplication. Equal keys get equal codes; codes are assigned in first-appearance order (tables in order, rows in
/// order), so everything built on them is deterministic.
public enum KeyCoding {
    /// Composite codes per row for each table. `columns[t][k]` is key column k of table t (same count and
    /// compatible types in every table). With `nullsMatch` false, a row with a null key gets -1.
    /// - Returns: the codes per table and the number of distinct keys.
    /// - Complexity: O(total rows × key columns), hashing bytes in place (no per-row allocation).
    public static func encode(_ columns: [[Column]], nullsMatch: Bool) -> (codes: [[Int32]], distinct: Int) {
        let tables = columns.count
        guard let keyCount = columns.first?.count, keyCount > 0 else {
            return (columns.map { _ in [] }, 0)
        }
        var combined: [[Int32]] = []
        var distinct = 0
        for k in 0..<keyCount {
            let (codes, n) = encodeColumn(columns.map { $0[k] }, nullsMatch: nullsMatch)
            if k == 0 {
                combined = codes
                distinct = n
                continue
            }
            // Few combinations (the usual group-by on stage, owner, month): a dense table instead of hashing.
            if distinct > 0, n > 0, distinct.multipliedReportingOverflow(by: n).partialValue <= 1 << 22, distinct * n > 0 {
                var dense = [Int32](repeating: -1, count: distinct * n)
                var next: Int32 = 0
                for t in 0..<tables {
                    for r in 0..<combined[t].count {
                        let a = combined[t][r], b = codes[t][r]
                        if a < 0 || b < 0 { combined[t][r] = -1; continue }
                        let slot = Int(a) * n + Int(b)
                        if dense[slot] < 0 {
                            dense[slot] = next
                            next += 1
                        }
                        combined[t][r] = dense[slot]
                    }
                }
                distinct = Int(next)
                continue
            }
            var map: [UInt64: Int32] = [:]
            map.reserveCapacity(min(distinct * n, 1 << 20))
            for t in 0..<tables {
                for r in 0..<combined[t].count {
                    let a = combined[t][r], b = codes[t][r]
                    if a < 0 || b < 0 { combined[t][r] = -1; continue }
                    let key = UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))
                    if let c = map[key] { combined[t][r] = c } else {
                        let c = Int32(map.count)
                        map[key] = c
                        combined[t][r] = c
                    }
                }
            }
            distinct = map.count
        }
        return (combined, distinct)
    }

    /// Codes for one key column across tables.
    static func encodeColumn(_ parts: [Column], nullsMatch: Bool) -> ([[Int32]], Int) {
        var next: Int32 = 0
        var nullCode: Int32 = -1
        func codeForNull() -> Int32 {
            guard nullsMatch else { return -1 }
            if nullCode < 0 { nullCode = next; next += 1 }
            return nullCode
        }
        switch parts.first?.storage {
        case .string?:
            var table = ByteKeyTable()
            var out: [[Int32]] = []
            let buffers: [StringBuffer] = parts.map { if case .string(let b) = $0.storage { return b }; return StringBuffer() }
            // NB: every part's bytes are opened once, so probing compares raw memory without touching the arrays.
            // Nulls get their code after every value has one, so that value codes index the table's owners.
            var sawNull = false
            ByteKeyTable.withViews(buffers) { views in
                for (t, column) in parts.enumerated() {
                    guard case .string = column.storage else { out.append([Int32](repeating: -1, count: column.count)); continue }
                    var codes = [Int32](repeating: -1, count: column.count)
                    let view = views[t]
                    for r in 0..<column.count {
                        if column.isNull(r) { codes[r] = -2; sawNull = true; continue }
                        let key = view.cell(r)
                        codes[r] = table.code(for: key, table: t, row: r, views: views, next: &next)
                    }
                    out.append(codes)
                }
            }
            if sawNull {
                let null = codeForNull()
                for t in out.indices { for r in out[t].indices where out[t][r] == -2 { out[t][r] = null } }
            }
            return (out, Int(next))
        case .integer?, .date?, .timestamp?, .boolean?, .double?:
            func newCode() -> Int32 {
                next += 1
                return next - 1
            }
            let codes = codesOfHashable(parts, codeForNull: codeForNull, newCode: newCode) { column, r -> Int64 in
                switch column.storage {
                case .integer(let a): return a[r]
                case .timestamp(let a): return a[r]
                case .date(let a): return Int64(a[r])
                case .boolean(let a): return a[r] ? 1 : 0
                case .double(let a): return Int64(bitPattern: (a[r] == 0 ? 0 : a[r]).bitPattern)
                default: return 0
                }
            }
            return (codes, Int(next))
        default:
            func newCode() -> Int32 {
                next += 1
                return next - 1
            }
            let codes = codesOfHashable(parts, codeForNull: codeForNull, newCode: newCode) { column, r in column.value(at: r) }
            return (codes, Int(next))
        }
    }

    /// Codes through a dictionary, for keys other than text: `key` reads row `r` of a column.
    static func codesOfHashable<K: Hashable>(_ parts: [Column], codeForNull: () -> Int32, newCode: () -> Int32,
                                             _ key: (Column, Int) -> K) -> [[Int32]] {
        var map: [K: Int32] = [:]
        var out: [[Int32]] = []
        for column in parts {
            var codes = [Int32](repeating: -1, count: column.count)
            for r in 0..<column.count {
                if column.isNull(r) { codes[r] = codeForNull(); continue }
                let k = key(column, r)
                if let c = map[k] { codes[r] = c } else {
                    let c = newCode()
                    map[k] = c
                    codes[r] = c
                }
            }
            out.append(codes)
        }
        return out
    }
}

/// Hashing of byte strings for the hash tables of group-by, joins and the profiler.
public enum ByteHash {
    /// A 64-bit hash of `p` (FNV-1a over 8-byte words, then a final mix).
    @inline(__always)
    public static func hash(_ p: UnsafeBufferPointer<UInt8>) -> UInt64 { ByteKeyTable.hash(p) }
}

/// Open-addressing table from byte strings (read in place from the source columns) to codes.
struct ByteKeyTable {
    /// Open addressing: each slot holds the key's hash beside its code (-1: empty), so a probe reads one cache line.
    struct Slot {
        var hash: UInt64
        var code: Int32
    }
    var slots: [Slot] = [Slot](repeating: Slot(hash: 0, code: -1), count: 1024)
    var hashes: [UInt64] = []
    /// (table, row) of each code's first occurrence: codes are handed out densely from 0, so a code is its index here
    /// (callers give nulls their code only after every value has one).
    var owners: [(Int32, Int32)] = []
    var mask = 1023

    @inline(__always)
    static func hash(_ p: UnsafeBufferPointer<UInt8>) -> UInt64 {
        // FNV-1a over 8-byte words, then a final mix.
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(p.count)
        var i = 0
        let n = p.count
        if let base = p.baseAddress {
            let raw = UnsafeRawPointer(base)
            while i + 8 <= n {
                h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0x100_0000_01b3
                h ^= h >> 29
                i += 8
            }
        }
        while i < n {
            h = (h ^ UInt64(p[i])) &* 0x100_0000_01b3
            i += 1
        }
        h ^= h >> 33
        h = h &* 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        return h
    }

    /// A text column's bytes and offsets, opened.
    struct View {
        let bytes: UnsafeBufferPointer<UInt8>
        let offsets: UnsafeBufferPointer<UInt32>
        @inline(__always)
        func cell(_ r: Int) -> UnsafeBufferPointer<UInt8> {
            let start = Int(offsets[r]), end = Int(offsets[r + 1])
            return UnsafeBufferPointer(start: bytes.baseAddress.map { $0 + start }, count: end - start)
        }
    }

    static func withViews<R>(_ buffers: [StringBuffer], _ i: Int = 0, _ opened: [View] = [], _ body: ([View]) -> R) -> R {
        if i == buffers.count { return body(opened) }
        return buffers[i].bytes.withUnsafeBufferPointer { b in
            buffers[i].offsets.withUnsafeBufferPointer { o in withViews(buffers, i + 1, opened + [View(bytes: b, offsets: o)], body) }
        }
    }

    mutating func code(for key: UnsafeBufferPointer<UInt8>, table: Int, row: Int, views: [View], next: inout Int32) -> Int32 {
        let h = Self.hash(key)
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let slot = slots[i]
            if slot.code < 0 {
                let code = next
                next += 1
                slots[i] = Slot(hash: h, code: code)
                hashes.append(h)
                owners.append((Int32(table), Int32(row)))
                if hashes.count * 2 > slots.count { grow() }
                return code
            }
            if slot.hash == h {
                let (t, r) = owners[Int(slot.code)]
                let existing = views[Int(t)].cell(Int(r))
                if existing.count == key.count && (key.count == 0 || memcmp(existing.baseAddress!, key.baseAddress!, key.count) == 0) { return slot.code }
            }
            i = (i + 1) & mask
        }
    }

    mutating func grow() {
        let size = slots.count * 2
        slots = [Slot](repeating: Slot(hash: 0, code: -1), count: size)
        mask = size - 1
        for (code, h) in hashes.enumerated() {
            var i = Int(truncatingIfNeeded: h) & mask
            while slots[i].code >= 0 { i = (i + 1) & mask }
            slots[i] = Slot(hash: h, code: Int32(code))
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

extension Grouping {
    /// Groups rows by the values of `keys` (nulls form their own group), in first-appearance order.
    public static func make(keys: [Column], rowCount: Int) -> Grouping {
        guard !keys.isEmpty else { return .single(rows: rowCount) }
        let (codes, distinct) = KeyCoding.encode([keys], nullsMatch: true)
        // Renumber so group ids follow first appearance of the composite key.
        var remap = [Int32](repeating: -1, count: distinct)
        var firstRow: [Int] = []
        var groupOfRow = [Int32](repeating: 0, count: rowCount)
        for r in 0..<rowCount {
            let c = Int(codes[0][r])
            if remap[c] < 0 {
                remap[c] = Int32(firstRow.count)
                firstRow.append(r)
            }
            groupOfRow[r] = remap[c]
        }
        return Grouping(groupOfRow: groupOfRow, groupCount: firstRow.count, firstRow: firstRow)
    }
}

extension Column {
    /// The column converted to `type` value by value (numbers widen, anything becomes text).
    public func converted(to type: DataType) -> Column {
        if self.type == type { return self }
        var b = ColumnBuilder(type, capacity: count)
        for i in 0..<count {
            let v = value(at: i)
            if type == .string || v.isNull { b.append(v); continue }
            switch Evaluator.cast(v, to: type) {
            case .value(let x): b.append(x)
            case .error: b.appendNull()
            }
        }
        return b.finish()
    }

    /// A column of `count` nulls.
    public static func nulls(_ type: DataType, count: Int) -> Column {
        var b = ColumnBuilder(type, capacity: count)
        for _ in 0..<count { b.appendNull() }
        return b.finish()
    }
}

/// A read-only hash index of a text column's distinct values, safe to probe from many threads at once (the build side
/// of a hash join; the probe side is split across cores).
public final class ByteKeyIndex: Sendable {
    /// Code of every row of the indexed column (-1 for null).
    public let rowCodes: [Int32]
    /// Number of distinct values.
    public var count: Int { values.count }
    private let values: ByteInterner

    /// Indexes a text column (nulls get no code).
    public init?(_ column: Column) {
        guard case .string(let buf) = column.storage else { return nil }
        var values = ByteInterner()
        var codes = [Int32](repeating: -1, count: column.count)
        buf.bytes.withUnsafeBufferPointer { all in
            for r in 0..<column.count where !column.isNull(r) { codes[r] = values.intern(UnsafeBufferPointer(rebasing: all[buf.range(r)])) }
        }
        rowCodes = codes
        self.values = values
    }

    /// The code of `key`, or -1 when the column does not hold it.
    @inline(__always)
    public func code(of key: UnsafeBufferPointer<UInt8>) -> Int32 { values.code(of: key) }
}

extension KeyCoding {
    /// Rows grouped by code (a CSR index): the rows with code c are `rows[starts[c] ..< starts[c + 1]]`, in row order;
    /// rows with code -1 are left out.
    public static func rowsByCode(_ codes: [Int32], distinct: Int) -> (starts: [Int32], rows: [Int32]) {
        var starts = [Int32](repeating: 0, count: distinct + 1)
        for c in codes where c >= 0 { starts[Int(c) + 1] += 1 }
        for k in 0..<distinct { starts[k + 1] += starts[k] }
        var fill = starts
        var rows = [Int32](repeating: 0, count: Int(starts[distinct]))
        for (r, c) in codes.enumerated() where c >= 0 {
            rows[Int(fill[Int(c)])] = Int32(r)
            fill[Int(c)] += 1
        }
        return (starts, rows)
    }
}
