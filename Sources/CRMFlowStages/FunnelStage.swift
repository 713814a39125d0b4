import CRMFlowCore
import CRMFlowIO
import Foundation

/// `funnel`: deals reaching each stage, conversion, drop-off, time in stage and the bottleneck.
public struct FunnelStage: Stage {
    public static let spec = StageSpec(
        kind: "funnel",
        summary: "Funnel analysis over an ordered stage list: deals reaching each stage (any-stage and strict counting), stage-to-stage and overall conversion, drop-off, days in stage (with a stage history), the bottleneck, win rate (won ÷ (won + lost)), cycle length and sales velocity; per group when asked.",
        minInputs: 1, maxInputs: 2,
        options: [
            OptionSpec("input", .scalar, required: true, isInput: true, "The deals: one row per deal."),
            OptionSpec("history", .scalar, isInput: true, "A stage history (one row per deal and stage entered: id, stage, entered_at). Without it the funnel is read from each deal's current stage."),
            OptionSpec("stages", .list, required: true, "The open stages in order, e.g. [Prospecting, Qualification, Proposal, Negotiation]."),
            OptionSpec("won", .scalarOrList, required: true, "Stage name(s) of won deals (they passed every stage)."),
            OptionSpec("lost", .scalarOrList, "Stage name(s) of lost deals."),
            OptionSpec("stage", .scalar, default: "stage", "The deals' stage column (and the history's)."),
            OptionSpec("lost_stage", .scalar, "A column holding the stage a lost deal was lost at (without a history, a lost deal otherwise counts at the first stage only)."),
            OptionSpec("id", .scalar, "The deal id column (needed with a history)."),
            OptionSpec("entered_at", .scalar, default: "entered_at", "The history's date or timestamp column."),
            OptionSpec("amount", .scalar, "The deal value column (for average deal size and velocity)."),
            OptionSpec("created", .scalar, "The deal created date column (cycle length, cohorts)."),
            OptionSpec("closed", .scalar, "The deal close date column (cycle length)."),
            OptionSpec("by", .scalarOrList, "Group columns: one funnel per owner, region, …"),
            OptionSpec("cohort", .scalar, allowed: ["month", "quarter", "year"], "Also group by the period the deal was created in (needs `created`)."),
        ],
        example: """
        funnel:
          funnel:
            input: deals
            stages: [Prospecting, Qualification, Proposal, Negotiation]
            won: Closed Won
            lost: Closed Lost
            amount: amount_usd
            created: created_date
            closed: close_date
            by: [owner]
        """)

    let inputName: String
    let historyName: String?
    let stages: [String]
    let won: [String]
    let lost: [String]
    let stageColumn: String
    let lostStage: String?
    let idColumn: String?
    let enteredAt: String
    let amount: String?
    let created: String?
    let closed: String?
    let by: [String]
    let cohort: String?
    let location: SourceLocation

    public init?(_ config: StageConfig) {
        inputName = config.string("input") ?? ""
        historyName = config.string("history")
        stages = config.strings("stages") ?? []
        won = config.strings("won") ?? []
        lost = config.strings("lost") ?? []
        stageColumn = config.string("stage") ?? "stage"
        lostStage = config.string("lost_stage")
        idColumn = config.string("id")
        enteredAt = config.string("entered_at") ?? "entered_at"
        amount = config.string("amount")
        created = config.string("created")
        closed = config.string("closed")
        by = config.strings("by") ?? []
        cohort = config.choice("cohort")
        location = config.location
        var ok = true
        if stages.count < 2 {
            config.log.add(.invalidValue, "funnel stage '\(config.id)' needs at least two stages in order", at: config.node("stages")?.location)
            ok = false
        }
        if historyName != nil, idColumn == nil {
            config.log.add(.missingOption, "funnel stage '\(config.id)' reads a history but names no id column", at: config.node("history")?.location,
                           hint: "add id: <the deal id column, in both the deals and the history>")
            ok = false
        }
        if cohort != nil, created == nil {
            config.log.add(.missingOption, "cohort needs the created date column", at: config.node("cohort")?.location, hint: "add created: <column>")
            ok = false
        }
        if !ok { return nil }
    }

    static let outputColumns: [(String, DataType)] = [
        ("stage", .string), ("stage_order", .integer), ("deals", .integer), ("deals_strict", .integer), ("conversion", .double),
        ("conversion_strict", .double), ("overall_conversion", .double), ("drop_off", .integer), ("median_days", .double),
        ("mean_days", .double), ("bottleneck", .string), ("won", .integer), ("lost", .integer), ("open", .integer), ("win_rate", .double),
        ("avg_deal_size", .double), ("median_cycle_days", .double), ("open_pipeline", .double), ("velocity_per_day", .double),
    ]

    var groupNames: [String] { by + (cohort == nil ? [] : ["cohort"]) }

    public func outputSchema(_ inputs: [KnownSchema], _ check: SchemaCheck) -> KnownSchema {
        if let deals = inputs.first ?? nil {
            let named = ([stageColumn] + by + [lostStage, amount, created, closed, idColumn].compactMap { $0 }).map { ($0, Optional(location)) }
            check.checkColumns(named, in: deals, option: "funnel stage")
        }
        if inputs.count > 1, let history = inputs[1] {
            check.checkColumns([(idColumn ?? "id", location), (stageColumn, location), (enteredAt, location)], in: history, option: "funnel history")
        }
        let groups = groupNames.map { n -> DataType? in n == "cohort" ? .date : (inputs.first ?? nil).flatMap { s in s.index(of: n).flatMap { s.types[$0] } } }
        return ExprSchema(names: groupNames + Self.outputColumns.map { $0.0 }, types: groups + Self.outputColumns.map { Optional($0.1) })
    }

    // MARK: - Computing

    /// What is known of one deal.
    struct Deal {
        var group: [Value]
        /// Index of the furthest stage reached (stages.count for won), -1 when outside the funnel.
        var furthest: Int
        /// Passed every stage up to `strictFurthest` in order.
        var strictFurthest: Int
        var isWon = false, isLost = false
        var amount: Double?
        var cycleDays: Double?
        /// Completed days per stage index.
        var days: [Int: Double] = [:]
    }

    func column(_ name: String, _ table: Table, _ what: String) throws(StageFailure) -> Column {
        try requireColumn(name, in: table, for: "funnel \(what)", at: location)
    }

    public func run(_ inputs: [StageData], _ context: RunContext) throws(StageFailure) -> StageResult {
        let table = inputs[0].table
        let stageCol = try column(stageColumn, table, "stage")
        let groupCols = try by.map { n throws(StageFailure) in try column(n, table, "by") }
        let amountCol = try amount.map { n throws(StageFailure) in try column(n, table, "amount") }
        let createdCol = try created.map { n throws(StageFailure) in try column(n, table, "created") }
        let closedCol = try closed.map { n throws(StageFailure) in try column(n, table, "closed") }
        let lostStageCol = try lostStage.map { n throws(StageFailure) in try column(n, table, "lost_stage") }
        let index = Dictionary(stages.enumerated().map { (Countries.lookupKey($1), $0) }, uniquingKeysWith: { a, _ in a })
        let wonKeys = Set(won.map(Countries.lookupKey)), lostKeys = Set(lost.map(Countries.lookupKey))
        var deals: [Deal] = []
        var outside: [String: Int] = [:]
        var byID: [String: Int] = [:]
        for row in 0..<table.rowCount {
            var group = groupCols.map { $0.value(at: row) }
            if let cohort {
                group.append(createdCol?.value(at: row).asDays.map { .date(DateMath.truncate($0, DateUnit(rawValue: cohort)!)) } ?? .null)
            }
            let name = stageCol.isNull(row) ? "" : stageCol.value(at: row).description
            let key = Countries.lookupKey(name)
            var deal = Deal(group: group, furthest: -1, strictFurthest: -1)
            if wonKeys.contains(key) {
                deal.isWon = true
                deal.furthest = stages.count
            } else if lostKeys.contains(key) {
                deal.isLost = true
                deal.furthest = 0
                if let l = lostStageCol, !l.isNull(row), let k = index[Countries.lookupKey(l.value(at: row).description)] { deal.furthest = k }
            } else if let k = index[key] {
                deal.furthest = k
            } else {
                outside[name, default: 0] += 1
            }
            deal.strictFurthest = deal.furthest
            deal.amount = amountCol.flatMap { $0.value(at: row).asDouble }
            if deal.isWon, let c = createdCol.flatMap({ $0.value(at: row).asFractionalDays }), let d = closedCol.flatMap({ $0.value(at: row).asFractionalDays }) {
                deal.cycleDays = d - c
            }
            if let idColumn, let idc = table.column(named: idColumn), !idc.isNull(row) { byID[idc.value(at: row).description] = deals.count }
            deals.append(deal)
        }
        var notes: [String] = []
        if inputs.count > 1 {
            try applyHistory(inputs[1].table, to: &deals, byID: byID, index: index, wonKeys: wonKeys, notes: &notes, asOf: context.environment)
        }
        for (name, n) in outside.sorted(by: { $0.key < $1.key }) {
            notes.append("\(n) deal\(n == 1 ? "" : "s") in stage '\(name.isEmpty ? "(none)" : name)' outside the funnel's stages are not counted")
        }
        // Groups in order of first appearance.
        var groupOrder: [[Value]] = []
        var members: [[Value]: [Int]] = [:]
        for (i, d) in deals.enumerated() {
            if members[d.group] == nil { groupOrder.append(d.group) }
            members[d.group, default: []].append(i)
        }
        var rows: [[Value]] = []
        for g in groupOrder {
            let ds = members[g]!.map { deals[$0] }
            let (groupRows, summary) = funnelRows(ds)
            rows += groupRows.map { g + $0 }
            let label = g.isEmpty ? "" : " (" + zip(groupNames, g).map { "\($0)=\($1.description)" }.joined(separator: ", ") + ")"
            notes.append("funnel\(label): " + summary)
        }
        var fields = groupNames.enumerated().map { i, n in Field(name: n, type: n == "cohort" ? .date : groupCols[i].type) }
        fields += Self.outputColumns.map { Field(name: $0.0, type: $0.1) }
        let out = Table(names: fields.map(\.name), types: fields.map(\.type), rows: rows)
        context.progress(table.rowCount)
        let n = inputs.reduce(0) { $0 + $1.table.rowCount }
        return StageResult(data: StageData(table: out), accounting: Accounting(rowsIn: n, rowsOut: out.rowCount, removed: ["aggregated": n], added: ["funnel row": out.rowCount]),
                           notes: notes)
    }

    /// Stage rows of one funnel, and its one-line summary (win rate with its definition, bottleneck, velocity).
    func funnelRows(_ ds: [Deal]) -> ([[Value]], String) {
        let k = stages.count
        var reached = [Int](repeating: 0, count: k), strict = [Int](repeating: 0, count: k)
        var dwell = [[Double]](repeating: [], count: k)
        for d in ds {
            if d.furthest >= 0 { for s in 0..<min(k, d.furthest + 1) { reached[s] += 1 } }
            if d.strictFurthest >= 0 { for s in 0..<min(k, d.strictFurthest + 1) { strict[s] += 1 } }
            for (s, days) in d.days where s < k { dwell[s].append(days) }
        }
        let wonCount = ds.filter(\.isWon).count, lostCount = ds.filter(\.isLost).count
        let openDeals = ds.filter { !$0.isWon && !$0.isLost && $0.furthest >= 0 }
        let winRate: Double? = wonCount + lostCount > 0 ? Double(wonCount) / Double(wonCount + lostCount) : nil
        let wonAmounts = ds.filter(\.isWon).compactMap(\.amount)
        let avgDeal: Double? = wonAmounts.isEmpty ? nil : wonAmounts.reduce(0, +) / Double(wonAmounts.count)
        let cycles = ds.compactMap(\.cycleDays)
        let medianCycle = Stats.median(cycles)
        let openPipeline: Double? = amount == nil ? nil : openDeals.compactMap(\.amount).reduce(0, +)
        var velocity: Double? = nil
        if let openPipeline, let winRate, let medianCycle, medianCycle > 0 { velocity = openPipeline * winRate / medianCycle }
        // Bottleneck: the step with the lowest conversion, and the stage with the longest median dwell.
        var conv = [Double?](repeating: nil, count: k)
        for s in 1..<k where reached[s - 1] > 0 { conv[s] = Double(reached[s]) / Double(reached[s - 1]) }
        let worst = (1..<k).filter { conv[$0] != nil }.min { conv[$0]! < conv[$1]! }
        let medians = dwell.map { Stats.median($0) }
        let slowest = (0..<k).filter { medians[$0] != nil }.max { medians[$0]! < medians[$1]! }
        var rows: [[Value]] = []
        for s in 0..<k {
            var flags: [String] = []
            if s == worst { flags.append("largest drop") }
            if s == slowest { flags.append("longest dwell") }
            func ratio(_ a: Int, _ b: Int) -> Value { b > 0 ? .double(Stats.rounded(Double(a) / Double(b))) : .null }
            rows.append([
                .string(stages[s]), .integer(Int64(s + 1)), .integer(Int64(reached[s])), .integer(Int64(strict[s])),
                s == 0 ? .null : ratio(reached[s], reached[s - 1]), s == 0 ? .null : ratio(strict[s], strict[s - 1]), ratio(reached[s], reached[0]),
                .integer(Int64(s == 0 ? 0 : reached[s - 1] - reached[s])), medians[s].map { .double(Stats.rounded($0)) } ?? .null,
                dwell[s].isEmpty ? .null : .double(Stats.rounded(dwell[s].reduce(0, +) / Double(dwell[s].count))), flags.isEmpty ? .null : .string(flags.joined(separator: ", ")),
                .integer(Int64(wonCount)), .integer(Int64(lostCount)), .integer(Int64(openDeals.count)), winRate.map { .double(Stats.rounded($0)) } ?? .null,
                avgDeal.map { .double(Stats.rounded($0, 2)) } ?? .null, medianCycle.map { .double(Stats.rounded($0, 1)) } ?? .null,
                openPipeline.map { .double(Stats.rounded($0, 2)) } ?? .null, velocity.map { .double(Stats.rounded($0, 2)) } ?? .null,
            ])
        }
        var summary = "win rate = won ÷ (won + lost) = \(wonCount) ÷ (\(wonCount) + \(lostCount))"
        summary += winRate.map { " = " + String(format: "%.1f%%", $0 * 100) } ?? " (no closed deals)"
        if let worst { summary += "; largest drop: \(stages[worst - 1]) → \(stages[worst]) (" + String(format: "%.1f%%", conv[worst]! * 100) + " convert)" }
        if let slowest { summary += "; longest dwell: \(stages[slowest]) (median " + String(format: "%.1f", medians[slowest]!) + " days)" }
        if let velocity { summary += "; sales velocity " + String(format: "%.2f", velocity) + " per day" }
        return (rows, summary)
    }

    /// With a stage history: the furthest stage entered, strict order, and completed days in each stage.
    func applyHistory(_ history: Table, to deals: inout [Deal], byID: [String: Int], index: [String: Int], wonKeys: Set<String>,
                      notes: inout [String], asOf: EvalEnvironment) throws(StageFailure) {
        let ids = try column(idColumn ?? "id", history, "history id")
        let names = try column(stageColumn, history, "history stage")
        let times = try column(enteredAt, history, "history entered_at")
        var entries: [Int: [(stage: Int, at: Double)]] = [:]
        var unknown = 0
        for row in 0..<history.rowCount where !ids.isNull(row) && !names.isNull(row) {
            guard let deal = byID[ids.value(at: row).description], let at = times.value(at: row).asFractionalDays else { unknown += 1; continue }
            let key = Countries.lookupKey(names.value(at: row).description)
            let s = wonKeys.contains(key) ? stages.count : index[key]
            guard let s else { continue }
            entries[deal, default: []].append((s, at))
        }
        if unknown > 0 { notes.append("\(unknown) history rows name a deal not in the input or have no date; not counted") }
        for (deal, list) in entries {
            let ordered = list.sorted { $0.at != $1.at ? $0.at < $1.at : $0.stage < $1.stage }
            let maxStage = ordered.map(\.stage).max() ?? -1
            deals[deal].furthest = max(deals[deal].furthest, maxStage)
            // Strict: stages 0, 1, 2, … entered in this order, each before the next.
            var next = 0
            for e in ordered where e.stage == next { next += 1 }
            deals[deal].strictFurthest = deals[deal].isWon && next >= stages.count ? stages.count : next - 1
            // Completed days: from entering a stage to entering the next (later) one.
            for (i, e) in ordered.enumerated() where e.stage < stages.count && i + 1 < ordered.count {
                deals[deal].days[e.stage] = ordered[i + 1].at - e.at
            }
        }
    }
}
