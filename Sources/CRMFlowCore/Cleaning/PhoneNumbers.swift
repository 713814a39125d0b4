/// Phone numbers to E.164, with the extension kept apart.
public enum PhoneNumbers {
    /// One country's numbering plan, as far as normalising needs it.
    public struct Plan: Sendable, Equatable {
        public var region: String
        public var callingCode: String
        /// The national (trunk) prefix dialled before area codes inside the country, stripped in E.164 ("0" in most
        /// of Europe, "1" in North America, "8" in Russia, "06" in Hungary); empty where there is none (Italy keeps
        /// its leading 0, Spain has none).
        public var trunkPrefix: String
        /// The prefix for calling abroad ("00", "011" in North America).
        public var internationalPrefix: String
        /// Length of the national significant number (after the calling code, without the trunk prefix).
        public var minLength: Int
        public var maxLength: Int
    }

    /// Calling codes, prefixes and national significant number lengths of 72 countries.
    ///
    /// Sources: calling codes from the ITU-T E.164 assignment list ("List of ITU-T Recommendation E.164 assigned
    /// country codes", ITU Operational Bulletin, annex, as of 2023); trunk and international prefixes and the
    /// minimum/maximum national significant number lengths from each country's national numbering plan as notified
    /// to the ITU ("National Numbering Plans", itu.int/oth/T0202), cross-checked against the possible lengths in
    /// Google's libphonenumber metadata (PhoneNumberMetadata.xml). Where a plan allows a few odd short numbers
    /// (service numbers), only subscriber numbers are covered.
    /// Columns: region, calling code, trunk prefix, international prefix, min length, max length.
    public static let table = """
    US,1,1,011,10,10
    CA,1,1,011,10,10
    GB,44,0,00,9,10
    DE,49,0,00,6,13
    FR,33,0,00,9,9
    IT,39,,00,6,11
    ES,34,,00,9,9
    NL,31,0,00,9,9
    BE,32,0,00,8,9
    CH,41,0,00,9,9
    AT,43,0,00,4,13
    SE,46,0,00,6,10
    NO,47,,00,8,8
    DK,45,,00,8,8
    FI,358,0,00,5,12
    IE,353,0,00,7,9
    PT,351,,00,9,9
    PL,48,,00,9,9
    CZ,420,,00,9,9
    SK,421,0,00,9,9
    HU,36,06,00,8,9
    RO,40,0,00,9,9
    GR,30,,00,10,10
    TR,90,0,00,10,10
    RU,7,8,810,10,10
    UA,380,0,00,9,9
    IL,972,0,00,8,9
    AE,971,0,00,8,9
    SA,966,0,00,8,9
    EG,20,0,00,8,10
    ZA,27,0,00,9,9
    NG,234,0,009,8,10
    KE,254,0,000,9,9
    MA,212,0,00,9,9
    IN,91,0,00,10,10
    PK,92,0,00,9,10
    BD,880,0,00,8,10
    CN,86,0,00,9,11
    JP,81,0,010,9,10
    KR,82,0,001,8,10
    TW,886,0,002,8,9
    HK,852,,001,8,8
    SG,65,,000,8,8
    MY,60,0,00,9,10
    TH,66,0,001,8,9
    VN,84,0,00,9,10
    PH,63,0,00,8,10
    ID,62,0,001,8,12
    AU,61,0,0011,9,9
    NZ,64,0,00,8,10
    MX,52,,00,10,10
    BR,55,0,00,10,11
    AR,54,0,00,10,11
    CL,56,,00,9,9
    CO,57,,00,10,10
    PE,51,0,00,8,9
    VE,58,0,00,10,10
    LU,352,,00,4,11
    IS,354,,00,7,7
    EE,372,,00,7,8
    LV,371,,00,8,8
    LT,370,8,00,8,8
    HR,385,0,00,8,9
    SI,386,0,00,8,8
    RS,381,0,00,8,9
    BG,359,0,00,8,9
    CY,357,,00,8,8
    MT,356,,00,8,8
    QA,974,,00,8,8
    KW,965,,00,8,8
    KZ,7,8,810,10,10
    PR,1,1,011,10,10
    """

    public static let plans: [Plan] = table.split(separator: "\n").map { line in
        let f = line.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmingSpaces() }
        return Plan(region: f[0], callingCode: f[1], trunkPrefix: f[2], internationalPrefix: f[3], minLength: Int(f[4])!, maxLength: Int(f[5])!)
    }

    static let byRegion: [String: Plan] = Dictionary(plans.map { ($0.region, $0) }, uniquingKeysWith: { a, _ in a })
    /// The first (main) plan for each calling code.
    static let byCallingCode: [String: Plan] = Dictionary(plans.map { ($0.callingCode, $0) }, uniquingKeysWith: { a, _ in a })

    public static func plan(region: String) -> Plan? { byRegion[region.uppercased()] }

    public struct Parsed: Equatable, Sendable {
        /// `+` and digits.
        public var e164: String
        public var `extension`: String?
        /// The plan the number was checked against (nil for a calling code not in the table).
        public var region: String?
    }

    public enum Outcome: Equatable, Sendable {
        case valid(Parsed)
        case invalid(String)
    }

    /// Splits a trailing extension: `ext. 12`, `extension 12`, `x12`, `#12`, `;ext=12`, `ext12`.
    static func splitExtension(_ s: String) -> (String, String?) {
        let lower = Array(s.lowercased().unicodeScalars)
        guard !lower.isEmpty else { return (s, nil) }
        // Trailing digits.
        var end = lower.count
        while end > 0, lower[end - 1] == " " { end -= 1 }
        var start = end
        while start > 0, lower[start - 1].properties.numericType != nil, lower[start - 1].isASCII { start -= 1 }
        guard start < end, start > 0 else { return (s, nil) }
        var m = start
        while m > 0, lower[m - 1] == " " || lower[m - 1] == "." || lower[m - 1] == ":" || lower[m - 1] == "=" { m -= 1 }
        let markers = ["extension", "ext", "ex", "x", "#", ";ext", "doorkiesnummer", "poste", "durchwahl", "anexo"]
        for marker in markers {
            let mk = Array(marker.unicodeScalars)
            guard m >= mk.count, Array(lower[(m - mk.count)..<m]) == mk else { continue }
            // A letter marker must not be the end of a word ("box 12" is not an extension).
            let before = m - mk.count
            if before > 0, lower[before - 1].properties.isAlphabetic { continue }
            let digits = String(String.UnicodeScalarView(lower[start..<end]))
            var main = Array(s.unicodeScalars)[..<before]
            while let last = main.last, [" ", ";", ",", ":", "-", "."].contains(last) { main.removeLast() }
            return (String(String.UnicodeScalarView(main)), digits)
        }
        return (s, nil)
    }

    /// Parses a number written nationally (for `defaultRegion`) or internationally (`+44 20 7946 0958`,
    /// `0044 20 ...`, `+44 (0)20 ...`), with an optional extension, and checks its length against the plan.
    public static func parse(_ raw: String, defaultRegion: String?) -> Outcome {
        let (main, ext) = splitExtension(raw.trimmingSpaces())
        var digits = ""
        var plus = false
        var sawDigit = false
        var scalars = Array(main.unicodeScalars)
        // "(0)" after a calling code: the trunk prefix written for national callers.
        if let idx = (0..<max(0, scalars.count - 2)).first(where: { scalars[$0] == "(" && scalars[$0 + 1] == "0" && scalars[$0 + 2] == ")" }),
           scalars.prefix(idx).contains("+") || main.hasPrefix("00") {
            scalars.removeSubrange(idx..<(idx + 3))
        }
        for c in scalars {
            if c.isASCII, c.properties.numericType != nil {
                digits.unicodeScalars.append(c)
                sawDigit = true
            } else if c == "+", !sawDigit, !plus {
                plus = true
            } else if c == " " || c == "-" || c == "." || c == "(" || c == ")" || c == "/" || c == "\u{A0}" || c == "–" {
                continue
            } else if let v = c.properties.numericType, v == .decimal, let d = c.properties.numericValue {
                digits.append(String(Int(d)))  // full-width and other decimal digits
                sawDigit = true
            } else {
                return .invalid("'\(c)' is not part of a phone number")
            }
        }
        guard !digits.isEmpty else { return .invalid("no digits in phone number") }
        let home = defaultRegion.flatMap { plan(region: $0) }
        var international = plus
        if !international, let home, !home.internationalPrefix.isEmpty, digits.hasPrefix(home.internationalPrefix),
           digits.count > home.internationalPrefix.count + 6 {
            digits.removeFirst(home.internationalPrefix.count)
            international = true
        } else if !international, home == nil || home!.internationalPrefix != "00", digits.hasPrefix("00"), digits.count > 9 {
            digits.removeFirst(2)
            international = true
        }
        if international {
            for length in 1...3 where digits.count > length {
                let code = String(digits.prefix(length))
                guard let candidate = byCallingCode[code] else { continue }
                // Several regions share +1 and +7: prefer the caller's own when it has that code.
                let p = (home?.callingCode == code) ? home! : candidate
                var nsn = String(digits.dropFirst(length))
                stripTrunk(&nsn, p)
                return checked(nsn, plan: p, ext: ext)
            }
            // A calling code not in the table: E.164 allows at most 15 digits in all.
            guard digits.count >= 8, digits.count <= 15 else {
                return .invalid("+\(digits) has \(digits.count) digits; an international number has 8 to 15")
            }
            return .valid(Parsed(e164: "+" + digits, extension: ext, region: nil))
        }
        guard let home else {
            return .invalid("'\(raw)' has no country code and no default_region is set")
        }
        var nsn = digits
        stripTrunk(&nsn, home)
        return checked(nsn, plan: home, ext: ext)
    }

    /// Removes a trunk prefix written before the national number. A "0…" trunk prefix is never part of a national
    /// number in countries that have one; "1" (North America) and "8" (Russia) only when the number is too long without.
    static func stripTrunk(_ nsn: inout String, _ p: Plan) {
        guard !p.trunkPrefix.isEmpty, nsn.hasPrefix(p.trunkPrefix), nsn.count - p.trunkPrefix.count >= p.minLength else { return }
        if p.trunkPrefix.hasPrefix("0") || nsn.count > p.maxLength { nsn.removeFirst(p.trunkPrefix.count) }
    }

    static func checked(_ nsn: String, plan p: Plan, ext: String?) -> Outcome {
        guard nsn.count >= p.minLength, nsn.count <= p.maxLength else {
            let need = p.minLength == p.maxLength ? "\(p.minLength)" : "\(p.minLength) to \(p.maxLength)"
            return .invalid("\(nsn.count) digits is too \(nsn.count < p.minLength ? "short" : "long") for a \(p.region) number (+\(p.callingCode), needs \(need))")
        }
        if p.callingCode == "1", let first = nsn.first, first == "0" || first == "1" {
            return .invalid("North American area codes do not start with \(first)")
        }
        return .valid(Parsed(e164: "+" + p.callingCode + nsn, extension: ext, region: p.region))
    }
}
