import CRMFlowCore
import CRMFlowIO
import Foundation

/// `pipeline_changes`: what changed between the last two snapshots of a history.
public struct PipelineChangesStage: Stage {
    public static let spec = StageSpec(
        kind: "pipeline_changes",
        summary: "Compare the latest snapshot of a history (from a `snapshot` stage) with the one before: deals new, removed, pushed (expected close date later), pulled (earlier), moved stage, and changed in amount, one row per change.",
        options: [
            OptionSpec("input", .scalar, required: true, isInput: true, "The history (a snapshot stage)."),
            OptionSpec("id", .scalar, required: true, "The deal id column."),
            OptionSpec("date_column", .scalar, default: "snapshot_date", "The snapshot date column."),
            OptionSpec("close", .scalar, "The expected close date column (pushed / pulled)."),
            OptionSpec("stage", .scalar, "The stage column (moved stage)."),
            OptionSpec("amount", .scalar, "The amount column (changed amount)."),
        ],
        example: """
        deal_changes:
          pipeline_changes: { input: deal_history, id: opportunity_id, close: close_date, stage: stage, amount: amount_usd }
        """)

    let id: String
    let dateColumn: String
    let close: String?
    let stage: String?
    let amount: String?
    let location: SourceLocation

    public init?(_ config: StageConfig) {
        id = config.string("id") ?? ""
        dateColumn = config.string("date_column") ?? "snapshot_date"
        close = config.string("close")
        stage = config.string("stage")
        amount = config.string("amount")
        location = config.location
    }

    public func outputSchema(_ inputs: [KnownSchema], _ check: SchemaCheck) -> KnownSchema {
        if let schema = inputs.first ?? nil {
            check.checkColumns(([id, dateColumn] + [close, stage, amount].compactMap { $0 }).map { ($0, location) }, in: schema, option: "pipeline_changes")
        }
        return ExprSchema(names: ["id", "change", "from", "to", "previous_snapshot", "snapshot"], types: [.string, .string, .string, .string, .date, .date])
    }

    public func run(_ inputs: [StageData], _ context: RunContext) throws(StageFailure) -> StageResult {
        let t = inputs[0].table
        func col(_ name: String) throws(StageFailure) -> Column { try requireColumn(name, in: t, for: "pipeline_changes", at: location) }
        let ids = try col(id), dates = try col(dateColumn)
        let closeCol = try close.map { n throws(StageFailure) in try col(n) }
        let stageCol = try stage.map { n throws(StageFailure) in try col(n) }
        let amountCol = try amount.map { n throws(StageFailure) in try col(n) }
        var byDate: [Int32: [String: Int]] = [:]
        for r in 0..<t.rowCount where !ids.isNull(r) {
            if case .date(let d) = dates.value(at: r) { byDate[d, default: [:]][ids.value(at: r).description] = r }
        }
        let days = byDate.keys.sorted()
        var rows: [[Value]] = []
        var notes: [String] = []
        if days.count < 2 {
            notes.append("only \(days.count) snapshot\(days.count == 1 ? "" : "s") in the history; changes need two")
        } else {
            let (p, c) = (days[days.count - 2], days[days.count - 1])
            let before = byDate[p]!, now = byDate[c]!
            var counts: [String: Int] = [:]
            func add(_ deal: String, _ change: String, _ from: Value, _ to: Value) {
                counts[change, default: 0] += 1
                rows.append([.string(deal), .string(change), from.isNull ? .null : .string(from.description), to.isNull ? .null : .string(to.description), .date(p), .date(c)])
            }
            for deal in now.keys.sorted() {
                let r = now[deal]!
                guard let q = before[deal] else { add(deal, "new", .null, stageCol?.value(at: r) ?? .null); continue }
                if let cc = closeCol {
                    let a = cc.value(at: q), b = cc.value(at: r)
                    if !a.isNull, !b.isNull, a != b { add(deal, compareValues(b, a) > 0 ? "pushed" : "pulled", a, b) }
                }
                if let sc = stageCol, sc.value(at: q) != sc.value(at: r) { add(deal, "moved stage", sc.value(at: q), sc.value(at: r)) }
                if let ac = amountCol, ac.value(at: q) != ac.value(at: r) { add(deal, "amount changed", ac.value(at: q), ac.value(at: r)) }
            }
            for deal in before.keys.sorted() where now[deal] == nil { add(deal, "removed", stageCol?.value(at: before[deal]!) ?? .null, .null) }
            let order = ["new", "removed", "pushed", "pulled", "moved stage", "amount changed"]
            notes.append("since \(Value.date(p).description): " + order.map { "\(counts[$0] ?? 0) \($0)" }.joined(separator: ", "))
        }
        let out = Table(names: ["id", "change", "from", "to", "previous_snapshot", "snapshot"], types: [.string, .string, .string, .string, .date, .date], rows: rows)
        let n = t.rowCount
        return StageResult(data: StageData(table: out), accounting: Accounting(rowsIn: n, rowsOut: out.rowCount, removed: ["compared": n], added: ["change": out.rowCount]), notes: notes)
    }
}
