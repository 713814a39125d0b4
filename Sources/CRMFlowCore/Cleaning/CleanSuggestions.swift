/// Suggested `clean` steps for a table, from what its values look like (`crmflow profile` prints them).
public enum CleanSuggestions {
    public struct Suggestion: Sendable, Equatable {
        /// The step as YAML, e.g. `email: { column: Email, fix_typos: true, canonical: email_key }`.
        public var step: String
        /// Why, e.g. `97% of 1,200 values are e-mail addresses`.
        public var reason: String
    }

    static let sampleSize = 5000

    static func header(_ name: String, _ words: [String]) -> Bool {
        let n = Folding.fold(name)
        return words.contains { n.contains($0) }
    }

    static func percent(_ part: Int, _ whole: Int) -> String { "\(whole == 0 ? 0 : part * 100 / whole)% of \(whole)" }

    static func yamlName(_ name: String) -> String {
        let plain = name.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || $0.properties.numericType != nil || $0 == "_" || $0 == " " || $0 == "-" }
        return plain && !name.hasPrefix(" ") && !name.hasSuffix(" ") ? name : "\"" + name.replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    static func keyName(_ name: String, _ suffix: String) -> String {
        Folding.fold(name).map { $0.isLetter || $0.isNumber ? $0 : "_" } + suffix
    }

    public static func suggest(_ table: Table) -> [Suggestion] {
        var out: [Suggestion] = []
        var untrimmed = 0, textColumns = 0
        var emailColumn: String? = nil, countryColumn: String? = nil
        var perColumn: [(Int, Suggestion)] = []
        for (index, field) in table.schema.fields.enumerated() {
            let column = table.columns[index]
            guard column.type == .string, case .string(let buffer) = column.storage else { continue }
            textColumns += 1
            var values: [String] = []
            var row = 0
            while row < column.count, values.count < sampleSize {
                if !column.isNull(row) {
                    let s = buffer.string(row)
                    if s != s.trimmingSpaces() || s.contains("  ") { untrimmed += 1 }
                    let t = s.trimmingSpaces()
                    if !t.isEmpty { values.append(t) }
                }
                row += 1
            }
            guard !values.isEmpty else { continue }
            let n = values.count
            let name = field.name, y = yamlName(name)
            let emails = values.filter { if case .valid = EmailCleaning.normalise($0) { return true }; return false }.count
            if emails * 10 >= n * 6 {
                emailColumn = emailColumn ?? name
                perColumn.append((index, Suggestion(step: "email: { column: \(y), fix_typos: true, canonical: \(keyName(name, "_key")) }",
                                                    reason: "\(percent(emails, n)) values are e-mail addresses")))
                continue
            }
            let countries = values.filter { Countries.code($0) != nil }.count
            if countries * 10 >= n * 8, header(name, ["country", "land", "pays", "pais"]) || countries * 10 >= n * 9 {
                countryColumn = countryColumn ?? name
                perColumn.append((index, Suggestion(step: "country: \(y)", reason: "\(percent(countries, n)) values are country names or codes")))
                continue
            }
            let phoneLike = values.filter { v in
                let main = PhoneNumbers.splitExtension(v).0
                let digits = main.unicodeScalars.filter { $0.properties.numericType != nil }.count
                let separated = main.unicodeScalars.contains { " +-()./".unicodeScalars.contains($0) }
                // NB: a date (2024-01-31, 31.01.2024) has the digits and separators of a phone number.
                let isDate = Array(v.utf8).withUnsafeBufferPointer { DateParsing.scan(Scalars.trimmed($0)) != nil }
                return !isDate && digits >= 7 && digits <= 15 && separated && main.unicodeScalars.allSatisfy { " +-()./".unicodeScalars.contains($0) || $0.properties.numericType != nil }
            }.count
            if phoneLike * 10 >= n * 7, header(name, ["phone", "tel", "mobile", "fax", "handy", "cell"]) || phoneLike * 10 >= n * 9 {
                perColumn.append((index, Suggestion(step: "phone: { column: \(y), default_region: US }", reason: "\(percent(phoneLike, n)) values look like phone numbers; set default_region (or region_column) to the country of numbers written without +")))
                continue
            }
            var b = StringBuffer()
            for v in values { b.append(v) }
            let detection = DateCleaning.detect(b, validity: nil, order: nil)
            let dates = values.filter { v in
                let bytes = Array(v.utf8)
                return bytes.withUnsafeBufferPointer { DateCleaning.micros($0, format: detection.format) } != nil
            }.count
            let numericDate: Bool = { if case .text = detection.format { return true }; return header(name, ["date", "datum", "created", "since", "time", "_at", "_on"]) }()
            if dates * 10 >= n * 8, numericDate {
                var step = "date: \(y)"
                if case .text(let order?) = detection.format, detection.ambiguous || detection.evidence != nil {
                    step = "date: { columns: [\(y)], order: \(order.rawValue) }"
                }
                perColumn.append((index, Suggestion(step: step, reason: "\(percent(dates, n)) values are dates" + (detection.evidence.map { "; \($0)" } ?? ""))))
                continue
            }
            let amounts = values.filter { v in
                let bytes = Array(v.utf8)
                return bytes.withUnsafeBufferPointer { MoneyCleaning.parse($0) } != nil
            }.count
            let withCurrency = values.filter { v in v.contains("$") || v.contains("€") || v.contains("£") || v.uppercased().contains("EUR") || v.uppercased().contains("USD") }.count
            if amounts * 10 >= n * 8, withCurrency * 10 >= n || header(name, ["amount", "revenue", "price", "budget", "umsatz", "betrag", "value"]) {
                perColumn.append((index, Suggestion(step: "money: { column: \(y), default_currency: USD }", reason: "\(percent(amounts, n)) values are amounts\(withCurrency > 0 ? ", \(withCurrency) with a currency" : "")")))
                continue
            }
            if header(name, ["company", "account", "organi", "firma", "societe", "employer"]) {
                perColumn.append((index, Suggestion(step: "company: { column: \(y), key: \(keyName(name, "_key")) }", reason: "company names: a matching key without legal forms")))
                continue
            }
            if header(name, ["name"]), !header(name, ["first", "last", "given", "family", "sur", "vor", "nach", "user", "file", "company", "account"]) {
                let people = values.filter { $0.contains(" ") || $0.contains(",") }.filter { !PersonNames.looksLikeCompany($0) }.count
                if people * 10 >= n * 6 {
                    perColumn.append((index, Suggestion(step: "name: { column: \(y) }", reason: "\(percent(people, n)) values are full names to split into first / middle / last")))
                    continue
                }
            }
            if header(name, ["first", "last", "given", "family", "surname", "vorname", "nachname"]) {
                let uniform = values.filter { $0 == $0.uppercased() || $0 == $0.lowercased() }.count
                if uniform * 10 >= n {
                    perColumn.append((index, Suggestion(step: "case: { columns: [\(y)], to: title }", reason: "\(percent(uniform, n)) names are written all upper or all lower case")))
                }
            }
        }
        if untrimmed > 0, textColumns > 0 { out.append(Suggestion(step: "trim: all", reason: "\(untrimmed) value\(untrimmed == 1 ? " has" : "s have") stray or doubled spaces")) }
        for (_, s) in perColumn {
            if s.step.hasPrefix("phone:"), let countryColumn {
                out.append(Suggestion(step: s.step.replacingOccurrences(of: "default_region: US", with: "default_region: US, region_column: \(yamlName(countryColumn))"), reason: s.reason))
            } else {
                out.append(s)
            }
        }
        if let emailColumn { out.append(Suggestion(step: "dedupe: { keys: [\(keyName(emailColumn, "_key"))], keep: first }", reason: "one row per mailbox")) }
        return out
    }

    /// The suggestions as a block to paste into a pipeline file.
    public static func yaml(_ suggestions: [Suggestion], input: String = "source") -> String {
        guard !suggestions.isEmpty else { return "" }
        var s = "suggested clean stage (paste under stages:, then adjust):\n\n  cleaned:\n    clean:\n      input: \(input)\n      on_invalid: null\n      steps:\n"
        let width = min(70, suggestions.map { $0.step.count }.max() ?? 0)
        for x in suggestions { s += "        - " + x.step + String(repeating: " ", count: max(0, width - x.step.count)) + "  # " + x.reason + "\n" }
        return s
    }
}
