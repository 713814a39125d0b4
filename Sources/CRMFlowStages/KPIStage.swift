import CRMFlowCore
import CRMFlowIO
import Foundation

/// The status of one KPI in the current period (for `crmflow run --fail-on-kpi`).
public struct KPIState: Sendable, Hashable {
    public var kpi: String
    public var period: String
    public var status: String
    public var value: String
    public var target: String
}

/// `kpi`: named aggregate metrics per period against targets, with status and change.
public struct KPIStage: Stage {
    public static let spec = StageSpec(
        kind: "kpi",
        summary: "KPIs: named aggregate expressions computed per period (day, week, month, quarter, year) from a date column, each against a target with a direction and thresholds; status on track / at risk / off track, change against the previous period and the same period a year earlier. The current period's status is shown in the run summary; `crmflow run --fail-on-kpi off-track` exits 3 when one is off track.",
        options: [
            OptionSpec("input", .scalar, required: true, isInput: true, "The rows the KPIs are computed over."),
            OptionSpec("date", .scalar, required: true, "The date or timestamp column that places a row in a period."),
            OptionSpec("period", .scalar, default: "month", allowed: ["day", "week", "month", "quarter", "year"], "The period length (weeks start on Monday)."),
            OptionSpec("metrics", .mapping, required: true, "`name: { value: <aggregate expression>, target: <number>, direction: higher|lower, on_track: 100%, at_risk: 90% }`. Attainment is value ÷ target (target ÷ value when lower is better); at least `on_track` is on track, at least `at_risk` is at risk, below is off track."),
        ],
        example: """
        kpis:
          kpi:
            input: deals
            date: close_date
            period: month
            metrics:
              revenue: { value: "sum(if(is_won, amount_usd, 0))", target: 50000 }
              win_rate: { value: "count_if(is_won) / count_if(is_closed)", target: 0.3, at_risk: 80% }
              cycle_days: { value: "median(days_between(created_date, close_date))", target: 45, direction: lower }
        """)

    struct Metric: Sendable {
        var name: String
        var expr: ExprText
        var target: Double?
        var higherIsBetter: Bool
        var onTrack: Double
        var atRisk: Double
    }

    let dateColumn: String
    let period: String
    let metrics: [Metric]
    let location: SourceLocation

    static func fraction(_ s: String) -> Double? {
        let t = s.trimmingCharacters(in: .whitespaces)
        if t.hasSuffix("%") { return Double(t.dropLast()).map { $0 / 100 } }
        return Double(t)
    }

    public init?(_ config: StageConfig) {
        dateColumn = config.string("date") ?? ""
        period = config.choice("period") ?? "month"
        location = config.location
        guard let entries = config.mapping("metrics") else { return nil }
        var out: [Metric] = []
        var ok = true
        for e in entries {
            guard let body = e.value.entries else {
                config.log.add(.optionShape, "metric '\(e.key)' must be a mapping with value: and target:", at: e.value.location,
                               hint: "e.g. \(e.key): { value: \"sum(amount)\", target: 50000 }")
                ok = false
                continue
            }
            func scalar(_ k: String) -> ConfigNode? { body.first { $0.key == k }?.value }
            for x in body where !["value", "target", "direction", "on_track", "at_risk"].contains(x.key) {
                config.log.add(.unknownOption, "unknown option '\(x.key)' of metric '\(e.key)'", at: x.keyLocation, length: x.key.count,
                               hint: "options: value, target, direction, on_track, at_risk")
                ok = false
            }
            guard let valueNode = scalar("value"), let expr = config.expression(valueNode, option: "metrics.\(e.key).value") else {
                if scalar("value") == nil { config.log.add(.missingOption, "metric '\(e.key)' has no value expression", at: e.keyLocation) }
                ok = false
                continue
            }
            var m = Metric(name: e.key, expr: expr, target: nil, higherIsBetter: true, onTrack: 1, atRisk: 0.9)
            if let t = scalar("target")?.scalar {
                guard let v = Double(t) else { config.log.add(.invalidValue, "target of '\(e.key)' must be a number, got '\(t)'", at: scalar("target")?.textLocation); ok = false; continue }
                m.target = v
            }
            if let d = scalar("direction")?.scalar {
                guard d == "higher" || d == "lower" else { config.log.add(.invalidValue, "direction must be higher or lower, got '\(d)'", at: scalar("direction")?.textLocation); ok = false; continue }
                m.higherIsBetter = d == "higher"
            }
            for (k, keyPath) in [("on_track", \Metric.onTrack), ("at_risk", \Metric.atRisk)] {
                guard let s = scalar(k)?.scalar else { continue }
                guard let f = Self.fraction(s) else { config.log.add(.invalidValue, "\(k) of '\(e.key)' must be a share such as 90% or 0.9, got '\(s)'", at: scalar(k)?.textLocation); ok = false; continue }
                m[keyPath: keyPath] = f
            }
            out.append(m)
        }
        metrics = out
        if !ok { return nil }
    }

    static let outputColumns: [(String, DataType)] = [
        ("kpi", .string), ("period", .date), ("value", .double), ("target", .double), ("attainment", .double), ("status", .string),
        ("previous", .double), ("change", .double), ("year_ago", .double), ("yoy_change", .double),
    ]

    public func outputSchema(_ inputs: [KnownSchema], _ check: SchemaCheck) -> KnownSchema {
        if let schema = inputs.first ?? nil {
            check.checkColumns([(dateColumn, location)], in: schema, option: "kpi date")
            for m in metrics {
                do { _ = try AggregateCompiler.check(m.expr.node, text: m.expr.text, input: schema, groupKeys: []) } catch { check.log.add(error, in: m.expr) }
            }
        }
        return ExprSchema(names: Self.outputColumns.map { $0.0 }, types: Self.outputColumns.map { Optional($0.1) })
    }

    public func inputColumns(forOutput needed: Set<String>?) -> [Set<String>?] {
        var read: Set<String> = [dateColumn]
        for m in metrics { read.formUnion(m.expr.node.referencedColumns) }
        return [read]
    }

    /// on track / at risk / off track for a value against a target.
    static func status(value: Double?, target: Double?, higherIsBetter: Bool, onTrack: Double, atRisk: Double) -> (attainment: Double?, status: String) {
        guard let value else { return (nil, "no data") }
        guard let target else { return (nil, "no target") }
        let attainment: Double
        if higherIsBetter {
            attainment = target == 0 ? (value >= 0 ? 1 : 0) : value / target
        } else {
            attainment = value <= 0 ? Double.infinity : target / value
        }
        let status = attainment >= onTrack ? "on track" : attainment >= atRisk ? "at risk" : "off track"
        return (attainment.isFinite ? attainment : nil, status)
    }

    public func run(_ inputs: [StageData], _ context: RunContext) throws(StageFailure) -> StageResult {
        let table = inputs[0].table
        guard let dates = table.column(named: dateColumn) else {
            throw StageFailure("\(location): kpi date column '\(dateColumn)' is not a column of the input", hint: "columns: " + table.schema.names.joined(separator: ", "), status: .badPipeline)
        }
        // Each row's period; rows without a date are in no period.
        var periodOf = [Int32?](repeating: nil, count: table.rowCount)
        let unit = DateUnit(rawValue: period)!
        for r in 0..<table.rowCount { periodOf[r] = dates.value(at: r).asDays.map { DateMath.truncate($0, unit) } }
        let dated = (0..<table.rowCount).filter { periodOf[$0] != nil }
        let undated = table.rowCount - dated.count
        var periods: [Int32] = []
        if let first = dated.map({ periodOf[$0]! }).min(), let last = dated.map({ periodOf[$0]! }).max() {
            var p = first
            while p <= last { periods.append(p); p = DateMath.next(p, unit) }
        }
        let rows = table.selecting(dated)
        var keyBuilder = ColumnBuilder(.date, capacity: dated.count)
        for r in dated { keyBuilder.append(.date(periodOf[r]!)) }
        let key = keyBuilder.finish()
        let grouping = Grouping.make(keys: [key], rowCount: rows.rowCount)
        let groupPeriods = grouping.firstRow.map { r -> Int32 in if case .date(let d) = key.value(at: r) { return d }; return 0 }
        var out: [[Value]] = []
        var states: [KPIState] = []
        let asOf = context.environment.asOf
        let currentPeriod = DateMath.truncate(asOf, unit)
        for m in metrics {
            let compiled = try compileAggregate(m.expr, rows.schema, groupKeys: [], option: "metric \(m.name)", stage: context.stageID)
            let column: Column
            do {
                column = try compiled.evaluate(rows, grouping: grouping, keys: [], keySchema: [], env: context.environment)
            } catch {
                throw StageFailure("metric '\(m.name)' of stage '\(context.stageID)': \(error.message)", hint: error.hint, status: .badData)
            }
            var valueOf: [Int32: Double] = [:]
            for (g, p) in groupPeriods.enumerated() { if let v = column.value(at: g).asDouble { valueOf[p] = v } }
            // A period without rows takes the metric's value over no rows (count → 0; sum → null, as in SQL).
            let empty = Table(emptyWith: rows.schema)
            let emptyValue = (try? compiled.evaluate(empty, grouping: .single(rows: 0), keys: [], keySchema: [], env: context.environment))
                .flatMap { $0.count > 0 ? $0.value(at: 0).asDouble : nil }
            if let emptyValue { for p in periods where valueOf[p] == nil && !groupPeriods.contains(p) { valueOf[p] = emptyValue } }
            var previous: Double? = nil
            var current: (Int32, Double?, String)? = nil
            for p in periods {
                let v = valueOf[p]
                let (attainment, status) = Self.status(value: v, target: m.target, higherIsBetter: m.higherIsBetter, onTrack: m.onTrack, atRisk: m.atRisk)
                let yearAgo = valueOf[DateMath.addMonths(p, -12)]
                func change(_ a: Double?, _ b: Double?) -> Value {
                    guard let a, let b, b != 0 else { return .null }
                    return .double(Stats.rounded((a - b) / abs(b)))
                }
                out.append([.string(m.name), .date(p), v.map { .double(Stats.rounded($0, 4)) } ?? .null, m.target.map { .double($0) } ?? .null,
                            attainment.map { .double(Stats.rounded($0)) } ?? .null, .string(status), previous.map { .double(Stats.rounded($0, 4)) } ?? .null,
                            change(v, previous), yearAgo.map { .double(Stats.rounded($0, 4)) } ?? .null, change(v, yearAgo)])
                if p <= currentPeriod { current = (p, v, status) }
                previous = v
            }
            if let (p, v, status) = current {
                // Written as the report writes it: the KPI's name says its kind (revenue_usd: money, win_rate: a rate).
                let measure = Measure.of(name: m.name, type: .double)
                states.append(KPIState(kpi: m.name, period: Value.date(p).description, status: status,
                                       value: v.map(measure.format) ?? "–", target: m.target.map(measure.format) ?? "–"))
            }
        }
        let result = Table(names: Self.outputColumns.map { $0.0 }, types: Self.outputColumns.map { $0.1 }, rows: out)
        var notes = states.map { "\($0.kpi) \($0.period): \($0.status) (\($0.value) against \($0.target))" }
        if undated > 0 { notes.append("\(undated) rows have no \(dateColumn) and are in no period") }
        context.progress(table.rowCount)
        let n = table.rowCount
        return StageResult(data: StageData(table: result), accounting: Accounting(rowsIn: n, rowsOut: result.rowCount, removed: ["aggregated": n], added: ["kpi row": result.rowCount]),
                           notes: notes, kpis: states)
    }
}
