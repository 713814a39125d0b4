/// Person names split into parts, and company names reduced to a matching key.
public enum PersonNames {
    public struct Parts: Equatable, Sendable {
        public var honorific: String?
        public var first: String?
        public var middle: String?
        public var last: String?
        public var suffix: String?
        /// The value looks like an organisation, not a person (it is then not split).
        public var isCompany: Bool

        public init(honorific: String? = nil, first: String? = nil, middle: String? = nil, last: String? = nil, suffix: String? = nil, isCompany: Bool = false) {
            self.honorific = honorific
            self.first = first
            self.middle = middle
            self.last = last
            self.suffix = suffix
            self.isCompany = isCompany
        }
    }

    static let honorifics: Set<String> = [
        "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "professor", "sir", "dame", "lord", "lady", "rev", "fr", "hon",
        "herr", "frau", "mme", "mlle", "m", "sr", "sra", "srta", "dott", "sig", "capt", "col", "gen", "lt", "sgt",
    ]
    static let suffixes: Set<String> = [
        "jr", "sr", "ii", "iii", "iv", "v", "phd", "md", "esq", "mba", "cpa", "dds", "jd", "msc", "bsc", "ma", "ba",
        "rn", "pe", "cfa", "obe", "mbe", "cbe", "dphil", "llm",
    ]
    /// Words that mark an organisation.
    static let companyWords: Set<String> = [
        "inc", "incorporated", "llc", "ltd", "limited", "corp", "corporation", "co", "company", "gmbh", "ag", "sa", "sas",
        "sarl", "srl", "spa", "bv", "nv", "plc", "lp", "llp", "pty", "kg", "oy", "ab", "as", "group", "holdings", "bank",
        "university", "institute", "foundation", "associates", "partners", "solutions", "technologies", "systems",
        "services", "consulting", "industries", "enterprises", "international", "gruppe", "trust", "agency", "studio",
        "labs", "ventures", "capital", "hospital", "school", "college", "department", "ministry", "council", "club",
    ]

    /// A short ASCII word as a number: lower case, without `.` and `,`, at most 8 letters; nil otherwise.
    @inline(__always)
    static func key(_ p: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> UInt64? {
        var k: UInt64 = 0, n = 0
        for i in r {
            var c = p[i]
            if c == 46 || c == 44 { continue }
            if c >= 0x80 || n == 8 { return nil }
            if c &- 65 < 26 { c += 32 }
            k |= UInt64(c) << UInt64(8 * n)
            n += 1
        }
        return n == 0 ? nil : k
    }

    static func keys(_ words: Set<String>) -> WordSet {
        WordSet(words.compactMap { w in Array(w.utf8).withUnsafeBufferPointer { key($0, 0..<$0.count) } })
    }

    static let honorificKeys = keys(honorifics)
    static let suffixKeys = keys(suffixes)
    static let particleKeys = keys(TextCleaning.particles)
    static let companyKeys = keys(companyWords)
    static let longCompanyWords = companyWords.filter { $0.utf8.count > 8 }
    static let longCompanyLengths = Set(longCompanyWords.map(\.utf8.count))
    static let coKey = Array("co".utf8).withUnsafeBufferPointer { key($0, 0..<2)! }
    static let vKey = Array("v".utf8).withUnsafeBufferPointer { key($0, 0..<1)! }

    @inline(__always)
    static func isCompanyWord(_ p: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Bool {
        if let k = key(p, r) { return companyKeys.contains(k) }
        guard r.count > 8, r.count <= 16, longCompanyLengths.contains(r.count) || p[r].contains(46) || p[r].contains(44) else { return false }
        var s = ""
        for i in r where p[i] != 46 && p[i] != 44 { s.unicodeScalars.append(Unicode.Scalar(p[i] &- 65 < 26 ? p[i] + 32 : p[i])) }
        return longCompanyWords.contains(s)
    }

    /// Appends the word ranges of `p[r]`, split at spaces (and at commas when `commas`).
    static func words(_ p: UnsafeBufferPointer<UInt8>, _ r: Range<Int>, commas: Bool = false, into out: inout [Range<Int>]) {
        var start = -1
        for i in r {
            let c = p[i]
            if c == 32 || (commas && c == 44) {
                if start >= 0 { out.append(start..<i); start = -1 }
            } else if start < 0 {
                start = i
            }
        }
        if start >= 0 { out.append(start..<r.upperBound) }
    }

    static func words(_ p: UnsafeBufferPointer<UInt8>, _ r: Range<Int>, commas: Bool = false) -> [Range<Int>] {
        var out: [Range<Int>] = []
        words(p, r, commas: commas, into: &out)
        return out
    }

    /// Whether the text reads as an organisation: a legal form or organisation word, `&`, `@`, or digits.
    public static func looksLikeCompany(_ text: String) -> Bool {
        Array(text.utf8).withUnsafeBufferPointer { looksLikeCompany($0, 0..<$0.count) }
    }

    static func looksLikeCompany(_ p: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Bool {
        var index = 0, start = -1
        for i in r.lowerBound...r.upperBound {
            if i < r.upperBound {
                let c = p[i]
                if c == UInt8(ascii: "&") || c == UInt8(ascii: "@") || c &- 48 < 10 { return true }
                if c != 32 && c != 44 {
                    if start < 0 { start = i }
                    continue
                }
            }
            guard start >= 0 else { continue }
            let word = start..<i
            if isCompanyWord(p, word), index > 0 || key(p, word) != coKey { return true }
            index += 1
            start = -1
        }
        return false
    }

    /// The parts of a split name as UTF-8 bytes, reused from row to row (no String per value).
    public struct Buffers {
        /// first, middle, last, honorific, suffix.
        public var parts: [[UInt8]] = [[], [], [], [], []]
        public var present: [Bool] = [false, false, false, false, false]
        public var isCompany = false
        var given: [Range<Int>] = [], family: [Range<Int>] = [], honorific: [Range<Int>] = [], suffix: [Range<Int>] = []

        public init() {}

        mutating func reset() {
            for i in 0..<5 {
                parts[i].removeAll(keepingCapacity: true)
                present[i] = false
            }
            isCompany = false
            given.removeAll(keepingCapacity: true)
            family.removeAll(keepingCapacity: true)
            honorific.removeAll(keepingCapacity: true)
            suffix.removeAll(keepingCapacity: true)
        }

        public func string(_ i: Int) -> String? { present[i] ? String(decoding: parts[i], as: UTF8.self) : nil }
    }

    /// Splits a full name. Handles `Last, First Middle`, honorifics (`Dr.`, `Mrs`), suffixes (`Jr.`, `III`, `PhD`),
    /// and surname particles (`Ludwig van Beethoven` → last `van Beethoven`). With `recase`, parts written all in
    /// upper or lower case are title-cased with the name rules.
    public static func split(_ raw: String, recase: Bool = true) -> Parts {
        var b = Buffers()
        Array(raw.utf8).withUnsafeBufferPointer { split($0, recase: recase, into: &b) }
        return Parts(honorific: b.string(3), first: b.string(0), middle: b.string(1), last: b.string(2), suffix: b.string(4), isCompany: b.isCompany)
    }

    /// `split` on UTF-8 bytes into reusable buffers (this runs for every row of a name column).
    public static func split(_ raw: UnsafeBufferPointer<UInt8>, recase: Bool = true, into b: inout Buffers) {
        b.reset()
        let trimmed = Scalars.trimmedWhitespace(raw)
        guard !trimmed.isEmpty, let base = trimmed.baseAddress else { return }
        let p = UnsafeBufferPointer(start: base, count: trimmed.count)
        let all = 0..<p.count
        if looksLikeCompany(p, all) { b.isCompany = true; return }
        var commaForm = false
        // "Last, First" (but not "First Last, Jr." where the part after the comma is only suffixes).
        if let comma = all.first(where: { p[$0] == 44 }) {
            words(p, 0..<comma, into: &b.family)
            words(p, (comma + 1)..<p.count, commas: true, into: &b.given)
            let afterSecond = all[(comma + 1)...].firstIndex(where: { p[$0] == 44 })
            if !b.family.isEmpty, !b.given.isEmpty, b.given.allSatisfy({ key(p, $0).map(suffixKeys.contains) ?? false }) {
                swap(&b.suffix, &b.given)
                swap(&b.given, &b.family)
            } else if !b.family.isEmpty, !b.given.isEmpty {
                commaForm = true
                b.given.removeAll(keepingCapacity: true)
                words(p, (comma + 1)..<(afterSecond ?? p.count), into: &b.given)
                if let second = afterSecond { words(p, (second + 1)..<p.count, commas: true, into: &b.suffix) }
            } else {
                b.given.removeAll(keepingCapacity: true)
                b.family.removeAll(keepingCapacity: true)
                words(p, all, commas: true, into: &b.given)
            }
        } else {
            words(p, all, into: &b.given)
        }
        var g = 0  // honorifics are the first g given words
        while g < b.given.count, key(p, b.given[g]).map(honorificKeys.contains) ?? false, b.given.count - g > 1 || !b.family.isEmpty {
            b.honorific.append(b.given[g])
            g += 1
        }
        var givenEnd = b.given.count
        if !commaForm {
            while givenEnd > g, let k = key(p, b.given[givenEnd - 1]), suffixKeys.contains(k), givenEnd - g > 2 || (givenEnd - g == 2 && k != vKey) {
                givenEnd -= 1
            }
            b.suffix.insert(contentsOf: b.given[givenEnd..<b.given.count], at: 0)
            // The last name is the last word and the particles before it.
            if givenEnd - g >= 2 {
                var start = givenEnd - 1
                while start > g + 1, key(p, b.given[start - 1]).map(particleKeys.contains) ?? false { start -= 1 }
                b.family.append(contentsOf: b.given[start..<givenEnd])
                givenEnd = start
            }
        } else {
            var familyEnd = b.family.count
            while familyEnd > 1, key(p, b.family[familyEnd - 1]).map(suffixKeys.contains) ?? false { familyEnd -= 1 }
            b.suffix.insert(contentsOf: b.family[familyEnd...], at: 0)
            b.family.removeSubrange(familyEnd...)
        }
        func write(_ i: Int, _ ws: ArraySlice<Range<Int>>, recase: Bool) {
            guard !ws.isEmpty else { return }
            b.present[i] = true
            for (k, w) in ws.enumerated() {
                if k > 0 { b.parts[i].append(32) }
                if recase { TextCleaning.appendTitleCasedWord(p, w, isLast: k == ws.count - 1, into: &b.parts[i]) } else { b.parts[i].append(contentsOf: p[w]) }
            }
        }
        write(3, b.honorific[...], recase: false)
        write(4, b.suffix[...], recase: false)
        let given = b.given[g..<givenEnd]
        if b.family.isEmpty && given.count == 1 {
            write(0, given, recase: recase)
        } else {
            write(0, given.prefix(1), recase: recase)
            write(1, given.dropFirst(), recase: recase)
            write(2, b.family[...], recase: recase)
        }
    }
}

/// A small set of words encoded as numbers (see `PersonNames.key`), probed with one multiply per lookup.
struct WordSet: Sendable {
    private var slots: [UInt64]
    private let shift: UInt64

    init(_ words: [UInt64]) {
        var bits = 4
        while (1 << bits) < words.count * 4 { bits += 1 }
        slots = [UInt64](repeating: 0, count: 1 << bits)
        shift = UInt64(64 - bits)
        for w in words where !contains(w) {
            var i = Int(truncatingIfNeeded: (w &* 0x9E37_79B9_7F4A_7C15) >> shift)
            while slots[i] != 0 { i = (i + 1) & (slots.count - 1) }
            slots[i] = w
        }
    }

    @inline(__always)
    func contains(_ w: UInt64) -> Bool {
        var i = Int(truncatingIfNeeded: (w &* 0x9E37_79B9_7F4A_7C15) >> shift)
        while true {
            let s = slots[i]
            if s == w { return true }
            if s == 0 { return false }
            i = (i + 1) & (slots.count - 1)
        }
    }
}

public enum CompanyNames {
    /// Legal forms removed from the end of a name (and `the` from its start), in their dotless lower-case spelling.
    static let legalForms: Set<String> = [
        "inc", "incorporated", "llc", "llp", "lp", "ltd", "limited", "corp", "corporation", "co", "company", "plc",
        "gmbh", "mbh", "ag", "kg", "gmbh co kg", "ohg", "ug", "ev", "sa", "sas", "sarl", "srl", "spa", "sl", "sau", "bv",
        "nv", "vof", "oy", "oyj", "ab", "as", "asa", "aps", "a/s", "pty", "pty ltd", "pvt", "pvt ltd", "kk", "kabushiki kaisha",
        "se", "sp z oo", "zoo", "sro", "as", "doo", "kft", "zrt", "nyrt", "ltda", "cia", "sac", "sca", "cv", "sapi",
    ]

    /// A key under which spellings of one company are equal: accents folded, lower case, `&` as `and`, punctuation
    /// removed, a leading `the` and trailing legal forms dropped ("Acme, Inc." and "ACME Inc" → "acme").
    public static func matchingKey(_ name: String) -> String {
        var words: [String] = []
        var current = ""
        for ch in Folding.fold(name).unicodeScalars {
            if ch == "&" || ch == "+" {
                if !current.isEmpty { words.append(current); current = "" }
                words.append("and")
            } else if ch.properties.isAlphabetic || ch.properties.numericType != nil {
                current.unicodeScalars.append(ch)
            } else if ch == "." || ch == "'" || ch == "’" {
                continue  // S.A. → sa, O'Reilly → oreilly
            } else if !current.isEmpty {
                words.append(current)
                current = ""
            }
        }
        if !current.isEmpty { words.append(current) }
        if words.first == "the", words.count > 1 { words.removeFirst() }
        // Trailing legal forms, one or two words at a time ("GmbH & Co. KG", "Pty Ltd").
        var changed = true
        while changed, words.count > 1 {
            changed = false
            for n in [3, 2, 1] where words.count > n {
                let tail = words.suffix(n).joined(separator: " ")
                if legalForms.contains(tail) || (n == 3 && tail == "and co kg") {
                    words.removeLast(n)
                    changed = true
                    break
                }
            }
            if !changed, words.count > 2, words.last == "co", words[words.count - 2] == "and" {
                words.removeLast(2)
                changed = true
            }
        }
        return words.joined(separator: " ")
    }
}
