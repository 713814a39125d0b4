/// String comparison functions for record linkage, on Unicode scalar values (callers lower-case and trim first).
///
/// Definitions follow the record-linkage literature: Jaro (1989) and Winkler (1990) for Jaro-Winkler (prefix scale
/// 0.1, prefix up to 4, applied whatever the Jaro score); Levenshtein distance; Damerau-Levenshtein as the optimal
/// string alignment distance (adjacent transpositions, no substring edited twice); q-gram Jaccard on q-grams of the
/// string padded with q − 1 `#` on each side; token-sort / token-set ratios as in FuzzyWuzzy, with the normalised
/// Levenshtein similarity as the ratio.
public enum StringSimilarity {
    public typealias Scalars = [UInt32]

    /// Lower-cased, trimmed scalars of a string.
    public static func scalars(_ s: String) -> Scalars {
        var out: Scalars = []
        out.reserveCapacity(s.utf8.count)
        for u in s.lowercased().unicodeScalars { out.append(u.value) }
        while let l = out.last, l == 32 { out.removeLast() }
        var start = 0
        while start < out.count, out[start] == 32 { start += 1 }
        return start == 0 ? out : Array(out[start...])
    }

    public static func jaro(_ a: Scalars, _ b: Scalars) -> Double {
        a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in jaro(x, y) } }
    }

    public static func jaroWinkler(_ a: Scalars, _ b: Scalars) -> Double {
        a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in jaroWinkler(x, y) } }
    }

    public static func levenshtein(_ a: Scalars, _ b: Scalars) -> Int {
        a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in levenshtein(x, y) } }
    }

    // MARK: Kernels on code units (UTF-8 bytes of ASCII text, or Unicode scalar values): inlinable so callers in other
    // modules get them specialised for their element type, with no allocation per call.

    @inlinable
    public static func jaro<T: FixedWidthInteger>(_ a: UnsafeBufferPointer<T>, _ b: UnsafeBufferPointer<T>) -> Double {
        let n = a.count, m = b.count
        if n == 0 && m == 0 { return 1 }
        if n == 0 || m == 0 { return 0 }
        let window = max(0, max(n, m) / 2 - 1)
        return withUnsafeTemporaryAllocation(of: Bool.self, capacity: n + m) { flags -> Double in
            flags.initialize(repeating: false)
            let aMatched = flags.baseAddress!, bMatched = aMatched + n
            var matches = 0
            for i in 0..<n {
                let lo = max(0, i - window), hi = min(m - 1, i + window)
                if lo > hi { continue }
                for j in lo...hi where !bMatched[j] && a[i] == b[j] {
                    aMatched[i] = true
                    bMatched[j] = true
                    matches += 1
                    break
                }
            }
            if matches == 0 { return 0 }
            var transpositions = 0
            var k = 0
            for i in 0..<n where aMatched[i] {
                while !bMatched[k] { k += 1 }
                if a[i] != b[k] { transpositions += 1 }
                k += 1
            }
            let mm = Double(matches)
            return (mm / Double(n) + mm / Double(m) + (mm - Double(transpositions / 2)) / mm) / 3
        }
    }

    @inlinable
    public static func jaroWinkler<T: FixedWidthInteger>(_ a: UnsafeBufferPointer<T>, _ b: UnsafeBufferPointer<T>) -> Double {
        let j = jaro(a, b)
        var prefix = 0
        while prefix < min(4, a.count, b.count), a[prefix] == b[prefix] { prefix += 1 }
        return j + Double(prefix) * 0.1 * (1 - j)
    }

    @inlinable
    public static func levenshtein<T: FixedWidthInteger>(_ a: UnsafeBufferPointer<T>, _ b: UnsafeBufferPointer<T>) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        let w = b.count + 1
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 * w) { buf -> Int in
            var previous = buf.baseAddress!, current = previous + w
            for j in 0..<w { previous[j] = j }
            for i in 1...a.count {
                current[0] = i
                for j in 1...b.count {
                    current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                }
                swap(&previous, &current)
            }
            return previous[b.count]
        }
    }

    /// Optimal string alignment distance: Levenshtein plus adjacent transpositions.
    public static func damerauLevenshtein(_ a: Scalars, _ b: Scalars) -> Int {
        let n = a.count, m = b.count
        if n == 0 { return m }
        if m == 0 { return n }
        let w = m + 1
        // NB: one flat matrix, row-major.
        var d = [Int](repeating: 0, count: (n + 1) * w)
        for i in 0...n { d[i * w] = i }
        for j in 0...m { d[j] = j }
        for i in 1...n {
            for j in 1...m {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                var v = min(d[(i - 1) * w + j] + 1, d[i * w + j - 1] + 1, d[(i - 1) * w + j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { v = min(v, d[(i - 2) * w + j - 2] + 1) }
                d[i * w + j] = v
            }
        }
        return d[n * w + m]
    }

    /// True when the optimal string alignment distance is at most `d`: only the diagonal band |i − j| ≤ d is
    /// computed, and the scan stops as soon as a whole row exceeds `d`.
    public static func damerauWithin(_ a: Scalars, _ b: Scalars, _ d: Int) -> Bool {
        a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in bandedWithin(x, y, d, transpositions: true) } }
    }

    /// True when the Levenshtein distance is at most `d` (banded, as `damerauWithin`).
    public static func levenshteinWithin(_ a: Scalars, _ b: Scalars, _ d: Int) -> Bool {
        a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in bandedWithin(x, y, d, transpositions: false) } }
    }

    @inlinable
    public static func bandedWithin<T: FixedWidthInteger>(_ a: UnsafeBufferPointer<T>, _ b: UnsafeBufferPointer<T>, _ d: Int, transpositions: Bool) -> Bool {
        let n = a.count, m = b.count
        if abs(n - m) > d { return false }
        if n == 0 || m == 0 { return max(n, m) <= d }
        if n == m, (0..<n).allSatisfy({ a[$0] == b[$0] }) { return true }
        let big = d + 1
        let w = m + 1
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: 3 * w) { buf -> Bool in
            // Rows i − 2, i − 1 and i, rotating.
            var r0 = buf.baseAddress!, r1 = r0 + w, r2 = r1 + w
            for j in 0...m { r1[j] = j <= d ? j : big; r0[j] = big }
            for i in 1...n {
                let lo = max(1, i - d), hi = min(m, i + d)
                r2[0] = i <= d ? i : big
                if lo > 1 { r2[lo - 1] = big }
                var rowMin = r2[0]
                if lo <= hi {
                    for j in lo...hi {
                        let cost = a[i - 1] == b[j - 1] ? 0 : 1
                        var v = min(r1[j - 1] + cost, min(r1[j] + 1, r2[j - 1] + 1))
                        if transpositions, i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { v = min(v, r0[j - 2] + 1) }
                        v = min(v, big)
                        r2[j] = v
                        rowMin = min(rowMin, v)
                    }
                }
                if hi < m { r2[hi + 1] = big }
                if rowMin > d { return false }
                (r0, r1, r2) = (r1, r2, r0)
            }
            return r1[m] <= d
        }
    }

    /// 1 − distance ÷ the longer length (1 for two empty strings).
    public static func normalized(_ distance: Int, _ a: Scalars, _ b: Scalars) -> Double {
        let longer = max(a.count, b.count)
        return longer == 0 ? 1 : 1 - Double(distance) / Double(longer)
    }

    public static func levenshteinSimilarity(_ a: Scalars, _ b: Scalars) -> Double { normalized(levenshtein(a, b), a, b) }
    public static func damerauSimilarity(_ a: Scalars, _ b: Scalars) -> Double { normalized(damerauLevenshtein(a, b), a, b) }

    /// Jaccard similarity of the sets of q-grams (strings padded with q − 1 `#` each side).
    public static func qgramJaccard(_ a: Scalars, _ b: Scalars, q: Int = 2) -> Double {
        func grams(_ s: Scalars) -> Set<[UInt32]> {
            let pad = [UInt32](repeating: 35, count: max(q - 1, 0))
            let p = pad + s + pad
            guard p.count >= q else { return [] }
            return Set((0...(p.count - q)).map { Array(p[$0..<($0 + q)]) })
        }
        let x = grams(a), y = grams(b)
        if x.isEmpty && y.isEmpty { return 1 }
        return Double(x.intersection(y).count) / Double(x.union(y).count)
    }

    /// Words of a string (split on anything that is not a letter or digit), lower-cased.
    public static func tokens(_ s: String) -> [String] {
        s.lowercased().split { !($0.isLetter || $0.isNumber) }.map(String.init)
    }

    /// Similarity of the two strings with their words sorted.
    public static func tokenSortRatio(_ a: String, _ b: String) -> Double {
        tokenSortRatio(tokens(a).sorted(), tokens(b).sorted())
    }

    /// Token-sort ratio of words already split and sorted.
    public static func tokenSortRatio(_ a: [String], _ b: [String]) -> Double {
        levenshteinSimilarity(scalars(a.joined(separator: " ")), scalars(b.joined(separator: " ")))
    }

    /// The best similarity among: common words vs common + the rest of each side (sorted); 1 when one side's words are
    /// all in the other.
    public static func tokenSetRatio(_ a: String, _ b: String) -> Double {
        tokenSetRatio(Array(Set(tokens(a))).sorted(), Array(Set(tokens(b))).sorted())
    }

    /// Token-set ratio of distinct words already sorted.
    public static func tokenSetRatio(_ x: [String], _ y: [String]) -> Double {
        if x.isEmpty || y.isEmpty { return x.isEmpty && y.isEmpty ? 1 : 0 }
        var common: [String] = [], restA: [String] = [], restB: [String] = []
        var i = 0, j = 0
        while i < x.count || j < y.count {
            if j == y.count || (i < x.count && x[i] < y[j]) { restA.append(x[i]); i += 1 }
            else if i == x.count || y[j] < x[i] { restB.append(y[j]); j += 1 }
            else { common.append(x[i]); i += 1; j += 1 }
        }
        if restA.isEmpty || restB.isEmpty { return common.isEmpty ? 0 : 1 }
        let c = common.joined(separator: " ")
        let ca = ([c] + [restA.joined(separator: " ")]).filter { !$0.isEmpty }.joined(separator: " ")
        let cb = ([c] + [restB.joined(separator: " ")]).filter { !$0.isEmpty }.joined(separator: " ")
        let s = scalars
        return max(levenshteinSimilarity(s(c), s(ca)), levenshteinSimilarity(s(c), s(cb)), levenshteinSimilarity(s(ca), s(cb)))
    }

    /// American Soundex (the letter and three digits; H and W do not separate equal codes; empty for no letter).
    public static func soundex(_ s: String) -> String {
        if let ascii = soundexASCII(s) { return ascii }
        let letters = Array(Folding.fold(s).uppercased().unicodeScalars.filter { $0.value >= 65 && $0.value <= 90 })
        guard let first = letters.first else { return "" }
        func code(_ u: Unicode.Scalar) -> Character? {
            switch u {
            case "B", "F", "P", "V": return "1"
            case "C", "G", "J", "K", "Q", "S", "X", "Z": return "2"
            case "D", "T": return "3"
            case "L": return "4"
            case "M", "N": return "5"
            case "R": return "6"
            default: return nil
            }
        }
        var out = String(Character(first))
        var last = code(first)
        for u in letters.dropFirst() {
            if u == "H" || u == "W" { continue }
            let c = code(u)
            if let c, c != last { out.append(c); if out.count == 4 { break } }
            last = c
        }
        return out.padding(toLength: 4, withPad: "0", startingAt: 0)
    }

    /// Soundex of an all-ASCII string on its bytes (nil for any other string): a per-row hot path in blocking keys.
    static func soundexASCII(_ s: String) -> String? {
        var s = s, out: [UInt8] = []
        return s.withUTF8 { soundexASCII($0, into: &out) } ? String(decoding: out, as: UTF8.self) : nil
    }

    /// Appends the Soundex code of ASCII bytes to `out` (nothing for no letter); false, appending nothing, when a
    /// byte is not ASCII.
    public static func soundexASCII(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) -> Bool {
        // Codes of A…Z: 0 for vowels and Y, 7 for H and W (they do not separate equal codes).
        let table: StaticString = "01230127022455012623017202"
        var code: (UInt8, UInt8, UInt8, UInt8) = (48, 48, 48, 48)
        var n = 0
        var last: UInt8 = 255
        for var c in bytes {
            if c >= 0x80 { return false }
            if c >= 97 && c <= 122 { c -= 32 }
            guard c >= 65 && c <= 90 else { continue }
            let digit = table.utf8Start[Int(c - 65)]
            if n == 0 { code.0 = c; n = 1; last = digit; continue }
            if n >= 4 || digit == 55 { continue }  // full, or H / W
            if digit != 48 && digit != last {
                switch n {
                case 1: code.1 = digit
                case 2: code.2 = digit
                default: code.3 = digit
                }
                n += 1
            }
            last = digit
        }
        if n > 0 { out.append(code.0); out.append(code.1); out.append(code.2); out.append(code.3) }
        return true
    }

    /// NYSIIS (Taft 1970), the original algorithm, truncated to 6 characters.
    public static func nysiis(_ s: String) -> String {
        var w = Array(Folding.fold(s).uppercased().filter { $0.isLetter && $0.isASCII })
        guard !w.isEmpty else { return "" }
        func starts(_ p: String) -> Bool { w.starts(with: Array(p)) }
        func replacePrefix(_ p: String, _ r: String) -> Bool { if starts(p) { w = Array(r) + w.dropFirst(p.count); return true }; return false }
        _ = replacePrefix("MAC", "MCC") || replacePrefix("KN", "NN") || replacePrefix("K", "C") || replacePrefix("PH", "FF")
            || replacePrefix("PF", "FF") || replacePrefix("SCH", "SSS")
        func ends(_ p: String) -> Bool { w.count >= p.count && Array(w.suffix(p.count)) == Array(p) }
        if ends("EE") || ends("IE") { w = Array(w.dropLast(2)) + ["Y"] } else if ends("DT") || ends("RT") || ends("RD") || ends("NT") || ends("ND") {
            w = Array(w.dropLast(2)) + ["D"]
        }
        let vowels: Set<Character> = ["A", "E", "I", "O", "U"]
        var key: [Character] = [w[0]]
        var i = 1
        while i < w.count {
            var chunk: [Character]
            let c = w[i]
            let next: Character? = i + 1 < w.count ? w[i + 1] : nil
            if c == "E", next == "V" { chunk = ["A", "F"]; i += 1 }
            else if vowels.contains(c) { chunk = ["A"] }
            else if c == "Q" { chunk = ["G"] }
            else if c == "Z" { chunk = ["S"] }
            else if c == "M" { chunk = ["N"] }
            else if c == "K" { chunk = next == "N" ? ["N"] : ["C"] }
            else if c == "S", next == "C", i + 2 < w.count, w[i + 2] == "H" { chunk = ["S", "S", "S"]; i += 2 }
            else if c == "P", next == "H" { chunk = ["F", "F"]; i += 1 }
            else if c == "H", !vowels.contains(w[i - 1]) || (next.map { !vowels.contains($0) } ?? true) { chunk = [w[i - 1]] }
            else if c == "W", vowels.contains(w[i - 1]) { chunk = [w[i - 1]] }
            else { chunk = [c] }
            for ch in chunk where key.last != ch { key.append(ch) }
            i += 1
        }
        if key.count > 1, key.last == "S" { key.removeLast() }
        if key.count > 2, key.suffix(2) == ["A", "Y"] { key = Array(key.dropLast(2)) + ["Y"] }
        if key.count > 1, key.last == "A" { key.removeLast() }
        return String(key.prefix(6))
    }

    /// The first letter of each word.
    public static func initials(_ s: String) -> String { String(tokens(s).compactMap(\.first)) }
}
