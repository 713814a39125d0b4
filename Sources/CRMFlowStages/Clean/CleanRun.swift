import CRMFlowCore
import CRMFlowIO
import Foundation

/// Running a `clean` stage: each step in order over the whole table; rows a step rejects leave before the next step.
extension CleanStage {
    /// What one step did.
    struct StepOutcome {
        var table: Table
        /// Rows to reject: row → (code, reason).
        var invalid: [Int: (String, String)] = [:]
        /// Rows removed as duplicates: row → the row it duplicates.
        var duplicates: [Int: Int] = [:]
        var changes: [CleanChange] = []
    }

    public func run(_ inputs: [StageData], _ context: RunContext) throws(StageFailure) -> StageResult {
        try runTracking(inputs, context, writeLineage: true).result
    }

    /// The run, and which input row each output row is; with `writeLineage` false, the dedupe lineage is returned
    /// instead of written.
    func runTracking(_ inputs: [StageData], _ context: RunContext, writeLineage: Bool) throws(StageFailure) -> (result: StageResult, kept: [Int], lineage: Table?) {
        var notes: [String] = []
        var data: StageData
        if inputs.count == 1 {
            data = inputs[0]
        } else {
            (data, notes) = try UnionStage.stack(inputs, names: inputNames, sourceColumn: sourceColumn, stageID: context.stageID)
        }
        let original = data
        let rowsIn = data.table.rowCount
        var rowMap = Array(0..<rowsIn)
        var rejects: [Reject] = []
        var changes: [CleanChange] = []
        var lineage: [(duplicate: Int, kept: Int, keys: String)] = []
        var deduplicated = 0
        var hasDedupe = false
        // Rows a step rejects or removes are marked dead and skipped by the steps that follow; they leave the table
        // in one gather, before a step that evaluates expressions (which would otherwise see them) or at the end.
        var dead: [Bool]? = nil
        func removeDead() {
            guard let d = dead else { return }
            let keep = (0..<data.table.rowCount).filter { !d[$0] }
            data = data.selecting(keep, threads: context.threads)
            rowMap = keep.map { rowMap[$0] }
            dead = nil
            Trace.mark("clean: removed rows")
        }
        for step in steps {
            try context.checkCancelled()
            if case .dedupe = step.kind { hasDedupe = true }
            if !step.skipsDeadRows { removeDead() }
            Trace.mark("clean: before step \(step.number) \(step.name)")
            let outcome = try apply(step, to: data.table, dead: dead, context)
            Trace.mark("clean: step \(step.number) \(step.name)")
            data.table = outcome.table
            changes.append(contentsOf: outcome.changes)
            guard !outcome.invalid.isEmpty || !outcome.duplicates.isEmpty else { continue }
            for row in outcome.invalid.keys.sorted() {
                let (code, reason) = outcome.invalid[row]!
                rejects.append(original.reject(row: rowMap[row], stage: context.stageID, code: code, reason: reason))
            }
            let keyText = step.columns.map { s -> String in if case .column(let n, _) = s { return n }; return "all columns" }.joined(separator: ", ")
            for (dup, kept) in outcome.duplicates.sorted(by: { $0.key < $1.key }) { lineage.append((rowMap[dup], rowMap[kept], keyText)) }
            deduplicated += outcome.duplicates.count
            var d = dead ?? [Bool](repeating: false, count: data.table.rowCount)
            for r in outcome.invalid.keys { d[r] = true }
            for r in outcome.duplicates.keys { d[r] = true }
            dead = d
        }
        removeDead()
        context.progress(rowsIn)
        var outputs: [String] = []
        let lineageTable = hasDedupe ? self.lineageTable(lineage, original: original) : nil
        if let lineageTable, writeLineage {
            outputs.append(try writeSideTable(lineageTable, suffix: "lineage", context))
        }
        let accounting = Accounting(rowsIn: rowsIn, rowsOut: data.table.rowCount, rejected: rejects.count, removed: ["deduplicated": deduplicated])
        return (StageResult(data: data, rejects: rejects, accounting: accounting, notes: notes, outputs: outputs, changes: changes), rowMap,
                writeLineage ? nil : lineageTable)
    }

    /// `<out>/<stage>.lineage.csv`: every row removed as a duplicate, with the row it duplicates.
    func lineageTable(_ rows: [(duplicate: Int, kept: Int, keys: String)], original: StageData) -> Table {
        let idColumn: String? = steps.lazy.compactMap { s -> String? in if case .dedupe(_, let id) = s.kind { return id }; return nil }.first
        func describe(_ row: Int) -> (String, Int, Value) {
            let (source, line) = original.origins?.describe(row) ?? ("", row + 1)
            let id = idColumn.flatMap { original.table.column(named: $0)?.value(at: row) } ?? .null
            return (source, line, id)
        }
        let names = ["source", "line", "id", "duplicate_of_source", "duplicate_of_line", "duplicate_of_id", "reason"]
        let types: [DataType] = [.string, .integer, .string, .string, .integer, .string, .string]
        let table = Table(names: names, types: types, rows: rows.map { r in
            let (s, l, id) = describe(r.duplicate), (ks, kl, kid) = describe(r.kept)
            return [.string(s), .integer(Int64(l)), id.isNull ? .null : .string(id.description), .string(ks), .integer(Int64(kl)),
                    kid.isNull ? .null : .string(kid.description), .string("exact duplicate on \(r.keys)")]
        })
        return table
    }

    // MARK: - Columns

    func resolve(_ selectors: [Selector], in table: Table, textOnly: Bool, step: Step) throws(StageFailure) -> [Int] {
        var out: [Int] = []
        for s in selectors {
            switch s {
            case .all:
                out += table.schema.fields.indices.filter { !textOnly || table.schema.fields[$0].type == .string }
            case .type(let t):
                out += table.schema.fields.indices.filter { table.schema.fields[$0].type == t }
            case .column(let name, let loc):
                guard let i = table.schema.index(of: name) else {
                    let near = Suggest.nearest(name, among: table.schema.names)
                    throw StageFailure("\(loc.map { "\($0): " } ?? "")the \(step.name) step names column '\(name)', which the input does not have",
                                       hint: near.map { "did you mean '\($0)'?" } ?? "columns: " + table.schema.names.joined(separator: ", "),
                                       status: .badPipeline)
                }
                out.append(i)
            }
        }
        var seen = Set<Int>()
        return out.filter { seen.insert($0).inserted }
    }

    func column(_ name: String, _ table: Table, step: Step) throws(StageFailure) -> Column {
        try requireColumn(name, in: table, for: "the \(step.name) step's", at: step.location)
    }

    static func text(_ p: UnsafeBufferPointer<UInt8>) -> String { String(decoding: p, as: UTF8.self) }

    // MARK: - Steps

    func apply(_ step: Step, to table: Table, dead: [Bool]?, _ context: RunContext) throws(StageFailure) -> StepOutcome {
        var policy = step.policy ?? onInvalid
        // `unmapped: reject` says what happens to those values, whatever the stage's on_invalid.
        if case .map(_, _, "reject") = step.kind, step.policy == nil { policy = .reject }
        var outcome = StepOutcome(table: table)
        let threads = context.threads
        let mask: (@Sendable (String) -> String)?
        switch step.kind {
        case .email: mask = context.maskPII ? PIIMask.email : nil
        case .phone: mask = context.maskPII ? PIIMask.phone : nil
        case .name: mask = context.maskPII ? PIIMask.generic : nil
        default: mask = nil
        }
        /// Maps each selected text column with a cell transform; `extras` names the extra columns it fills.
        func mapColumns(textOnly: Bool = true, code: String, extras: (String) -> [String] = { _ in [] },
                        extraTypes: [DataType] = [],
                        body: @escaping (String) -> @Sendable () -> (Int, UnsafeBufferPointer<UInt8>, inout CellWriter) -> CellStatus) throws(StageFailure) {
            for c in try resolve(step.columns, in: outcome.table, textOnly: textOnly, step: step) {
                let name = outcome.table.schema.fields[c].name
                let extraNames = extras(name)
                let result = TextMapper.map(outcome.table.columns[c], extras: extraNames.count, threads: threads, policy: policy, dead: dead,
                                            change: CleanChange(step: step.number, kind: step.name, column: name), mask: mask,
                                            makeBody: body(name))
                outcome.table = outcome.table.setting(name, result.main)
                for (k, extraName) in extraNames.enumerated() {
                    var column = result.extras[k]
                    if k < extraTypes.count, extraTypes[k] == .boolean { column = Self.booleanColumn(column) }
                    outcome.table = outcome.table.setting(extraName, column)
                }
                for (row, reason) in result.invalid where outcome.invalid[row] == nil { outcome.invalid[row] = (code, reason) }
                outcome.changes.append(result.change)
            }
        }

        switch step.kind {
        case .trim(let collapse):
            try mapColumns(code: "E_TRIM") { _ in {
                { _, cell, w in
                    guard TextCleaning.trim(cell, collapse: collapse, into: &w.main) else { return .unchanged }
                    return w.main.isEmpty ? .null : .changed
                }
            } }

        case .recase(let to):
            try mapColumns(code: "E_CASE") { _ in {
                { _, cell, w in
                    switch to {
                    case "lower": return TextCleaning.changeCase(cell, upper: false, into: &w.main) ? .changed : .unchanged
                    case "upper": return TextCleaning.changeCase(cell, upper: true, into: &w.main) ? .changed : .unchanged
                    default:
                        let s = Self.text(cell)
                        let t = TextCleaning.titleCaseName(s)
                        if t == s { return .unchanged }
                        w.setMain(t)
                        return .changed
                    }
                }
            } }

        case .email(let typos, let canonical):
            let normaliser = EmailNormaliser(typos: typos)
            try mapColumns(code: "E_EMAIL", extras: { _ in canonical.map { [$0] } ?? [] }) { name in {
                { _, cell, w in
                    if let why = normaliser.normalise(cell, into: &w.main) {
                        return .invalid("\(name): '\(Self.text(cell))' is not a valid e-mail address: \(why)")
                    }
                    if canonical != nil {
                        w.main.withUnsafeBufferPointer { EmailNormaliser.canonicalKey($0, into: &w.extra[0]) }
                        w.extraSet[0] = true
                    }
                    return w.main.elementsEqual(cell) ? .unchanged : .changed
                }
            } }

        case .phone(let defaultRegion, let regionColumn, let extensionColumn):
            // Each distinct region is resolved to a numbering plan once.
            let regionPlans = try regionColumn.map { name throws(StageFailure) in
                Self.resolvedDistinct(try column(name, outcome.table, step: step)) { Countries.code($0).flatMap(PhoneNumbers.plan(region:)) }
            }
            // An extension already split off (by an earlier run) is kept when the number no longer carries one.
            var existingExtensions: [String: Column] = [:]
            for c in try resolve(step.columns, in: outcome.table, textOnly: true, step: step) {
                let name = outcome.table.schema.fields[c].name
                if let e = outcome.table.column(named: extensionColumn ?? "\(name)_ext") { existingExtensions[name] = e.converted(to: .string) }
            }
            let extensionsBefore = existingExtensions
            try mapColumns(code: "E_PHONE", extras: { [extensionColumn ?? "\($0)_ext"] }) { name in {
                let existing = extensionsBefore[name]
                let home = defaultRegion.flatMap(PhoneNumbers.plan(region:))
                return { row, cell, w in
                    var region: String? = nil
                    var plan = home
                    if let regionPlans, let code = regionPlans.codes?[row], code >= 0 { plan = regionPlans.values[Int(code)] ?? home }
                    w.scratch.removeAll(keepingCapacity: true)
                    let problem: String?
                    if Scalars.isASCII(cell) {
                        problem = PhoneNumbers.parse(cell, home: plan, into: &w.main, extension: &w.scratch, region: &region)
                    } else {
                        switch PhoneNumbers.parse(Self.text(cell), defaultRegion: plan?.region) {
                        case .valid(let p):
                            w.main.append(contentsOf: p.e164.utf8)
                            if let e = p.extension { w.scratch.append(contentsOf: e.utf8) }
                            problem = nil
                        case .invalid(let why):
                            problem = why
                        }
                    }
                    if let problem {
                        return .invalid("\(name): '\(Self.text(cell))' is not a valid phone number: \(problem.replacingOccurrences(of: "{raw}", with: Self.text(cell)))")
                    }
                    if !w.scratch.isEmpty {
                        w.extra[0].append(contentsOf: w.scratch)
                        w.extraSet[0] = true
                    } else if let existing, !existing.isNull(row) {
                        w.setExtra(0, existing.value(at: row).description)
                    }
                    return w.main.elementsEqual(cell) ? .unchanged : .changed
                }
            } }

        case .name(let outputs, let recase):
            let named = outputs.enumerated().compactMap { i, n in n.map { (i, $0) } }
            try mapColumns(code: "E_NAME", extras: { _ in named.map(\.1) }, extraTypes: named.map { $0.0 == 5 ? .boolean : .string }) { _ in {
                return { _, cell, w in
                    PersonNames.split(cell, recase: recase, into: &w.names)
                    for (k, (i, _)) in named.enumerated() {
                        if i == 5 {
                            w.setExtra(k, w.names.isCompany ? "true" : "false")
                        } else if w.names.present[i] {
                            w.extra[k].append(contentsOf: w.names.parts[i])
                            w.extraSet[k] = true
                        }
                    }
                    w.main.append(contentsOf: cell)
                    if w.wantsSample { w.sample = w.names.isCompany ? "(company)" : (0..<3).map { w.names.string($0) ?? "–" }.joined(separator: " | ") }
                    return .changed
                }
            } }
            if let last = outcome.changes.indices.last {
                let flags = outputs[5].flatMap { outcome.table.column(named: $0) }
                if let flags, case .boolean(let b) = flags.storage {
                    let n = b.indices.filter { b[$0] && !flags.isNull($0) && dead?[$0] != true }.count
                    if n > 0 { outcome.changes[last].notes.append("\(n) values look like company names and were not split (flagged in \(outputs[5]!))") }
                }
            }

        case .date(let format, let order, let timestamp, let timezone):
            try applyDates(step, &outcome, format: format, order: order, timestamp: timestamp, timezone: timezone, policy: policy, dead: dead)

        case .country(let output):
            // Each distinct value is looked up once.
            var resolved: [String: Distinct<String>] = [:]
            for c in try resolve(step.columns, in: outcome.table, textOnly: true, step: step) {
                resolved[outcome.table.schema.fields[c].name] = Self.resolvedDistinct(outcome.table.columns[c]) { Countries.code($0) }
            }
            let lookups = resolved
            try mapColumns(code: "E_COUNTRY", extras: { _ in output.map { [$0] } ?? [] }) { name in {
                let lookup = lookups[name]
                return { row, cell, w in
                    let code = lookup?.codes.map { $0[row] >= 0 ? lookup!.values[Int($0[row])] : nil } ?? Countries.code(Self.text(cell))
                    guard let code else { return .invalid("\(name): '\(Self.text(cell))' is not a country crmflow knows") }
                    if output != nil { w.setExtra(0, code); return .unchanged }
                    if cell.elementsEqual(code.utf8) { return .unchanged }
                    w.setMain(code)
                    return .changed
                }
            } }

        case .region(let countryColumn, let defaultCountry):
            let countries = try countryColumn.map { name throws(StageFailure) in try column(name, outcome.table, step: step).converted(to: .string) }
            try mapColumns(code: "E_REGION") { name in {
                var cache: [String: String?] = [:]
                return { row, cell, w in
                    let s = Self.text(cell)
                    var country = defaultCountry.flatMap(Countries.code)
                    if let countries, !countries.isNull(row), case .string(let b) = countries.storage {
                        country = Countries.code(b.string(row)) ?? country
                    }
                    let key = (country ?? "") + "|" + s
                    let resolved = cache[key] ?? Countries.subdivision(s, country: country)
                    cache[key] = .some(resolved)
                    guard let code = resolved else {
                        return .invalid("\(name): '\(s)' is not a state, province or territory crmflow knows\(country.map { " in \($0)" } ?? "")")
                    }
                    if code == s { return .unchanged }
                    w.setMain(code)
                    return .changed
                }
            } }

        case .company(let key):
            try mapColumns(code: "E_COMPANY", extras: { [key ?? "\($0)_key"] }) { _ in {
                { _, cell, w in
                    w.setExtra(0, CompanyNames.matchingKey(Self.text(cell)))
                    return .unchanged
                }
            } }
            for k in outcome.changes.indices {
                let name = outcome.changes[k].column
                let keyName = key ?? "\(name)_key"
                guard let names = outcome.table.column(named: name), let keys = outcome.table.column(named: keyName) else { continue }
                let live = (0..<names.count).filter { dead?[$0] != true }
                let distinctNames = Set(live.compactMap { names.isNull($0) ? nil : names.value(at: $0).description }).count
                let distinctKeys = Set(live.compactMap { keys.isNull($0) ? nil : keys.value(at: $0).description }).count
                outcome.changes[k].changed = 0
                outcome.changes[k].notes.append("\(distinctNames) distinct names give \(distinctKeys) distinct keys in \(keyName)")
            }

        case .money(let currencyColumn, let defaultCurrency, let currencyFrom, let target, let ratesPath):
            try applyMoney(step, &outcome, currencyColumn: currencyColumn, defaultCurrency: defaultCurrency, currencyFrom: currencyFrom,
                           target: target, ratesPath: ratesPath, policy: policy, dead: dead, context: context)

        case .map(let values, let ignoreCase, let unmapped):
            try mapColumns(code: "E_MAP") { name in {
                { _, cell, w in
                    let s = Self.text(cell)
                    let key = ignoreCase ? Countries.lookupKey(s) : s
                    if let hit = values[key] {
                        guard let to = hit else { return .null }
                        if to == s { return .unchanged }
                        w.setMain(to)
                        return .changed
                    }
                    switch unmapped {
                    case "null": return .null
                    case "reject": return .invalid("\(name): '\(s)' is not one of the mapped values")
                    default: return .unchanged
                    }
                }
            } }

        case .fill(let pairs):
            for (name, literal) in pairs {
                let c = try column(name, outcome.table, step: step)
                guard let value = Self.literal(literal, as: c.type) else {
                    throw StageFailure("\(step.location): default for '\(name)': '\(literal)' is not a \(c.type.rawValue)", status: .badPipeline)
                }
                var change = CleanChange(step: step.number, kind: step.name, column: name)
                var b = ColumnBuilder(c.type, capacity: c.count)
                for row in 0..<c.count {
                    let v = c.value(at: row)
                    change.examined += 1
                    if v.isNull || v == .string("") {
                        b.append(value)
                        change.changed += 1
                    } else {
                        b.append(v)
                    }
                }
                if change.changed > 0 { change.samples = [.init(before: "(empty)", after: value.description)] }
                outcome.table = outcome.table.setting(name, b.finish())
                outcome.changes.append(change)
            }

        case .cast(let casts):
            for (name, type) in casts {
                _ = try column(name, outcome.table, step: step)
                let expr = ExprText(text: "cast(\"\(name)\" as \(type.rawValue))", node: try Self.parse("cast(\"\(name.replacingOccurrences(of: "\"", with: "\"\""))\" as \(type.rawValue))"),
                                    location: step.location)
                try evaluate(expr, as: name, step: step, code: "E_CAST", policy: policy, &outcome, context)
            }

        case .derive(let exprs):
            for (name, expr) in exprs { try evaluate(expr, as: name, step: step, code: "E_EXPRESSION", policy: .reject, &outcome, context) }

        case .require:
            for c in try resolve(step.columns, in: outcome.table, textOnly: false, step: step) {
                let name = outcome.table.schema.fields[c].name
                let col = outcome.table.columns[c]
                var change = CleanChange(step: step.number, kind: step.name, column: name)
                for row in 0..<col.count {
                    change.examined += 1
                    var empty = col.isNull(row)
                    if !empty, case .string(let b) = col.storage { empty = b.withBytes(row) { Scalars.trimmedWhitespace($0).isEmpty } }
                    if empty, outcome.invalid[row] == nil {
                        outcome.invalid[row] = ("E_REQUIRED", "\(name) is required but empty")
                        change.rejected += 1
                    }
                }
                outcome.changes.append(change)
            }

        case .validate(let rules):
            for (name, expr) in rules {
                let compiled = try compile(expr, outcome.table, option: "validate rule '\(name)'", stage: context.stageID)
                guard compiled.type == .boolean else {
                    throw StageFailure("\(expr.location): validate rule '\(name)' must be true or false, but it gives \(compiled.type.rawValue)", status: .badPipeline)
                }
                let result = compiled.evaluate(outcome.table, env: context.environment)
                var change = CleanChange(step: step.number, kind: step.name, column: name)
                for (row, message) in result.errors.map({ ($0.row, $0.message) }) where outcome.invalid[row] == nil {
                    outcome.invalid[row] = ("E_RULE", "rule '\(name)' could not be checked: \(message)")
                    change.rejected += 1
                }
                guard case .boolean(let values) = result.column.storage else { continue }
                for row in 0..<values.count {
                    change.examined += 1
                    if (result.column.isNull(row) || !values[row]), outcome.invalid[row] == nil {
                        outcome.invalid[row] = ("E_RULE", "rule '\(name)' failed: \(expr.text)")
                        change.rejected += 1
                    }
                }
                outcome.changes.append(change)
            }

        case .dedupe(let keep, _):
            try applyDedupe(step, &outcome, keep: keep, dead: dead, context: context)
        }
        return outcome
    }

    /// A column's distinct values, each resolved once: `values[codes[row]]` (codes nil when the column is not text).
    struct Distinct<T: Sendable>: Sendable {
        var codes: [Int32]?
        var values: [T?]
    }

    static func resolvedDistinct<T: Sendable>(_ column: Column, _ resolve: (String) -> T?) -> Distinct<T> {
        let text = column.type == .string ? column : column.converted(to: .string)
        guard let index = ByteKeyIndex(text), case .string(let b) = text.storage else { return Distinct(codes: nil, values: []) }
        var firstRow = [Int](repeating: -1, count: index.count)
        for (row, code) in index.rowCodes.enumerated() where code >= 0 && firstRow[Int(code)] < 0 { firstRow[Int(code)] = row }
        return Distinct(codes: index.rowCodes, values: firstRow.map { resolve(b.string($0)) })
    }

    static func parse(_ text: String) throws(StageFailure) -> ExprNode {
        do { return try ExprParser.parse(text) } catch { throw StageFailure("internal: cannot parse '\(text)': \(error.message)") }
    }

    /// Evaluates an expression into column `name`; rows it cannot compute follow `policy`.
    func evaluate(_ expr: ExprText, as name: String, step: Step, code: String, policy: InvalidPolicy, _ outcome: inout StepOutcome, _ context: RunContext) throws(StageFailure) {
        let compiled = try compile(expr, outcome.table, option: "the \(step.name) step", stage: context.stageID)
        let result = compiled.evaluate(outcome.table, env: context.environment)
        var change = CleanChange(step: step.number, kind: step.name, column: name)
        let before = outcome.table.column(named: name)
        var column = result.column
        if !result.errors.isEmpty {
            switch policy {
            case .reject:
                for e in result.errors where outcome.invalid[e.row] == nil { outcome.invalid[e.row] = (code, "\(name): \(e.message)") }
                change.rejected = result.errors.count
            case .null:
                change.nulled = result.errors.count
            case .keep:
                // The value cannot be kept in the new type; it becomes null and is counted as kept-invalid.
                change.invalidKept = result.errors.count
            }
        }
        if let before {
            for row in 0..<column.count {
                let a = before.value(at: row), b = column.value(at: row)
                if a.description != b.description || a.isNull != b.isNull {
                    change.examined += 1
                    if !b.isNull {
                        change.changed += 1
                        if change.samples.count < TextMapper.sampleLimit { change.samples.append(.init(before: a.description, after: b.description)) }
                    }
                } else if !a.isNull { change.examined += 1 }
            }
        } else {
            change.examined = column.count
            change.changed = column.count - column.nullCount
        }
        if column.count != outcome.table.rowCount { column = Column.nulls(column.type, count: outcome.table.rowCount) }
        outcome.table = outcome.table.setting(name, column)
        outcome.changes.append(change)
    }

    /// A literal from a pipeline file as a value of `type`.
    static func literal(_ text: String, as type: DataType) -> Value? {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBufferPointer { p -> Value? in
            switch type {
            case .string: return .string(text)
            case .integer: return Scalars.integer(p).map { .integer($0) }
            case .double: return Scalars.double(p).map { .double($0) }
            case .boolean: return Scalars.boolean(p, lenient: true).map { .boolean($0) }
            case .date: return DateParsing.scan(p)?.days(order: .monthFirst).map { .date(Int32($0)) }
            case .timestamp: return DateParsing.scan(p)?.micros(order: .monthFirst).map { .timestamp($0) }
            case .money: return MoneyCleaning.parse(p).map { .money($0.minor, $0.currency) }
            }
        }
    }

    static func booleanColumn(_ text: Column) -> Column {
        guard case .string(let b) = text.storage else { return text }
        var values = [Bool](repeating: false, count: text.count)
        for i in 0..<text.count where !text.isNull(i) { values[i] = b.withBytes(i) { $0.count == 4 } }
        return Column(storage: .boolean(values), validity: text.validity)
    }

    // MARK: Dates

    func applyDates(_ step: Step, _ outcome: inout StepOutcome, format: [UInt8]?, order: DayOrder?, timestamp: Bool, timezone: String?,
                    policy: InvalidPolicy, dead: [Bool]?) throws(StageFailure) {
        let zone = timezone.flatMap(Self.zoneOffset)
        for c in try resolve(step.columns, in: outcome.table, textOnly: false, step: step) {
            let name = outcome.table.schema.fields[c].name
            let col = outcome.table.columns[c]
            var change = CleanChange(step: step.number, kind: step.name, column: name)
            // Already typed: a date becomes a timestamp at midnight UTC and the reverse keeps the UTC calendar date.
            if col.type == .date || col.type == .timestamp {
                let target: DataType = timestamp ? .timestamp : .date
                if col.type != target {
                    outcome.table = outcome.table.setting(name, col.converted(to: target))
                    change.examined = col.count - col.nullCount
                    change.changed = change.examined
                }
                outcome.changes.append(change)
                continue
            }
            let text = col.type == .string ? col : col.converted(to: .string)
            guard case .string(let buffer) = text.storage else { continue }
            let detection: DateCleaning.Detection
            if let format {
                detection = DateCleaning.Detection(format: .pattern(format), evidence: nil, ambiguous: false)
            } else {
                detection = DateCleaning.detect(buffer, validity: text.validity, order: order)
            }
            if let evidence = detection.evidence { change.notes.append(evidence) }
            var builder = ColumnBuilder(timestamp ? .timestamp : .date, capacity: text.count)
            var invalidRows: [(Int, String)] = []
            buffer.bytes.withUnsafeBufferPointer { all in
                for row in 0..<text.count {
                    if text.isNull(row) || dead?[row] == true { builder.appendNull(); continue }
                    let cell = UnsafeBufferPointer(rebasing: all[buffer.range(row)])
                    change.examined += 1
                    let value: Value?
                    if timestamp {
                        value = DateCleaning.micros(cell, format: detection.format, naiveOffset: zone).map { .timestamp($0) }
                    } else {
                        value = DateCleaning.days(cell, format: detection.format).map { .date($0) }
                    }
                    guard let value else {
                        builder.appendNull()
                        let s = Self.text(cell)
                        switch policy {
                        case .reject: invalidRows.append((row, "\(name): '\(s)' is not a \(timestamp ? "timestamp" : "date")\(format.map { " in format \(String(decoding: $0, as: UTF8.self))" } ?? "")"))
                        case .null: change.nulled += 1
                        case .keep: change.invalidKept += 1
                        }
                        continue
                    }
                    builder.append(value)
                    change.changed += 1
                    if change.samples.count < TextMapper.sampleLimit { change.samples.append(.init(before: Self.text(cell), after: value.description)) }
                }
            }
            if policy == .keep, change.invalidKept > 0 {
                change.notes.append("\(change.invalidKept) values could not be read; a \(timestamp ? "timestamp" : "date") column cannot keep them as written, so they are null")
            }
            for (row, reason) in invalidRows where outcome.invalid[row] == nil { outcome.invalid[row] = ("E_DATE", reason) }
            change.rejected = invalidRows.count
            outcome.table = outcome.table.setting(name, builder.finish())
            outcome.changes.append(change)
        }
    }

    // MARK: Money

    func applyMoney(_ step: Step, _ outcome: inout StepOutcome, currencyColumn: String?, defaultCurrency: String, currencyFrom: String?,
                    target: String?, ratesPath: String?, policy: InvalidPolicy, dead: [Bool]?, context: RunContext) throws(StageFailure) {
        var rates: [String: (units: Int64, scale: Int64)] = [:]
        if let ratesPath {
            let t = try loadReference(context.inputPath(ratesPath))
            guard t.columns.count >= 2 else { throw StageFailure("rates file '\(ratesPath)' needs two columns: currency, rate", status: .badData) }
            let codes = t.columns[0].converted(to: .string), values = t.columns[1].converted(to: .string)
            for r in 0..<t.rowCount where !codes.isNull(r) && !values.isNull(r) {
                let code = codes.value(at: r).description.trimmingCharacters(in: .whitespaces).uppercased()
                guard let rate = MoneyCleaning.rate(values.value(at: r).description) else {
                    throw StageFailure("\(ratesPath):\(r + 2): '\(values.value(at: r).description)' is not a rate", hint: "rates are positive decimal numbers", status: .badData)
                }
                rates[code] = rate
            }
            if let target, rates[target.uppercased()] == nil { rates[target.uppercased()] = (1, 1) }
        }
        let fromColumn = try currencyFrom.map { n throws(StageFailure) in try column(n, outcome.table, step: step).converted(to: .string) }
        let ratesFound = rates
        for c in try resolve(step.columns, in: outcome.table, textOnly: false, step: step) {
            let name = outcome.table.schema.fields[c].name
            let col = outcome.table.columns[c]
            let base = CleanChange(step: step.number, kind: step.name, column: name)
            let slices = RowSlices.ranges(count: col.count, parts: context.threads * 4, minimumRows: 25_000)
            let parts = ConcurrentMap.map(slices, threads: context.threads) { range in
                Self.moneyPart(col, range, name: name, change: base, fromColumn: fromColumn, defaultCurrency: defaultCurrency,
                               target: target, rates: ratesFound, ratesPath: ratesPath, policy: policy, dead: dead)
            }
            var change = base
            var missingRates: [String: Int] = [:]
            for p in parts {
                change.examined += p.change.examined
                change.changed += p.change.changed
                change.nulled += p.change.nulled
                change.rejected += p.change.rejected
                change.invalidKept += p.change.invalidKept
                for x in p.change.samples where change.samples.count < TextMapper.sampleLimit { change.samples.append(x) }
                for (row, reason) in p.invalid where outcome.invalid[row] == nil { outcome.invalid[row] = ("E_MONEY", reason) }
                for (k, n) in p.missing { missingRates[k, default: 0] += n }
            }
            for (code, n) in missingRates.sorted(by: { $0.key < $1.key }) { change.notes.append("\(n) amounts in \(code) have no rate") }
            do {
                outcome.table = outcome.table.setting(name, try Column.concatenating(parts.map(\.amounts)))
                outcome.table = outcome.table.setting(currencyColumn ?? "\(name)_currency", try Column.concatenating(parts.map(\.currencies)))
            } catch {
                throw StageFailure("money step of stage '\(context.stageID)': \(error)")
            }
            outcome.changes.append(change)
        }
    }

    struct MoneyPart: Sendable {
        var amounts: Column
        var currencies: Column
        var invalid: [(Int, String)] = []
        var change: CleanChange
        var missing: [String: Int] = [:]
    }

    /// The money step over rows `range` of one column.
    static func moneyPart(_ col: Column, _ range: Range<Int>, name: String, change base: CleanChange, fromColumn: Column?, defaultCurrency: String,
                          target: String?, rates: [String: (units: Int64, scale: Int64)], ratesPath: String?, policy: InvalidPolicy, dead: [Bool]?) -> MoneyPart {
        var change = base
        var amounts = ColumnBuilder(.money, capacity: range.count)
        var currencies = ColumnBuilder(.string, capacity: range.count)
        var invalidRows: [(Int, String)] = []
        var missingRates: [String: Int] = [:]
        let textBuffer: StringBuffer? = { if case .string(let b) = col.storage { return b }; return nil }()
        var currencyOf: [String: String] = [:]
        for row in range {
                if col.isNull(row) || dead?[row] == true { amounts.appendNull(); currencies.appendNull(); continue }
                change.examined += 1
                var rowCurrency = defaultCurrency
                if let fromColumn, !fromColumn.isNull(row), case .string(let b) = fromColumn.storage {
                    let raw = b.string(row)
                    if let code = currencyOf[raw] { rowCurrency = code } else {
                        let code = raw.trimmingCharacters(in: .whitespaces).uppercased()
                        currencyOf[raw] = code
                        rowCurrency = code
                    }
                }
                // The value as written, built only for messages and examples.
                func before() -> String { textBuffer?.string(row) ?? col.value(at: row).description }
                let parsed: (minor: Int64, currency: String)?
                var wasMoney = false
                if let textBuffer {
                    parsed = textBuffer.withBytes(row) { MoneyCleaning.parse($0, defaultCurrency: rowCurrency) }
                } else {
                    switch col.value(at: row) {
                    case .money(let m, let cur): parsed = (m, cur.isEmpty ? rowCurrency : cur); wasMoney = true
                    case .integer(let i): parsed = i.multipliedReportingOverflow(by: 100).overflow ? nil : (i * 100, rowCurrency)
                    case .double(let d): parsed = abs(d) < 9e16 ? (Int64((d * 100).rounded()), rowCurrency) : nil
                    case let other:
                        let bytes = Array(other.description.utf8)
                        parsed = bytes.withUnsafeBufferPointer { MoneyCleaning.parse($0, defaultCurrency: rowCurrency) }
                    }
                }
                func invalid(_ reason: @autoclosure () -> String) {
                    amounts.appendNull()
                    currencies.appendNull()
                    switch policy {
                    case .reject: invalidRows.append((row, reason())); change.rejected += 1
                    case .null: change.nulled += 1
                    case .keep: change.invalidKept += 1
                    }
                }
                guard var (minor, currency) = parsed else { invalid("\(name): '\(before())' is not an amount"); continue }
                let original = (minor, currency)
                if let target {
                    let t = target.uppercased()
                    if currency.isEmpty { invalid("\(name): '\(before())' has no currency to convert from (set default_currency or currency_from)"); continue }
                    if currency != t {
                        guard let rate = rates[currency] else { missingRates[currency, default: 0] += 1; invalid("\(name): no rate for \(currency) in \(ratesPath ?? "the rates file")"); continue }
                        guard let targetRate = rates[t] else { invalid("\(name): no rate for \(t)"); continue }
                        // Rates are target-units per unit: with a base other than the target, divide by the target's rate.
                        guard let inBase = MoneyCleaning.convert(minor, rate: rate),
                              let converted = MoneyCleaning.convert(inBase, rate: (targetRate.scale, targetRate.units)) else { invalid("\(name): conversion overflows"); continue }
                        minor = converted
                        currency = t
                    }
                }
                amounts.append(.money(minor, currency))
                if currency.isEmpty { currencies.appendNull() } else { currencies.append(.string(currency)) }
                if !wasMoney || original.0 != minor || original.1 != currency {
                    change.changed += 1
                    if change.samples.count < TextMapper.sampleLimit { change.samples.append(.init(before: before(), after: Value.money(minor, currency).description)) }
                }
        }
        return MoneyPart(amounts: amounts.finish(), currencies: currencies.finish(), invalid: invalidRows, change: change, missing: missingRates)
    }

    // MARK: Dedupe

    /// For each row, the first row whose key columns hold the same values (itself when none before it does), or -1
    /// when a key is null. Rows are hashed in parallel slices, then partitioned by hash so that each thread resolves
    /// its own share of the keys; within a partition rows are visited in order, so "first" means first in the table.
    static func firstOccurrence(_ keys: [Column], rowCount n: Int, threads: Int, dead: [Bool]? = nil) -> [Int32] {
        let text = keys.map { $0.type == .string ? $0 : $0.converted(to: .string) }
        let views = KeyViews(text)
        defer { views.deallocate() }
        let slices = RowSlices.ranges(count: n, parts: threads * 2)
        let hashParts = ConcurrentMap.map(slices, threads: threads) { range -> [UInt64] in
            var out = [UInt64](repeating: 0, count: range.count)
            for row in range {
                // 0 marks a null key; a real key hashing to 0 is moved to 1 (only equality of bytes decides a match).
                if dead?[row] == true { continue }
                let h = views.hash(row)
                out[row - range.lowerBound] = h
            }
            return out
        }
        let hashes = hashParts.count == 1 ? hashParts[0] : Array(hashParts.joined())
        let partitions = threads > 1 && n >= 100_000 ? threads * 2 : 1
        let reps = ConcurrentMap.map(Array(0..<partitions), threads: threads) { part -> [Int32] in
            var out: [Int32] = []
            out.reserveCapacity(n / partitions + 16)
            var size = 16
            while size < (n / partitions) * 2 + 16 { size <<= 1 }
            var slots = [Int32](repeating: -1, count: size)
            var mask = size - 1
            var used = 0
            hashes.withUnsafeBufferPointer { hashes in
                for row in 0..<n {
                    let h = hashes[row]
                    guard Int(truncatingIfNeeded: h >> 48) % partitions == part else { continue }
                    if h == 0 { out.append(-1); continue }
                    var i = Int(truncatingIfNeeded: h) & mask
                    while true {
                        let r = slots[i]
                        if r < 0 {
                            slots[i] = Int32(row)
                            out.append(Int32(row))
                            used += 1
                            if used * 2 > slots.count {
                                // Grow: more keys landed in this partition than expected.
                                let old = slots
                                slots = [Int32](repeating: -1, count: old.count * 2)
                                mask = slots.count - 1
                                for r in old where r >= 0 {
                                    var j = Int(truncatingIfNeeded: hashes[Int(r)]) & mask
                                    while slots[j] >= 0 { j = (j + 1) & mask }
                                    slots[j] = r
                                }
                            }
                            break
                        }
                        if hashes[Int(r)] == h, views.equal(Int(r), row) {
                            out.append(r)
                            break
                        }
                        i = (i + 1) & mask
                    }
                }
            }
            return out
        }
        var first = [Int32](repeating: -1, count: n)
        var cursor = [Int](repeating: 0, count: partitions)
        for row in 0..<n {
            let part = Int(truncatingIfNeeded: hashes[row] >> 48) % partitions
            first[row] = reps[part][cursor[part]]
            cursor[part] += 1
        }
        return first
    }

    /// Key columns' bytes and offsets copied to raw memory once, so hashing and comparing rows on several threads
    /// touches no array (no reference counting in the inner loops). Freed by `deallocate()`.
    struct KeyViews: @unchecked Sendable {
        let bytes: [UnsafeMutableBufferPointer<UInt8>]
        let offsets: [UnsafeMutableBufferPointer<UInt32>]
        let valid: [Bitmap?]

        init(_ columns: [Column]) {
            var b: [UnsafeMutableBufferPointer<UInt8>] = [], o: [UnsafeMutableBufferPointer<UInt32>] = [], v: [Bitmap?] = []
            for c in columns {
                guard case .string(let buffer) = c.storage else { continue }
                let bytes = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(1, buffer.bytes.count))
                _ = bytes.initialize(from: buffer.bytes)
                let offsets = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: buffer.offsets.count)
                _ = offsets.initialize(from: buffer.offsets)
                b.append(bytes)
                o.append(offsets)
                v.append(c.validity)
            }
            bytes = b
            offsets = o
            valid = v
        }

        func deallocate() {
            for b in bytes { b.deallocate() }
            for o in offsets { o.deallocate() }
        }

        @inline(__always)
        func cell(_ k: Int, _ row: Int) -> UnsafeBufferPointer<UInt8> {
            let start = Int(offsets[k][row]), end = Int(offsets[k][row + 1])
            return UnsafeBufferPointer(start: bytes[k].baseAddress! + start, count: end - start)
        }

        /// The row's key hash; 0 when a key is null.
        @inline(__always)
        func hash(_ row: Int) -> UInt64 {
            var h: UInt64 = 0x9E37_79B9_7F4A_7C15
            for k in bytes.indices {
                if let v = valid[k], !v.isSet(row) { return 0 }
                h = (h ^ ByteHash.hash(cell(k, row))) &* 0x100_0000_01B3
            }
            return h == 0 ? 1 : h
        }

        @inline(__always)
        func equal(_ a: Int, _ b: Int) -> Bool {
            for k in bytes.indices {
                let x = cell(k, a), y = cell(k, b)
                if x.count != y.count || (x.count > 0 && memcmp(x.baseAddress!, y.baseAddress!, x.count) != 0) { return false }
            }
            return true
        }
    }

    func applyDedupe(_ step: Step, _ outcome: inout StepOutcome, keep: KeepRule, dead: [Bool]?, context: RunContext) throws(StageFailure) {
        let table = outcome.table
        let keyIndices = try resolve(step.columns, in: table, textOnly: false, step: step)
        let keys = keyIndices.map { table.columns[$0] }
        let keyNames = keyIndices.map { table.schema.fields[$0].name }
        var change = CleanChange(step: step.number, kind: step.name, column: keyNames.count == table.schema.fields.count ? "all columns" : keyNames.joined(separator: ", "))
        // Each row's group is the first row with the same key (-1: a null key, which duplicates nothing, as in SQL).
        let first = Self.firstOccurrence(keys, rowCount: table.rowCount, threads: context.threads, dead: dead)
        let hasNullKey: (Int) -> Bool = { first[$0] < 0 }
        var winner = [Int](repeating: -1, count: table.rowCount)
        var completeness: [Int] = []
        if keep == .mostComplete {
            completeness = (0..<table.rowCount).map { r in table.columns.reduce(0) { $0 + ($1.isNull(r) ? 0 : 1) } }
        }
        var latest: Column? = nil
        if case .latest(let by) = keep { latest = try column(by, table, step: step) }
        for row in 0..<table.rowCount {
            if hasNullKey(row) { continue }
            let g = Int(first[row])
            let w = winner[g]
            if w < 0 { winner[g] = row; continue }
            switch keep {
            case .first: break
            case .last: winner[g] = row
            case .mostComplete: if completeness[row] > completeness[w] { winner[g] = row }
            case .latest:
                let col = latest!
                if col.isNull(w) && !col.isNull(row) { winner[g] = row }
                else if !col.isNull(row), compareValues(col.value(at: row), col.value(at: w)) > 0 { winner[g] = row }
            }
        }
        for row in 0..<table.rowCount where dead?[row] != true {
            change.examined += 1
            if hasNullKey(row) { continue }
            let w = winner[Int(first[row])]
            if w != row { outcome.duplicates[row] = w }
        }
        change.deduplicated = outcome.duplicates.count
        if let (dup, kept) = outcome.duplicates.min(by: { $0.key < $1.key }) {
            let describe: (Int) -> String = { r in keyNames.count <= 3 ? keys.map { $0.value(at: r).description }.joined(separator: ", ") : "row \(r + 1)" }
            change.samples.append(.init(before: describe(dup), after: "duplicate of the row kept (\(describe(kept)))"))
        }
        outcome.changes.append(change)
    }
}


extension Value {
    var isMoney: Bool { if case .money = self { return true }; return false }
}
