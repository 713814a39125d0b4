import CRMFlowCore
import CRMFlowIO

/// `values`: a small table written in the pipeline itself (a stage-name map, FX rates, segment thresholds), for joins
/// instead of long CASE chains. Types are inferred per column as for a CSV file, or declared.
public struct ValuesStage: Stage {
    public static let spec = StageSpec(
        kind: "values",
        summary: "A table written in the pipeline: `columns` names them, each of `rows` is a list of values (null for none). Types are inferred per column as ingest infers a file's (or declared in `types`); a value that does not fit a declared type is an error at its position. Join it to look values up by key (a hash probe, not a CASE chain).",
        minInputs: 0, maxInputs: 0,
        options: [
            OptionSpec("columns", .list, required: true, "The column names."),
            OptionSpec("rows", .list, required: true, "The rows: each a list with one value per column."),
            OptionSpec("types", .mapping, "`column: type` (string, integer, double, boolean, date, timestamp, money) instead of inference."),
        ],
        example: """
        stage_names:
          values:
            columns: [raw_stage, stage, stage_order]
            rows:
              - [appointmentscheduled, Prospecting, 1]
              - [qualifiedtobuy, Qualification, 2]
              - [closedwon, Closed Won, 5]
        deals_named:
          join: { left: deals, right: stage_names, on: [raw_stage], type: left }
        """)

    let table: Table
    let lines: [Int32]
    let file: String

    public init?(_ config: StageConfig) {
        guard let names = config.strings("columns"), let rowsNode = config.node("rows") else { return nil }
        guard !names.isEmpty else {
            config.log.add(.missingOption, "a values stage needs at least one column", at: config.node("columns")?.location)
            return nil
        }
        if let dup = names.first(where: { n in names.filter { $0 == n }.count > 1 }) {
            config.log.add(.invalidValue, "column '\(dup)' is named twice", at: config.node("columns")?.location)
            return nil
        }
        var declared: [String: DataType] = [:]
        var ok = true
        for e in config.mapping("types") ?? [] {
            guard names.contains(e.key) else {
                config.log.add(.unknownColumn, "types names '\(e.key)', which is not one of the columns", at: e.keyLocation, length: e.key.count,
                               hint: "columns: " + names.joined(separator: ", "))
                ok = false
                continue
            }
            guard let t = e.value.scalar.flatMap(DataType.init(userName:)) else {
                config.log.add(.invalidValue, "'\(e.value.scalar ?? "")' is not a type", at: e.value.textLocation, hint: "use string, integer, double, boolean, date, timestamp or money")
                ok = false
                continue
            }
            declared[e.key] = t
        }
        var text = names.map { _ in StringBuffer() }
        var valid = names.map { _ in Bitmap() }
        var cells: [[SourceLocation]] = names.map { _ in [] }
        var lines: [Int32] = []
        for row in rowsNode.items ?? [] {
            guard let items = row.items, items.count == names.count else {
                config.log.add(.optionShape, "each row must list \(names.count) value\(names.count == 1 ? "" : "s") (\(names.joined(separator: ", ")))", at: row.location)
                ok = false
                continue
            }
            for (c, item) in items.enumerated() {
                if item.isNull {
                    text[c].appendEmpty()
                    valid[c].append(false)
                } else if let v = item.scalar {
                    text[c].append(v)
                    valid[c].append(true)
                } else {
                    config.log.add(.optionShape, "a value must be a single value, not a list or mapping", at: item.location)
                    ok = false
                    text[c].appendEmpty()
                    valid[c].append(false)
                }
                cells[c].append(item.textLocation)
            }
            lines.append(Int32(row.location.line))
        }
        if rowsNode.items == nil, !rowsNode.isNull {
            config.log.add(.optionShape, "rows must be a list of rows, each a list of values", at: rowsNode.location)
            ok = false
        }
        guard ok else { return nil }
        var fields: [Field] = []
        var columns: [Column] = []
        for (c, name) in names.enumerated() {
            let plan: ColumnPlan
            if let t = declared[name] {
                plan = ColumnPlan(type: t, isDeclared: true)
            } else {
                var e = ColumnEvidence()
                for r in 0..<lines.count {
                    if valid[c][r] { text[c].withBytes(r) { e.observe($0) } } else { e.observeNull() }
                }
                plan = TypeInference.decide(name: name, evidence: e).plan
            }
            let outcome = ColumnConversion.convert(text[c], validity: valid[c], plan: plan)
            for r in outcome.failedRows {
                config.log.add(.invalidValue, "'\(text[c].string(r))' does not read as \(plan.type.rawValue) (column '\(name)')", at: cells[c][r])
                ok = false
            }
            fields.append(Field(name: name, type: outcome.column.type))
            columns.append(outcome.column)
        }
        guard ok else { return nil }
        table = Table(schema: Schema(fields), columns: columns, rowCount: lines.count)
        self.lines = lines
        file = config.location.file
    }

    public func outputSchema(_ inputs: [KnownSchema], _ check: SchemaCheck) -> KnownSchema {
        ExprSchema(names: table.schema.names, types: table.schema.fields.map(\.type))
    }

    public func run(_ inputs: [StageData], _ context: RunContext) throws(StageFailure) -> StageResult {
        context.progress(table.rowCount)
        return StageResult(data: StageData(table: table, origins: RowOrigins(file: file, lines: lines)),
                           accounting: Accounting(rowsIn: table.rowCount, rowsOut: table.rowCount))
    }
}
