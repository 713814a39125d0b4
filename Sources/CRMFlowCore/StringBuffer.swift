/// Many strings stored as one contiguous UTF-8 byte buffer plus end offsets.
///
/// - Complexity: appending is amortised O(length); access is O(1).
public struct StringBuffer: Sendable, Hashable {
    /// The concatenated UTF-8 bytes of all values.
    public private(set) var bytes: [UInt8]
    /// `offsets[i] ..< offsets[i + 1]` are the bytes of value `i`; `offsets[0] == 0`.
    public private(set) var offsets: [UInt32]

    public init() {
        bytes = []
        offsets = [0]
    }

    public init(bytes: [UInt8], offsets: [UInt32]) {
        self.bytes = bytes
        self.offsets = offsets
    }

    public init<S: Sequence>(_ strings: S) where S.Element == String {
        self.init()
        for s in strings { append(s) }
    }

    @inlinable public var count: Int { offsets.count - 1 }

    public mutating func reserveCapacity(values: Int, bytes byteCount: Int) {
        offsets.reserveCapacity(values + 1)
        bytes.reserveCapacity(byteCount)
    }

    @inline(__always)
    public mutating func append(_ pointer: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: pointer)
        offsets.append(UInt32(truncatingIfNeeded: bytes.count))
    }

    @inline(__always)
    public mutating func append(_ value: String) {
        var v = value
        v.withUTF8 { bytes.append(contentsOf: $0) }
        offsets.append(UInt32(truncatingIfNeeded: bytes.count))
    }

    public mutating func appendEmpty() { offsets.append(offsets[offsets.count - 1]) }

    public mutating func removeLast() {
        offsets.removeLast()
        bytes.removeLast(bytes.count - Int(offsets[offsets.count - 1]))
    }

    /// Appends every value of `other`; fails when the buffer would pass 4 GiB.
    public mutating func append(contentsOf other: StringBuffer) throws(TableError) {
        let base = UInt64(bytes.count)
        guard base + UInt64(other.bytes.count) <= UInt64(UInt32.max) else { throw TableError.columnTooLarge }
        bytes.append(contentsOf: other.bytes)
        let b = UInt32(base)
        let start = offsets.count
        offsets.append(contentsOf: other.offsets[1...])
        offsets.withUnsafeMutableBufferPointer { o in
            for i in start..<o.count { o[i] &+= b }
        }
    }

    @inlinable @inline(__always)
    public func range(_ i: Int) -> Range<Int> { Int(offsets[i])..<Int(offsets[i + 1]) }

    /// Calls `body` with the bytes of value `i`.
    @inline(__always)
    public func withBytes<R>(_ i: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        let r = range(i)
        return try bytes.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[r])) }
    }

    public func string(_ i: Int) -> String { String(decoding: bytes[range(i)], as: UTF8.self) }
}

/// Errors raised while building tables.
public enum TableError: Error, Sendable, Equatable, CustomStringConvertible {
    case columnTooLarge
    case schemaMismatch(String)

    public var description: String {
        switch self {
        case .columnTooLarge: return "a text column holds more than 4 GiB; split the input file"
        case .schemaMismatch(let s): return "schema mismatch: \(s)"
        }
    }
}
