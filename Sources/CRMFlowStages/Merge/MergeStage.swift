import CRMFlowCore
import CRMFlowIO
import Foundation

/// `merge`: entity resolution. Candidate pairs from blocking rules, per-column comparison levels, a Fellegi–Sunter
/// model (u from random pairs, m by expectation–maximisation over the blocked pairs, term-frequency adjustment) or
/// deterministic rules, clusters with guards against chaining and households, and golden records by survivorship.
public struct MergeStage: Stage {
    public static let spec = StageSpec(
        kind: "merge",
        summary: "Entity resolution. `dedupe` (one input) turns records of the same customer into one golden record; `link` (two inputs: new records, then existing ones) gives each new record its best match. Candidate pairs share a key of any `blocking` rule (expressions, or `{ sort: <expression>, window: n }` for a sorted neighbourhood; pairs counted once; blocks above `max_block` are skipped and reported). Each `compare` entry gives a column comparison levels (presets name, text, email, phone, address, date, number, exact, or explicit `levels`). `model: fellegi_sunter` learns m by EM over the blocked pairs and u from random pairs, with term-frequency adjustment (`tf: true`) for common values; `model: rules` merges pairs meeting any rule (OR of ANDs of minimum levels). Pairs at or above `threshold` are merged, those between `possible` and `threshold` go to `<stage>.review.csv` (with links the cluster-wide must_agree check, the cap or a decision stopped); `must_agree` columns never merge two records whose values are present and unlike (households); clusters are capped at `max_cluster`. Golden values by `survivorship` rules; every record's cluster in `<stage>.lineage.csv`; `decisions` (id_a, id_b, verdict merge|apart) are honoured.",
        minInputs: 1, maxInputs: 2,
        options: [
            OptionSpec("input", .list, required: true, isInput: true, "dedupe: one input; link: [new records, existing records]."),
            OptionSpec("mode", .scalar, default: "dedupe", allowed: ["dedupe", "link"], "dedupe one input, or link the first input to the second."),
            OptionSpec("id", .scalar, required: true, "The record id column (unique within a source)."),
            OptionSpec("source", .scalar, "A column naming each record's source system (ids are `source:id`; used by source_priority)."),
            OptionSpec("blocking", .list, required: true, "Blocking rules: expressions whose value pairs records (keys compared case- and accent-folded and trimmed, so `lower()` adds nothing; null or empty: no key), or a sorted-neighbourhood rule `{ sort: <expression>, window: 5 }` pairing each record with the next window − 1 records in the order of that key."),
            OptionSpec("max_block", .scalar, default: "2000", "Blocks with more records than this are skipped (a shared default value), and reported."),
            OptionSpec("compare", .list, required: true, "`- { column: first_name, method: name, tf: true }` or `levels: [exact, \"jaro_winkler >= 0.9\"]`; `swap_with: last_name` adds a swapped level."),
            OptionSpec("model", .scalar, default: "fellegi_sunter", allowed: ["fellegi_sunter", "rules"], "Probabilistic or deterministic matching."),
            OptionSpec("rules", .list, "model: rules — `- { email: exact }` or `- { first_name: nickname, last_name: exact }`: a pair matches when, for some rule, every named column is at that level or better."),
            OptionSpec("threshold", .scalar, default: "0.95", "Match probability at or above which two records are merged."),
            OptionSpec("possible", .scalar, default: "0.5", "Lower bound of the review band."),
            OptionSpec("must_agree", .list, "Columns whose values, when both present, must be alike (not at the last level) for a merge."),
            OptionSpec("max_cluster", .scalar, default: "25", "Largest cluster; weaker links that would exceed it are not followed (reported)."),
            OptionSpec("survivorship", .mapping, "column: rule — first_non_null, most_frequent, most_complete, longest, source_priority, most_recent(column); `default:` for the rest."),
            OptionSpec("source_priority", .list, "Source names, most trusted first."),
            OptionSpec("provenance", .scalar, default: "false", "Add `<column>_from` columns naming the record each golden value came from."),
            OptionSpec("decisions", .scalar, "Human verdicts: a CSV of id_a, id_b, verdict (merge or apart), or `state`: the verdicts recorded with `crmflow decide` in the pipeline's state database (out/<pipeline>/crmflow.db, table merge_decisions)."),
            OptionSpec("seed", .scalar, default: "42", "Seed for the random pairs that estimate u."),
            OptionSpec("truth", .scalar, "A column of known answers (the same value: the same customer), read only after clustering to measure the merge: pairwise precision, recall and F1 in the notes, and `<stage>.misses.csv` listing every true pair left apart (the blocking rules that paired it, its levels and score, why it was not merged) and every accepted link between different answers."),
        ],
        example: """
        customers:
          merge:
            input: contacts
            id: contact_id
            source: source
            blocking: [email, phone, "soundex(last_name) || postal_code"]
            compare:
              - { column: first_name, method: name, swap_with: last_name }
              - { column: last_name, method: name, tf: true }
              - { column: email, method: email }
              - { column: phone, method: phone }
              - { column: postal_code, method: exact }
            must_agree: [first_name]
            source_priority: [salesforce, hubspot, legacy]
            survivorship: { default: source_priority, email: most_recent(updated_at) }
        """)

    /// One comparison level test.
    enum Test: Sendable, Equatable {
        case exact, nickname, swapped, soundex, nysiis, doubleMetaphone, initials, localPart, monthDaySwapped, yearDiffers
        case jaroWinkler(Double), levenshtein(Int), damerau(Int), tokenSet(Double), tokenSort(Double), qgram(Double)
        case first(Int), last(Int), within(Double), withinPercent(Double)

        /// Parses `exact`, `jaro_winkler >= 0.9`, `levenshtein <= 2`, `first 3`, `within 30`, ….
        static func parse(_ text: String) -> Test? {
            let parts = text.lowercased().split(whereSeparator: { $0 == " " }).map(String.init).filter { !$0.isEmpty }
            guard let head = parts.first else { return nil }
            let number = parts.last.flatMap(Double.init)
            func op(_ expected: String) -> Bool { parts.count == 3 && parts[1] == expected && number != nil }
            switch head {
            case "exact" where parts.count == 1: return .exact
            case "nickname" where parts.count == 1: return .nickname
            case "swapped" where parts.count == 1: return .swapped
            case "soundex" where parts.count == 1: return .soundex
            case "nysiis" where parts.count == 1: return .nysiis
            case "double_metaphone" where parts.count == 1: return .doubleMetaphone
            case "initials" where parts.count == 1: return .initials
            case "local_part" where parts.count == 1: return .localPart
            case "month_day_swapped" where parts.count == 1: return .monthDaySwapped
            case "year_differs" where parts.count == 1: return .yearDiffers
            case "jaro_winkler" where op(">="): return .jaroWinkler(number!)
            case "levenshtein" where op("<="): return .levenshtein(Int(number!))
            case "damerau_levenshtein" where op("<="): return .damerau(Int(number!))
            case "token_set_ratio" where op(">="): return .tokenSet(number!)
            case "token_sort_ratio" where op(">="): return .tokenSort(number!)
            case "qgram_jaccard" where op(">="): return .qgram(number!)
            case "first" where parts.count == 2 && number != nil: return .first(Int(number!))
            case "last" where parts.count == 2 && number != nil: return .last(Int(number!))
            case "within" where parts.count == 2 && number != nil: return .within(number!)
            case "within_percent" where parts.count == 2 && number != nil: return .withinPercent(number!)
            default: return nil
            }
        }

        var isNumeric: Bool { if case .within = self { return true }; if case .withinPercent = self { return true }; return false }
    }

    /// One compared column (a class: the pair loops pass a reference, not a copy of its arrays).
    final class Comparison: Sendable {
        let column: String
        let method: String
        let levels: [Test]
        let names: [String]
        let tf: Bool
        let swapWith: String?
        /// Name of the level a comparison falls to when none matches.
        static let otherwise = "different"

        init(column: String, method: String, levels: [Test], names: [String], tf: Bool, swapWith: String?) {
            (self.column, self.method, self.levels, self.names, self.tf, self.swapWith) = (column, method, levels, names, tf, swapWith)
        }
    }

    static let presets: [String: [String]] = [
        "name": ["exact", "nickname", "initials", "jaro_winkler >= 0.92", "jaro_winkler >= 0.8"],
        "text": ["exact", "damerau_levenshtein <= 1", "jaro_winkler >= 0.88"],
        "email": ["exact", "local_part", "damerau_levenshtein <= 2"],
        "phone": ["exact", "last 7"],
        "address": ["exact", "token_set_ratio >= 0.9", "token_set_ratio >= 0.7"],
        "date": ["exact", "damerau_levenshtein <= 1", "month_day_swapped", "year_differs", "within 365"],
        "number": ["exact", "within_percent 5"],
        "exact": ["exact"],
    ]

    static let survivorshipRules = ["first_non_null", "most_frequent", "most_complete", "longest", "source_priority"]

    let mode: String
    let idColumn: String
    let sourceColumn: String?
    let blocking: [ExprText]
    /// Per blocking rule: the sorted-neighbourhood window (0: records sharing the key form a block).
    let windows: [Int]
    let maxBlock: Int
    let comparisons: [Comparison]
    let model: String
    /// For `model: rules`: each rule maps a comparison index to the worst acceptable level index.
    let rules: [[Int: Int]]
    let threshold: Double
    let possible: Double
    let mustAgree: [Int]
    let maxCluster: Int
    let survivorship: [String: String]
    let defaultRule: String
    let sourcePriority: [String]
    let provenance: Bool
    let decisions: String?
    let seed: UInt64
    let truth: String?
    let location: SourceLocation

    public init?(_ config: StageConfig) {
        location = config.location
        var ok = true
        mode = config.choice("mode") ?? "dedupe"
        idColumn = config.string("id") ?? ""
        sourceColumn = config.string("source")
        var blocking: [ExprText] = [], windows: [Int] = []
        for item in config.node("blocking")?.items ?? [] {
            if let entries = item.entries {
                // Sorted neighbourhood: { sort: <expression>, window: <n> }.
                let sort = entries.first { $0.key == "sort" }, window = entries.first { $0.key == "window" }
                for e in entries where e.key != "sort" && e.key != "window" {
                    config.log.add(.unknownOption, "a sorted-neighbourhood rule takes sort: and window:, not '\(e.key)'", at: e.keyLocation, length: e.key.count)
                    ok = false
                }
                guard let sort, let window else {
                    config.log.add(.optionShape, "a blocking rule is an expression or { sort: <expression>, window: <n> }", at: item.location)
                    ok = false
                    continue
                }
                guard let w = window.value.scalar.flatMap({ Int($0) }), w >= 2 else {
                    config.log.add(.invalidValue, "window must be a whole number of at least 2, got '\(window.value.scalar ?? "")'", at: window.value.location)
                    ok = false
                    continue
                }
                if let e = config.expression(sort.value, option: "blocking") { blocking.append(e); windows.append(w) } else { ok = false }
            } else if let e = config.expression(item, option: "blocking") {
                blocking.append(e)
                windows.append(0)
            } else { ok = false }
        }
        self.blocking = blocking
        self.windows = windows
        maxBlock = config.int("max_block", min: 2) ?? 2000
        model = config.choice("model") ?? "fellegi_sunter"
        var comparisons: [Comparison] = []
        for item in config.node("compare")?.items ?? [] {
            guard let entries = item.entries, let column = entries.first(where: { $0.key == "column" })?.value.scalar else {
                config.log.add(.optionShape, "each comparison is `{ column: <name>, method: <preset> }` or `{ column: <name>, levels: [...] }`", at: item.location)
                ok = false
                continue
            }
            let method = entries.first { $0.key == "method" }?.value.scalar ?? "text"
            var levelTexts: [String]
            if let levels = entries.first(where: { $0.key == "levels" })?.value.items {
                levelTexts = levels.compactMap(\.scalar)
            } else if let preset = Self.presets[method] {
                levelTexts = preset
            } else {
                config.log.add(.invalidValue, "unknown comparison method '\(method)'", at: item.location,
                               hint: "use one of: " + Self.presets.keys.sorted().joined(separator: ", ") + ", or give levels:")
                ok = false
                continue
            }
            let swapWith = entries.first { $0.key == "swap_with" }?.value.scalar
            if swapWith != nil, !levelTexts.contains("swapped") { levelTexts.insert("swapped", at: min(1, levelTexts.count)) }
            var tests: [Test] = []
            for t in levelTexts {
                guard let test = Test.parse(t) else {
                    config.log.add(.invalidValue, "unknown comparison level '\(t)' for column '\(column)'", at: item.location,
                                   hint: "levels: exact, nickname, swapped, soundex, nysiis, double_metaphone, initials, local_part, month_day_swapped, year_differs, jaro_winkler >= x, levenshtein <= n, damerau_levenshtein <= n, token_set_ratio >= x, token_sort_ratio >= x, qgram_jaccard >= x, first n, last n, within x, within_percent x")
                    ok = false
                    continue
                }
                if test == .swapped, swapWith == nil {
                    config.log.add(.missingOption, "level 'swapped' needs swap_with: the column to swap with", at: item.location)
                    ok = false
                }
                tests.append(test)
            }
            let tf = entries.first { $0.key == "tf" }?.value.scalar.map { $0 == "true" || $0 == "yes" } ?? false
            comparisons.append(Comparison(column: column, method: method, levels: tests, names: levelTexts, tf: tf, swapWith: swapWith))
        }
        if comparisons.count > 8 {
            config.log.add(.invalidValue, "at most 8 comparisons, got \(comparisons.count)", at: config.node("compare")?.location)
            ok = false
        }
        self.comparisons = comparisons
        var rules: [[Int: Int]] = []
        for item in config.node("rules")?.items ?? [] {
            var rule: [Int: Int] = [:]
            for e in item.entries ?? [] {
                guard let k = comparisons.firstIndex(where: { $0.column == e.key }) else {
                    config.log.add(.unknownColumn, "rule names '\(e.key)', which is not a compared column", at: e.keyLocation, length: e.key.count)
                    ok = false
                    continue
                }
                guard let levelName = e.value.scalar, let l = comparisons[k].names.firstIndex(of: levelName) else {
                    config.log.add(.invalidValue, "'\(e.value.scalar ?? "")' is not a level of '\(e.key)'", at: e.value.location,
                                   hint: "levels: " + comparisons[k].names.joined(separator: ", "))
                    ok = false
                    continue
                }
                rule[k] = l
            }
            if !rule.isEmpty { rules.append(rule) }
        }
        self.rules = rules
        if model == "rules", rules.isEmpty {
            config.log.add(.missingOption, "model: rules needs rules:", at: config.node("model")?.location)
            ok = false
        }
        func probability(_ name: String, _ fallback: Double) -> Double {
            guard let s = config.string(name) else { return fallback }
            guard let v = Double(s), v > 0, v < 1 else {
                config.log.add(.invalidValue, "\(name) must be a probability between 0 and 1, got '\(s)'", at: config.node(name)?.textLocation)
                ok = false
                return fallback
            }
            return v
        }
        threshold = probability("threshold", 0.95)
        possible = min(probability("possible", 0.5), threshold)
        var mustAgree: [Int] = []
        for name in config.strings("must_agree") ?? [] {
            if let k = comparisons.firstIndex(where: { $0.column == name }) { mustAgree.append(k) } else {
                config.log.add(.unknownColumn, "must_agree names '\(name)', which is not a compared column", at: config.node("must_agree")?.location)
                ok = false
            }
        }
        self.mustAgree = mustAgree
        maxCluster = config.int("max_cluster", min: 2) ?? 25
        var survivorship: [String: String] = [:]
        var defaultRule: String? = nil
        for e in config.mapping("survivorship") ?? [] {
            guard let rule = e.value.scalar, Self.survivorshipRules.contains(rule) || Self.recentColumn(rule) != nil else {
                config.log.add(.invalidValue, "unknown survivorship rule '\(e.value.scalar ?? "")'", at: e.value.location,
                               hint: "use " + Self.survivorshipRules.joined(separator: ", ") + " or most_recent(<column>)")
                ok = false
                continue
            }
            if e.key == "default" { defaultRule = rule } else { survivorship[e.key] = rule }
        }
        sourcePriority = config.strings("source_priority") ?? []
        self.survivorship = survivorship
        self.defaultRule = defaultRule ?? (sourcePriority.isEmpty ? "most_frequent" : "source_priority")
        if (self.defaultRule == "source_priority" || survivorship.values.contains("source_priority")), sourceColumn == nil {
            config.log.add(.missingOption, "source_priority needs source: the column naming each record's source", at: config.node("survivorship")?.location ?? location)
            ok = false
        }
        provenance = config.bool("provenance") ?? false
        decisions = config.string("decisions")
        seed = UInt64(config.int("seed", min: 0) ?? 42)
        truth = config.string("truth")
        if mode == "link", config.node("input")?.items?.count != 2 {
            config.log.add(.optionShape, "mode: link needs two inputs: [new records, existing records]", at: config.node("input")?.location)
            ok = false
        }
        if mode == "dedupe", (config.node("input")?.items?.count ?? 1) > 1 {
            config.log.add(.optionShape, "mode: dedupe takes one input (union the sources first)", at: config.node("input")?.location)
            ok = false
        }
        if !ok { return nil }
    }

    static func recentColumn(_ rule: String) -> String? {
        guard rule.hasPrefix("most_recent("), rule.hasSuffix(")") else { return nil }
        let inner = rule.dropFirst("most_recent(".count).dropLast()
        return inner.isEmpty ? nil : String(inner)
    }

    public func outputSchema(_ inputs: [KnownSchema], _ check: SchemaCheck) -> KnownSchema {
        guard let schema = inputs.first ?? nil else { return nil }
        var columns = [(idColumn, location)] + comparisons.map { ($0.column, location) }
        if let s = sourceColumn { columns.append((s, location)) }
        for c in comparisons { if let w = c.swapWith { columns.append((w, location)) } }
        for rule in survivorship.values { if let c = Self.recentColumn(rule) { columns.append((c, location)) } }
        if let truth { columns.append((truth, location)) }
        check.checkColumns(columns, in: schema, option: "merge")
        for b in blocking { check.check(b, schema) }
        if mode == "link" {
            return ExprSchema(names: schema.names + ["match_id", "match_probability"], types: schema.types + [.string, .double])
        }
        var names = ["cluster_id", "records"] + (sourceColumn != nil ? ["sources"] : []) + schema.names
        var types: [DataType?] = [.string, .integer] + (sourceColumn != nil ? [.string] : []) + schema.types
        if provenance {
            names += schema.names.map { "\($0)_from" }
            types += schema.names.map { _ in DataType.string }
        }
        return ExprSchema(names: names, types: types)
    }

    public func run(_ inputs: [StageData], _ context: RunContext) throws(StageFailure) -> StageResult {
        try MergeRun(stage: self, inputs: inputs, context: context).run()
    }
}
