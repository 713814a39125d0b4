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

    static func keys(_ words: Set<String>) -> Set<UInt64> {
        Set(words.compactMap { w in Array(w.utf8).withUnsafeBufferPointer { key($0, 0..<$0.count) } })
    }

    static let honorificKeys = keys(honorifics)
    static let suffixKeys = keys(suffixes)
    static let particleKeys = keys(TextCleaning.particles)
    static let companyKeys = keys(companyWords)
    static let longCompanyWords = companyWords.filter { $0.utf8.count > 8 }
    static let coKey = keys(["co"]).first!
    static let vKey = keys(["v"]).first!

    @inline(__always)
    static func isCompanyWord(_ p: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Bool {
        if let k = key(p, r) { return companyKeys.contains(k) }
        guard r.count > 8, r.count <= 16 else { return false }
        var s = ""
        for i in r where p[i] != 46 && p[i] != 44 { s.unicodeScalars.append(Unicode.Scalar(p[i] &- 65 < 26 ? p[i] + 32 : p[i])) }
        return longCompanyWords.contains(s)
    }

    /// Word ranges of `p[r]`, split at spaces (and at commas when `commas`).
    static func words(_ p: UnsafeBufferPointer<UInt8>, _ r: Range<Int>, commas: Bool = false) -> [Range<Int>] {
        var out: [Range<Int>] = []
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
        return out
    }

    /// Whether the text reads as an organisation: a legal form or organisation word, `&`, `@`, or digits.
    public static func looksLikeCompany(_ text: String) -> Bool {
        Array(text.utf8).withUnsafeBufferPointer { looksLikeCompany($0, 0..<$0.count) }
    }

    static func looksLikeCompany(_ p: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Bool {
        for i in r where p[i] == UInt8(ascii: "&") || p[i] == UInt8(ascii: "@") || p[i] &- 48 < 10 { return true }
        let tokens = words(p, r, commas: true)
        for (i, t) in tokens.enumerated() where isCompanyWord(p, t) {
            if key(p, t) != coKey || i > 0 { return true }
        }
        return false
    }

    /// Splits a full name. Handles `Last, First Middle`, honorifics (`Dr.`, `Mrs`), suffixes (`Jr.`, `III`, `PhD`),
    /// and surname particles (`Ludwig van Beethoven` → last `van Beethoven`). With `recase`, parts written all in
    /// upper or lower case are title-cased with the name rules.
    public static func split(_ raw: String, recase: Bool = true) -> Parts {
        Array(raw.utf8).withUnsafeBufferPointer { split($0, recase: recase) }
    }

    /// `split` on UTF-8 bytes (no String per word: this runs for every row of a name column).
    public static func split(_ raw: UnsafeBufferPointer<UInt8>, recase: Bool = true) -> Parts {
        let trimmed = Scalars.trimmedWhitespace(raw)
        guard !trimmed.isEmpty, let base = trimmed.baseAddress else { return Parts() }
        let p = UnsafeBufferPointer(start: base, count: trimmed.count)
        let all = 0..<p.count
        if looksLikeCompany(p, all) { return Parts(isCompany: true) }
        var honorific: [Range<Int>] = [], suffix: [Range<Int>] = []
        var given: [Range<Int>], family: [Range<Int>] = []
        var commaForm = false
        // "Last, First" (but not "First Last, Jr." where the part after the comma is only suffixes).
        if let comma = all.first(where: { p[$0] == 44 }) {
            let before = words(p, 0..<comma)
            let after = words(p, (comma + 1)..<p.count, commas: true)
            let afterSecond = all[(comma + 1)...].firstIndex(where: { p[$0] == 44 })
            if !before.isEmpty, !after.isEmpty, after.allSatisfy({ key(p, $0).map(suffixKeys.contains) ?? false }) {
                given = before
                suffix = after
            } else if !before.isEmpty, !after.isEmpty {
                commaForm = true
                family = before
                given = words(p, (comma + 1)..<(afterSecond ?? p.count))
                if let second = afterSecond { suffix = words(p, (second + 1)..<p.count, commas: true) }
            } else {
                given = words(p, all, commas: true)
            }
        } else {
            given = words(p, all)
        }
        while let f = given.first, key(p, f).map(honorificKeys.contains) ?? false, given.count > 1 || !family.isEmpty {
            honorific.append(f)
            given.removeFirst()
        }
        if !commaForm {
            while let l = given.last, let k = key(p, l), suffixKeys.contains(k), given.count > 2 || (given.count == 2 && k != vKey) {
                suffix.insert(l, at: 0)
                given.removeLast()
            }
            // The last name is the last word and the particles before it.
            if given.count >= 2 {
                var start = given.count - 1
                while start > 1, key(p, given[start - 1]).map(particleKeys.contains) ?? false { start -= 1 }
                family = Array(given[start...])
                given = Array(given[..<start])
            }
        } else {
            while let l = family.last, key(p, l).map(suffixKeys.contains) ?? false, family.count > 1 {
                suffix.insert(l, at: 0)
                family.removeLast()
            }
        }
        func joined(_ ws: ArraySlice<Range<Int>>, recase: Bool) -> String? {
            guard !ws.isEmpty else { return nil }
            var out: [UInt8] = []
            for (k, w) in ws.enumerated() {
                if k > 0 { out.append(32) }
                if recase { TextCleaning.appendTitleCasedWord(p, w, isLast: k == ws.count - 1, into: &out) } else { out.append(contentsOf: p[w]) }
            }
            return String(decoding: out, as: UTF8.self)
        }
        var parts = Parts()
        parts.honorific = joined(honorific[...], recase: false)
        parts.suffix = joined(suffix[...], recase: false)
        if family.isEmpty && given.count == 1 {
            parts.first = joined(given[...], recase: recase)
        } else {
            parts.first = joined(given.prefix(1), recase: recase)
            parts.middle = joined(given.dropFirst(), recase: recase)
            parts.last = joined(family[...], recase: recase)
        }
        return parts
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
