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
        if !ok { return nil }
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
        let grouping = Grouping.make(keys: keyColumns, rowCount: table.rowCount)
        let keysOut = keyColumns.map { $0.selecting(grouping.firstRow) }
        let keyFields = groupBy.enumerated().map { Field(name: $1.0, type: keyColumns[$0].type) }
        var fields = keyFields
        var columns = keysOut
        for a in aggregates {
            try context.checkCancelled()
            let compiled = try compileAggregate(a.expr, table.schema, groupKeys: groupBy.map(\.0), option: "aggregates.\(a.name)", stage: context.stageID)
            do {
                columns.append(try compiled.evaluate(table, grouping: grouping, keys: keysOut, keySchema: keyFields, env: context.environment))
            } catch {
                throw StageFailure("aggregate '\(a.name)' of stage '\(context.stageID)': \(error.message)", hint: error.hint, status: .badData)
            }
            fields.append(Field(name: a.name, type: compiled.type))
        }
        let out = Table(schema: Schema(fields), columns: columns, rowCount: grouping.groupCount)
        let n = table.rowCount, g = grouping.groupCount
        context.progress(n)
        return StageResult(data: StageData(table: out),
                           accounting: Accounting(rowsIn: n, rowsOut: g, removed: ["aggregated": max(0, n - g)], added: ["summary row": max(0, g - n)]))
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
