/// White space and letter case, byte by byte, for the `clean` stage's `trim` and `case` steps.
public enum TextCleaning {
    /// The length of a white-space scalar at `i` (0 if none). Zero-width characters are reported negative: they are
    /// removed rather than turned into a space.
    @inline(__always)
    static func spaceLength(_ p: UnsafeBufferPointer<UInt8>, _ i: Int) -> Int {
        let b = p[i]
        if b < 0x80 { return b == 32 || (b >= 9 && b <= 13) ? 1 : 0 }
        let n = p.count
        if b == 0xC2, i + 1 < n, p[i + 1] == 0xA0 || p[i + 1] == 0x85 { return 2 }
        if b == 0xE2, i + 2 < n, p[i + 1] == 0x80 {
            let c = p[i + 2]
            if c <= 0x8A || c == 0xA8 || c == 0xA9 || c == 0xAF { return 3 }
            if c >= 0x8B && c <= 0x8D { return -3 }  // U+200B-U+200D zero-width space / (non-)joiner
        }
        if b == 0xE2, i + 2 < n, p[i + 1] == 0x81 {
            if p[i + 2] == 0x9F { return 3 }
            if p[i + 2] == 0xA0 { return -3 }  // U+2060 word joiner
        }
        if b == 0xE3, i + 2 < n, p[i + 1] == 0x80, p[i + 2] == 0x80 { return 3 }
        if b == 0xE1, i + 2 < n, p[i + 1] == 0x9A, p[i + 2] == 0x80 { return 3 }
        if b == 0xEF, i + 2 < n, p[i + 1] == 0xBB, p[i + 2] == 0xBF { return -3 }  // U+FEFF (a BOM inside a field)
        return 0
    }

    /// Trims white space at both ends (ASCII and Unicode spaces), removes zero-width characters, and with `collapse`
    /// turns every inner run of white space into one ASCII space. Returns false when the value is unchanged (nothing
    /// was written).
    public static func trim(_ p: UnsafeBufferPointer<UInt8>, collapse: Bool, into out: inout [UInt8]) -> Bool {
        let n = p.count
        // Fast check: printable ASCII with no leading/trailing space and no double spaces needs no work.
        var clean = n == 0 || (p[0] != 32 && p[n - 1] != 32)
        if clean {
            var previousSpace = false
            for i in 0..<n {
                let b = p[i]
                if b >= 0x80 || b < 32 { clean = false; break }
                if b == 32 {
                    if previousSpace && collapse { clean = false; break }
                    previousSpace = true
                } else {
                    previousSpace = false
                }
            }
        }
        if clean { return false }
        var pending: [UInt8] = []
        var hasPending = false
        var wroteAny = false
        var i = 0
        while i < n {
            let k = spaceLength(p, i)
            if k < 0 { i -= k; continue }
            if k > 0 {
                if wroteAny {
                    hasPending = true
                    if !collapse { pending.append(contentsOf: UnsafeBufferPointer(rebasing: p[i..<(i + k)])) }
                }
                i += k
                continue
            }
            if hasPending {
                if collapse { out.append(32) } else { out.append(contentsOf: pending) }
                pending.removeAll(keepingCapacity: true)
                hasPending = false
            }
            // Other control characters are dropped.
            if p[i] < 32 || p[i] == 127 { i += 1; continue }
            out.append(p[i])
            wroteAny = true
            i += 1
        }
        return !(out.count == n && out.elementsEqual(p))
    }

    /// Lower-cases (`upper: false`) or upper-cases text; false when unchanged.
    public static func changeCase(_ p: UnsafeBufferPointer<UInt8>, upper: Bool, into out: inout [UInt8]) -> Bool {
        Evaluator.caseMapped(p, &out, upper: upper)
        return !out.elementsEqual(p)
    }

    /// Words written in lower case inside names ("van der Berg", "Ludwig van Beethoven").
    static let particles: Set<String> = [
        "van", "von", "der", "den", "de", "del", "della", "dei", "di", "da", "das", "dos", "du", "la", "le", "ter", "ten",
        "te", "zu", "zum", "zur", "y", "e", "bin", "binti", "al", "el", "af", "av",
    ]

    /// Title case with the rules names need: each word part (split at spaces, hyphens and apostrophes) that is all
    /// upper or all lower case is re-cased; a part already in mixed case ("McDonald", "DeShawn") is left as written.
    /// `Mc` and `O'` prefixes get a capital after them; particles stay lower case when more words follow.
    public static func titleCaseName(_ text: String) -> String {
        Array(text.utf8).withUnsafeBufferPointer { p in
            var out: [UInt8] = []
            out.reserveCapacity(p.count)
            var start = 0
            var ranges: [Range<Int>] = []
            for i in 0..<p.count where p[i] == 32 {
                ranges.append(start..<i)
                start = i + 1
            }
            ranges.append(start..<p.count)
            for (k, r) in ranges.enumerated() {
                if k > 0 { out.append(32) }
                appendTitleCasedWord(p, r, isLast: k == ranges.count - 1, into: &out)
            }
            return String(decoding: out, as: UTF8.self)
        }
    }

    /// The case of the letter at `i`: ASCII, or Latin-1 letters written `C3 xx` (À-Þ upper, ß-þ lower). Returns the
    /// letter's byte length (0: not a letter this fast path knows; -1: a scalar it cannot map).
    @inline(__always)
    static func letter(_ p: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int) -> (length: Int, upper: Bool) {
        let c = p[i]
        if c < 0x80 {
            if c &- 97 < 26 { return (1, false) }
            if c &- 65 < 26 { return (1, true) }
            return (0, false)
        }
        if c == 0xC3, i + 1 < end {
            let t = p[i + 1]
            if t >= 0x80, t <= 0x9E, t != 0x97 { return (2, true) }
            if t >= 0x9F, t <= 0xBE, t != 0xB7 { return (2, false) }
        }
        return (-1, false)
    }

    /// One word of a name, title-cased by the rules above; ASCII and Latin-1 letters byte by byte, other scripts
    /// through Unicode case mapping.
    static func appendTitleCasedWord(_ p: UnsafeBufferPointer<UInt8>, _ r: Range<Int>, isLast: Bool, into out: inout [UInt8]) {
        guard !r.isEmpty else { return }
        var hasLower = false, hasUpper = false
        var i = r.lowerBound
        while i < r.upperBound {
            let (length, upper) = letter(p, i, r.upperBound)
            if length < 0 {
                out.append(contentsOf: recaseWord(String(decoding: UnsafeBufferPointer(rebasing: p[r]), as: UTF8.self), isLast: isLast).utf8)
                return
            }
            if length > 0 { if upper { hasUpper = true } else { hasLower = true } }
            i += max(length, 1)
        }
        if !isLast, !(hasLower && hasUpper), let k = PersonNames.key(p, r), PersonNames.particleKeys.contains(k) {
            for i in r { out.append(p[i] &- 65 < 26 ? p[i] + 32 : p[i]) }
            return
        }
        var partStart = r.lowerBound
        for i in r.lowerBound...r.upperBound where i == r.upperBound || p[i] == UInt8(ascii: "-") {
            // Pieces between apostrophes.
            var pieceStart = partStart
            var previousLength = -1
            for j in partStart...i where j == i || p[j] == UInt8(ascii: "'") {
                if previousLength >= 0 { out.append(UInt8(ascii: "'")) }
                appendPiece(p, pieceStart..<j, previousLength: previousLength, into: &out)
                previousLength = j - pieceStart
                pieceStart = j + 1
            }
            if i < r.upperBound { out.append(UInt8(ascii: "-")) }
            partStart = i + 1
        }
    }

    /// A piece of a word (ASCII and Latin-1 letters): re-cased when written all in one case. `previousLength` is the
    /// byte length of the piece before an apostrophe (-1: none).
    static func appendPiece(_ p: UnsafeBufferPointer<UInt8>, _ r: Range<Int>, previousLength: Int, into out: inout [UInt8]) {
        var hasLower = false, hasUpper = false, letters = 0
        var i = r.lowerBound
        while i < r.upperBound {
            let (length, upper) = letter(p, i, r.upperBound)
            if length > 0 { if upper { hasUpper = true } else { hasLower = true } }
            letters += 1
            i += max(length, 1)
        }
        guard hasLower != hasUpper else { out.append(contentsOf: p[r]); return }
        let lowerAll = previousLength >= 0 && (previousLength != 1 || letters <= 1)
        let mc = letters > 3 && (p[r.lowerBound] | 0x20) == UInt8(ascii: "m") && (p[r.lowerBound + 1] | 0x20) == UInt8(ascii: "c")
        var n = 0
        i = r.lowerBound
        while i < r.upperBound {
            let (length, upper) = letter(p, i, r.upperBound)
            let capital = !lowerAll && (n == 0 || (n == 2 && mc))
            if length == 1 {
                out.append(capital ? (upper ? p[i] : p[i] - 32) : (upper ? p[i] + 32 : p[i]))
            } else if length == 2 {
                let t = p[i + 1]
                out.append(0xC3)
                // ß has no one-letter capital: it stays as written.
                if t == 0x9F { out.append(t) } else { out.append(capital ? (upper ? t : t - 0x20) : (upper ? t + 0x20 : t)) }
            } else {
                out.append(p[i])
            }
            i += max(length, 1)
            n += 1
        }
    }

    /// `appendTitleCasedWord` for a word with non-ASCII letters (María, Müller), through Unicode case mapping.
    static func recaseWord(_ word: String, isLast: Bool) -> String {
        if !isLast, particles.contains(word.lowercased()), word == word.lowercased() || word == word.uppercased() { return word.lowercased() }
        var result = ""
        for (h, part) in word.split(separator: "-", omittingEmptySubsequences: false).enumerated() {
            if h > 0 { result.append("-") }
            let pieces = part.split(omittingEmptySubsequences: false) { $0 == "'" || $0 == "’" }
            var offset = part.startIndex
            for (a, piece) in pieces.enumerated() {
                if a > 0 {
                    result.append(part[offset])
                    offset = part.index(after: offset)
                }
                offset = part.index(offset, offsetBy: piece.count)
                result.append(recasePart(piece, afterApostrophe: a > 0, previous: a > 0 ? pieces[a - 1] : nil))
            }
        }
        return result
    }

    static func recasePart(_ piece: Substring, afterApostrophe: Bool, previous: Substring?) -> String {
        guard !piece.isEmpty else { return "" }
        let lower = piece.lowercased(), upper = piece.uppercased()
        let isUniform = piece == lower || piece == upper
        guard isUniform, lower != upper else { return String(piece) }
        // After an apostrophe: a capital follows one-letter prefixes (O'Brien, D'Angelo); endings stay lower ("Joe's").
        if afterApostrophe, let previous, previous.count != 1 { return lower }
        if afterApostrophe, lower.count <= 1 { return lower }
        var out = lower.prefix(1).uppercased() + lower.dropFirst()
        if lower.hasPrefix("mc"), lower.count > 3 {
            out = "Mc" + lower.dropFirst(2).prefix(1).uppercased() + lower.dropFirst(3)
        }
        return out
    }
}
