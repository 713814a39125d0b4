import CRMFlowCore
import CRMFlowIO

/// `derive`: adds or replaces columns computed from expressions, in the order written.
public struct DeriveStage: Stage {
    public static let spec = StageSpec(
        kind: "derive", summary: "Add or replace columns from expressions; each may use the columns derived before it. Rows whose value cannot be computed (a bad cast, an unparsable date) are rejected.",
        options: [
            OptionSpec("input", .scalar, required: true, isInput: true, "The stage whose rows get the new columns."),
            OptionSpec("columns", .mapping, required: true, "`name: expression`, in order. An existing name is replaced in place; a new one is appended."),
        ],
        example: """
        deals_enriched:
          derive:
            input: deals
            columns:
              close_month: "date_trunc('month', close_date)"
              is_big: "amount >= 10000"
        """)

    let columns: [(name: String, location: SourceLocation, expr: ExprText)]

    public init?(_ config: StageConfig) {
        guard let entries = config.mapping("columns") else { return nil }
        var out: [(String, SourceLocation, ExprText)] = []
        var ok = true
        for e in entries {
            if let x = config.expression(e.value, option: "columns.\(e.key)") { out.append((e.key, e.keyLocation, x)) } else { ok = false }
        }
        if entries.isEmpty {
            config.log.add(.missingOption, "derive stage '\(config.id)' lists no columns", at: config.node("columns")?.location,
                           hint: "add `name: expression` entries under columns:")
            ok = false
        }
        columns = out
        if !ok { return nil }
    }

    public func outputSchema(_ inputs: [KnownSchema], _ check: SchemaCheck) -> KnownSchema {
        guard var schema = inputs.first ?? nil else { return nil }
        for c in columns {
            let t = check.check(c.expr, schema)
            if let i = schema.index(of: c.name) { schema.types[i] = t } else {
                schema.names.append(c.name)
                schema.types.append(t)
            }
        }
        return schema
    }

    public func run(_ inputs: [StageData], _ context: RunContext) throws(StageFailure) -> StageResult {
        let input = inputs[0]
        // Compile every column against the schema it will see (earlier derived columns included), without data.
        var schema = input.table.schema
        var compiled: [CompiledExpr] = []
        for c in columns {
            let probe = Table(emptyWith: schema)
            let e = try compile(c.expr, probe, option: "columns.\(c.name)", stage: context.stageID)
            compiled.append(e)
            var fields = schema.fields
            if let i = schema.index(of: c.name) { fields[i] = Field(name: c.name, type: e.type) } else { fields.append(Field(name: c.name, type: e.type)) }
            schema = Schema(fields)
        }
        // Large inputs are evaluated in row slices on all cores, then put back together in order.
        let slices = input.table.rowSlices(parts: context.threads)
        let env = context.environment
        let expressions = compiled
        let names = columns.map(\.name)
        let table = input.table
        let parts = ConcurrentMap.map(slices, threads: context.threads) { range -> (Table, [(Int, String)]) in
            var part = slices.count == 1 ? table : table.slice(range)
            var errors: [(Int, String)] = []
            for (k, e) in expressions.enumerated() {
                let result = e.evaluate(part, env: env)
                errors.append(contentsOf: result.errors.map { (range.lowerBound + $0.row, "\(names[k]): \($0.message)") })
                var fields = part.schema.fields
                var cols = part.columns
                if let i = part.schema.index(of: names[k]) {
                    fields[i] = Field(name: names[k], type: e.type)
                    cols[i] = result.column
                } else {
                    fields.append(Field(name: names[k], type: e.type))
                    cols.append(result.column)
                }
                part = Table(schema: Schema(fields), columns: cols, rowCount: part.rowCount)
            }
            return (part, errors)
        }
        try context.checkCancelled()
        let out: Table
        if parts.count == 1 {
            out = parts[0].0
        } else {
            do { out = try Table.concatenating(parts.map(\.0), schema: schema) } catch {
                throw StageFailure("derive of stage '\(context.stageID)': \(error)")
            }
        }
        var errors: [Int: String] = [:]
        for part in parts { for (row, message) in part.1 where errors[row] == nil { errors[row] = message } }
        var data = StageData(table: out, origins: input.origins)
        let rejects = errors.keys.sorted().map { data.reject(row: $0, stage: context.stageID, code: "E_EXPRESSION", reason: errors[$0]!) }
        if !errors.isEmpty { data = data.selecting((0..<out.rowCount).filter { errors[$0] == nil }) }
        context.progress(input.table.rowCount)
        return StageResult(data: data, rejects: rejects,
                           accounting: Accounting(rowsIn: input.table.rowCount, rowsOut: data.table.rowCount, rejected: rejects.count))
    }
}
