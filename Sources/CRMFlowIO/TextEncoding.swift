import CRMFlowCore

/// Character encodings crmflow reads; everything is converted to UTF-8 before parsing.
public enum TextEncoding: String, Sendable, CaseIterable {
    case utf8 = "utf-8"
    case utf16LE = "utf-16le"
    case utf16BE = "utf-16be"
    case windows1252 = "windows-1252"
    case latin1 = "iso-8859-1"

    public init?(userName: String) {
        switch userName.lowercased().replacingOccurrences(of: "_", with: "-") {
        case "utf-8", "utf8": self = .utf8
        case "utf-16le", "utf16le", "utf-16", "utf16": self = .utf16LE
        case "utf-16be", "utf16be": self = .utf16BE
        case "windows-1252", "cp1252", "win1252", "windows1252": self = .windows1252
        case "iso-8859-1", "latin1", "latin-1", "iso8859-1": self = .latin1
        default: return nil
        }
    }

    /// The encoding a byte-order mark announces, and the mark's length.
    public static func bom(_ head: ArraySlice<UInt8>) -> (TextEncoding, Int)? {
        let b = Array(head.prefix(3))
        if b.count >= 3, b[0] == 0xEF, b[1] == 0xBB, b[2] == 0xBF { return (.utf8, 3) }
        if b.count >= 2, b[0] == 0xFF, b[1] == 0xFE { return (.utf16LE, 2) }
        if b.count >= 2, b[0] == 0xFE, b[1] == 0xFF { return (.utf16BE, 2) }
        return nil
    }

    /// Windows-1252 code points for bytes 0x80-0x9F (0 where undefined).
    static let cp1252High: [UInt32] = [
        0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
        0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
    ]

    /// Converts `bytes` in this encoding to UTF-8.
    /// - Throws: the byte offset of the first sequence that is invalid in this encoding.
    public func decodeToUTF8(_ bytes: ArraySlice<UInt8>) throws(InvalidByte) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + bytes.count / 8)
        switch self {
        case .utf8:
            if let bad = UTF8Validation.firstInvalid(bytes) { throw InvalidByte(offset: bad) }
            return Array(bytes)
        case .latin1, .windows1252:
            for (k, b) in bytes.enumerated() {
                if b < 0x80 { out.append(b); continue }
                var scalar = UInt32(b)
                if self == .windows1252, b < 0xA0 {
                    scalar = Self.cp1252High[Int(b - 0x80)]
                    if scalar == 0 { throw InvalidByte(offset: k) }
                }
                UTF8Validation.append(scalar, to: &out)
            }
            return out
        case .utf16LE, .utf16BE:
            let little = self == .utf16LE
            var i = bytes.startIndex
            var k = 0
            while i + 1 < bytes.endIndex {
                let u = little ? UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8 : UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1])
                if u >= 0xD800, u < 0xDC00 {
                    guard i + 3 < bytes.endIndex else { throw InvalidByte(offset: k) }
                    let l = little ? UInt16(bytes[i + 2]) | UInt16(bytes[i + 3]) << 8 : UInt16(bytes[i + 2]) << 8 | UInt16(bytes[i + 3])
                    guard l >= 0xDC00, l < 0xE000 else { throw InvalidByte(offset: k) }
                    UTF8Validation.append(0x10000 + ((UInt32(u) - 0xD800) << 10) + (UInt32(l) - 0xDC00), to: &out)
                    i += 4
                    k += 4
                } else if u >= 0xDC00, u < 0xE000 {
                    throw InvalidByte(offset: k)
                } else {
                    UTF8Validation.append(UInt32(u), to: &out)
                    i += 2
                    k += 2
                }
            }
            if i != bytes.endIndex { throw InvalidByte(offset: k) }
            return out
        }
    }
}

/// The offset of a byte that is not valid in the declared encoding.
public struct InvalidByte: Error, Sendable { public var offset: Int }

/// UTF-8 validation and encoding on bytes.
public enum UTF8Validation {
    /// Offset (relative to the slice start) of the first invalid UTF-8 sequence, or nil.
    public static func firstInvalid(_ bytes: ArraySlice<UInt8>) -> Int? {
        bytes.withUnsafeBufferPointer { firstInvalid($0) }
    }

    public static func firstInvalid(_ p: UnsafeBufferPointer<UInt8>) -> Int? {
        let n = p.count
        var i = 0
        while i < n {
            // Fast path: 8 ASCII bytes at a time.
            if i + 8 <= n {
                let w = UnsafeRawPointer(p.baseAddress! + i).loadUnaligned(as: UInt64.self)
                if w & 0x8080_8080_8080_8080 == 0 {
                    i += 8
                    continue
                }
            }
            let b = p[i]
            if b < 0x80 { i += 1; continue }
            var need = 0
            var minScalar: UInt32 = 0
            var scalar: UInt32 = 0
            if b & 0xE0 == 0xC0 { need = 1; scalar = UInt32(b & 0x1F); minScalar = 0x80 }
            else if b & 0xF0 == 0xE0 { need = 2; scalar = UInt32(b & 0x0F); minScalar = 0x800 }
            else if b & 0xF8 == 0xF0 { need = 3; scalar = UInt32(b & 0x07); minScalar = 0x10000 }
            else { return i }
            guard i + need < n else { return i }
            for k in 1...need {
                let c = p[i + k]
                guard c & 0xC0 == 0x80 else { return i }
                scalar = scalar << 6 | UInt32(c & 0x3F)
            }
            if scalar < minScalar || scalar > 0x10FFFF || (scalar >= 0xD800 && scalar < 0xE000) { return i }
            i += need + 1
        }
        return nil
    }

    /// Counts the well-formed multi-byte sequences and the invalid bytes of `bytes` (a sequence cut by the end of
    /// `bytes` counts as neither), to tell UTF-8 with a few stray bytes from a legacy single-byte encoding.
    public static func census(_ bytes: ArraySlice<UInt8>) -> (multibyte: Int, invalid: Int) {
        bytes.withUnsafeBufferPointer { p in
            var multibyte = 0, invalid = 0
            var i = 0
            while i < p.count {
                let rest = UnsafeBufferPointer(rebasing: p[i...])
                guard let bad = firstInvalid(rest) else {
                    multibyte += multibyteCount(UnsafeBufferPointer(rebasing: rest[...]))
                    break
                }
                multibyte += multibyteCount(UnsafeBufferPointer(rebasing: rest[..<bad]))
                let b = rest[bad]
                let need = b & 0xE0 == 0xC0 ? 1 : b & 0xF0 == 0xE0 ? 2 : b & 0xF8 == 0xF0 ? 3 : 0
                if need > 0, bad + need >= rest.count, rest[(bad + 1)...].allSatisfy({ $0 & 0xC0 == 0x80 }) { break }
                invalid += 1
                i += bad + 1
            }
            return (multibyte, invalid)
        }
    }

    /// The lead bytes of multi-byte sequences in valid UTF-8.
    static func multibyteCount(_ p: UnsafeBufferPointer<UInt8>) -> Int {
        var n = 0
        for b in p where b >= 0xC0 { n += 1 }
        return n
    }

    /// True when text with these counts is best read as UTF-8: no invalid byte, or at least as many well-formed
    /// multi-byte characters as invalid bytes (a legacy file's accented letters are almost never valid UTF-8).
    public static func looksLikeUTF8(multibyte: Int, invalid: Int) -> Bool {
        invalid == 0 || multibyte >= invalid
    }

    @inline(__always)
    public static func append(_ scalar: UInt32, to out: inout [UInt8]) {
        switch scalar {
        case 0..<0x80: out.append(UInt8(scalar))
        case 0x80..<0x800:
            out.append(UInt8(0xC0 | scalar >> 6)); out.append(UInt8(0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            out.append(UInt8(0xE0 | scalar >> 12)); out.append(UInt8(0x80 | (scalar >> 6) & 0x3F)); out.append(UInt8(0x80 | scalar & 0x3F))
        default:
            out.append(UInt8(0xF0 | scalar >> 18)); out.append(UInt8(0x80 | (scalar >> 12) & 0x3F))
            out.append(UInt8(0x80 | (scalar >> 6) & 0x3F)); out.append(UInt8(0x80 | scalar & 0x3F))
        }
    }
}
