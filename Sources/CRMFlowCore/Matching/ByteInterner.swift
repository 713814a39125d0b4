/// Distinct byte strings with dense codes (0, 1, 2, … in first-appearance order), their bytes kept once in a
/// `StringBuffer`: the dictionary behind record-linkage features and blocking keys, probed with raw bytes so no
/// `String` is made per row.
public struct ByteInterner: Sendable {
    /// The distinct values; value `c` has code `c`.
    public private(set) var values = StringBuffer()
    /// Open addressing: each slot holds the high half of the key's hash beside its code (-1: empty), so a probe reads one
    /// cache line; eight bytes a slot, not sixteen (a hash table per compared column of a 1 M-record merge is tens of MB,
    /// probed once per record, and rebuilt as it grows: half the cache misses and half the fresh pages).
    private var slots = [Slot](repeating: Slot(tag: 0, code: -1), count: 1024)
    private var hashes: [UInt64] = []
    private var mask = 1023

    public init() {}

    public var count: Int { values.count }

    /// The code of `key`, adding it when new.
    public mutating func intern(_ key: UnsafeBufferPointer<UInt8>) -> Int32 {
        let h = ByteKeyTable.hash(key)
        let tag = UInt32(truncatingIfNeeded: h >> 32)
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let slot = slots[i]
            if slot.code < 0 { break }
            if slot.tag == tag, equal(Int(slot.code), key) { return slot.code }
            i = (i + 1) & mask
        }
        let code = Int32(values.count)
        slots[i] = Slot(tag: tag, code: code)
        hashes.append(h)
        values.append(UnsafeRawBufferPointer(key))
        if hashes.count * 2 > slots.count { grow() }
        return code
    }

    /// The code of `s`, adding it when new.
    public mutating func intern(_ s: String) -> Int32 {
        var s = s
        return s.withUTF8 { intern($0) }
    }

    /// The code of `key`, or -1 when it was never interned.
    public func code(of key: UnsafeBufferPointer<UInt8>) -> Int32 {
        let h = ByteKeyTable.hash(key)
        let tag = UInt32(truncatingIfNeeded: h >> 32)
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let slot = slots[i]
            if slot.code < 0 { return -1 }
            if slot.tag == tag, equal(Int(slot.code), key) { return slot.code }
            i = (i + 1) & mask
        }
    }

    public func string(_ code: Int32) -> String { values.string(Int(code)) }

    @inline(__always)
    private func equal(_ c: Int, _ key: UnsafeBufferPointer<UInt8>) -> Bool {
        let r = values.range(c)
        guard r.count == key.count else { return false }
        if key.isEmpty { return true }
        return values.bytes.withUnsafeBufferPointer { memcmp($0.baseAddress! + r.lowerBound, key.baseAddress!, key.count) == 0 }
    }

    /// Room for about `distinct` values in all, so the table is not rebuilt as it grows (each rebuild is a pass of cache
    /// misses over every value so far).
    public mutating func reserve(distinct: Int) {
        var size = slots.count
        while size < 2 * distinct { size *= 2 }
        hashes.reserveCapacity(distinct)
        let averageLength = values.count == 0 ? 8 : values.bytes.count / values.count + 1
        values.reserveCapacity(values: distinct, bytes: distinct * averageLength)
        if size > slots.count { rebuild(size) }
    }

    private mutating func grow() { rebuild(slots.count * 2) }

    private mutating func rebuild(_ size: Int) {
        slots = [Slot](repeating: Slot(tag: 0, code: -1), count: size)
        mask = size - 1
        for (code, h) in hashes.enumerated() {
            var i = Int(truncatingIfNeeded: h) & mask
            while slots[i].code >= 0 { i = (i + 1) & mask }
            slots[i] = Slot(tag: UInt32(truncatingIfNeeded: h >> 32), code: Int32(code))
        }
    }

    private struct Slot: Sendable {
        var tag: UInt32
        var code: Int32
    }
}

#if canImport(Glibc)
import Glibc
#endif
