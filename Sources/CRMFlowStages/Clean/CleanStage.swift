import CRMFlowCore
import CRMFlowIO
import Foundation

/// `clean`: CRM-aware normalisation, validation and exact de-duplication, as ordered steps, with a change report.
public struct CleanStage: Stage {
    public static let spec = StageSpec(
        kind: "clean",
        summary: "Normalise, validate and de-duplicate rows with ordered steps (trim, case, email, phone, name, date, timestamp, country, region, company, money, map, default, cast, derive, require, validate, dedupe). Several inputs are stacked by column name first. Reports per step and column how many values changed, were nulled or rejected, with examples.",
        minInputs: 1, maxInputs: Int.max,
        options: [
            OptionSpec("input", .scalarOrList, required: true, isInput: true, "The stage(s) to clean; several are stacked by column name, as `union` does."),
            OptionSpec("steps", .list, required: true, "Ordered steps, each `- <step>: <columns or options>`; see the step list below (docs/stages.md, section Clean steps)."),
            OptionSpec("on_invalid", .scalar, default: "reject", allowed: ["reject", "null", "keep"],
                       "What a step does with a value it cannot read (a bad e-mail, phone, date, country or amount): reject the row (with the reason), make the value null, or keep it as written. Each step may override it."),
            OptionSpec("source_column", .scalar, "With several inputs: a column to add holding each row's input stage id."),
        ],
        example: """
        contacts:
          clean:
            input: [sf_contacts, hs_contacts]
            on_invalid: null
            steps:
              - trim: all
              - email: { column: email, fix_typos: true, canonical: email_key, on_invalid: reject }
              - phone: { column: phone, default_region: US }
              - name: { column: full_name }
              - country: country
              - date: { columns: [created], order: dmy }
              - company: { column: company, key: company_key }
              - require: [email]
              - dedupe: { keys: [email_key], keep: "latest(created)" }
        """)

    /// The step kinds and the options each accepts (besides `column`/`columns` and `on_invalid`).
    static let stepOptions: [String: [String]] = [
        "trim": ["collapse"], "case": ["to"], "email": ["fix_typos", "typos", "canonical"],
        "phone": ["default_region", "region_column", "extension"],
        "name": ["first", "middle", "last", "honorific", "suffix", "company_flag", "recase"],
        "date": ["format", "order"], "timestamp": ["format", "order", "timezone"],
        "country": ["output"], "region": ["country", "default_country"], "company": ["key"],
        "money": ["currency_column", "default_currency", "currency_from", "to", "rates"],
        "map": ["values", "ignore_case", "unmapped"], "default": [], "fill": [], "cast": [], "derive": [],
        "require": [], "validate": [], "dedupe": ["keys", "keep", "id"],
    ]
    /// The reference of every step: name, how it is written, what it does. `crmflow stages` prints it.
    public static let stepReference: [(step: String, form: String, summary: String)] = [
        ("trim", "`trim: all` · `trim: { columns: [a, b], collapse: true }`",
         "Removes white space at both ends (ASCII and Unicode spaces, NBSP), deletes zero-width characters and control characters, and with `collapse` (default) turns inner runs of white space into one space. A value left empty becomes null."),
        ("case", "`case: { columns: [first_name], to: title }`",
         "`lower`, `upper` or `title`. Title case is name-aware: only words written all upper or all lower are re-cased (McDonald, DeShawn stay), `Mc` and `O'` get a capital after them, hyphenated parts each get one, particles (van, der, de, von, …) stay lower case."),
        ("email", "`email: email` · `email: { column: email, fix_typos: true, typos: { acme.con: acme.com }, canonical: email_key }`",
         "Trims, strips `mailto:` and display names (`\"Ann\" <ann@x.com>`), lower-cases, checks a practical RFC 5322 subset (dot-atom local part ≤ 64, domain of ≥ 2 labels, IDN letters allowed, ≤ 254 bytes). `fix_typos` corrects common misspelt domains (gmial.com → gmail.com); `typos` adds your own. `canonical` writes a provider-aware key to another column: Gmail dots and `+tags` removed, googlemail.com → gmail.com (tags also for Outlook, iCloud, Fastmail, Proton)."),
        ("phone", "`phone: { column: phone, default_region: US, region_column: country, extension: phone_ext }`",
         "Parses national and international notations (`(555) 010-1234 ext. 12`, `+44 (0)20 7946 0958`, `0049 30 1234567`, `030 1234567` with region DE) to E.164 (`+15550101234`); the extension goes to its own column (default `<column>_ext`). The region of a national number comes from `region_column` (a country name or code per row) or `default_region`. Lengths are checked against the numbering plans of 72 countries (Sources/CRMFlowCore/Cleaning/PhoneNumbers.swift names its sources)."),
        ("name", "`name: { column: full_name, first: first_name, middle: middle_name, last: last_name, honorific: title, suffix: suffix, company_flag: is_company }`",
         "Splits a full name: `Last, First Middle` or `First Middle Last`, honorifics (Dr., Mrs, Prof, Herr, …) and suffixes (Jr., III, PhD, …) removed (kept in their columns when named), surname particles kept with the last name (`Ludwig van Beethoven` → last `van Beethoven`). Values that look like a company (legal forms, `&`, digits) are not split and are flagged. Parts are title-cased by the name rules unless `recase: false`."),
        ("date", "`date: created` · `date: { columns: [created], format: \"%d.%m.%Y\", order: dmy }`",
         "Text to dates. Without a `format`, each column is detected as a whole: ISO 8601, named months, numeric dates (the day/month order from values above 12, `dd.mm.yyyy` as day-first; an undecidable column is read month-first and reported as ambiguous with its evidence; `order` decides), Excel serial numbers, Unix seconds or milliseconds."),
        ("timestamp", "`timestamp: { columns: [created_at], timezone: Europe/Berlin }`",
         "As `date`, to timestamps in UTC; times written without a zone are read in `timezone` (IANA name or `+01:00`; default UTC)."),
        ("country", "`country: country` · `country: { column: country, output: country_code }`",
         "Names, aliases and codes in English, German, French, Spanish, Italian, Dutch, Portuguese and local languages (`Deutschland`, `U.S.A.`, `Royaume-Uni`, `DEU`) to ISO 3166-1 alpha-2, in place or into `output`."),
        ("region", "`region: { column: state, country: country }` · `region: { column: state, default_country: US }`",
         "US states, Canadian provinces and Australian states by name, abbreviation or code to ISO 3166-2 (`California` → `US-CA`, `Québec` → `CA-QC`)."),
        ("company", "`company: { column: company, key: company_key }`",
         "Leaves the display name as written and writes a matching key (default `<column>_key`): accents folded, lower case, `&` as `and`, punctuation removed, a leading `the` and trailing legal forms (Inc, LLC, Ltd, GmbH, S.A., AG, Corp, B.V., Pty Ltd, GmbH & Co. KG, …) dropped. `Acme, Inc.` and `ACME Inc` → `acme`."),
        ("money", "`money: { column: amount, default_currency: EUR, currency_from: currency, to: USD, rates: fx.csv, currency_column: amount_currency }`",
         "Parses `$1,234.50`, `1.234,50 €`, `(100.00)`, `USD 12k`, `1.2M EUR` into exact amounts (minor units) with the currency in `currency_column` (default `<column>_currency`). The currency of a bare number comes from `currency_from` (a column) or `default_currency`. With `to`, amounts are converted with the rates file (columns: currency, rate in `to` units per unit), rounded half away from zero; a currency without a rate is invalid."),
        ("map", "`map: { column: stage, values: { closed-won: Closed Won, won: Closed Won }, ignore_case: true, unmapped: keep }`",
         "Replaces values by a table (compared without case, accents and punctuation unless `ignore_case: false`); a value mapped to `null` becomes null. Values not in the table are kept, made null or rejected (`unmapped`)."),
        ("default", "`default: { country: US, segment: unknown }` (also `fill`)",
         "Fills null and empty values of each column with a literal of the column's type."),
        ("cast", "`cast: { employees: integer, signed_on: date }`",
         "Converts columns to a type; values that do not convert follow `on_invalid`."),
        ("derive", "`derive: { full_name: \"first_name || ' ' || last_name\" }`",
         "Adds or replaces columns from expressions (the expression language of `derive`); rows whose value cannot be computed are rejected."),
        ("require", "`require: [email, last_name]`",
         "Rows where any of the columns is null or blank go to the rejects (`E_REQUIRED`)."),
        ("validate", "`validate: { positive_amount: \"amount > 0\", has_contact: \"email is not null or phone is not null\" }`",
         "Rules as boolean expressions; a row for which a rule is false or unknown goes to the rejects with the rule's name as the reason (`E_RULE`)."),
        ("dedupe", "`dedupe: { keys: [email_key], keep: \"latest(updated_at)\", id: contact_id }` · `dedupe: all`",
         "Removes exact duplicates on the key columns (as normalised by the earlier steps; a null key duplicates nothing), keeping the `first`, `last`, `latest(column)` or `most_complete` row of each group. Every removed row is written to `<stage>.lineage.csv` with the source, line and `id` of the row it duplicates."),
    ]

    /// Steps whose body is a mapping of column (or rule) names to values rather than options.
    static let mappingSteps: Set<String> = ["default", "fill", "cast", "derive", "validate"]
    static let stepKinds = ["trim", "case", "email", "phone", "name", "date", "timestamp", "country", "region", "company",
                            "money", "map", "default", "fill", "cast", "derive", "require", "validate", "dedupe"]

    /// Which columns a step applies to.
    enum Selector: Sendable {
        case all
        case type(DataType)
        case column(String, SourceLocation?)
    }

    enum KeepRule: Sendable, Equatable {
        case first, last, mostComplete
        case latest(String)
    }

    enum Kind: Sendable {
        case trim(collapse: Bool)
        case recase(to: String)
        case email(typos: [String: String]?, canonical: String?)
        case phone(defaultRegion: String?, regionColumn: String?, extensionColumn: String?)
        case name(outputs: [String?], recase: Bool)
        case date(format: [UInt8]?, order: DayOrder?, timestamp: Bool, timezone: String?)
        case country(output: String?)
        case region(countryColumn: String?, defaultCountry: String?)
        case company(key: String?)
        case money(currencyColumn: String?, defaultCurrency: String, currencyFrom: String?, target: String?, rates: String?)
        case map(values: [String: String?], ignoreCase: Bool, unmapped: String)
        case fill([(String, String)])
        case cast([(String, DataType)])
        case derive([(String, ExprText)])
        case require
        case validate([(String, ExprText)])
        case dedupe(keep: KeepRule, id: String?)
    }

    struct Step: Sendable {
        /// Steps that skip rows already rejected or removed (the others evaluate expressions over every row, so those
        /// rows leave the table first).
        var skipsDeadRows: Bool {
            switch kind {
            case .fill, .cast, .derive, .require, .validate: return false
            default: return true
            }
        }
        var number: Int
        var name: String
        var kind: Kind
        var columns: [Selector]
        var policy: InvalidPolicy?
        var location: SourceLocation
    }

    let inputNames: [String]
    var steps: [Step]
    let onInvalid: InvalidPolicy
    let sourceColumn: String?

    // MARK: - Reading the steps

    public init?(_ config: StageConfig) {
        inputNames = config.strings("input") ?? []
        // NB: YAML reads a bare `null` as no value; here it is the policy's name.
        onInvalid = config.node("on_invalid")?.isNull == true ? .null : config.choice("on_invalid").flatMap(InvalidPolicy.init(rawValue:)) ?? .reject
        sourceColumn = config.string("source_column")
        guard let stepsNode = config.node("steps") else { return nil }
        guard let items = stepsNode.items, !items.isEmpty else {
            config.log.add(.optionShape, "steps of clean stage '\(config.id)' must be a list of steps", at: stepsNode.location,
                           hint: "write each step as `- trim: all`, `- email: email`, …")
            return nil
        }
        var steps: [Step] = []
        var ok = true
        for (n, item) in items.enumerated() {
            if let step = Self.readStep(item, number: n + 1, config: config) { steps.append(step) } else { ok = false }
        }
        self.steps = steps
        if !ok { return nil }
    }

    static func readStep(_ item: ConfigNode, number: Int, config: StageConfig) -> Step? {
        let log = config.log
        guard let entries = item.entries, entries.count == 1, let entry = entries.first else {
            log.add(.optionShape, "step \(number) of clean stage '\(config.id)' must be one `kind: value` pair", at: item.location,
                    hint: "e.g. `- trim: all` or `- phone: { column: phone, default_region: US }`")
            return nil
        }
        let kind = entry.key
        guard let allowed = stepOptions[kind] else {
            let near = Suggest.nearest(kind, among: stepKinds)
            log.add(.unknownOption, "unknown clean step '\(kind)'", at: entry.keyLocation, length: kind.count,
                    hint: (near.map { "did you mean '\($0)'? " } ?? "") + "steps: " + stepKinds.joined(separator: ", "))
            return nil
        }
        let body = entry.value
        var options: [String: ConfigNode] = [:]
        var columns: [Selector] = []
        var policy: InvalidPolicy? = nil
        var pairs: [ConfigEntry] = []
        func selectors(_ node: ConfigNode) -> [Selector]? {
            guard let names = config.strings(of: node, name: "\(kind).columns") else { return nil }
            let located: [(String, SourceLocation?)]
            if let list = node.items { located = zip(names, list.map(\.textLocation)).map { ($0, $1) } } else { located = names.map { ($0, node.textLocation) } }
            return located.map { name, loc in
                if name == "all" { return .all }
                if let t = DataType(rawValue: name) { return .type(t) }
                if name == "text" { return .type(.string) }
                return .column(name, loc)
            }
        }
        if let body = body.entries {
            for e in body {
                switch e.key {
                case "column", "columns":
                    guard let s = selectors(e.value) else { return nil }
                    columns += s
                case "on_invalid":
                    guard let v = e.value.isNull ? "null" : e.value.scalar, let p = InvalidPolicy(rawValue: v) else {
                        log.add(.invalidValue, "on_invalid must be reject, null or keep", at: e.value.textLocation)
                        return nil
                    }
                    policy = p
                default:
                    if mappingSteps.contains(kind) {
                        pairs.append(e)
                    } else if allowed.contains(e.key) {
                        options[e.key] = e.value
                    } else {
                        let near = Suggest.nearest(e.key, among: allowed + ["column", "columns", "on_invalid"])
                        log.add(.unknownOption, "unknown option '\(e.key)' of the \(kind) step", at: e.keyLocation, length: e.key.count,
                                hint: (near.map { "did you mean '\($0)'? " } ?? "") + "options: " + (["column"] + allowed + ["on_invalid"]).joined(separator: ", "))
                        return nil
                    }
                }
            }
        } else if !body.isNull {
            guard !mappingSteps.contains(kind) else {
                config.shapeError("steps[\(number)].\(kind)", body, expected: "a mapping of names to values")
                return nil
            }
            guard let s = selectors(body) else { return nil }
            columns = s
        }
        func scalar(_ name: String) -> String? {
            guard let n = options[name] else { return nil }
            if n.isNull, name == "unmapped" { return "null" }
            guard let s = n.scalar else { config.shapeError("\(kind).\(name)", n, expected: "a value"); return nil }
            return s
        }
        func flag(_ name: String, _ defaultValue: Bool) -> Bool {
            guard let s = scalar(name) else { return defaultValue }
            return ["true", "yes", "on"].contains(s.lowercased())
        }
        var failed = false
        let stepKind: Kind
        switch kind {
        case "trim":
            stepKind = .trim(collapse: flag("collapse", true))
        case "case":
            let to = scalar("to") ?? "title"
            guard ["lower", "upper", "title"].contains(to) else {
                log.add(.invalidValue, "case step: 'to' must be lower, upper or title, got '\(to)'", at: options["to"]?.textLocation)
                return nil
            }
            stepKind = .recase(to: to)
        case "email":
            var typos: [String: String]? = flag("fix_typos", false) ? EmailCleaning.commonTypos : nil
            if let t = options["typos"] {
                guard let e = t.entries else { config.shapeError("email.typos", t, expected: "a mapping of wrong: right domains"); return nil }
                var m = typos ?? [:]
                for x in e { if let v = x.value.scalar { m[x.key.lowercased()] = v.lowercased() } }
                typos = m
            }
            stepKind = .email(typos: typos, canonical: scalar("canonical"))
        case "phone":
            let region = scalar("default_region")
            if let region, PhoneNumbers.plan(region: region) == nil {
                let near = Suggest.nearest(region.uppercased(), among: PhoneNumbers.plans.map(\.region))
                log.add(.invalidValue, "default_region '\(region)' is not a region crmflow knows the numbering plan of", at: options["default_region"]?.textLocation,
                        length: region.count, hint: (near.map { "did you mean '\($0)'? " } ?? "") + "use an ISO 3166-1 alpha-2 code: " + PhoneNumbers.plans.map(\.region).joined(separator: " "))
                failed = true
            }
            stepKind = .phone(defaultRegion: region, regionColumn: scalar("region_column"), extensionColumn: scalar("extension"))
        case "name":
            stepKind = .name(outputs: [scalar("first") ?? "first_name", scalar("middle") ?? "middle_name", scalar("last") ?? "last_name",
                                       scalar("honorific"), scalar("suffix"), scalar("company_flag") ?? "is_company"],
                             recase: flag("recase", true))
        case "date", "timestamp":
            var order: DayOrder? = nil
            if let o = scalar("order") {
                guard let d = DayOrder(rawValue: o.lowercased()) else {
                    log.add(.invalidValue, "order must be dmy or mdy, got '\(o)'", at: options["order"]?.textLocation)
                    return nil
                }
                order = d
            }
            let tz = scalar("timezone")
            if let tz, Self.zoneOffset(tz) == nil {
                log.add(.invalidValue, "unknown time zone '\(tz)'", at: options["timezone"]?.textLocation, length: tz.count,
                        hint: "use an IANA name such as Europe/Berlin, or an offset such as +01:00")
                failed = true
            }
            stepKind = .date(format: scalar("format").map { Array($0.utf8) }, order: order, timestamp: kind == "timestamp", timezone: tz)
        case "country":
            stepKind = .country(output: scalar("output"))
        case "region":
            stepKind = .region(countryColumn: scalar("country"), defaultCountry: scalar("default_country"))
        case "company":
            stepKind = .company(key: scalar("key"))
        case "money":
            stepKind = .money(currencyColumn: scalar("currency_column"), defaultCurrency: scalar("default_currency") ?? "",
                              currencyFrom: scalar("currency_from"), target: scalar("to"), rates: scalar("rates"))
            if scalar("to") != nil, scalar("rates") == nil {
                log.add(.missingOption, "money step converts 'to' a currency but names no 'rates' file", at: options["to"]?.location,
                        hint: "add rates: path/to/rates.csv (columns: currency, rate in target units per unit)")
                failed = true
            }
        case "map":
            guard let v = options["values"], let e = v.entries else {
                log.add(.missingOption, "map step needs `values: { from: to, … }`", at: entry.keyLocation)
                return nil
            }
            let ignoreCase = flag("ignore_case", true)
            var values: [String: String?] = [:]
            for x in e {
                let key = ignoreCase ? Countries.lookupKey(x.key) : x.key
                values[key] = x.value.isNull ? .some(nil) : .some(x.value.scalar ?? "")
            }
            let unmapped = scalar("unmapped") ?? "keep"
            guard ["keep", "null", "reject"].contains(unmapped) else {
                log.add(.invalidValue, "unmapped must be keep, null or reject, got '\(unmapped)'", at: options["unmapped"]?.textLocation)
                return nil
            }
            stepKind = .map(values: values, ignoreCase: ignoreCase, unmapped: unmapped)
        case "default", "fill":
            stepKind = .fill(pairs.map { ($0.key, $0.value.scalar ?? "") })
            columns = pairs.map { .column($0.key, $0.keyLocation) }
        case "cast":
            var casts: [(String, DataType)] = []
            for p in pairs {
                guard let t = p.value.scalar.flatMap({ DataType(rawValue: $0 == "text" ? "string" : $0) }) else {
                    log.add(.invalidValue, "cast of '\(p.key)': unknown type '\(p.value.scalar ?? "")'", at: p.value.textLocation,
                            hint: "types: " + DataType.allCases.map(\.rawValue).joined(separator: ", "))
                    failed = true
                    continue
                }
                casts.append((p.key, t))
            }
            stepKind = .cast(casts)
            columns = pairs.map { .column($0.key, $0.keyLocation) }
        case "derive", "validate":
            var exprs: [(String, ExprText)] = []
            for p in pairs {
                if let x = config.expression(p.value, option: "steps[\(number)].\(kind).\(p.key)") { exprs.append((p.key, x)) } else { failed = true }
            }
            stepKind = kind == "derive" ? .derive(exprs) : .validate(exprs)
        case "require":
            stepKind = .require
        default:  // dedupe
            if let k = options["keys"], let s = selectors(k) { columns += s }
            if columns.isEmpty { columns = [.all] }
            let keepText = scalar("keep") ?? "first"
            var keep: KeepRule
            switch keepText {
            case "first": keep = .first
            case "last": keep = .last
            case "most_complete": keep = .mostComplete
            default:
                guard keepText.hasPrefix("latest("), keepText.hasSuffix(")") else {
                    log.add(.invalidValue, "keep must be first, last, most_complete or latest(column), got '\(keepText)'", at: options["keep"]?.textLocation)
                    return nil
                }
                keep = .latest(String(keepText.dropFirst(7).dropLast()).trimmingCharacters(in: .whitespaces))
            }
            stepKind = .dedupe(keep: keep, id: scalar("id"))
        }
        if failed { return nil }
        let needsColumns = !["derive", "validate", "dedupe", "default", "fill", "cast"].contains(kind)
        if needsColumns, columns.isEmpty {
            log.add(.missingOption, "the \(kind) step names no columns", at: entry.keyLocation,
                    hint: "write `- \(kind): column_name` or `- \(kind): { column: column_name, … }`")
            return nil
        }
        return Step(number: number, name: kind, kind: stepKind, columns: columns, policy: policy, location: entry.keyLocation)
    }

    /// Seconds east of UTC for a zone name or offset at a UTC instant; nil for an unknown zone.
    static func zoneOffset(_ zone: String) -> ((Int64) -> Int)? {
        if zone.uppercased() == "UTC" || zone == "Z" { return { _ in 0 } }
        let bytes = Array(zone.utf8)
        if let sign = bytes.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
            let digits = bytes.dropFirst().filter { $0 != UInt8(ascii: ":") }
            guard digits.count == 4, digits.allSatisfy({ $0 &- 48 < 10 }) else { return nil }
            let v = digits.map { Int($0 - 48) }
            let seconds = (v[0] * 10 + v[1]) * 3600 + (v[2] * 10 + v[3]) * 60
            let offset = sign == UInt8(ascii: "-") ? -seconds : seconds
            return { _ in offset }
        }
        guard let tz = TimeZone(identifier: zone) else { return nil }
        // The offset in force at a local time: look it up at the local time read as UTC, then correct once.
        return { localMicros in
            let local = Double(localMicros) / 1_000_000
            let guess = tz.secondsFromGMT(for: Date(timeIntervalSince1970: local))
            return tz.secondsFromGMT(for: Date(timeIntervalSince1970: local - Double(guess)))
        }
    }

    // MARK: - Schema

    /// Columns a step creates besides the ones it rewrites, with their types.
    func createdColumns(_ step: Step, columns: [String]) -> [(String, DataType?)] {
        switch step.kind {
        case .email(_, let canonical): return canonical.map { [($0, .string)] } ?? []
        case .phone(_, _, let ext): return [(ext ?? "\(columns.first ?? "phone")_ext", .string)]
        case .name(let outputs, _):
            return outputs.enumerated().compactMap { i, n in n.map { ($0, i == 5 ? DataType.boolean : .string) } }
        case .country(let output): return output.map { [($0, .string)] } ?? []
        case .company(let key): return [(key ?? "\(columns.first ?? "company")_key", .string)]
        case .money(let cc, _, _, _, _): return [(cc ?? "\(columns.first ?? "amount")_currency", .string)]
        case .derive(let exprs): return exprs.map { ($0.0, nil) }
        default: return []
        }
    }

    func rewrittenType(_ step: Step) -> DataType?? {
        switch step.kind {
        case .trim, .recase, .email, .phone, .region, .map: return .some(.string)
        case .country(let output): return output == nil ? .some(.string) : nil
        case .date(_, _, let ts, _): return .some(ts ? .timestamp : .date)
        case .money: return .some(.money)
        default: return nil
        }
    }

    public func outputSchema(_ inputs: [KnownSchema], _ check: SchemaCheck) -> KnownSchema {
        guard var schema = UnionStage.unionSchema(inputs, sourceColumn: inputs.count > 1 ? sourceColumn : nil) else { return nil }
        for step in steps {
            let named = step.columns.compactMap { s -> (String, SourceLocation?)? in if case .column(let n, let l) = s { return (n, l) }; return nil }
            check.checkColumns(named, in: schema, option: "the \(step.name) step")
            let present = named.map(\.0).filter { schema.index(of: $0) != nil }
            if let t = rewrittenType(step) { for n in present { schema.types[schema.index(of: n)!] = t } }
            if case .cast(let casts) = step.kind { for (n, t) in casts { if let i = schema.index(of: n) { schema.types[i] = t } } }
            switch step.kind {
            case .derive(let exprs):
                for (name, x) in exprs { schema = schema.setting(name, check.check(x, schema)) }
            case .validate(let exprs):
                for (_, x) in exprs {
                    if let t = check.check(x, schema), t != .boolean {
                        check.log.add(.expressionType, "validate rule must be true or false, but it gives \(t.rawValue)", at: x.location, length: x.text.count)
                    }
                }
            case .dedupe(let keep, let id):
                var extra: [(String, SourceLocation?)] = []
                if case .latest(let c) = keep { extra.append((c, step.location)) }
                if let id { extra.append((id, step.location)) }
                check.checkColumns(extra, in: schema, option: "the dedupe step")
            case .phone(_, let rc, _):
                if let rc { check.checkColumns([(rc, step.location)], in: schema, option: "the phone step's region_column") }
            case .region(let cc, _):
                if let cc { check.checkColumns([(cc, step.location)], in: schema, option: "the region step's country") }
            case .money(_, _, let from, _, let rates):
                if let from { check.checkColumns([(from, step.location)], in: schema, option: "the money step's currency_from") }
                if let rates, !FileManager.default.fileExists(atPath: rates.hasPrefix("/") ? rates : (check.baseDirectory as NSString).appendingPathComponent(rates)) {
                    check.log.add(.inputFileMissing, "rates file '\(rates)' of the money step does not exist", at: step.location,
                                  hint: "paths are relative to the directory crmflow runs in")
                }
            default: break
            }
            for (n, t) in createdColumns(step, columns: present) where !(step.name == "derive") { schema = schema.setting(n, t) }
        }
        return schema
    }

    public func inputColumns(forOutput needed: Set<String>?) -> [Set<String>?] {
        // Steps read and write many columns (and `all`); every input column is read.
        inputNames.map { _ in nil }
    }
}

extension ExprSchema {
    func setting(_ name: String, _ type: DataType?) -> ExprSchema {
        var s = self
        if let i = s.index(of: name) { s.types[i] = type } else {
            s.names.append(name)
            s.types.append(type)
        }
        return s
    }
}
