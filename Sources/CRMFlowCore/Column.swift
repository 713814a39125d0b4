/// The values of one column, stored contiguously by type.
public enum ColumnStorage: Sendable, Hashable {
    case string(StringBuffer)
    case integer([Int64])
    case double([Double])
    case boolean([Bool])
    /// Days since 1970-01-01.
    case date([Int32])
    /// Microseconds since 1970-01-01T00:00:00Z.
    case timestamp([Int64])
    /// Minor units, with a per-row index into `currencies`.
    case money(minor: [Int64], currency: [UInt8], currencies: [String])
}

/// A typed column with a validity bitmap (nil means every value is present).
public struct Column: Sendable, Hashable {
    public var storage: ColumnStorage
    public var validity: Bitmap?
    public let count: Int

    public init(storage: ColumnStorage, validity: Bitmap?) {
        self.storage = storage
        switch storage {
        case .string(let b): count = b.count
        case .integer(let a): count = a.count
        case .double(let a): count = a.count
        case .boolean(let a): count = a.count
        case .date(let a): count = a.count
        case .timestamp(let a): count = a.count
        case .money(let a, _, _): count = a.count
        }
        if let validity, validity.nonzeroBitCount == validity.count { self.validity = nil } else { self.validity = validity }
    }

    public var type: DataType {
        switch storage {
        case .string: return .string
        case .integer: return .integer
        case .double: return .double
        case .boolean: return .boolean
        case .date: return .date
        case .timestamp: return .timestamp
        case .money: return .money
        }
    }

    @inlinable @inline(__always)
    public func isNull(_ row: Int) -> Bool {
        guard let validity else { return false }
        return !validity.isSet(row)
    }

    public var nullCount: Int { validity.map { $0.count - $0.nonzeroBitCount } ?? 0 }

    /// The value at `row`.
    public func value(at row: Int) -> Value {
        if isNull(row) { return .null }
        switch storage {
        case .string(let b): return .string(b.string(row))
        case .integer(let a): return .integer(a[row])
        case .double(let a): return .double(a[row])
        case .boolean(let a): return .boolean(a[row])
        case .date(let a): return .date(a[row])
        case .timestamp(let a): return .timestamp(a[row])
        case .money(let a, let c, let codes): return .money(a[row], codes.isEmpty ? "" : codes[Int(c[row])])
        }
    }

    /// A column of `values`, all of `type`; `.null` entries become nulls.
    public static func make(_ type: DataType, _ values: [Value]) -> Column {
        var validity = Bitmap()
        for v in values { validity.append(!v.isNull) }
        switch type {
        case .string:
            var b = StringBuffer()
            for v in values { if case .string(let s) = v { b.append(s) } else { b.append(v.isNull ? "" : v.description) } }
            return Column(storage: .string(b), validity: validity)
        case .integer:
            return Column(storage: .integer(values.map { if case .integer(let i) = $0 { return i } else { return 0 } }), validity: validity)
        case .double:
            return Column(storage: .double(values.map {
                switch $0 {
                case .double(let d): return d
                case .integer(let i): return Double(i)
                default: return 0
                }
            }), validity: validity)
        case .boolean:
            return Column(storage: .boolean(values.map { if case .boolean(let b) = $0 { return b } else { return false } }), validity: validity)
        case .date:
            return Column(storage: .date(values.map { if case .date(let d) = $0 { return d } else { return 0 } }), validity: validity)
        case .timestamp:
            return Column(storage: .timestamp(values.map { if case .timestamp(let t) = $0 { return t } else { return 0 } }), validity: validity)
        case .money:
            var codes: [String] = []
            var minor: [Int64] = [], cur: [UInt8] = []
            for v in values {
                if case .money(let m, let c) = v {
                    if !codes.contains(c) { codes.append(c) }
                    minor.append(m)
                    cur.append(UInt8(codes.firstIndex(of: c)!))
                } else {
                    minor.append(0)
                    cur.append(0)
                }
            }
            return Column(storage: .money(minor: minor, currency: cur, currencies: codes), validity: validity)
        }
    }

    /// Appends `other`, which must have the same type.
    public mutating func append(contentsOf other: Column) throws(TableError) {
        guard type == other.type else {
            throw TableError.schemaMismatch("cannot append a \(other.type.rawValue) column to a \(type.rawValue) column")
        }
        var v = validity ?? Bitmap(repeating: true, count: count)
        validity = nil  // NB: release our reference so `v` is uniquely owned and grows in place (no copy per append).
        v.append(contentsOf: other.validity ?? Bitmap(repeating: true, count: other.count))
        let merged: ColumnStorage
        switch (storage, other.storage) {
        case (.string(var a), .string(let b)):
            storage = .integer([])  // NB: release our reference so `a` is uniquely owned and grows in place.
            try a.append(contentsOf: b)
            merged = .string(a)
        case (.integer(var a), .integer(let b)): storage = .integer([]); a.append(contentsOf: b); merged = .integer(a)
        case (.double(var a), .double(let b)): storage = .integer([]); a.append(contentsOf: b); merged = .double(a)
        case (.boolean(var a), .boolean(let b)): storage = .integer([]); a.append(contentsOf: b); merged = .boolean(a)
        case (.date(var a), .date(let b)): storage = .integer([]); a.append(contentsOf: b); merged = .date(a)
        case (.timestamp(var a), .timestamp(let b)): storage = .integer([]); a.append(contentsOf: b); merged = .timestamp(a)
        case (.money(var a, var c, var codes), .money(let b, let d, let otherCodes)):
            storage = .integer([])
            a.append(contentsOf: b)
            Column.appendCurrencies(d, codedBy: otherCodes, to: &c, codedBy: &codes)
            merged = .money(minor: a, currency: c, currencies: codes)
        default:
            throw TableError.schemaMismatch("cannot append a \(other.type.rawValue) column to a \(type.rawValue) column")
        }
        self = Column(storage: merged, validity: v)
    }

    /// Appends a money column's currency indices (into `otherCodes`) to `indices` (into `codes`), adding the codes
    /// `codes` lacks.
    public static func appendCurrencies(_ other: [UInt8], codedBy otherCodes: [String], to indices: inout [UInt8], codedBy codes: inout [String]) {
        var remap: [UInt8] = []
        for code in otherCodes {
            if let k = codes.firstIndex(of: code) { remap.append(UInt8(k)) } else {
                codes.append(code)
                remap.append(UInt8(codes.count - 1))
            }
        }
        indices.append(contentsOf: other.map { otherCodes.isEmpty ? 0 : remap[Int($0)] })
    }
}

extension Column {
    /// The rows at `indices`, in that order.
    public func selecting(_ indices: [Int]) -> Column {
        var v = Bitmap()
        v.reserveCapacity(indices.count)
        for i in indices { v.append(!isNull(i)) }
        switch storage {
        case .string(let b):
            var out = StringBuffer()
            var total = 0
            for i in indices { total += Int(b.offsets[i + 1] - b.offsets[i]) }
            out.reserveCapacity(values: indices.count, bytes: total)
            b.bytes.withUnsafeBufferPointer { all in
                for i in indices { out.append(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(all)[b.range(i)])) }
            }
            return Column(storage: .string(out), validity: v)
        case .integer(let a): return Column(storage: .integer(indices.map { a[$0] }), validity: v)
        case .double(let a): return Column(storage: .double(indices.map { a[$0] }), validity: v)
        case .boolean(let a): return Column(storage: .boolean(indices.map { a[$0] }), validity: v)
        case .date(let a): return Column(storage: .date(indices.map { a[$0] }), validity: v)
        case .timestamp(let a): return Column(storage: .timestamp(indices.map { a[$0] }), validity: v)
        case .money(let a, let c, let codes): return Column(storage: .money(minor: indices.map { a[$0] }, currency: indices.map { c[$0] }, currencies: codes), validity: v)
        }
    }
}

extension Table {
    /// The rows at `indices`, in that order.
    public func selecting(_ indices: [Int]) -> Table {
        Table(schema: schema, columns: columns.map { $0.selecting(indices) })
    }
}

extension Column {
    /// Concatenates columns of one type in order, allocating the result once.
    /// - Complexity: O(total size).
    public static func concatenating(_ parts: [Column]) throws(TableError) -> Column {
        guard let first = parts.first else { return Column.make(.string, []) }
        if parts.count == 1 { return first }
        let total = parts.reduce(0) { $0 + $1.count }
        var validity: Bitmap? = nil
        if parts.contains(where: { $0.validity != nil }) {
            var v = Bitmap()
            v.reserveCapacity(total)
            for p in parts { v.append(contentsOf: p.validity ?? Bitmap(repeating: true, count: p.count)) }
            validity = v
        }
        func gather<T>(_ extract: (Column) -> [T]) -> [T] {
            var out: [T] = []
            out.reserveCapacity(total)
            for p in parts { out.append(contentsOf: extract(p)) }
            return out
        }
        switch first.storage {
        case .string:
            var byteCount = 0
            for p in parts { if case .string(let b) = p.storage { byteCount += b.bytes.count } else { throw TableError.schemaMismatch("mixed column types") } }
            guard byteCount <= Int(UInt32.max) else { throw TableError.columnTooLarge }
            var out = StringBuffer()
            out.reserveCapacity(values: total, bytes: byteCount)
            for p in parts { if case .string(let b) = p.storage { try out.append(contentsOf: b) } }
            return Column(storage: .string(out), validity: validity)
        case .integer: return Column(storage: .integer(try typed(parts) { if case .integer(let a) = $0 { return a } else { return nil } }), validity: validity)
        case .double: return Column(storage: .double(try typed(parts) { if case .double(let a) = $0 { return a } else { return nil } }), validity: validity)
        case .boolean: return Column(storage: .boolean(try typed(parts) { if case .boolean(let a) = $0 { return a } else { return nil } }), validity: validity)
        case .date: return Column(storage: .date(try typed(parts) { if case .date(let a) = $0 { return a } else { return nil } }), validity: validity)
        case .timestamp: return Column(storage: .timestamp(try typed(parts) { if case .timestamp(let a) = $0 { return a } else { return nil } }), validity: validity)
        case .money:
            var result = first
            for p in parts.dropFirst() { try result.append(contentsOf: p) }
            return result
        }
    }

    private static func typed<T>(_ parts: [Column], _ extract: (ColumnStorage) -> [T]?) throws(TableError) -> [T] {
        var out: [T] = []
        out.reserveCapacity(parts.reduce(0) { $0 + $1.count })
        for p in parts {
            guard let a = extract(p.storage) else { throw TableError.schemaMismatch("mixed column types") }
            out.append(contentsOf: a)
        }
        return out
    }
}

extension Column {
    /// Bytes of memory the values and validity occupy.
    public var byteSize: Int {
        let v = (validity?.words.count ?? 0) * 8
        switch storage {
        case .string(let b): return v + b.bytes.count + b.offsets.count * 4
        case .integer(let a): return v + a.count * 8
        case .double(let a): return v + a.count * 8
        case .boolean(let a): return v + a.count
        case .date(let a): return v + a.count * 4
        case .timestamp(let a): return v + a.count * 8
        case .money(let a, let c, _): return v + a.count * 8 + c.count
        }
    }
}

extension Column {
    /// The contiguous rows `range`, copied.
    /// - Complexity: O(rows in range + their bytes).
    public func slice(_ range: Range<Int>) -> Column {
        var v: Bitmap? = nil
        if let validity {
            var b = Bitmap()
            b.reserveCapacity(range.count)
            for i in range { b.append(validity.isSet(i)) }
            v = b
        }
        switch storage {
        case .string(let buf):
            let start = Int(buf.offsets[range.lowerBound]), end = Int(buf.offsets[range.upperBound])
            let base = buf.offsets[range.lowerBound]
            let out = StringBuffer(bytes: Array(buf.bytes[start..<end]), offsets: buf.offsets[range.lowerBound...range.upperBound].map { $0 - base })
            return Column(storage: .string(out), validity: v)
        case .integer(let a): return Column(storage: .integer(Array(a[range])), validity: v)
        case .double(let a): return Column(storage: .double(Array(a[range])), validity: v)
        case .boolean(let a): return Column(storage: .boolean(Array(a[range])), validity: v)
        case .date(let a): return Column(storage: .date(Array(a[range])), validity: v)
        case .timestamp(let a): return Column(storage: .timestamp(Array(a[range])), validity: v)
        case .money(let a, let c, let codes): return Column(storage: .money(minor: Array(a[range]), currency: Array(c[range]), currencies: codes), validity: v)
        }
    }
}

extension Table {
    /// The contiguous rows `range`, copied.
    public func slice(_ range: Range<Int>) -> Table {
        Table(schema: schema, columns: columns.map { $0.slice(range) }, rowCount: range.count)
    }

    /// Contiguous row ranges for `parts` workers (one range when the table is small).
    public func rowSlices(parts: Int, minimumRows: Int = 50_000) -> [Range<Int>] {
        RowSlices.ranges(count: rowCount, parts: parts, minimumRows: minimumRows)
    }
}

/// Splitting rows into contiguous slices for work on several threads.
public enum RowSlices {
    /// At most `parts` slices of at least `minimumRows` rows each (one slice when there are too few rows).
    public static func ranges(count n: Int, parts: Int, minimumRows: Int = 50_000) -> [Range<Int>] {
        let k = max(1, min(parts, n / max(minimumRows, 1)))
        guard k > 1 else { return [0..<n] }
        let size = (n + k - 1) / k
        return stride(from: 0, to: n, by: size).map { $0..<min(n, $0 + size) }
    }
}
