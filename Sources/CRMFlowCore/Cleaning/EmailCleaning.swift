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
        var s = Substring(raw.trimmingSpaces())
        if s.count >= 7, s.prefix(7).lowercased() == "mailto:" { s = s.dropFirst(7) }
        if let open = s.lastIndex(of: "<"), s.last == ">" {
            s = s[s.index(after: open)..<s.index(before: s.endIndex)]
        } else if s.first == "<", s.last == ">" {
            s = s.dropFirst().dropLast()
        }
        if let q = s.firstIndex(of: "?") { s = s[..<q] }  // mailto: query (?subject=...)
        s = Substring(String(s).trimmingSpaces())
        if s.isEmpty { return .invalid("empty e-mail address") }
        let lower = s.lowercased()
        let bytes = Array(lower.utf8)
        guard bytes.count <= 254 else { return .invalid("e-mail address longer than 254 characters") }
        let ats = bytes.indices.filter { bytes[$0] == UInt8(ascii: "@") }
        guard ats.count == 1 else { return .invalid(ats.isEmpty ? "no '@' in e-mail address" : "more than one '@' in e-mail address") }
        let local = bytes[..<ats[0]], domainBytes = bytes[(ats[0] + 1)...]
        guard !local.isEmpty else { return .invalid("nothing before '@'") }
        guard local.count <= 64 else { return .invalid("the part before '@' is longer than 64 characters") }
        guard local.first != UInt8(ascii: "."), local.last != UInt8(ascii: ".") else { return .invalid("the part before '@' starts or ends with '.'") }
        var previousDot = false
        for c in local {
            if c == UInt8(ascii: ".") {
                if previousDot { return .invalid("'..' in e-mail address") }
                previousDot = true
                continue
            }
            previousDot = false
            guard isAtext(c) else { return .invalid("character '\(String(decoding: [c], as: UTF8.self))' not allowed before '@'") }
        }
        var domain = String(decoding: domainBytes, as: UTF8.self)
        if let fixed = (typos ?? [:])[domain] { domain = fixed }
        if let problem = domainProblem(domain) { return .invalid(problem) }
        return .valid(String(decoding: local, as: UTF8.self) + "@" + domain)
    }

    static func domainProblem(_ domain: String) -> String? {
        if domain.isEmpty { return "nothing after '@'" }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2 else { return "domain '\(domain)' has no '.'" }
        for label in labels {
            guard !label.isEmpty else { return "empty label in domain '\(domain)'" }
            guard label.utf8.count <= 63 else { return "domain label longer than 63 characters" }
            guard label.first != "-", label.last != "-" else { return "domain label '\(label)' starts or ends with '-'" }
            for c in label.utf8 where !(c >= 0x80 || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c == UInt8(ascii: "-")) {
                return "character '\(String(decoding: [c], as: UTF8.self))' not allowed in domain"
            }
        }
        let tld = labels.last!
        let isPunycode = tld.hasPrefix("xn--")
        guard isPunycode || (tld.count >= 2 && tld.unicodeScalars.allSatisfy { $0.properties.isAlphabetic }) else {
            return "top-level domain '\(tld)' is not a name"
        }
        return nil
    }

    /// A key under which addresses reaching the same mailbox are equal: for providers known to ignore them, dots
    /// (Gmail) and `+tags` are removed, and googlemail.com becomes gmail.com. Other domains are left as they are.
    public static func canonicalKey(_ normalised: String) -> String {
        guard let at = normalised.lastIndex(of: "@") else { return normalised }
        var local = normalised[..<at]
        var domain = String(normalised[normalised.index(after: at)...])
        if plusTagged.contains(domain), let plus = local.firstIndex(of: "+") { local = local[..<plus] }
        if dotInsensitive.contains(domain) {
            local = Substring(local.filter { $0 != "." })
            domain = "gmail.com"
        }
        return local + "@" + domain
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
