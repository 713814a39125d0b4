import CLibCSV
import CRMFlowCore
#if canImport(Glibc)
import Glibc
#endif

/// What `crmflow profile` reports about one column.
public struct ColumnProfile: Sendable {
    public var name: String
    public var type: DataType
    public var nulls: Int
    public var distinct: Int
    public var min: String?
    public var max: String?
    /// Most frequent values with their counts (ties broken by first appearance).
    public var topValues: [(String, Int)]
    /// Shapes of text values (email, phone, ISO date, ...) with their counts, most common first.
    public var shapes: [(String, Int)]
    public var note: String?
}

/// A whole file's profile.
public struct FileProfile: Sendable {
    public var path: String
    public var format: FileFormat
    public var dialect: CSVDialect?
    public var rows: Int
    public var rejected: Int
    public var columns: [ColumnProfile]
    public var headerNotes: [String]
}

/// Computes column profiles from a loaded table.
public enum Profiler {
    public static func profile(_ loaded: LoadedTable, path: String, format: FileFormat, threads: Int = defaultThreadCount()) -> FileProfile {
        let table = loaded.table
        let indices = Array(table.columns.indices)
        let columns = ConcurrentMap.map(indices, threads: min(threads, 2)) { c in
            profileColumn(table.columns[c], name: table.schema.fields[c].name, note: loaded.columnNotes[table.schema.fields[c].name])
        }
        return FileProfile(path: path, format: format, dialect: loaded.dialect, rows: table.rowCount, rejected: loaded.rejects.count,
                           columns: columns, headerNotes: loaded.headerNotes)
    }

    @inline(__always)
    static func hash(_ p: UnsafeBufferPointer<UInt8>) -> UInt64 { ByteHash.hash(p) }


    static func profileColumn(_ column: Column, name: String, note: String?) -> ColumnProfile {
        // Distinct values are counted by a 64-bit hash of their bytes or bits (collisions are negligible at these sizes).
        var counts = HashCounter()
        defer { counts.release() }
        var minRow: Int?, maxRow: Int?
        var shapeCounts = [Int](repeating: 0, count: Shape.allCases.count)
        let n = column.count
        // Keys go to the counter in batches (their slots prefetched together).
        let keyBatch = UnsafeMutablePointer<UInt64>.allocate(capacity: HashCounter.batch)
        let rowBatch = UnsafeMutablePointer<Int32>.allocate(capacity: HashCounter.batch)
        defer { keyBatch.deallocate(); rowBatch.deallocate() }
        var pending = 0, seen = 0, sized = false
        func flush() {
            counts.add(keys: keyBatch, rows: rowBatch, count: pending)
            seen += pending
            pending = 0
            // A column whose first values are almost all distinct (ids, e-mails, phones, timestamps) gets the counter
            // it will need at once, instead of doubling (zeroing and rehashing) a dozen times on the way there.
            if !sized, seen >= 1 << 16 {
                sized = true
                if counts.count * 10 > seen * 9 { counts.reserve(distinct: Int(Double(counts.count) * Double(n) / Double(seen))) }
            }
        }
        @inline(__always) func count(_ h: UInt64, _ i: Int) {
            keyBatch[pending] = h
            rowBatch[pending] = Int32(truncatingIfNeeded: i)
            pending += 1
            if pending == HashCounter.batch { flush() }
        }
        func numeric<T: Comparable>(_ a: [T], _ bits: (T) -> UInt64) {
            for i in 0..<n where !column.isNull(i) {
                count(bits(a[i]), i)
                if let m = minRow { if a[i] < a[m] { minRow = i } } else { minRow = i }
                if let m = maxRow { if a[m] < a[i] { maxRow = i } } else { maxRow = i }
            }
            flush()
        }
        switch column.storage {
        case .string(let b):
            b.bytes.withUnsafeBufferPointer { all in
                func cell(_ i: Int) -> UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(rebasing: all[b.range(i)]) }
                for i in 0..<n where !column.isNull(i) { count(hash(cell(i)), i) }
                flush()
                // The range and each value's shape depend only on the values: each distinct value looked at once.
                counts.forEach { count, row in
                    let v = cell(row)
                    if let m = minRow { if lexLess(v, cell(m)) { minRow = row } } else { minRow = row }
                    if let m = maxRow { if lexLess(cell(m), v) { maxRow = row } } else { maxRow = row }
                    shapeCounts[shapeKind(v).rawValue] += count
                }
            }
        case .integer(let a): numeric(a) { UInt64(bitPattern: $0) }
        case .double(let a): numeric(a) { $0.bitPattern }
        case .date(let a): numeric(a) { UInt64(bitPattern: Int64($0)) }
        case .timestamp(let a): numeric(a) { UInt64(bitPattern: $0) }
        case .boolean(let a): numeric(a.map { $0 ? 1 : 0 }) { UInt64($0) }
        case .money(let a, let c, _): numeric(a) { UInt64(bitPattern: $0) }; _ = c
        }
        // The five most frequent values (ties: first seen first), in one pass instead of sorting every distinct value.
        var top: [(count: Int, row: Int)] = []
        counts.forEach { count, row in
            let e = (count: count, row: row)
            if top.count == 5, let last = top.last, e.count < last.count || (e.count == last.count && e.row > last.row) { return }
            let at = top.firstIndex { e.count > $0.count || (e.count == $0.count && e.row < $0.row) } ?? top.count
            top.insert(e, at: at)
            if top.count > 5 { top.removeLast() }
        }
        let shapes = Shape.allCases.filter { shapeCounts[$0.rawValue] > 0 }.map { ($0.name, shapeCounts[$0.rawValue]) }
        return ColumnProfile(
            name: name, type: column.type, nulls: column.nullCount, distinct: counts.count,
            min: minRow.map { column.value(at: $0).description }, max: maxRow.map { column.value(at: $0).description },
            topValues: top.map { (column.value(at: $0.row).description, $0.count) },
            shapes: shapes.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 },
            note: note)
    }

    /// `ext`, `x` or `#` before a phone extension.
    /// A phone number as written: 7 to 15 digits with only `+ - ( ) . /` and spaces between them (at least one of
    /// those, or a leading +), optionally followed by an extension (`x12`, `ext. 12`, `extension 12`, `#12`). Letters
    /// anywhere else make it something else: a Salesforce record id such as `001500000123456QAX` is not a phone.
    static let extensionMarkers: [[UInt8]] = ["extension", "ext", "x", "#"].map { Array($0.utf8) }

    public static func isPhone(_ v: UnsafeBufferPointer<UInt8>) -> Bool {
        func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
        var end = v.count
        var i = v.count - 1
        var extDigits = 0
        while i >= 0, isDigit(v[i]) { extDigits += 1; i -= 1 }
        var j = i
        while j >= 0, v[j] == 32 || v[j] == UInt8(ascii: ".") || v[j] == UInt8(ascii: ":") { j -= 1 }
        if (1...6).contains(extDigits), j >= 0 {
            let head = UnsafeBufferPointer(rebasing: v[0...j])
            // A byte that is not ASCII before the extension is never part of a phone number (the loop below rejects
            // it), so the markers are compared on the bytes, case-folded.
            guard head.allSatisfy({ $0 < 0x80 }) else { return false }
            for marker in Self.extensionMarkers where marker.count <= head.count {
                let tail = head[(head.count - marker.count)...]
                if zip(tail, marker).allSatisfy({ ($0 >= 65 && $0 <= 90 ? $0 + 32 : $0) == $1 }) {
                    end = j + 1 - marker.count
                    break
                }
            }
        }
        while end > 0, v[end - 1] == 32 || v[end - 1] == UInt8(ascii: ",") || v[end - 1] == UInt8(ascii: ";") { end -= 1 }
        guard end > 0 else { return false }
        var digits = 0, separators = 0
        for k in 0..<end {
            let c = v[k]
            if isDigit(c) { digits += 1; continue }
            switch c {
            case 32, UInt8(ascii: "-"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "."), UInt8(ascii: "/"): separators += 1
            case UInt8(ascii: "+") where k == 0: separators += 1
            default: return false
            }
        }
        return (7...15).contains(digits) && separators > 0
    }

    static func lexLess(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        let n = Swift.min(a.count, b.count)
        for k in 0..<n where a[k] != b[k] { return a[k] < b[k] }
        return a.count < b.count
    }

    static func less(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.integer(let x), .integer(let y)): return x < y
        case (.double(let x), .double(let y)): return x < y
        case (.date(let x), .date(let y)): return x < y
        case (.timestamp(let x), .timestamp(let y)): return x < y
        case (.boolean(let x), .boolean(let y)): return !x && y
        case (.money(let x, _), .money(let y, _)): return x < y
        default: return a.description < b.description
        }
    }

    /// A coarse shape of a text value; `name` is what the profile prints. Counted per shape in a fixed array, so a
    /// column of millions of distinct values does not hash a `String` per value.
    public enum Shape: Int, CaseIterable, Sendable {
        case empty, email, leadingZeroDigits, longDigits, digits, isoTimestamp, isoDate, textualDate, numericDate
        case dateLike, internationalPhone, phone, number, amount, textWithSpaces, nonASCIIText, word

        public var name: String {
            switch self {
            case .empty: return "empty"
            case .email: return "email"
            case .leadingZeroDigits: return "digits with leading zero (identifier)"
            case .longDigits: return "long digit string (identifier)"
            case .digits: return "digits"
            case .isoTimestamp: return "timestamp (ISO)"
            case .isoDate: return "date (YYYY-MM-DD)"
            case .textualDate: return "date (month name)"
            case .numericDate: return "date (NN/NN/YYYY)"
            case .dateLike: return "date-like (not a calendar date)"
            case .internationalPhone: return "phone (international)"
            case .phone: return "phone"
            case .number: return "number"
            case .amount: return "amount"
            case .textWithSpaces: return "text with spaces"
            case .nonASCIIText: return "text (non-ASCII)"
            case .word: return "word"
            }
        }
    }

    /// A coarse shape name for a text value.
    public static func shape(_ v: UnsafeBufferPointer<UInt8>) -> String { shapeKind(v).name }

    /// A text value's coarse shape.
    public static func shapeKind(_ v: UnsafeBufferPointer<UInt8>) -> Shape {
        if v.isEmpty { return .empty }
        var digits = 0, letters = 0, at = -1, dotAfterAt = false, spaces = 0, phoneChars = 0, other = 0, high = 0
        for k in 0..<v.count {
            let c = v[k]
            switch c {
            case 48...57: digits += 1
            case 65...90, 97...122: letters += 1
            case UInt8(ascii: "@"): at = at < 0 ? k : -2
            case UInt8(ascii: "."): if at >= 0 { dotAfterAt = true }; other += 1
            case 32: spaces += 1
            case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "-"), UInt8(ascii: "+"): phoneChars += 1
            default: if c >= 0x80 { high += 1 } else { other += 1 }
            }
        }
        if at > 0, dotAfterAt, spaces == 0 { return .email }
        if letters == 0, high == 0, v.count == digits {
            if v[0] == 48, digits > 1 { return .leadingZeroDigits }
            return digits > 15 ? .longDigits : .digits
        }
        if let s = DateParsing.scan(v) {
            switch s.shape {
            case .iso: return s.hasTime ? .isoTimestamp : .isoDate
            case .textual: return .textualDate
            case .numeric: return .numericDate
            }
        }
        if ColumnEvidence.hasDateShape(v) { return .dateLike }
        if letters <= 9, digits >= 7, high == 0, isPhone(v) {
            return v[0] == UInt8(ascii: "+") ? .internationalPhone : .phone
        }
        if Scalars.double(v) != nil { return .number }
        if Money.parse(v) != nil, digits > 0 { return .amount }
        if spaces > 0 { return .textWithSpaces }
        return high > 0 ? .nonASCIIText : .word
    }
}

/// Counts 64-bit keys with open addressing (linear probing) in one table of 16-byte slots (key, count, first row):
/// a probe touches one cache line, not three. Keys come in batches whose slots are prefetched before any is probed,
/// so the cache misses of a high-cardinality column (ids, phones, timestamps) overlap instead of queueing. A value
/// type over its own memory (a class's stored properties would be checked for exclusive access on every probe):
/// `release()` frees it.
struct HashCounter {
    struct Slot {
        var key: UInt64
        var count: Int32
        var row: Int32
    }

    private var slots: UnsafeMutablePointer<Slot>
    private var mask: Int
    private var shift: UInt64 = 54
    private(set) var count = 0
    private var zeroCount = 0
    private var zeroRow = 0
    /// Keys per batch (`add(keys:rows:)`).
    static let batch = 32

    init() {
        mask = 1023
        slots = Self.zeroed(1024)
    }

    func release() { slots.deallocate() }

    /// `n` empty slots, written once. NB: not `calloc`: its fresh zero pages fault twice under the random probes
    /// (read, then copy-on-write with a TLB shootdown across the threads), 1.5× slower on the 1 GiB profile.
    private static func zeroed(_ n: Int) -> UnsafeMutablePointer<Slot> {
        let p = UnsafeMutablePointer<Slot>.allocate(capacity: n)
        p.initialize(repeating: Slot(key: 0, count: 0, row: 0), count: n)
        return p
    }

    @inline(__always)
    mutating func add(_ key: UInt64, row: Int) {
        if key == 0 {
            // NB: 0 marks an empty slot, so the key 0 is counted aside.
            if zeroCount == 0 {
                zeroRow = row
                count += 1
            }
            zeroCount += 1
            return
        }
        var i = slot(key)
        while true {
            let k = slots[i].key
            if k == key {
                slots[i].count += 1
                return
            }
            if k == 0 {
                slots[i] = Slot(key: key, count: 1, row: Int32(truncatingIfNeeded: row))
                count += 1
                if count * 2 > mask { grow() }
                return
            }
            i = (i + 1) & mask
        }
    }

    /// A batch of keys and their rows: every key's slot prefetched, then each key counted in order.
    @inline(__always)
    mutating func add(keys: UnsafePointer<UInt64>, rows: UnsafePointer<Int32>, count n: Int) {
        for j in 0..<n { crmflow_prefetch(slots + slot(keys[j])) }
        for j in 0..<n { add(keys[j], row: Int(rows[j])) }
    }

    private mutating func grow() { rehash(capacity: (mask + 1) * 2) }

    /// Room for `distinct` keys without growing again.
    mutating func reserve(distinct: Int) {
        var capacity = mask + 1
        while distinct * 2 > capacity - 1 { capacity *= 2 }
        if capacity > mask + 1 { rehash(capacity: capacity) }
    }

    private mutating func rehash(capacity: Int) {
        let old = slots, oldCapacity = mask + 1
        slots = Self.zeroed(capacity)
        mask = capacity - 1
        shift = UInt64(64 - capacity.trailingZeroBitCount)
        for j in 0..<oldCapacity where old[j].key != 0 {
            var i = slot(old[j].key)
            while slots[i].key != 0 { i = (i + 1) & mask }
            slots[i] = old[j]
        }
        old.deallocate()
    }

    /// Fibonacci hashing: raw bit patterns (timestamps, doubles) have patterned low bits, so take the product's high bits.
    @inline(__always)
    private func slot(_ key: UInt64) -> Int { Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift) }

    /// Calls `body` with every distinct key's count and the first row it appeared in (in slot order).
    @inline(__always)
    func forEach(_ body: (_ count: Int, _ row: Int) -> Void) {
        if zeroCount > 0 { body(zeroCount, zeroRow) }
        for j in 0...mask where slots[j].key != 0 { body(Int(slots[j].count), Int(slots[j].row)) }
    }

    /// Every distinct key's count and the first row it appeared in.
    func entries() -> [(count: Int, row: Int)] {
        var out: [(count: Int, row: Int)] = []
        out.reserveCapacity(count)
        if zeroCount > 0 { out.append((zeroCount, zeroRow)) }
        for j in 0...mask where slots[j].key != 0 { out.append((Int(slots[j].count), Int(slots[j].row))) }
        return out
    }
}
