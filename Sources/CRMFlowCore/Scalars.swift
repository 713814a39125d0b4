#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Byte-level parsers for cell values. They never allocate on the fast path.
public enum Scalars {
    /// Whether `part` occurs in `text`, byte for byte (an empty part occurs everywhere): memchr for the first byte,
    /// then memcmp.
    public static func contains(_ text: UnsafeBufferPointer<UInt8>, _ part: UnsafeBufferPointer<UInt8>) -> Bool {
        guard !part.isEmpty else { return true }
        guard text.count >= part.count, let base = text.baseAddress, let p = part.baseAddress else { return false }
        var at = 0
        let last = text.count - part.count
        while at <= last {
            guard let hit = memchr(base + at, Int32(p[0]), last - at + 1) else { return false }
            let offset = UnsafeRawPointer(hit) - UnsafeRawPointer(base)
            if memcmp(base + offset, p, part.count) == 0 { return true }
            at = offset + 1
        }
        return false
    }

    @inline(__always) static func isDigit(_ c: UInt8) -> Bool { c &- 48 < 10 }

    /// Strict integer as inference sees it: `-?[0-9]+`, no leading zero, at most 18 digits.
    @inline(__always)
    public static func strictInteger(_ p: UnsafeBufferPointer<UInt8>) -> Int64? {
        var i = 0
        let n = p.count
        var negative = false
        if n > 0, p[0] == UInt8(ascii: "-") {
            negative = true
            i = 1
        }
        let digits = n - i
        guard digits > 0, digits <= 18 else { return nil }
        if digits > 1, p[i] == 48 { return nil }
        var v: Int64 = 0
        while i < n {
            let d = p[i] &- 48
            guard d < 10 else { return nil }
            v = v &* 10 &+ Int64(d)
            i += 1
        }
        return negative ? -v : v
    }

    /// Lenient integer for declared columns: spaces, `+`, leading zeros and `_`-free digits.
    public static func integer(_ p: UnsafeBufferPointer<UInt8>) -> Int64? {
        let t = trimmed(p)
        guard !t.isEmpty else { return nil }
        var i = 0
        var negative = false
        if t[0] == UInt8(ascii: "-") || t[0] == UInt8(ascii: "+") {
            negative = t[0] == UInt8(ascii: "-")
            i = 1
        }
        guard i < t.count else { return nil }
        // NB: accumulate towards the sign so Int64.min, whose magnitude has no positive Int64, parses too.
        var v: Int64 = 0
        while i < t.count {
            let d = t[i] &- 48
            guard d < 10 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = negative ? m.subtractingReportingOverflow(Int64(d)) : m.addingReportingOverflow(Int64(d))
            if o1 || o2 { return nil }
            v = a
            i += 1
        }
        return v
    }

    /// 10^e for 0 ≤ e ≤ 22 (exact in a double); a switch rather than a global array, which costs a lazy-init check
    /// per call in this per-value path.
    @inline(__always)
    static func exactPowerOfTen(_ e: Int) -> Double {
        switch e {
        case 0: return 1
        case 1: return 1e1
        case 2: return 1e2
        case 3: return 1e3
        case 4: return 1e4
        case 5: return 1e5
        case 6: return 1e6
        case 7: return 1e7
        case 8: return 1e8
        case 9: return 1e9
        case 10: return 1e10
        case 11: return 1e11
        case 12: return 1e12
        case 13: return 1e13
        case 14: return 1e14
        case 15: return 1e15
        case 16: return 1e16
        case 17: return 1e17
        case 18: return 1e18
        case 19: return 1e19
        case 20: return 1e20
        case 21: return 1e21
        default: return 1e22
        }
    }

    /// Decimal number `-?digits[.digits][e[+-]digits]`; with `strict`, leading zeros (`007`) are refused.
    public static func double(_ p: UnsafeBufferPointer<UInt8>, strict: Bool = true) -> Double? {
        let t = strict ? p : trimmed(p)
        let n = t.count
        guard n > 0, n < 400 else { return nil }
        var i = 0
        var negative = false
        if t[0] == UInt8(ascii: "-") || (!strict && t[0] == UInt8(ascii: "+")) {
            negative = t[0] == UInt8(ascii: "-")
            i = 1
        }
        var mantissa: UInt64 = 0
        var mantissaDigits = 0
        var exponent = 0
        var intDigits = 0
        let intStart = i
        while i < n, isDigit(t[i]) {
            if mantissaDigits < 19 {
                mantissa = mantissa &* 10 &+ UInt64(t[i] &- 48)
                if mantissa != 0 { mantissaDigits += 1 }
            } else { exponent += 1 }
            i += 1
            intDigits += 1
        }
        if strict, intDigits > 1, t[intStart] == 48 { return nil }
        var fracDigits = 0
        if i < n, t[i] == UInt8(ascii: ".") {
            i += 1
            while i < n, isDigit(t[i]) {
                if mantissaDigits < 19 {
                    mantissa = mantissa &* 10 &+ UInt64(t[i] &- 48)
                    if mantissa != 0 { mantissaDigits += 1 }
                    exponent -= 1
                }
                i += 1
                fracDigits += 1
            }
        }
        guard intDigits + fracDigits > 0 else { return nil }
        if i < n, t[i] | 0x20 == UInt8(ascii: "e") {
            i += 1
            var expNegative = false
            if i < n, t[i] == UInt8(ascii: "-") || t[i] == UInt8(ascii: "+") {
                expNegative = t[i] == UInt8(ascii: "-")
                i += 1
            }
            var e = 0
            var expDigits = 0
            while i < n, isDigit(t[i]) {
                if e < 100_000 { e = e * 10 + Int(t[i] &- 48) }
                i += 1
                expDigits += 1
            }
            guard expDigits > 0 else { return nil }
            exponent += expNegative ? -e : e
        }
        guard i == n else { return nil }
        if mantissa < (1 << 53), mantissaDigits <= 15, abs(exponent) <= 22 {
            var v = Double(mantissa)
            if exponent < 0 { v /= exactPowerOfTen(-exponent) } else { v *= exactPowerOfTen(exponent) }
            return negative ? -v : v
        }
        // NB: outside the exact fast path, defer to the C library for correct rounding.
        var buffer = [CChar](repeating: 0, count: n + 1)
        for k in 0..<n { buffer[k] = CChar(bitPattern: t[k]) }
        return buffer.withUnsafeBufferPointer { strtod($0.baseAddress!, nil) }
    }

    /// `true`/`false` in any case; lenient adds yes/no/y/n/1/0.
    public static func boolean(_ p: UnsafeBufferPointer<UInt8>, lenient: Bool = false) -> Bool? {
        let t = lenient ? trimmed(p) : p
        switch t.count {
        case 4 where t[0] | 0x20 == UInt8(ascii: "t") && t[1] | 0x20 == UInt8(ascii: "r") && t[2] | 0x20 == UInt8(ascii: "u") && t[3] | 0x20 == UInt8(ascii: "e"):
            return true
        case 5 where t[0] | 0x20 == UInt8(ascii: "f") && t[1] | 0x20 == UInt8(ascii: "a") && t[2] | 0x20 == UInt8(ascii: "l") && t[3] | 0x20 == UInt8(ascii: "s") && t[4] | 0x20 == UInt8(ascii: "e"):
            return false
        default:
            guard lenient else { return nil }
            let s = String(decoding: t, as: UTF8.self).lowercased()
            switch s {
            case "yes", "y", "1": return true
            case "no", "n", "0": return false
            default: return nil
            }
        }
    }

    /// The bytes without leading and trailing ASCII spaces and tabs.
    @inline(__always)
    public static func trimmed(_ p: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        var lo = 0
        var hi = p.count
        while lo < hi, p[lo] == 32 || p[lo] == 9 { lo += 1 }
        while hi > lo, p[hi - 1] == 32 || p[hi - 1] == 9 { hi -= 1 }
        return UnsafeBufferPointer(rebasing: p[lo..<hi])
    }

    /// Strips ASCII white space and line breaks (space, tab, LF, VT, FF, CR) from both ends.
    public static func trimmedWhitespace(_ p: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        @inline(__always) func isSpace(_ c: UInt8) -> Bool { c == 32 || (c >= 9 && c <= 13) }
        var lo = 0
        var hi = p.count
        while lo < hi, isSpace(p[lo]) { lo += 1 }
        while hi > lo, isSpace(p[hi - 1]) { hi -= 1 }
        return UnsafeBufferPointer(rebasing: p[lo..<hi])
    }

    /// True when every byte is ASCII (checked 8 bytes at a time).
    @inline(__always)
    public static func isASCII(_ p: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = p.baseAddress else { return true }
        let raw = UnsafeRawPointer(base)
        var i = 0
        while i + 8 <= p.count {
            if raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { return false }
            i += 8
        }
        while i < p.count {
            if p[i] >= 0x80 { return false }
            i += 1
        }
        return true
    }
}
