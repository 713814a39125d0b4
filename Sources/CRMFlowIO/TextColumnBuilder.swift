import CRMFlowCore

/// A growable text column on manually managed memory, for the parser's per-field hot path:
/// no copy-on-write or exclusivity checks per append. Owned by one `ChunkParserState`.
struct TextColumnBuilder {
    private(set) var bytes: UnsafeMutablePointer<UInt8>
    private(set) var byteCount = 0
    private(set) var byteCapacity: Int
    /// `offsets[i]` is the end of value i (the start of value 0 is 0).
    private var ends: UnsafeMutablePointer<UInt32>
    private var valid: UnsafeMutablePointer<UInt8>
    private(set) var count = 0
    private var capacity: Int

    init(rows: Int, bytes byteCapacity: Int) {
        capacity = max(rows, 16)
        self.byteCapacity = max(byteCapacity, 64)
        bytes = .allocate(capacity: self.byteCapacity)
        ends = .allocate(capacity: capacity)
        valid = .allocate(capacity: capacity)
    }

    func deallocate() {
        bytes.deallocate()
        ends.deallocate()
        valid.deallocate()
    }

    @inline(__always)
    private mutating func reserveRow() {
        if count == capacity {
            let newCapacity = capacity * 2
            let e = UnsafeMutablePointer<UInt32>.allocate(capacity: newCapacity)
            e.update(from: ends, count: count)
            ends.deallocate()
            ends = e
            let v = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
            v.update(from: valid, count: count)
            valid.deallocate()
            valid = v
            capacity = newCapacity
        }
    }

    @inline(__always)
    mutating func append(_ p: UnsafeRawPointer, _ length: Int) {
        reserveRow()
        // NB: 16 bytes of slack past `byteCount` let short fields be copied as two 8-byte words.
        if byteCount + length + 16 > byteCapacity {
            var newCapacity = byteCapacity * 2
            while newCapacity < byteCount + length + 16 { newCapacity *= 2 }
            let b = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
            b.update(from: bytes, count: byteCount)
            bytes.deallocate()
            bytes = b
            byteCapacity = newCapacity
        }
        let destination = UnsafeMutableRawPointer(bytes + byteCount)
        if length <= 16 {
            // Short fields (most CRM cells): fixed-size copies instead of a call to memmove.
            if length >= 8 {
                destination.storeBytes(of: p.loadUnaligned(as: UInt64.self), as: UInt64.self)
                destination.storeBytes(of: p.loadUnaligned(fromByteOffset: length - 8, as: UInt64.self), toByteOffset: length - 8, as: UInt64.self)
            } else {
                var k = 0
                while k < length {
                    destination.storeBytes(of: p.load(fromByteOffset: k, as: UInt8.self), toByteOffset: k, as: UInt8.self)
                    k += 1
                }
            }
        } else {
            destination.copyMemory(from: p, byteCount: length)
        }
        byteCount += length
        ends[count] = UInt32(truncatingIfNeeded: byteCount)
        valid[count] = 1
        count += 1
    }

    @inline(__always)
    mutating func appendNull() {
        reserveRow()
        ends[count] = UInt32(truncatingIfNeeded: byteCount)
        valid[count] = 0
        count += 1
    }

    mutating func removeLast() {
        count -= 1
        byteCount = count == 0 ? 0 : Int(ends[count - 1])
    }

    /// The last value's bytes, or nil when it is null.
    func last() -> [UInt8]? {
        guard count > 0, valid[count - 1] != 0 else { return nil }
        let start = count == 1 ? 0 : Int(ends[count - 2])
        return Array(UnsafeBufferPointer(start: bytes + start, count: byteCount - start))
    }

    /// The values as an immutable column buffer and validity bitmap.
    func finished() -> (StringBuffer, Bitmap) {
        let byteArray = [UInt8](unsafeUninitializedCapacity: byteCount) { buf, n in
            if byteCount > 0 { buf.baseAddress!.update(from: bytes, count: byteCount) }
            n = byteCount
        }
        let offsets = [UInt32](unsafeUninitializedCapacity: count + 1) { buf, n in
            buf[0] = 0
            if count > 0 { (buf.baseAddress! + 1).update(from: ends, count: count) }
            n = count + 1
        }
        return (StringBuffer(bytes: byteArray, offsets: offsets), Bitmap(bytes: UnsafeBufferPointer(start: valid, count: count)))
    }

    /// Forgets every value, keeping the memory.
    mutating func reset() {
        count = 0
        byteCount = 0
    }
}
