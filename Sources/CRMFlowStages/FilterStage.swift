import CRMFlowCore
import CRMFlowIO

/// `filter`: keeps the rows where a condition is true (null counts as false).
public struct FilterStage: Stage {
    public static let spec = StageSpec(
        kind: "filter", summary: "Keep the rows where `where` is true; rows where it is false or null are counted as filtered.",
        options: [
            OptionSpec("input", .scalar, required: true, isInput: true, "The stage whose rows are filtered."),
            OptionSpec("where", .scalar, required: true, "Boolean expression, e.g. `stage == 'Closed Won' and amount > 0`."),
        ],
        example: """
        won:
          filter: { input: deals, where: "stage == 'Closed Won'" }
        """)

    let condition: ExprText

    public init?(_ config: StageConfig) {
        guard let c = config.expression("where") else { return nil }
        condition = c
    }

    public func outputSchema(_ inputs: [KnownSchema], _ check: SchemaCheck) -> KnownSchema {
        let schema = inputs.first ?? nil
        if let t = check.check(condition, schema), t != .boolean {
            check.log.add(.expressionType, "'where' must be a condition (boolean), but gives \(t.rawValue)", at: condition.location,
                          length: condition.text.count, hint: "compare it, e.g. \(condition.text) is not null")
        }
        return schema
    }

    public func inputColumns(forOutput needed: Set<String>?) -> [Set<String>?] {
        [needed.map { $0.union(condition.node.referencedColumns) }]
    }

    public func run(_ inputs: [StageData], _ context: RunContext) throws(StageFailure) -> StageResult {
        var input = inputs[0]
        input.table = adaptingEmptyColumns([condition.node], input.table) { schema in
            (try? ExprCompiler.compile(condition.node, text: condition.text, schema: schema)) != nil
        }
        let compiled = try compile(condition, input.table, option: "where", stage: context.stageID)
        guard compiled.type == .boolean else {
            throw StageFailure("'where' of stage '\(context.stageID)' gives \(compiled.type.rawValue), not a condition", status: .badPipeline)
        }
        let slices = input.table.rowSlices(parts: context.threads)
        let table = input.table, env = context.environment
        let parts = ConcurrentMap.map(slices, threads: context.threads) { range in
            let r = compiled.mask(slices.count == 1 ? table : table.slice(range), env: env)
            return (r.mask, r.errors.map { (row: range.lowerBound + $0.row, message: $0.message) })
        }
        let mask = parts.flatMap(\.0)
        let errors = parts.flatMap(\.1)
        let failed = Set(errors.map(\.row))
        let keep = (0..<input.table.rowCount).filter { mask[$0] && !failed.contains($0) }
        let rejects = errors.map { input.reject(row: $0.row, stage: context.stageID, code: "E_EXPRESSION", reason: "where: \($0.message)") }
        let out = keep.count == input.table.rowCount ? input : input.selecting(keep, threads: context.threads)
        context.progress(input.table.rowCount)
        return StageResult(data: out, rejects: rejects,
                           accounting: Accounting(rowsIn: input.table.rowCount, rowsOut: keep.count, rejected: rejects.count,
                                                  removed: ["filtered": input.table.rowCount - keep.count - rejects.count]))
    }
}
