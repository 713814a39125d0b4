import CRMFlowCore
import CRMFlowIO
import Foundation

/// `forecast`: a value per period forecast with the exponential smoothing family, or the weighted open pipeline.
public struct ForecastStage: Stage {
    public static let spec = StageSpec(
        kind: "forecast",
        summary: "Forecast a value summed per period (day, week, month, quarter) from a date column, per group when asked (groups in parallel). Methods: ets (the exponential smoothing family by maximum likelihood, the model chosen by AICc), theta (standard or optimised Theta), arima (seasonal ARIMA, Hyndman-Khandakar order search), combination (the median of those three; combination_mean their mean), the benchmarks naive, seasonal_naive, moving_average, linear_trend, holt (damped), holt_winters_additive, holt_winters_multiplicative, or auto: the combination, unless ETS, Theta or ARIMA has a mean sMAPE at least 10% lower over up to three rolling forecast origins (select: aicc picks the lowest AICc among the benchmark methods instead); with 80% and 95% intervals from each model. Fewer than two seasons of history: non-seasonal models only. Each forecast reports its backtest sMAPE and MASE next to seasonal naive's. `pipeline`: open deals × win probability by expected close period, with forecast categories (commit, best case, pipeline) and attainment against quotas.",
        options: [
            OptionSpec("input", .scalar, required: true, isInput: true, "The rows (e.g. won deals, or all deals for `pipeline`)."),
            OptionSpec("date", .scalar, required: true, "The date column that places a row in a period (the expected close date for `pipeline`)."),
            OptionSpec("value", .scalar, "The amount column summed per period (rows are counted without it)."),
            OptionSpec("period", .scalar, default: "month", allowed: ["day", "week", "month", "quarter"], "The period length."),
            OptionSpec("horizon", .scalar, default: "6", "Periods forecast."),
            OptionSpec("method", .scalar, default: "auto", allowed: ["auto", "ets", "theta", "arima", "combination", "combination_mean", "naive", "seasonal_naive", "moving_average", "linear_trend", "holt", "holt_winters_additive", "holt_winters_multiplicative", "pipeline"], "The method."),
            OptionSpec("select", .scalar, default: "backtest", allowed: ["backtest", "aicc"], "How auto chooses: backtest (the combination of ETS, Theta and ARIMA unless one of them is clearly better on rolling origins) or aicc (the lowest AICc among the benchmark methods)."),
            OptionSpec("season", .scalar, "Season length in periods (default: 12 months, 4 quarters, 52 weeks, 7 days)."),
            OptionSpec("by", .scalarOrList, "Group columns: one forecast per group."),
            OptionSpec("non_negative", .scalar, default: "auto", allowed: ["auto", "true", "false"], "Truncate forecasts and their intervals at 0: `auto` does so when no period of the history is negative (revenue, counts), and the run's notes say so."),
            OptionSpec("open", .scalar, default: "not is_closed", "pipeline: which deals are open (an expression)."),
            OptionSpec("won", .scalar, default: "is_won", "pipeline: which deals are won (an expression)."),
            OptionSpec("probability", .scalar, "pipeline: a 0-1 win probability column (e.g. a score stage's)."),
            OptionSpec("stage_probabilities", .mapping, "pipeline: win probability per stage, when there is no probability column."),
            OptionSpec("stage", .scalar, default: "stage", "pipeline: the stage column (with stage_probabilities)."),
            OptionSpec("category", .scalar, "pipeline: a forecast category column (commit, best case, pipeline, omitted); otherwise by probability."),
            OptionSpec("commit_at", .scalar, default: "0.7", "pipeline: probability from which an open deal is commit."),
            OptionSpec("best_case_at", .scalar, default: "0.4", "pipeline: probability from which an open deal is best case."),
            OptionSpec("quotas", .scalar, "pipeline: a CSV of period start dates and quotas (columns: period, quota)."),
        ],
        example: """
        revenue_forecast:
          forecast: { input: won, date: close_date, value: amount_usd, period: month, horizon: 6, method: auto }
        pipeline_forecast:
          forecast: { input: deal_scores, method: pipeline, date: close_date, value: amount_usd, probability: probability, period: quarter, quotas: quotas.csv }
        """)

    let date: String, value: String?, period: String, horizon: Int, method: String, select: String, season: Int?, by: [String]
    let open: ExprText?, won: ExprText?, probability: String?, stageProbabilities: [String: Double], stage: String, category: String?
    let commitAt: Double, bestCaseAt: Double, quotas: String?
    let nonNegative: String
    let location: SourceLocation

    public init?(_ config: StageConfig) {
        date = config.string("date") ?? ""
        value = config.string("value")
        period = config.choice("period") ?? "month"
        horizon = config.int("horizon", min: 1) ?? 6
        method = config.choice("method") ?? "auto"
        select = config.choice("select") ?? "backtest"
        season = config.int("season", min: 1)
        by = config.strings("by") ?? []
        open = config.node("open").flatMap { config.expression($0, option: "open") } ?? (try? ExprParser.parse("not is_closed")).map { ExprText(text: "not is_closed", node: $0, location: config.location) }
        won = config.node("won").flatMap { config.expression($0, option: "won") } ?? (try? ExprParser.parse("is_won")).map { ExprText(text: "is_won", node: $0, location: config.location) }
        probability = config.string("probability")
        var probs: [String: Double] = [:]
        for e in config.mapping("stage_probabilities") ?? [] { if let v = e.value.scalar.flatMap(Double.init) { probs[Countries.lookupKey(e.key)] = v } }
        stageProbabilities = probs
        stage = config.string("stage") ?? "stage"
        category = config.string("category")
        commitAt = config.number("commit_at") ?? 0.7
        bestCaseAt = config.number("best_case_at") ?? 0.4
        quotas = config.string("quotas")
        nonNegative = config.choice("non_negative") ?? "auto"
        location = config.location
        if method == "pipeline", probability == nil, stageProbabilities.isEmpty, category == nil {
            config.log.add(.missingOption, "the pipeline forecast needs probability:, stage_probabilities: or category:", at: config.node("method")?.location)
            return nil
        }
    }

    var seasonLength: Int { season ?? ["day": 7, "week": 52, "month": 12, "quarter": 4][period]! }

    static let seriesColumns: [(String, DataType)] = [("period", .date), ("kind", .string), ("value", .double), ("lo_80", .double), ("hi_80", .double),
                                                       ("lo_95", .double), ("hi_95", .double), ("method", .string)]
    static let pipelineColumns: [(String, DataType)] = [("period", .date), ("closed_won", .double), ("commit", .double), ("best_case", .double), ("pipeline", .double),
                                                         ("weighted", .double), ("quota", .double), ("attainment", .double), ("projected_attainment", .double)]

    public func outputSchema(_ inputs: [KnownSchema], _ check: SchemaCheck) -> KnownSchema {
        guard let schema = inputs.first ?? nil else { return nil }
        check.checkColumns(([date] + by + [value, probability, category].compactMap { $0 }).map { ($0, location) }, in: schema, option: "forecast")
        let cols = method == "pipeline" ? Self.pipelineColumns : Self.seriesColumns
        let groups = by.map { n in schema.index(of: n).flatMap { schema.types[$0] } }
        return ExprSchema(names: by + cols.map { $0.0 }, types: groups + cols.map { Optional($0.1) })
    }

    func column(_ name: String, _ t: Table) throws(StageFailure) -> Column {
        try requireColumn(name, in: t, for: "forecast", at: location)
    }

    var unit: DateUnit { DateUnit(rawValue: period)! }

    func periodOf(_ v: Value) -> Int32? { v.asDays.map { DateMath.truncate($0, unit) } }

    public func run(_ inputs: [StageData], _ context: RunContext) throws(StageFailure) -> StageResult {
        method == "pipeline" ? try pipelineForecast(inputs[0].table, context) : try seriesForecast(inputs[0].table, context)
    }

    // MARK: - Time series

    /// The forecast of one series, with its accuracy line.
    func forecastSeries(_ y: [Double], label: String) -> (fit: Forecasting.Fit?, note: String) {
        let m = seasonLength
        let chosen: Forecasting.Method?
        let holdout = min(horizon, max(1, y.count / 4))
        // Rolling forecast origins, each `holdout` periods apart: up to three, the later ones only with two seasons and
        // more of history before them.
        var origins: [(train: [Double], test: [Double])] = []
        for k in 0..<3 {
            let end = y.count - k * holdout
            guard end - holdout >= max(3, 2 * m + 2) || (k == 0 && end - holdout >= 3) else { break }
            origins.append((Array(y.prefix(end - holdout)), Array(y[(end - holdout)..<end])))
        }
        // The fits on the whole history, each made once (the combinations reuse their parts' fits).
        var finals: [Forecasting.Method: Forecasting.Fit?] = [:]
        func final(_ method: Forecasting.Method) -> Forecasting.Fit? {
            if let known = finals[method] { return known }
            let result: Forecasting.Fit?
            if method == .combination || method == .combinationMean {
                result = Forecasting.combine(Forecasting.Method.combined.compactMap { final($0) }, median: method == .combination, as: method, h: horizon)
            } else {
                result = Forecasting.fit(method, y, m: m, h: horizon, intervals: true)
            }
            finals[method] = result
            return result
        }
        // Each method's forecasts from each origin. ETS, Theta and ARIMA refit, at each origin, the model class their
        // selection chose on the whole history (parameters estimated again on the origin's data alone): the
        // backtest then compares methods at the cost of one fit per origin instead of a search per origin.
        var cache: [Forecasting.Method: [Forecasting.Fit?]] = [:]
        func fits(_ method: Forecasting.Method) -> [Forecasting.Fit?] {
            if let known = cache[method] { return known }
            let result: [Forecasting.Fit?]
            if method == .combination || method == .combinationMean {
                let parts = Forecasting.Method.combined.map { fits($0) }
                result = origins.indices.map { i in Forecasting.combine(parts.compactMap { $0[i] }, median: method == .combination, as: method, h: holdout) }
            } else if Forecasting.Method.modelled.contains(method) {
                let whole = final(method)
                result = origins.map { Forecasting.fit(method, $0.train, m: m, h: holdout, like: whole) }
            } else {
                result = origins.map { Forecasting.fit(method, $0.train, m: m, h: holdout) }
            }
            cache[method] = result
            return result
        }
        func backtest(_ method: Forecasting.Method) -> (smape: Double, mase: Double)? {
            guard let origin = origins.first, let f = fits(method).first ?? nil else { return nil }
            return (Forecasting.smape(f.forecast, origin.test), Forecasting.mase(f.forecast, origin.test, training: origin.train, m: m))
        }
        /// The mean sMAPE over the origins (those before the first the method cannot fit).
        func rolling(_ method: Forecasting.Method) -> Double? {
            var scores: [Double] = []
            for (origin, fit) in zip(origins, fits(method)) {
                guard let fit else { break }
                scores.append(Forecasting.smape(fit.forecast, origin.test))
            }
            return scores.isEmpty ? nil : scores.reduce(0, +) / Double(scores.count)
        }
        if method == "auto" {
            if select == "aicc" {
                chosen = Forecasting.auto(y, m: m, h: horizon)?.method
            } else {
                // The median of ETS, Theta and ARIMA, unless one of them is clearly better on the backtest: a mean
                // sMAPE at least 10% below the combination's.
                var best: (Forecasting.Method, Double)? = nil
                for meth in Forecasting.Method.combined {
                    guard let score = rolling(meth), score.isFinite else { continue }
                    if best == nil || score < best!.1 { best = (meth, score) }
                }
                if let combined = rolling(.combination), combined.isFinite, best == nil || best!.1 >= 0.9 * combined {
                    chosen = .combination
                } else if let best {
                    chosen = best.0
                } else {
                    // Too short for a backtest: the combination still fits what it can (non-seasonal models below two seasons).
                    chosen = y.count >= 3 ? .combination : .naive
                }
            }
        } else {
            chosen = Forecasting.Method(rawValue: method)
        }
        guard let chosen, let fit = (Forecasting.Method.modelled.contains(chosen) ? final(chosen) : Forecasting.fit(chosen, y, m: m, h: horizon)) ?? Forecasting.fit(.naive, y, m: m, h: horizon) else {
            return (nil, "\(label): too few periods (\(y.count)) to forecast")
        }
        var note = "\(label): \(fit.method.rawValue)" + (fit.model.map { " (\($0))" } ?? "")
        if Forecasting.Method.modelled.contains(fit.method), y.count < 2 * m, m >= 2 {
            note += ", non-seasonal models only (\(y.count) periods, fewer than two seasons of \(m))"
        }
        if let b = backtest(fit.method) {
            note += String(format: ", backtest on the last %d periods: sMAPE %.1f, MASE %.2f", holdout, b.smape, b.mase)
            if let s = backtest(.seasonalNaive) ?? backtest(.naive) {
                note += String(format: " (seasonal naive: sMAPE %.1f, MASE %.2f)", s.smape, s.mase)
                note += b.mase < s.mase ? "; beats seasonal naive" : "; does not beat seasonal naive"
            }
        }
        return (fit, note)
    }

    func seriesForecast(_ table: Table, _ context: RunContext) throws(StageFailure) -> StageResult {
        let dates = try column(date, table)
        let values = try value.map { n throws(StageFailure) in try column(n, table) }
        let groupCols = try by.map { n throws(StageFailure) in try column(n, table) }
        var series: [[Value]: [Int32: Double]] = [:]
        var order: [[Value]] = []
        var skipped = 0
        for r in 0..<table.rowCount {
            guard let p = periodOf(dates.value(at: r)) else { skipped += 1; continue }
            let v = values.map { $0.value(at: r).asDouble } ?? 1
            guard let v else { skipped += 1; continue }
            let g = groupCols.map { $0.value(at: r) }
            if series[g] == nil { order.append(g) }
            series[g, default: [:]][p, default: 0] += v
        }
        let work = order.map { ($0, series[$0]!) }
        let results = ConcurrentMap.map(work, threads: context.threads) { (group, points) -> ([[Value]], String) in
            // Every period from the first to the last; a period without rows is 0.
            let first = points.keys.min()!, last = points.keys.max()!
            var periods: [Int32] = []
            var p = first
            while p <= last { periods.append(p); p = DateMath.next(p, self.unit) }
            let y = periods.map { points[$0] ?? 0 }
            let label = group.isEmpty ? (self.value ?? "rows") : zip(self.by, group).map { "\($0)=\($1.description)" }.joined(separator: ", ")
            var (fit, note) = self.forecastSeries(y, label: label)
            // A measure that cannot be negative gets no negative forecast or interval bound: truncated at 0.
            let floor: Double? = self.nonNegative == "true" || (self.nonNegative == "auto" && y.allSatisfy { $0 >= 0 }) ? 0 : nil
            func bounded(_ v: Double) -> Double { floor.map { max($0, v) } ?? v }
            if fit != nil, floor != nil { note += "; forecasts and intervals truncated at 0 (no negative period in the history)" }
            var rows = zip(periods, y).map { group + [.date($0), .string("actual"), .double(Stats.rounded($1, 2)), .null, .null, .null, .null, .null] }
            if let fit {
                var next = last
                let spread = fit.spread(h: fit.forecast.count, m: self.seasonLength, n: y.count)
                for (h, f) in fit.forecast.enumerated() {
                    next = DateMath.next(next, self.unit)
                    // The model's own intervals where it has them; otherwise normal intervals from the one-step residual
                    // deviation times the method's spread at this horizon.
                    let sd = fit.sigma * spread[h]
                    let b = fit.bounds
                    let lo80 = b?.lo80[h] ?? f - 1.2816 * sd, hi80 = b?.hi80[h] ?? f + 1.2816 * sd
                    let lo95 = b?.lo95[h] ?? f - 1.96 * sd, hi95 = b?.hi95[h] ?? f + 1.96 * sd
                    rows.append(group + [.date(next), .string("forecast"), .double(Stats.rounded(bounded(f), 2)),
                                         .double(Stats.rounded(bounded(lo80), 2)), .double(Stats.rounded(bounded(hi80), 2)),
                                         .double(Stats.rounded(bounded(lo95), 2)), .double(Stats.rounded(bounded(hi95), 2)), .string(fit.method.rawValue)])
                }
            }
            return (rows, note)
        }
        let fields = by.enumerated().map { Field(name: $1, type: groupCols[$0].type) } + Self.seriesColumns.map { Field(name: $0.0, type: $0.1) }
        let out = Table(names: fields.map(\.name), types: fields.map(\.type), rows: results.flatMap(\.0))
        var notes = results.map(\.1)
        if skipped > 0 { notes.append("\(skipped) rows without a date or value are not counted") }
        let n = table.rowCount
        return StageResult(data: StageData(table: out), accounting: Accounting(rowsIn: n, rowsOut: out.rowCount, removed: ["aggregated": n], added: ["period row": out.rowCount]), notes: notes)
    }

    // MARK: - Pipeline

    func pipelineForecast(_ table: Table, _ context: RunContext) throws(StageFailure) -> StageResult {
        let dates = try column(date, table)
        let amounts = try value.map { n throws(StageFailure) in try column(n, table) }
        func flags(_ e: ExprText?) throws(StageFailure) -> [Bool] {
            guard let e else { return [Bool](repeating: false, count: table.rowCount) }
            return try conditionRows(e, table, context, option: "forecast")
        }
        let isOpen = try flags(open), isWon = try flags(won)
        let probs = try probability.map { n throws(StageFailure) in try column(n, table) }
        let stages = table.column(named: stage)
        let categories = try category.map { n throws(StageFailure) in try column(n, table) }
        var totals: [Int32: [Double]] = [:]  // closed_won, commit, best_case, pipeline, weighted
        for r in 0..<table.rowCount {
            guard let p = periodOf(dates.value(at: r)) else { continue }
            let amount = amounts.flatMap { $0.value(at: r).asDouble } ?? 1
            var t = totals[p] ?? [0, 0, 0, 0, 0]
            if isWon[r] { t[0] += amount }
            if isOpen[r] {
                var prob = probs.flatMap { $0.value(at: r).asDouble }
                if prob == nil, let stages, !stages.isNull(r) { prob = stageProbabilities[Countries.lookupKey(stages.value(at: r).description)] }
                let cat = categories.map { $0.isNull(r) ? "pipeline" : Countries.lookupKey($0.value(at: r).description) }
                    ?? (prob.map { $0 >= commitAt ? "commit" : $0 >= bestCaseAt ? "best case" : "pipeline" } ?? "pipeline")
                if cat != "omitted" {
                    if cat == "commit" { t[1] += amount }
                    if cat == "commit" || cat == "best case" { t[2] += amount }
                    t[3] += amount
                    t[4] += amount * (prob ?? 0)
                }
            }
            totals[p] = t
        }
        var quota: [Int32: Double] = [:]
        if let quotas {
            let q = try loadReference(context.inputPath(quotas))
            guard q.columns.count >= 2 else { throw StageFailure("quotas file '\(quotas)' needs two columns: period, quota", status: .badData) }
            for r in 0..<q.rowCount { if let p = periodOf(q.columns[0].value(at: r)), let v = q.columns[1].value(at: r).asDouble { quota[p] = v } }
        }
        let periods = Set(totals.keys).union(quota.keys).sorted()
        let rows: [[Value]] = periods.map { p in
            let t = totals[p] ?? [0, 0, 0, 0, 0]
            let q = quota[p]
            return [.date(p)] + t.map { .double(Stats.rounded($0, 2)) } + [q.map { .double($0) } ?? .null,
                    q.map { .double(Stats.rounded(t[0] / $0)) } ?? .null, q.map { .double(Stats.rounded((t[0] + t[4]) / $0)) } ?? .null]
        }
        let out = Table(names: Self.pipelineColumns.map { $0.0 }, types: Self.pipelineColumns.map { $0.1 }, rows: rows)
        let n = table.rowCount
        return StageResult(data: StageData(table: out), accounting: Accounting(rowsIn: n, rowsOut: out.rowCount, removed: ["aggregated": n], added: ["period row": out.rowCount]),
                           notes: ["weighted pipeline = Σ amount × win probability of open deals; commit from probability \(HumanNumbers.format(commitAt)), best case from \(HumanNumbers.format(bestCaseAt)) (includes commit)"])
    }
}

extension ForecastStage {
    /// For an engine that forecasts in partitions: the group columns (each group's rows must meet in one
    /// partition; none: one partition), nil when the forecast needs every row at once (`method: pipeline` adds
    /// quotas per period over all deals).
    public var partitionColumns: [String]? { method == "pipeline" ? nil : by }
    /// Whether a series forecast counts `row` (it has a date in a period and a value), as `seriesForecast` decides:
    /// a group's place is that of its first counted row.
    public func counts(_ table: Table, row: Int) -> Bool {
        guard let d = table.column(named: date), periodOf(d.value(at: row)) != nil else { return false }
        guard let value else { return true }
        return table.column(named: value)?.value(at: row).asDouble != nil
    }

    /// The label a forecast's note starts with for a group (`by=value, …`; without groups the value column's name).
    public func noteLabel(_ group: [Value]) -> String {
        group.isEmpty ? (value ?? "rows") : zip(by, group).map { "\($0)=\($1.description)" }.joined(separator: ", ")
    }
}
