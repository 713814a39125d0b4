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

    /// The first (main) plan for each calling code.
    static let byCode: [Int: Plan] = Dictionary(plans.map { (Int($0.callingCode)!, $0) }, uniquingKeysWith: { a, _ in a })
    static let extensionMarkers: [[UInt8]] = ["extension", "ext", "ex", "x", "#", ";ext", "doorkiesnummer", "poste", "durchwahl", "anexo"].map { Array($0.utf8) }

    /// Splits a trailing extension: `ext. 12`, `extension 12`, `x12`, `#12`, `;ext=12`, `ext12`.
    static func splitExtension(_ s: String) -> (String, String?) {
        let bytes = Array(s.utf8)
        return bytes.withUnsafeBufferPointer { p in
            let (end, ext) = splitExtension(p, 0..<p.count)
            return (String(decoding: p[..<end], as: UTF8.self), ext.map { String(decoding: p[$0], as: UTF8.self) })
        }
    }

    /// Where the number ends, and the range of the extension's digits.
    static func splitExtension(_ p: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> (Int, Range<Int>?) {
        var end = r.upperBound
        while end > r.lowerBound, p[end - 1] == 32 { end -= 1 }
        var start = end
        while start > r.lowerBound, p[start - 1] &- 48 < 10 { start -= 1 }
        guard start < end, start > r.lowerBound else { return (r.upperBound, nil) }
        var m = start
        while m > r.lowerBound, p[m - 1] == 32 || p[m - 1] == UInt8(ascii: ".") || p[m - 1] == UInt8(ascii: ":") || p[m - 1] == UInt8(ascii: "=") { m -= 1 }
        for marker in extensionMarkers where m - r.lowerBound >= marker.count {
            let before = m - marker.count
            guard (0..<marker.count).allSatisfy({ (p[before + $0] | (marker[$0] >= 97 ? 0x20 : 0)) == marker[$0] }) else { continue }
            // A letter marker must not be the end of a word ("box 12" is not an extension).
            if before > r.lowerBound, (p[before - 1] | 0x20) &- 97 < 26 || p[before - 1] >= 0x80 { continue }
            var mainEnd = before
            while mainEnd > r.lowerBound, [32, 59, 44, 58, 45, 46].contains(p[mainEnd - 1]) { mainEnd -= 1 }
            return (mainEnd, start..<end)
        }
        return (r.upperBound, nil)
    }

    /// Parses a number written nationally (for `defaultRegion`) or internationally (`+44 20 7946 0958`,
    /// `0044 20 ...`, `+44 (0)20 ...`), with an optional extension, and checks its length against the plan.
    public static func parse(_ raw: String, defaultRegion: String?) -> Outcome {
        // Full-width and other decimal digits become ASCII digits; no-break spaces and dashes become separators.
        var bytes: [UInt8] = []
        for c in raw.unicodeScalars {
            if c.isASCII { bytes.append(UInt8(c.value)) }
            else if c.properties.numericType == .decimal, let d = c.properties.numericValue { bytes.append(48 + UInt8(Int(d))) }
            else if c.properties.isWhitespace { bytes.append(32) }
            else if c == "–" || c == "‐" || c == "‑" { bytes.append(45) }
            else { bytes.append(contentsOf: String(c).utf8) }
        }
        var e164: [UInt8] = [], ext: [UInt8] = []
        var region: String? = nil
        let problem = bytes.withUnsafeBufferPointer { parse($0, home: defaultRegion.flatMap { plan(region: $0) }, into: &e164, extension: &ext, region: &region) }
        if let problem { return .invalid(problem.replacingOccurrences(of: "{raw}", with: raw)) }
        return .valid(Parsed(e164: String(decoding: e164, as: UTF8.self), extension: ext.isEmpty ? nil : String(decoding: ext, as: UTF8.self), region: region))
    }

    /// `parse` on UTF-8 bytes: writes the E.164 number and the extension's digits; returns why the number is
    /// invalid, or nil. (This runs for every row of a phone column: no String per value.)
    public static func parse(_ p: UnsafeBufferPointer<UInt8>, home: Plan?, into out: inout [UInt8], extension ext: inout [UInt8], region: inout String?) -> String? {
        var lo = 0, hi = p.count
        while lo < hi, p[lo] == 32 || p[lo] == 9 { lo += 1 }
        while hi > lo, p[hi - 1] == 32 || p[hi - 1] == 9 { hi -= 1 }
        let (end, extRange) = splitExtension(p, lo..<hi)
        if let extRange { ext.append(contentsOf: p[extRange]) }
        var digits: [UInt8] = []
        digits.reserveCapacity(20)
        var plus = false
        var i = lo
        // "(0)" after a calling code: the trunk prefix written for national callers.
        var skipZero = -1
        if end - lo >= 3 {
            for k in lo..<(end - 2) where p[k] == UInt8(ascii: "(") && p[k + 1] == UInt8(ascii: "0") && p[k + 2] == UInt8(ascii: ")") {
                let international = p[lo..<k].contains(UInt8(ascii: "+")) || (end - lo >= 2 && p[lo] == 48 && p[lo + 1] == 48)
                if international { skipZero = k }
                break
            }
        }
        while i < end {
            let c = p[i]
            if i == skipZero { i += 3; continue }
            if c &- 48 < 10 {
                digits.append(c)
            } else if c == UInt8(ascii: "+"), digits.isEmpty, !plus {
                plus = true
            } else if c == 32 || c == UInt8(ascii: "-") || c == UInt8(ascii: ".") || c == UInt8(ascii: "(") || c == UInt8(ascii: ")") || c == UInt8(ascii: "/") {
                // separator
            } else {
                var j = i + 1
                while j < end, p[j] & 0xC0 == 0x80 { j += 1 }
                return "'\(String(decoding: UnsafeBufferPointer(rebasing: p[i..<j]), as: UTF8.self))' is not part of a phone number"
            }
            i += 1
        }
        guard !digits.isEmpty else { return "no digits in phone number" }
        func hasPrefix(_ a: [UInt8], _ prefix: String) -> Bool { a.count >= prefix.utf8.count && zip(a, prefix.utf8).allSatisfy { $0 == $1 } }
        var international = plus
        if !international, let home, !home.internationalPrefix.isEmpty, hasPrefix(digits, home.internationalPrefix),
           digits.count > home.internationalPrefix.utf8.count + 6 {
            digits.removeFirst(home.internationalPrefix.utf8.count)
            international = true
        } else if !international, home == nil || home!.internationalPrefix != "00", hasPrefix(digits, "00"), digits.count > 9 {
            digits.removeFirst(2)
            international = true
        }
        if international {
            var code = 0
            for length in 1...3 where digits.count > length {
                code = code * 10 + Int(digits[length - 1] - 48)
                guard let candidate = byCode[code], digits[0] != 48 else { continue }
                // Several regions share +1 and +7: prefer the caller's own when it has that code.
                let plan = (home?.callingCode == candidate.callingCode) ? home! : candidate
                digits.removeFirst(length)
                return checked(&digits, plan: plan, into: &out, region: &region)
            }
            // A calling code not in the table: E.164 allows at most 15 digits in all.
            guard digits.count >= 8, digits.count <= 15 else {
                return "+\(String(decoding: digits, as: UTF8.self)) has \(digits.count) digits; an international number has 8 to 15"
            }
            out.append(UInt8(ascii: "+"))
            out.append(contentsOf: digits)
            return nil
        }
        guard let home else { return "'{raw}' has no country code and no default_region is set" }
        return checked(&digits, plan: home, into: &out, region: &region)
    }

    static func checked(_ nsn: inout [UInt8], plan p: Plan, into out: inout [UInt8], region: inout String?) -> String? {
        let trunk = Array(p.trunkPrefix.utf8)
        // A "0…" trunk prefix is never part of a national number in countries that have one; "1" (North America) and
        // "8" (Russia) only when the number is too long without.
        if !trunk.isEmpty, nsn.starts(with: trunk), nsn.count - trunk.count >= p.minLength, trunk[0] == 48 || nsn.count > p.maxLength {
            nsn.removeFirst(trunk.count)
        }
        guard nsn.count >= p.minLength, nsn.count <= p.maxLength else {
            let need = p.minLength == p.maxLength ? "\(p.minLength)" : "\(p.minLength) to \(p.maxLength)"
            return "\(nsn.count) digits is too \(nsn.count < p.minLength ? "short" : "long") for a \(p.region) number (+\(p.callingCode), needs \(need))"
        }
        if p.callingCode == "1", let first = nsn.first, first == 48 || first == 49 {
            return "North American area codes do not start with \(first - 48)"
        }
        out.append(UInt8(ascii: "+"))
        out.append(contentsOf: p.callingCode.utf8)
        out.append(contentsOf: nsn)
        region = p.region
        return nil
    }
}
