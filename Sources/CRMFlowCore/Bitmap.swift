/// A growable bit set used as a validity (non-null) map.
public struct Bitmap: Sendable, Hashable {
    public private(set) var words: [UInt64]
    public private(set) var count: Int

    public init() {
        words = []
        count = 0
    }

    /// A bitmap of `count` bits all set to `value`.
    public init(repeating value: Bool, count: Int) {
        let wordCount = (count + 63) >> 6
        words = Array(repeating: value ? ~0 : 0, count: wordCount)
        self.count = count
        if value, count & 63 != 0 { words[wordCount - 1] = (1 << UInt64(count & 63)) - 1 }
    }

    /// A bitmap from its packed words (as `words` gives them), e.g. read back from a checkpoint.
    public init?(words: [UInt64], count: Int) {
        guard count >= 0, words.count == (count + 63) >> 6 else { return nil }
        self.words = words
        self.count = count
    }

    /// A bitmap with bit i set where `bytes[i] != 0`, packed 64 at a time.
    public init(bytes: UnsafeBufferPointer<UInt8>) {
        count = bytes.count
        let wordCount = (count + 63) >> 6
        words = [UInt64](unsafeUninitializedCapacity: wordCount) { buf, n in
            for w in 0..<wordCount {
                var word: UInt64 = 0
                let base = w << 6
                let end = Swift.min(64, bytes.count - base)
                for b in 0..<end where bytes[base + b] != 0 { word |= 1 << UInt64(b) }
                buf[w] = word
            }
            n = wordCount
        }
    }

    public mutating func reserveCapacity(_ n: Int) { words.reserveCapacity((n + 63) >> 6) }

    @inline(__always)
    public mutating func append(_ bit: Bool) {
        if count & 63 == 0 { words.append(0) }
        if bit { words[count >> 6] |= 1 << UInt64(count & 63) }
        count += 1
    }

    /// Whether bit `i` is set (inlinable across modules for hot loops).
    @inlinable @inline(__always)
    public func isSet(_ i: Int) -> Bool { words[i >> 6] & (1 << UInt64(i & 63)) != 0 }

    @inline(__always)
    public subscript(i: Int) -> Bool {
        get { words[i >> 6] & (1 << UInt64(i & 63)) != 0 }
        set {
            if newValue { words[i >> 6] |= 1 << UInt64(i & 63) } else { words[i >> 6] &= ~(1 << UInt64(i & 63)) }
        }
    }

    public mutating func append(contentsOf other: Bitmap) {
        if other.count == 0 { return }
        let shift = UInt64(count & 63)
        if shift == 0 {
            words.append(contentsOf: other.words)
            count += other.count
            return
        }
        // NB: bits past `count` are always zero, so OR-ing shifted words is safe.
        for w in other.words {
            words[words.count - 1] |= w << shift
            words.append(w >> (64 - shift))
        }
        count += other.count
        let needed = (count + 63) >> 6
        if words.count > needed { words.removeLast(words.count - needed) }
    }

    public mutating func removeLast() {
        precondition(count > 0)
        count -= 1
        self[count] = false
        if count & 63 == 0 { words.removeLast() }
    }

    /// Number of set bits.
    public var nonzeroBitCount: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }
}
