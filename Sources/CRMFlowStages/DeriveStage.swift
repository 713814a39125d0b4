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

    public func inputColumns(forOutput needed: Set<String>?) -> [Set<String>?] {
        guard let needed else { return [nil] }
        // Columns the expressions read, and needed columns they do not produce, come from the input.
        var read = needed.subtracting(columns.map(\.name))
        for c in columns { read.formUnion(c.expr.node.referencedColumns) }
        return [read]
    }

    public func run(_ inputs: [StageData], _ context: RunContext) throws(StageFailure) -> StageResult {
        var input = inputs[0]
        let names0 = columns.map(\.name)
        input.table = adaptingEmptyColumns(columns.map(\.expr.node), input.table) { schema in
            var s = schema
            for (k, c) in columns.enumerated() {
                guard let e = try? ExprCompiler.compile(c.expr.node, text: c.expr.text, schema: s) else { return false }
                s = s.setting(names0[k], e.type)
            }
            return true
        }
        // Only the columns the expressions read are sliced for the workers; the input's other columns pass through
        // without a copy. Each expression is compiled against what it will see: those columns plus earlier derived ones.
        let table = input.table
        let names = columns.map(\.name)
        var read = Set<String>()
        for (k, c) in columns.enumerated() { read.formUnion(c.expr.node.referencedColumns.filter { !names[..<k].contains($0) }) }
        let readIndices = table.schema.fields.indices.filter { read.contains(table.schema.fields[$0].name) }
        let readSchema = Schema(readIndices.map { table.schema.fields[$0] })
        var schema = readSchema
        var compiled: [CompiledExpr] = []
        for c in columns {
            let e = try compile(c.expr, Table(emptyWith: schema), option: "columns.\(c.name)", stage: context.stageID)
            compiled.append(e)
            schema = schema.setting(c.name, e.type)
        }
        // Large inputs are evaluated in row slices on all cores, then put back together in order.
        let slices = table.rowSlices(parts: context.threads)
        let env = context.environment
        let expressions = compiled
        // Expressions that do not read each other's results form waves. When the first wave alone can keep every core
        // busy, whole columns are computed side by side on the input as it is (no copies); otherwise the rows are cut
        // into slices, each evaluated on its own copy of the columns read.
        var level = [Int](repeating: 0, count: columns.count)
        for k in columns.indices {
            let refs = Set(columns[k].expr.node.referencedColumns)
            for j in 0..<k where refs.contains(names[j]) || names[j] == names[k] { level[k] = max(level[k], level[j] + 1) }
        }
        var parts: [([Column], [(Int, String)])] = []
        if context.threads > 1, slices.count > 1, level.filter({ $0 == 0 }).count >= context.threads {
            var part = Table(schema: readSchema, columns: readIndices.map { table.columns[$0] }, rowCount: table.rowCount)
            var produced = [Column?](repeating: nil, count: columns.count)
            var errors: [(Int, String)] = []
            let specs = columns
            for wave in 0...(level.max() ?? 0) {
                let ks = columns.indices.filter { level[$0] == wave }
                let snapshot = part
                let results = ConcurrentMap.map(ks, threads: context.threads) { k -> Result<(Column, [(Int, String)]), ExprError> in
                    do throws(ExprError) {
                        let e = try ExprCompiler.compile(specs[k].expr.node, text: specs[k].expr.text, schema: snapshot.schema)
                        let r = e.evaluate(snapshot, env: env)
                        return .success((r.column, r.errors.map { ($0.row, "\(names[k]): \($0.message)") }))
                    } catch {
                        return .failure(error)
                    }
                }
                for (i, k) in ks.enumerated() {
                    switch results[i] {
                    case .failure(let e):
                        throw StageFailure("\(specs[k].expr.location(of: e.span)): in columns.\(names[k]) of stage '\(context.stageID)': \(e.message)",
                                           hint: e.hint, status: .badPipeline)
                    case .success(let (column, errs)):
                        produced[k] = column
                        errors.append(contentsOf: errs)
                        part = part.setting(names[k], column)
                    }
                }
            }
            parts = [(produced.map { $0! }, errors)]
        } else {
            parts = ConcurrentMap.map(slices, threads: context.threads) { range -> ([Column], [(Int, String)]) in
                var part = Table(schema: readSchema, columns: readIndices.map { slices.count == 1 ? table.columns[$0] : table.columns[$0].slice(range) },
                                 rowCount: range.count)
                var errors: [(Int, String)] = []
                var produced: [Column] = []
                for (k, e) in expressions.enumerated() {
                    let result = e.evaluate(part, env: env)
                    errors.append(contentsOf: result.errors.map { (range.lowerBound + $0.row, "\(names[k]): \($0.message)") })
                    produced.append(result.column)
                    part = part.setting(names[k], result.column)
                }
                return (produced, errors)
            }
        }
        try context.checkCancelled()
        // The last expression for a name wins; earlier ones for the same name were only inputs to later ones.
        var out = table
        for k in expressions.indices {
            let column: Column
            if parts.count == 1 {
                column = parts[0].0[k]
            } else {
                do { column = try Column.concatenating(parts.map { $0.0[k] }) } catch {
                    throw StageFailure("derive of stage '\(context.stageID)': \(error)")
                }
            }
            out = out.setting(names[k], column)
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
