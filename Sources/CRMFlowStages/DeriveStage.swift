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
        var table = input.table
        var errors: [Int: String] = [:]
        for c in columns {
            try context.checkCancelled()
            let compiled = try compile(c.expr, table, option: "columns.\(c.name)", stage: context.stageID)
            let result = compiled.evaluate(table, env: context.environment)
            for e in result.errors where errors[e.row] == nil { errors[e.row] = "\(c.name): \(e.message)" }
            var fields = table.schema.fields
            var cols = table.columns
            if let i = table.schema.index(of: c.name) {
                fields[i] = Field(name: c.name, type: compiled.type)
                cols[i] = result.column
            } else {
                fields.append(Field(name: c.name, type: compiled.type))
                cols.append(result.column)
            }
            table = Table(schema: Schema(fields), columns: cols, rowCount: table.rowCount)
        }
        var data = StageData(table: table, origins: input.origins)
        let rejects = errors.keys.sorted().map { data.reject(row: $0, stage: context.stageID, code: "E_EXPRESSION", reason: errors[$0]!) }
        if !errors.isEmpty { data = data.selecting((0..<table.rowCount).filter { errors[$0] == nil }) }
        context.progress(input.table.rowCount)
        return StageResult(data: data, rejects: rejects,
                           accounting: Accounting(rowsIn: input.table.rowCount, rowsOut: data.table.rowCount, rejected: rejects.count))
    }
}
