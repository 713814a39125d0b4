import CRMFlowCore
import CRMFlowIO

/// `limit`: the first rows (after an offset).
public struct LimitStage: Stage {
    public static let spec = StageSpec(
        kind: "limit", summary: "Keep the first `rows` rows after skipping `offset`.",
        options: [
            OptionSpec("input", .scalar, required: true, isInput: true, "The stage whose rows are limited."),
            OptionSpec("rows", .scalar, required: true, "How many rows to keep."),
            OptionSpec("offset", .scalar, default: "0", "Rows to skip first."),
        ],
        example: """
        top10:
          limit: { input: top_owners, rows: 10 }
        """)

    let rows: Int
    let offset: Int

    public init?(_ config: StageConfig) {
        guard let rows = config.int("rows", min: 0) else { return nil }
        self.rows = rows
        offset = config.int("offset", min: 0) ?? 0
    }

    public func outputSchema(_ inputs: [KnownSchema], _ check: SchemaCheck) -> KnownSchema { inputs.first ?? nil }

    public func inputColumns(forOutput needed: Set<String>?) -> [Set<String>?] { [needed] }

    public func run(_ inputs: [StageData], _ context: RunContext) throws(StageFailure) -> StageResult {
        let input = inputs[0]
        let n = input.table.rowCount
        let start = min(offset, n), end = min(n, start + rows)
        let out = input.selecting(Array(start..<end))
        return StageResult(data: out, accounting: Accounting(rowsIn: n, rowsOut: out.table.rowCount, removed: ["limited": n - out.table.rowCount]))
    }
}
