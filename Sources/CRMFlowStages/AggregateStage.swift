import CRMFlowCore
import CRMFlowIO

/// `aggregate`: one row per group with aggregate values.
public struct AggregateStage: Stage {
    public static let spec = StageSpec(
        kind: "aggregate", summary: "Group rows by key columns (nulls form their own group) and compute aggregates; groups come out in order of first appearance. Without group_by, one row for the whole input.",
        options: [
            OptionSpec("input", .scalar, required: true, isInput: true, "The stage whose rows are grouped."),
            OptionSpec("group_by", .scalarOrList, "Key columns."),
            OptionSpec("aggregates", .mapping, required: true, "`name: aggregate expression`, e.g. `revenue: sum(amount)`, `win_rate: count_if(won) / count(*)`."),
            OptionSpec("fill", .mapping, "A continuous period series: `{ column: close_month, every: month }` (the column is a group_by date holding period starts, e.g. `date_trunc('month', close_date)`; every: day, week, month, quarter or year) adds a row for each period missing between the first and the last, for every combination of the other keys; `from:` / `to:` (a date, or `as_of` for the run's as-of period) widen the range. In an added row, sums and counts (an aggregate built from sum, count, count_if or count_distinct) are 0 and every other aggregate (averages, ratios, min, max) is null: a gap, not a zero. Added rows follow the groups."),
        ],
        example: """
        revenue_by_owner:
          aggregate:
            input: won
            group_by: [owner, close_month]
            aggregates:
              deals: count(*)
              revenue: sum(amount)
              median_deal: median(amount)
        """)

    let groupBy: [(String, SourceLocation)]
    let aggregates: [(name: String, expr: ExprText)]
    let fill: PeriodFill?

    /// The `fill` option: which key is the period, its length and the range.
    struct PeriodFill: Sendable {
        enum Bound: Sendable { case date(Int32), asOf }
        var column: String
        var location: SourceLocation
        var unit: DateUnit
        var from: Bound?
        var to: Bound?
    }

    public init?(_ config: StageConfig) {
        var keys: [(String, SourceLocation)] = []
        if let n = config.node("group_by") {
            let items = n.items ?? (n.scalar != nil ? [n] : [])
            for i in items { if let s = i.scalar { keys.append((s, i.textLocation)) } }
            if n.items == nil, n.scalar == nil, !n.isNull { _ = config.strings("group_by"); return nil }
        }
        groupBy = keys
        guard let entries = config.mapping("aggregates") else { return nil }
        var out: [(String, ExprText)] = []
        var ok = true
        for e in entries {
            if let x = config.expression(e.value, option: "aggregates.\(e.key)") { out.append((e.key, x)) } else { ok = false }
        }
        aggregates = out
        fill = Self.readFill(config, keys: keys.map(\.0), ok: &ok)
        if !ok { return nil }
    }

    static func readFill(_ config: StageConfig, keys: [String], ok: inout Bool) -> PeriodFill? {
        guard let entries = config.mapping("fill"), !entries.isEmpty else { return nil }
        var column: (String, SourceLocation)?
        var unit: DateUnit?
        var bounds: [String: PeriodFill.Bound] = [:]
        for e in entries {
            let v = e.value.scalar
            switch e.key {
            case "column":
                guard let v else { config.log.add(.optionShape, "fill.column must be a column name", at: e.value.location); ok = false; continue }
                guard keys.contains(v) else {
                    config.log.add(.invalidValue, "fill.column '\(v)' is not one of the group_by columns", at: e.value.textLocation, length: v.count,
                                   hint: keys.isEmpty ? "add the period column to group_by" : "group_by: " + keys.joined(separator: ", "))
                    ok = false
                    continue
                }
                column = (v, e.value.textLocation)
            case "every":
                guard let v, let u = DateUnit(rawValue: v) else {
                    config.log.add(.invalidValue, "fill.every must be day, week, month, quarter or year", at: e.value.textLocation, length: v?.count ?? 1)
                    ok = false
                    continue
                }
                unit = u
            case "from", "to":
                guard let v else { config.log.add(.optionShape, "fill.\(e.key) must be a date or as_of", at: e.value.location); ok = false; continue }
                if v == "as_of" { bounds[e.key] = .asOf; continue }
                guard let d = Self.isoDate(v) else {
                    config.log.add(.invalidValue, "fill.\(e.key) must be a date (YYYY-MM-DD) or as_of, got '\(v)'", at: e.value.textLocation, length: v.count)
                    ok = false
                    continue
                }
                bounds[e.key] = .date(d)
            default:
                config.log.add(.unknownOption, "unknown option '\(e.key)' of fill", at: e.keyLocation, length: e.key.count, hint: "options: column, every, from, to")
                ok = false
            }
        }
        guard let column, let unit else {
            if ok { config.log.add(.missingOption, "fill needs both column and every", at: config.node("fill")?.location, hint: "e.g. fill: { column: close_month, every: month }") }
            ok = false
            return nil
        }
        return PeriodFill(column: column.0, location: column.1, unit: unit, from: bounds["from"], to: bounds["to"])
    }

    static func isoDate(_ s: String) -> Int32? {
        let parts = s.split(separator: "-")
        guard parts.count == 3, parts[0].count == 4, let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]),
              CivilDate.isValid(year: y, month: m, day: d) else { return nil }
        return Int32(CivilDate.days(year: y, month: m, day: d))
    }

    public func outputSchema(_ inputs: [KnownSchema], _ check: SchemaCheck) -> KnownSchema {
        guard let schema = inputs.first ?? nil else { return nil }
        check.checkColumns(groupBy, in: schema, option: "group_by")
        var names = groupBy.map(\.0)
        var types: [DataType?] = groupBy.map { k in schema.index(of: k.0).flatMap { schema.types[$0] } }
        for a in aggregates {
            var t: DataType?
            do { t = try AggregateCompiler.check(a.expr.node, text: a.expr.text, input: schema, groupKeys: groupBy.map(\.0)).0 } catch {
                check.log.add(error, in: a.expr)
            }
            names.append(a.name)
            types.append(t)
        }
        return ExprSchema(names: names, types: types)
    }

    public func inputColumns(forOutput needed: Set<String>?) -> [Set<String>?] {
        var read = Set(groupBy.map(\.0))
        for a in aggregates { read.formUnion(a.expr.node.referencedColumns) }
        return [read]
    }

    public func run(_ inputs: [StageData], _ context: RunContext) throws(StageFailure) -> StageResult {
        let input = inputs[0]
        let keys = groupBy.map(\.0)
        let table = adaptingEmptyColumns(aggregates.map(\.expr.node), input.table) { schema in
            aggregates.allSatisfy { a in
                ((try? AggregateCompiler.check(a.expr.node, text: a.expr.text, input: ExprSchema(schema), groupKeys: keys))?.1) != nil
            }
        }
        var keyColumns: [Column] = []
        for (k, loc) in groupBy {
            guard let c = table.column(named: k) else {
                throw StageFailure("\(loc): group_by column '\(k)' is not a column of the input", hint: "columns: " + table.schema.names.joined(separator: ", "), status: .badPipeline)
            }
            keyColumns.append(c)
        }
        var grouping = Grouping.make(keys: keyColumns, rowCount: table.rowCount)
        var keysOut = keyColumns.map { $0.selecting(grouping.firstRow) }
        let keyFields = groupBy.enumerated().map { Field(name: $1.0, type: keyColumns[$0].type) }
        let groups = grouping.groupCount
        if let fill {
            // The missing periods become groups without rows: every aggregate is evaluated on them as on any group.
            keysOut = try fill.extend(keysOut, names: keys, asOf: context.environment.asOf, stage: context.stageID)
            grouping.groupCount = keysOut.first?.count ?? groups
        }
        var fields = keyFields
        var columns = keysOut
        for a in aggregates {
            try context.checkCancelled()
            let compiled = try compileAggregate(a.expr, table.schema, groupKeys: groupBy.map(\.0), option: "aggregates.\(a.name)", stage: context.stageID)
            do {
                var column = try compiled.evaluate(table, grouping: grouping, keys: keysOut, keySchema: keyFields, env: context.environment)
                if grouping.groupCount > groups, Self.isAdditive(a.expr.node) { column = Self.zeroed(column, from: groups) }
                columns.append(column)
            } catch {
                throw StageFailure("aggregate '\(a.name)' of stage '\(context.stageID)': \(error.message)", hint: error.hint, status: .badData)
            }
            fields.append(Field(name: a.name, type: compiled.type))
        }
        let out = Table(schema: Schema(fields), columns: columns, rowCount: grouping.groupCount)
        let n = table.rowCount, g = groups, filled = grouping.groupCount - groups
        context.progress(n)
        return StageResult(data: StageData(table: out),
                           accounting: Accounting(rowsIn: n, rowsOut: g + filled, removed: ["aggregated": max(0, n - g)],
                                                  added: ["summary row": max(0, g - n), "filled period": filled]))
    }

    /// Whether an aggregate is a total, 0 over no rows: sum, count, count_if or count_distinct, under round, coalesce, abs or
    /// cast, and sums, differences and scalings of such totals.
    static func isAdditive(_ node: ExprNode) -> Bool {
        switch node {
        case .call(let name, let args, _):
            switch name.lowercased() {
            case "sum", "count", "count_if", "count_distinct": return true
            case "round", "coalesce", "abs": return args.first.map(isAdditive) ?? false
            default: return false
            }
        case .cast(let x, _, _), .negate(let x, _): return isAdditive(x)
        case .binary(let op, let l, let r, _):
            switch op {
            case .add, .subtract: return isAdditive(l) && isAdditive(r)
            case .multiply: return (isAdditive(l) && isLiteral(r)) || (isLiteral(l) && isAdditive(r))
            case .divide: return isAdditive(l) && isLiteral(r)
            default: return false
            }
        default: return false
        }
    }

    static func isLiteral(_ node: ExprNode) -> Bool {
        if case .literal(let v, _) = node { return !v.isNull }
        return false
    }

    /// The column with the nulls from row `start` on made 0 (money in the column's currency).
    static func zeroed(_ column: Column, from start: Int) -> Column {
        var currency = ""
        for r in 0..<column.count { if case .money(_, let c) = column.value(at: r), !c.isEmpty { currency = c; break } }
        var b = ColumnBuilder(column.type, capacity: column.count)
        for r in 0..<column.count {
            let v = column.value(at: r)
            guard r >= start else { b.append(v); continue }
            switch (v, column.type) {
            case (.null, .integer): b.append(.integer(0))
            case (.null, .double): b.append(.double(0))
            case (.null, .money), (.money(0, ""), .money): b.append(.money(0, currency))
            default: b.append(v)
            }
        }
        return b.finish()
    }
}

extension AggregateStage.PeriodFill {
    /// The group keys with a key row added for every missing period of every combination of the other keys.
    func extend(_ keys: [Column], names: [String], asOf: Int32, stage: String) throws(StageFailure) -> [Column] {
        guard let k = names.firstIndex(of: column) else { return keys }
        let periodColumn = keys[k]
        guard periodColumn.type == .date || periodColumn.count == 0 else {
            throw StageFailure("\(location): fill.column '\(column)' of stage '\(stage)' is \(periodColumn.type), not a date",
                               hint: "group by a period start, e.g. date_trunc('\(unit.rawValue)', close_date)", status: .badPipeline)
        }
        let groups = periodColumn.count
        var present: [[Value]: Set<Int32>] = [:]
        var combos: [[Value]] = []
        var low = Int32.max, high = Int32.min
        for g in 0..<groups {
            guard case .date(let d) = periodColumn.value(at: g) else { continue }
            guard DateMath.truncate(d, unit) == d else {
                throw StageFailure("\(location): fill.column '\(column)' of stage '\(stage)' holds \(Value.date(d).description), which is not the start of a \(unit.rawValue)",
                                   hint: "group by date_trunc('\(unit.rawValue)', …) so that each key is the first day of its period", status: .badData)
            }
            let other = keys.indices.filter { $0 != k }.map { keys[$0].value(at: g) }
            if present[other] == nil { combos.append(other) }
            present[other, default: []].insert(d)
            low = min(low, d)
            high = max(high, d)
        }
        func resolve(_ b: Bound?) -> Int32? {
            switch b {
            case .date(let d): DateMath.truncate(d, unit)
            case .asOf: DateMath.truncate(asOf, unit)
            case nil: nil
            }
        }
        if let f = resolve(from) { low = min(low == .max ? f : low, f) }
        if let t = resolve(to) { high = max(high == .min ? t : high, t) }
        guard low <= high, !combos.isEmpty || (from != nil && to != nil) else { return keys }
        if combos.isEmpty { combos = [keys.indices.filter { $0 != k }.map { _ in Value.null }] }
        var builders = keys.map { ColumnBuilder($0.type, capacity: groups) }
        for c in keys.indices { for g in 0..<groups { builders[c].append(keys[c].value(at: g)) } }
        var added = 0
        for combo in combos {
            var p = low
            while p <= high {
                if !(present[combo]?.contains(p) ?? false) {
                    var o = 0
                    for c in keys.indices {
                        if c == k { builders[c].append(.date(p)) } else { builders[c].append(combo[o]); o += 1 }
                    }
                    added += 1
                    if added > 10_000_000 {
                        throw StageFailure("\(location): fill of stage '\(stage)' would add more than 10 million periods", hint: "check from / to and every", status: .badPipeline)
                    }
                }
                p = DateMath.next(p, unit)
            }
        }
        return builders.map { $0.finish() }
    }
}

extension Stage {
    /// Compiles an aggregate expression against a concrete table at run time (errors at the expression's position).
    func compileAggregate(_ expr: ExprText, _ schema: Schema, groupKeys: [String], option: String, stage: String) throws(StageFailure) -> CompiledAggregate {
        do {
            guard let c = try AggregateCompiler.check(expr.node, text: expr.text, input: ExprSchema(schema), groupKeys: groupKeys).1 else {
                throw StageFailure("\(expr.location): \(option) of stage '\(stage)' could not be typed", status: .badPipeline)
            }
            return c
        } catch let e as ExprError {
            throw StageFailure("\(expr.location(of: e.span)): in \(option) of stage '\(stage)': \(e.message)", hint: e.hint, status: .badPipeline)
        } catch let e as StageFailure {
            throw e
        } catch {
            throw StageFailure("\(error)")
        }
    }
}
