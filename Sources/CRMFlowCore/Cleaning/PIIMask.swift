/// Masks personal data where crmflow shows or keeps it outside the data (`--mask-pii`, `mask_pii: true`): change-report
/// examples, rejects, review files and log lines. `ann.lee@example.com` → `a•••@e•••.com`, `+15550101234` →
/// `+1•••••••34`, `Annabel` → `A•••`.
public enum PIIMask {
    public static func email(_ s: String) -> String {
        guard let at = s.firstIndex(of: "@") else { return generic(s) }
        let local = s[..<at], domain = s[s.index(after: at)...]
        let tld = domain.lastIndex(of: ".").map { String(domain[$0...]) } ?? ""
        return String(local.prefix(1)) + "•••@" + String(domain.prefix(1)) + "•••" + tld
    }

    public static func phone(_ s: String) -> String {
        let chars = Array(s)
        guard chars.count > 4 else { return String(repeating: "•", count: chars.count) }
        return String(chars.prefix(2)) + String(repeating: "•", count: chars.count - 4) + String(chars.suffix(2))
    }

    public static func generic(_ s: String) -> String {
        guard let first = s.first else { return s }
        return String(first) + "•••"
    }

    /// One field of a record whose meaning is unknown: an e-mail address or a phone number is masked as such, text
    /// with letters (a name, a street) keeps its first letter; numbers, dates, codes and identifiers are kept, so the
    /// record can still be found.
    public static func value(_ s: String) -> String {
        var core = Substring(s)
        while core.first == " " { core.removeFirst() }
        while core.last == " " { core.removeLast() }
        let trimmed = String(core)
        if trimmed.isEmpty { return s }
        // NB: a code or name written with underscores (a rule, a stage, a source) is not personal data.
        if trimmed.contains("_"), !trimmed.contains(" ") { return s }
        if trimmed.contains("@") { return trimmed.count > 1 ? email(trimmed) : s }
        if looksLikePhone(trimmed) { return phone(trimmed) }
        let hasLetters = trimmed.unicodeScalars.contains { $0.properties.isAlphabetic }
        let hasDigits = trimmed.unicodeScalars.contains { $0.value &- 48 < 10 }
        // NB: identifiers mix letters and digits (`0035e00001`, `C12`, `2024-01-31T10:00Z`): they are kept.
        if hasLetters, !hasDigits { return generic(trimmed) }
        return s
    }

    /// Free text (a reason, a log line) with every quoted value ('...') masked by `value(_:)`, and every e-mail
    /// address outside quotes too.
    public static func text(_ s: String) -> String {
        var out = ""
        var rest = Substring(s)
        while let open = rest.firstIndex(of: "'") {
            out += maskedAddresses(rest[..<open])
            let after = rest.index(after: open)
            guard let close = rest[after...].firstIndex(of: "'") else {
                out += rest[open...]
                return out
            }
            out += "'" + value(String(rest[after..<close])) + "'"
            rest = rest[rest.index(after: close)...]
        }
        return out + maskedAddresses(rest)
    }

    static func maskedAddresses(_ s: Substring) -> String {
        guard s.contains("@") else { return String(s) }
        return s.split(separator: " ", omittingEmptySubsequences: false).map { word in
            word.contains("@") && word.contains(".") ? email(String(word)) : String(word)
        }.joined(separator: " ")
    }

    /// Seven or more digits, with only phone punctuation between them, and not a date (`2024-01-31`, `31.01.2024`).
    static func looksLikePhone(_ s: String) -> Bool {
        var digits = 0
        var groups: [Int] = [0]
        for u in s.unicodeScalars {
            if u.value &- 48 < 10 {
                digits += 1
                groups[groups.count - 1] += 1
                continue
            }
            if !"+()-. /x".unicodeScalars.contains(u) { return false }
            if groups.last != 0 { groups.append(0) }
        }
        let isDate = groups.count == 3 && (groups[0] == 4 || groups[2] == 4) && groups.filter { $0 <= 2 }.count == 2
        return digits >= 7 && digits <= 15 && !isDate
    }
}
