/// E-mail addresses: normalisation, a practical RFC 5322 check, typo'd domains and provider-aware matching keys.
public enum EmailCleaning {
    public enum Outcome: Equatable, Sendable {
        case valid(String)
        case invalid(String)
    }

    /// Domains people mistype, and what they meant. A pipeline can add its own with `typos:`.
    public static let commonTypos: [String: String] = [
        "gmial.com": "gmail.com", "gmai.com": "gmail.com", "gamil.com": "gmail.com", "gnail.com": "gmail.com",
        "gmail.co": "gmail.com", "gmail.con": "gmail.com", "gmail.cmo": "gmail.com", "gmaill.com": "gmail.com",
        "gmal.com": "gmail.com", "gmail.om": "gmail.com", "gmail.comm": "gmail.com", "gmali.com": "gmail.com",
        "googlemail.co": "googlemail.com",
        "hotmial.com": "hotmail.com", "hotmal.com": "hotmail.com", "hotmai.com": "hotmail.com", "hotmail.co": "hotmail.com",
        "hotmail.con": "hotmail.com", "hotmil.com": "hotmail.com", "homail.com": "hotmail.com",
        "yaho.com": "yahoo.com", "yahooo.com": "yahoo.com", "yahoo.co": "yahoo.com", "yahoo.con": "yahoo.com", "yhaoo.com": "yahoo.com",
        "outlok.com": "outlook.com", "outlook.co": "outlook.com", "outlook.con": "outlook.com", "outloo.com": "outlook.com",
        "iclod.com": "icloud.com", "icloud.co": "icloud.com", "icoud.com": "icloud.com",
        "aol.co": "aol.com", "aoll.com": "aol.com", "live.co": "live.com", "msn.co": "msn.com",
    ]

    /// Domains whose mailboxes ignore dots in the local part.
    static let dotInsensitive: Set<String> = ["gmail.com", "googlemail.com"]
    /// Domains that deliver `name+tag@` to `name@`.
    static let plusTagged: Set<String> = [
        "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "icloud.com", "me.com", "mac.com",
        "fastmail.com", "fastmail.fm", "protonmail.com", "proton.me", "pm.me", "yandex.ru", "yandex.com",
    ]

    @inline(__always) static func isAtext(_ c: UInt8) -> Bool {
        // RFC 5322 atext: letters, digits and !#$%&'*+-/=?^_`{|}~ (non-ASCII allowed, RFC 6531).
        if c >= 0x80 { return true }
        if (c | 0x20) >= 97 && (c | 0x20) <= 122 { return true }
        if c >= 48 && c <= 57 { return true }
        switch c {
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "/"), UInt8(ascii: "="), UInt8(ascii: "?"),
             UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "{"), UInt8(ascii: "|"), UInt8(ascii: "}"),
             UInt8(ascii: "~"):
            return true
        default: return false
        }
    }

    /// Normalises one address: trims, strips `mailto:` and a display name (`"Ann" <ann@x.com>`), lower-cases, fixes a
    /// typo'd domain when `typos` has it, and checks the practical subset of RFC 5322 (dot-atom local part of at most
    /// 64 bytes; a domain of at least two labels of letters, digits and hyphens, or IDN letters; at most 254 bytes).
    public static func normalise(_ raw: String, typos: [String: String]? = nil) -> Outcome {
        let n = EmailNormaliser(typos: typos)
        var out: [UInt8] = []
        let problem = Array(raw.utf8).withUnsafeBufferPointer { n.normalise($0, into: &out) }
        return problem.map { .invalid($0) } ?? .valid(String(decoding: out, as: UTF8.self))
    }

    /// A key under which addresses reaching the same mailbox are equal: for providers known to ignore them, dots
    /// (Gmail) and `+tags` are removed, and googlemail.com becomes gmail.com. Other domains are left as they are.
    public static func canonicalKey(_ normalised: String) -> String {
        var out: [UInt8] = []
        Array(normalised.utf8).withUnsafeBufferPointer { EmailNormaliser.canonicalKey($0, into: &out) }
        return String(decoding: out, as: UTF8.self)
    }
}

/// E-mail normalisation on UTF-8 bytes, set up once per step (this runs for every row of an e-mail column).
public struct EmailNormaliser: Sendable {
    /// Domain fixes by the hash of the wrong domain (looked up without building an array per row).
    let typos: [UInt64: [([UInt8], [UInt8])]]

    public init(typos: [String: String]?) {
        var t: [UInt64: [([UInt8], [UInt8])]] = [:]
        for (k, v) in typos ?? [:] {
            let key = Array(k.utf8)
            t[key.withUnsafeBufferPointer { ByteHash.hash($0) }, default: []].append((key, Array(v.utf8)))
        }
        self.typos = t
    }

    static func hashed(_ domains: Set<String>) -> [UInt64: [UInt8]] {
        Dictionary(domains.map { d in (Array(d.utf8).withUnsafeBufferPointer { ByteHash.hash($0) }, Array(d.utf8)) }, uniquingKeysWith: { a, _ in a })
    }

    static let dotInsensitive = hashed(EmailCleaning.dotInsensitive)
    static let plusTagged = hashed(EmailCleaning.plusTagged)
    static let gmail = Array("gmail.com".utf8)

    /// Whether `domain` is one of `set`'s domains (by hash, then by the bytes).
    static func contains(_ set: [UInt64: [UInt8]], _ domain: UnsafeBufferPointer<UInt8>) -> Bool {
        set[ByteHash.hash(domain)]?.elementsEqual(domain) ?? false
    }

    @inline(__always) static func isSpace(_ c: UInt8) -> Bool { c == 32 || (c >= 9 && c <= 13) }

    /// Writes the normalised address to `out`; returns why it is invalid, or nil.
    public func normalise(_ raw: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) -> String? {
        var lo = 0, hi = raw.count
        func trim() {
            while lo < hi {
                if Self.isSpace(raw[lo]) { lo += 1 } else if raw[lo] == 0xC2, lo + 1 < hi, raw[lo + 1] == 0xA0 { lo += 2 } else { break }
            }
            while hi > lo {
                if Self.isSpace(raw[hi - 1]) { hi -= 1 } else if hi - 2 >= lo, raw[hi - 2] == 0xC2, raw[hi - 1] == 0xA0 { hi -= 2 } else { break }
            }
        }
        trim()
        if hi - lo >= 7, zip(raw[lo..<(lo + 7)], "mailto:".utf8).allSatisfy({ ($0 | 0x20) == $1 }) { lo += 7 }
        if hi > lo, raw[hi - 1] == UInt8(ascii: ">") {
            if let open = raw[lo..<hi].lastIndex(of: UInt8(ascii: "<")) {
                lo = open + 1
                hi -= 1
            }
        }
        if let q = raw[lo..<hi].firstIndex(of: UInt8(ascii: "?")) { hi = q }  // mailto: query (?subject=...)
        trim()
        if lo >= hi { return "empty e-mail address" }
        let start = out.count
        var ascii = true
        for i in lo..<hi {
            let c = raw[i]
            if c >= 0x80 { ascii = false; break }
            out.append(c &- 65 < 26 ? c + 32 : c)
        }
        if !ascii {
            out.removeSubrange(start...)
            out.append(contentsOf: String(decoding: UnsafeBufferPointer(rebasing: raw[lo..<hi]), as: UTF8.self).lowercased().utf8)
        }
        guard out.count - start <= 254 else { return "e-mail address longer than 254 characters" }
        var at = -1
        for i in start..<out.count where out[i] == UInt8(ascii: "@") {
            if at >= 0 { return "more than one '@' in e-mail address" }
            at = i
        }
        if at < 0 { return "no '@' in e-mail address" }
        let local = start..<at
        if local.isEmpty { return "nothing before '@'" }
        if local.count > 64 { return "the part before '@' is longer than 64 characters" }
        if out[local.lowerBound] == UInt8(ascii: ".") || out[local.upperBound - 1] == UInt8(ascii: ".") { return "the part before '@' starts or ends with '.'" }
        var previousDot = false
        for i in local {
            let c = out[i]
            if c == UInt8(ascii: ".") {
                if previousDot { return "'..' in e-mail address" }
                previousDot = true
                continue
            }
            previousDot = false
            guard EmailCleaning.isAtext(c) else { return "character '\(String(decoding: [c], as: UTF8.self))' not allowed before '@'" }
        }
        if !typos.isEmpty {
            let fixed: [UInt8]? = out.withUnsafeBufferPointer { o in
                let domain = UnsafeBufferPointer(rebasing: o[(at + 1)...])
                return typos[ByteHash.hash(domain)]?.first { $0.0.elementsEqual(domain) }?.1
            }
            if let fixed {
                out.removeSubrange((at + 1)...)
                out.append(contentsOf: fixed)
            }
        }
        return out.withUnsafeBufferPointer { Self.domainProblem(UnsafeBufferPointer(rebasing: $0[(at + 1)...])) }
    }

    static func domainProblem(_ d: UnsafeBufferPointer<UInt8>) -> String? {
        func text() -> String { String(decoding: d, as: UTF8.self) }
        if d.isEmpty { return "nothing after '@'" }
        var labelStart = 0
        var labels = 0
        var lastLabel = 0..<0
        for i in 0...d.count where i == d.count || d[i] == UInt8(ascii: ".") {
            let label = labelStart..<i
            labels += 1
            if label.isEmpty { return labels == 1 && i == d.count ? "nothing after '@'" : "empty label in domain '\(text())'" }
            if label.count > 63 { return "domain label longer than 63 characters" }
            if d[label.lowerBound] == UInt8(ascii: "-") || d[label.upperBound - 1] == UInt8(ascii: "-") {
                return "domain label '\(String(decoding: UnsafeBufferPointer(rebasing: d[label]), as: UTF8.self))' starts or ends with '-'"
            }
            for j in label {
                let c = d[j]
                if !(c >= 0x80 || c &- 97 < 26 || c &- 48 < 10 || c == UInt8(ascii: "-")) {
                    return "character '\(String(decoding: [c], as: UTF8.self))' not allowed in domain"
                }
            }
            lastLabel = label
            labelStart = i + 1
        }
        if labels < 2 { return "domain '\(text())' has no '.'" }
        let tld = UnsafeBufferPointer(rebasing: d[lastLabel])
        let isPunycode = tld.count > 4 && tld[0] == UInt8(ascii: "x") && tld[1] == UInt8(ascii: "n") && tld[2] == UInt8(ascii: "-") && tld[3] == UInt8(ascii: "-")
        if !isPunycode {
            let name = String(decoding: tld, as: UTF8.self)
            if tld.contains(where: { $0 >= 0x80 }) ? !name.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic }) || name.count < 2
                : tld.count < 2 || !tld.allSatisfy({ $0 &- 97 < 26 }) {
                return "top-level domain '\(name)' is not a name"
            }
        }
        return nil
    }

    /// Writes the provider-aware key of a normalised address (see `EmailCleaning.canonicalKey`).
    public static func canonicalKey(_ e: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        guard let at = e.lastIndex(of: UInt8(ascii: "@")) else { out.append(contentsOf: e); return }
        let domain = UnsafeBufferPointer(rebasing: e[(at + 1)...])
        var localEnd = at
        if contains(plusTagged, domain), let plus = e[..<at].firstIndex(of: UInt8(ascii: "+")) { localEnd = plus }
        if contains(dotInsensitive, domain) {
            for i in 0..<localEnd where e[i] != UInt8(ascii: ".") { out.append(e[i]) }
            out.append(UInt8(ascii: "@"))
            out.append(contentsOf: gmail)
        } else {
            out.append(contentsOf: e[..<localEnd])
            out.append(UInt8(ascii: "@"))
            out.append(contentsOf: domain)
        }
    }
}

extension String {
    /// Without white space (including Unicode spaces) at either end.
    func trimmingSpaces() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        return String(scalars[first...last])
    }
}
