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

    static func bare(_ token: Substring) -> String {
        String(token.lowercased().filter { $0 != "." && $0 != "," })
    }

    /// Whether the text reads as an organisation: a legal form or organisation word, `&`, or digits.
    public static func looksLikeCompany(_ text: String) -> Bool {
        if text.contains("&") || text.contains("@") { return true }
        if text.unicodeScalars.contains(where: { $0.properties.numericType != nil }) { return true }
        let tokens = text.split(whereSeparator: { $0 == " " || $0 == "," })
        return tokens.contains { companyWords.contains(bare($0)) && bare($0) != "co" || (bare($0) == "co" && tokens.count > 1 && $0 != tokens.first) }
    }

    /// Splits a full name. Handles `Last, First Middle`, honorifics (`Dr.`, `Mrs`), suffixes (`Jr.`, `III`, `PhD`),
    /// and surname particles (`Ludwig van Beethoven` → last `van Beethoven`). With `recase`, parts written all in
    /// upper or lower case are title-cased with the name rules.
    public static func split(_ raw: String, recase: Bool = true) -> Parts {
        let text = raw.trimmingSpaces()
        guard !text.isEmpty else { return Parts() }
        if looksLikeCompany(text) { return Parts(isCompany: true) }
        var honorific: [String] = [], suffix: [String] = []
        var tokens: [Substring]
        var commaFirst: [Substring]? = nil
        // "Last, First" (but not "First Last, Jr." where the part after the comma is only suffixes).
        let commaParts = text.split(separator: ",", omittingEmptySubsequences: true).map { $0.split(separator: " ") }
        if commaParts.count >= 2 {
            let after = commaParts[1...].flatMap { $0 }
            if after.allSatisfy({ suffixes.contains(bare($0)) }) {
                tokens = commaParts[0]
                suffix = after.map(String.init)
            } else {
                tokens = commaParts[0]
                commaFirst = Array(commaParts[1])
                for extra in commaParts.dropFirst(2) { suffix.append(contentsOf: extra.map(String.init)) }
            }
        } else {
            tokens = text.split(separator: " ")
        }
        var given = commaFirst ?? tokens
        var family: [Substring] = commaFirst == nil ? [] : tokens
        while let f = given.first, honorifics.contains(bare(f)), given.count > 1 || !family.isEmpty {
            honorific.append(String(f))
            given.removeFirst()
        }
        if commaFirst == nil {
            while let l = given.last, suffixes.contains(bare(l)), given.count > 2 || (given.count == 2 && bare(l) != "v") {
                suffix.insert(String(l), at: 0)
                given.removeLast()
            }
        } else {
            while let l = family.last, suffixes.contains(bare(l)), family.count > 1 {
                suffix.insert(String(l), at: 0)
                family.removeLast()
            }
        }
        if commaFirst == nil {
            // The last name is the last word and the particles before it.
            if given.count >= 2 {
                var start = given.count - 1
                while start > 1, TextCleaning.particles.contains(given[start - 1].lowercased()) { start -= 1 }
                family = Array(given[start...])
                given = Array(given[..<start])
            }
        }
        func joined(_ words: ArraySlice<Substring>) -> String? {
            guard !words.isEmpty else { return nil }
            let s = words.joined(separator: " ")
            return recase ? TextCleaning.titleCaseName(s) : s
        }
        var parts = Parts()
        parts.honorific = honorific.isEmpty ? nil : honorific.joined(separator: " ")
        parts.suffix = suffix.isEmpty ? nil : suffix.joined(separator: " ")
        if family.isEmpty && given.count == 1 {
            parts.first = joined(given[...])
        } else {
            parts.first = joined(given.prefix(1))
            parts.middle = joined(given.dropFirst())
            parts.last = joined(family[...])
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
