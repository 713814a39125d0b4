import Foundation

/// Time-series forecasting methods: the simple benchmarks, linear trend, and the exponential smoothing family.
public enum Forecasting {
    public enum Method: String, Sendable, CaseIterable {
        case naive, seasonalNaive = "seasonal_naive", movingAverage = "moving_average", linearTrend = "linear_trend"
        case holt, holtWintersAdditive = "holt_winters_additive", holtWintersMultiplicative = "holt_winters_multiplicative"
        /// The ETS family by maximum likelihood, the model chosen by AICc (`ETS.auto`).
        case ets
        /// The standard or optimised Theta method, whichever fits better (`Theta.auto`).
        case theta
        /// Seasonal ARIMA with Hyndman–Khandakar order selection (`ARIMA.auto`).
        case arima
        /// The median of the ETS, Theta and ARIMA forecasts (`combination`), their intervals averaged.
        case combination
        /// The mean of the ETS, Theta and ARIMA forecasts.
        case combinationMean = "combination_mean"

        /// The methods a combination takes the median or mean of (and `auto` backtests against it).
        public static let combined: [Method] = [.ets, .theta, .arima]

        /// The methods with a statistical model of their own (intervals from the model, not from the one-step spread).
        public static let modelled: [Method] = [.ets, .theta, .arima, .combination, .combinationMean]
    }

    /// A fitted model: its point forecasts, one-step residuals and number of estimated parameters.
    public struct Fit: Sendable {
        public var method: Method
        public var forecast: [Double]
        public var residuals: [Double]
        public var parameters: [String: Double]
        public var k: Int
        /// The model's own prediction intervals, where it has them (ETS, Theta, ARIMA and their combinations).
        public var bounds: ForecastBounds? = nil
        /// The model within the method, e.g. "ETS(M,Ad,M)" or "ARIMA(0,1,1)(0,1,1)[12]".
        public var model: String? = nil
        /// The structure the automatic selection chose, so a backtest can refit the same model class cheaply.
        public var structure: Structure? = nil
        /// The fitted ETS model, the start of a backtest's refit.
        var etsModel: ETS.Model? = nil
        /// AICc from the one-step squared errors (Gaussian likelihood).
        public var aicc: Double {
            let n = Double(residuals.count)
            let sse = residuals.reduce(0) { $0 + $1 * $1 }
            guard n > Double(k) + 1, sse > 0 else { return .infinity }
            return n * log(sse / n) + 2 * Double(k) + 2 * Double(k) * Double(k + 1) / (n - Double(k) - 1)
        }
        public var sigma: Double {
            let n = Double(residuals.count)
            guard n > 1 else { return 0 }
            return (residuals.reduce(0) { $0 + $1 * $1 } / n).squareRoot()
        }

        /// The forecast error's standard deviation at horizons 1…h as a multiple of `sigma`, as each method's model
        /// gives it (Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*, 3rd ed., §5.5 for the
        /// benchmarks; Hyndman et al. 2008, Table 6.1, class 1, for exponential smoothing: 1 + Σ c_j² over j < h):
        /// naive √h; seasonal naive √(⌊(h−1)/m⌋+1); linear trend the regression prediction interval; damped Holt
        /// c_j = α + β·(φ+…+φ^j); Holt-Winters c_j = α + αβ*·j + γ*(1−α)·[j a multiple of m] (exact for the additive
        /// model, used as an approximation for the multiplicative one); moving average √h (no model; conservative).
        public func spread(h: Int, m: Int, n: Int) -> [Double] {
            let p = parameters
            func smoothing(_ c: (Int) -> Double) -> [Double] {
                var sum = 0.0
                return (1...max(h, 1)).prefix(h).map { step in
                    if step > 1 { let cj = c(step - 1); sum += cj * cj }
                    return (1 + sum).squareRoot()
                }
            }
            switch method {
            case .naive, .movingAverage:
                return (1...max(h, 1)).prefix(h).map { Double($0).squareRoot() }
            case .seasonalNaive:
                return (1...max(h, 1)).prefix(h).map { Double(($0 - 1) / max(m, 1) + 1).squareRoot() }
            case .linearTrend:
                let nd = Double(n), mean = (nd - 1) / 2
                let sxx = (0..<n).reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) }
                return (1...max(h, 1)).prefix(h).map { step in
                    let x = Double(n - 1 + step)
                    return (1 + 1 / nd + (sxx > 0 ? (x - mean) * (x - mean) / sxx : 0)).squareRoot()
                }
            case .holt:
                let alpha = p["alpha"] ?? 0, beta = p["beta"] ?? 0, phi = p["phi"] ?? 1
                return smoothing { j in
                    var damp = 0.0, power = 1.0
                    for _ in 0..<j { power *= phi; damp += power }
                    return alpha + beta * damp
                }
            case .holtWintersAdditive, .holtWintersMultiplicative:
                let alpha = p["alpha"] ?? 0, beta = p["beta"] ?? 0, gamma = p["gamma"] ?? 0
                return smoothing { j in alpha + alpha * beta * Double(j) + (j % max(m, 1) == 0 ? gamma * (1 - alpha) : 0) }
            case .ets, .theta, .arima, .combination, .combinationMean:
                return (1...max(h, 1)).prefix(h).map { Double($0).squareRoot() }
            }
        }
    }

    /// A model class chosen by an automatic selection: refitting it estimates the parameters again without the search.
    public enum Structure: Sendable, Hashable {
        case ets(ETS.Spec), theta(optimised: Bool), arima(ARIMA.Order)
    }

    /// Fits `method` to `y` (season length `m`) and forecasts `h` periods. `like` (a fit of the same method on other
    /// data) fixes the model class the automatic selections choose, for backtests.
    public static func fit(_ method: Method, _ y: [Double], m: Int, h: Int, window: Int = 3, intervals: Bool = false, like: Fit? = nil) -> Fit? {
        let n = y.count
        guard n >= 2 else { return nil }
        switch method {
        case .ets:
            let model: ETS.Model?
            if case .ets(let spec)? = like?.structure {
                // A backtest origin: the same model, searched from the whole history's estimates (its initial states
                // describe the same first periods), in a quarter of the evaluations.
                model = ETS.fit(y, spec: spec, m: m, maxEvaluations: 500, from: like?.etsModel) ?? ETS.auto(y, m: m)
            } else {
                model = ETS.auto(y, m: m)
            }
            guard let model else { return nil }
            return Fit(method: method, forecast: model.forecast(h), residuals: model.residuals,
                       parameters: ["alpha": model.alpha, "beta": model.beta, "gamma": model.gamma, "phi": model.phi],
                       k: model.parameterCount, bounds: intervals ? model.bounds(h) : nil, model: model.spec.description, structure: .ets(model.spec), etsModel: model)
        case .theta:
            let model: Theta.Model?
            if case .theta(let optimised)? = like?.structure { model = Theta.fit(y, m: m, optimised: optimised) } else { model = Theta.auto(y, m: m) }
            guard let model else { return nil }
            return Fit(method: method, forecast: model.forecast(h), residuals: model.residuals, parameters: ["alpha": model.alpha, "theta": model.theta],
                       k: model.optimised ? 3 : 2, bounds: intervals ? model.bounds(h) : nil, model: model.name, structure: .theta(optimised: model.optimised))
        case .arima:
            let model: ARIMA.Model?
            if case .arima(let order)? = like?.structure { model = ARIMA.fit(y, order: order) ?? ARIMA.auto(y, m: m) } else { model = ARIMA.auto(y, m: m) }
            guard let model else { return nil }
            return Fit(method: method, forecast: model.forecast(h), residuals: model.residuals, parameters: [:],
                       k: model.order.coefficientCount + 1, bounds: intervals ? model.bounds(h) : nil, model: model.order.description, structure: .arima(model.order))
        case .combination, .combinationMean:
            let parts = Method.combined.compactMap { fit($0, y, m: m, h: h, intervals: intervals) }
            return combine(parts, median: method == .combination, as: method, h: h)
        default:
            break
        }
        switch method {
        case .naive:
            let res = (1..<n).map { y[$0] - y[$0 - 1] }
            return Fit(method: method, forecast: [Double](repeating: y[n - 1], count: h), residuals: res, parameters: [:], k: 0)
        case .seasonalNaive:
            guard n > m else { return nil }
            let res = (m..<n).map { y[$0] - y[$0 - m] }
            return Fit(method: method, forecast: (0..<h).map { y[n - m + $0 % m] }, residuals: res, parameters: [:], k: 0)
        case .movingAverage:
            guard n > window else { return nil }
            let res = (window..<n).map { i in y[i] - y[(i - window)..<i].reduce(0, +) / Double(window) }
            let level = y[(n - window)...].reduce(0, +) / Double(window)
            return Fit(method: method, forecast: [Double](repeating: level, count: h), residuals: res, parameters: ["window": Double(window)], k: 1)
        case .linearTrend:
            let t = TrendStage.linearTrend(y)
            let res = y.indices.map { y[$0] - (t.intercept + t.slope * Double($0)) }
            return Fit(method: method, forecast: (0..<h).map { t.intercept + t.slope * Double(n + $0) }, residuals: res, parameters: ["slope": t.slope, "intercept": t.intercept], k: 2)
        case .holt:
            guard n >= 4 else { return nil }
            let best = optimise(dimensions: 3) { p in holt(y, alpha: p[0], beta: p[1] * p[0], phi: 0.8 + 0.18 * p[2], h: 0).sse }
            let alpha = best[0], beta = best[1] * best[0], phi = 0.8 + 0.18 * best[2]
            let r = holt(y, alpha: alpha, beta: beta, phi: phi, h: h)
            return Fit(method: method, forecast: r.forecast, residuals: r.residuals, parameters: ["alpha": alpha, "beta": beta, "phi": phi], k: 5)
        case .holtWintersAdditive, .holtWintersMultiplicative:
            let multiplicative = method == .holtWintersMultiplicative
            guard m >= 2, n >= 2 * m + 2 else { return nil }
            if multiplicative, y.contains(where: { $0 <= 0 }) { return nil }
            let start = classicalStart(y, m: m, multiplicative: multiplicative)
            let best = optimise(dimensions: 3) { p in
                holtWinters(y, m: m, alpha: p[0], beta: p[1] * p[0], gamma: p[2] * (1 - p[0]), multiplicative: multiplicative, h: 0, start: start, keepResiduals: false).sse
            }
            let alpha = best[0], beta = best[1] * best[0], gamma = best[2] * (1 - best[0])
            let r = holtWinters(y, m: m, alpha: alpha, beta: beta, gamma: gamma, multiplicative: multiplicative, h: h, start: start)
            return Fit(method: method, forecast: r.forecast, residuals: r.residuals, parameters: ["alpha": alpha, "beta": beta, "gamma": gamma], k: 4 + m)
        case .ets, .theta, .arima, .combination, .combinationMean:
            return nil
        }
    }

    /// The median (or mean) of the parts' point forecasts per horizon; intervals as the mean of the parts' bounds
    /// (quantile averaging); residuals those of the first part.
    public static func combine(_ parts: [Fit], median: Bool, as method: Method, h: Int) -> Fit? {
        guard let first = parts.first else { return nil }
        func centre(_ v: [Double]) -> Double {
            guard median else { return v.reduce(0, +) / Double(v.count) }
            let s = v.sorted()
            return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        }
        let forecast = (0..<h).map { k in centre(parts.map { $0.forecast[k] }) }
        var bounds: ForecastBounds? = nil
        let withBounds = parts.compactMap(\.bounds)
        if withBounds.count == parts.count {
            func mean(_ key: KeyPath<ForecastBounds, [Double]>) -> [Double] { (0..<h).map { k in withBounds.map { $0[keyPath: key][k] }.reduce(0, +) / Double(withBounds.count) } }
            bounds = ForecastBounds(lo80: mean(\.lo80), hi80: mean(\.hi80), lo95: mean(\.lo95), hi95: mean(\.hi95))
            for k in 0..<h {
                bounds!.lo80[k] = min(bounds!.lo80[k], forecast[k]); bounds!.hi80[k] = max(bounds!.hi80[k], forecast[k])
                bounds!.lo95[k] = min(bounds!.lo95[k], bounds!.lo80[k]); bounds!.hi95[k] = max(bounds!.hi95[k], bounds!.hi80[k])
            }
        }
        return Fit(method: method, forecast: forecast, residuals: first.residuals, parameters: [:], k: 0, bounds: bounds,
                   model: (median ? "median of " : "mean of ") + parts.map { $0.model ?? $0.method.rawValue }.joined(separator: ", "))
    }

    /// Damped additive-trend exponential smoothing (Gardner & McKenzie), initialised from the first two values.
    static func holt(_ y: [Double], alpha: Double, beta: Double, phi: Double, h: Int) -> (sse: Double, residuals: [Double], forecast: [Double]) {
        var level = y[0], trend = y[1] - y[0]
        var residuals: [Double] = []
        var sse = 0.0
        for t in 1..<y.count {
            let f = level + phi * trend
            let e = y[t] - f
            residuals.append(e)
            sse += e * e
            let newLevel = f + alpha * e
            trend = phi * trend + beta * e
            level = newLevel
        }
        var forecast: [Double] = []
        var damp = 0.0, power = 1.0
        for _ in 0..<h { power *= phi; damp += power; forecast.append(level + damp * trend) }
        return (sse, residuals, forecast)
    }

    /// Start values for Holt-Winters from the first two seasons, computed as R's `stats::HoltWinters` does: a classical
    /// decomposition (centred moving average of order `m`; seasonal figure = mean detrended value per position,
    /// centred to sum 0 or to average 1), then level and trend from a least-squares line through the defined trend
    /// values (the intercept at the position before the first of them, and the slope).
    public static func classicalStart(_ y: [Double], m: Int, multiplicative: Bool) -> (level: Double, trend: Double, season: [Double]) {
        let window = Array(y.prefix(2 * m))
        let trend = ETS.centredMovingAverage(window, m: m)
        let figure = ETS.classicalFigure(window, m: m, multiplicative: multiplicative)
        let defined = trend.compactMap { $0 }
        let line = TrendStage.linearTrend(defined)
        // `linearTrend` indexes from 0; R regresses on 1, 2, … and reports the intercept at 0.
        return (line.intercept - line.slope, line.slope, figure)
    }

    /// Holt-Winters additive or multiplicative seasonality, fitted from the second season on with `classicalStart`'s
    /// start values (the same filter and start as R's `HoltWinters`). Returns the final level, trend and the seasonal
    /// components of the next `m` periods besides the one-step errors and the forecast.
    static func holtWinters(_ y: [Double], m: Int, alpha: Double, beta: Double, gamma: Double, multiplicative: Bool, h: Int,
                            start: (level: Double, trend: Double, season: [Double])? = nil, keepResiduals: Bool = true)
        -> (sse: Double, residuals: [Double], forecast: [Double], level: Double, trend: Double, nextSeason: [Double]) {
        var (level, trend, season) = start ?? classicalStart(y, m: m, multiplicative: multiplicative)
        var residuals: [Double] = []
        if keepResiduals { residuals.reserveCapacity(max(0, y.count - m)) }
        var sse = 0.0
        for t in m..<y.count {
            let s = season[t % m]
            let f = multiplicative ? (level + trend) * s : level + trend + s
            let e = y[t] - f
            if keepResiduals { residuals.append(e) }
            sse += e * e
            let newLevel = multiplicative ? alpha * (y[t] / s) + (1 - alpha) * (level + trend) : alpha * (y[t] - s) + (1 - alpha) * (level + trend)
            let newTrend = beta * (newLevel - level) + (1 - beta) * trend
            season[t % m] = multiplicative ? gamma * (y[t] / newLevel) + (1 - gamma) * s : gamma * (y[t] - newLevel) + (1 - gamma) * s
            level = newLevel
            trend = newTrend
        }
        let n = y.count
        let forecast = (1...max(h, 1)).prefix(h).map { step -> Double in
            let s = season[(n + step - 1) % m]
            return multiplicative ? (level + Double(step) * trend) * s : level + Double(step) * trend + s
        }
        return (sse, residuals, forecast, level, trend, (0..<m).map { season[(n + $0) % m] })
    }

    /// Nelder-Mead over the unit cube (parameters clamped to [0.0001, 0.9999]), deterministic start points.
    static func optimise(dimensions d: Int, _ f: ([Double]) -> Double) -> [Double] {
        func clamp(_ p: [Double]) -> [Double] { p.map { min(0.9999, max(0.0001, $0)) } }
        var best: ([Double], Double)? = nil
        for start in [0.2, 0.5, 0.8] {
            var simplex = [clamp([Double](repeating: start, count: d))]
            for i in 0..<d { var p = simplex[0]; p[i] = p[i] > 0.5 ? p[i] - 0.25 : p[i] + 0.25; simplex.append(clamp(p)) }
            var values = simplex.map(f)
            for _ in 0..<400 {
                let order = values.indices.sorted { values[$0] < values[$1] }
                simplex = order.map { simplex[$0] }; values = order.map { values[$0] }
                if abs(values[d] - values[0]) < 1e-10 * (abs(values[0]) + 1e-10) { break }
                let centroid = (0..<d).map { j in simplex[0..<d].reduce(0) { $0 + $1[j] } / Double(d) }
                let reflect = clamp(zip(centroid, simplex[d]).map { $0 + ($0 - $1) })
                let fr = f(reflect)
                if fr < values[0] {
                    let expand = clamp(zip(centroid, simplex[d]).map { $0 + 2 * ($0 - $1) })
                    let fe = f(expand)
                    (simplex[d], values[d]) = fe < fr ? (expand, fe) : (reflect, fr)
                } else if fr < values[d - 1] {
                    (simplex[d], values[d]) = (reflect, fr)
                } else {
                    let contract = clamp(zip(centroid, simplex[d]).map { $0 + 0.5 * ($1 - $0) })
                    let fc = f(contract)
                    if fc < values[d] {
                        (simplex[d], values[d]) = (contract, fc)
                    } else {
                        for i in 1...d { simplex[i] = clamp(zip(simplex[0], simplex[i]).map { $0 + 0.5 * ($1 - $0) }); values[i] = f(simplex[i]) }
                    }
                }
            }
            let i = values.indices.min { values[$0] < values[$1] }!
            if best == nil || values[i] < best!.1 { best = (simplex[i], values[i]) }
        }
        return best!.0
    }

    /// sMAPE (percent): mean of 200·|F−A| ÷ (|F|+|A|), 0 where both are 0.
    public static func smape(_ f: [Double], _ a: [Double]) -> Double {
        let terms = zip(f, a).map { f, a in abs(f) + abs(a) == 0 ? 0 : 200 * abs(f - a) / (abs(f) + abs(a)) }
        return terms.isEmpty ? .nan : terms.reduce(0, +) / Double(terms.count)
    }

    /// MASE: mean |F−A| ÷ the in-sample mean absolute error of the seasonal naive forecast (naive when too short).
    public static func mase(_ f: [Double], _ a: [Double], training y: [Double], m: Int) -> Double {
        let lag = y.count > m ? m : 1
        guard y.count > lag else { return .nan }
        let scale = (lag..<y.count).map { abs(y[$0] - y[$0 - lag]) }.reduce(0, +) / Double(y.count - lag)
        guard scale > 0 else { return .nan }
        return zip(f, a).map { abs($0 - $1) }.reduce(0, +) / Double(max(1, f.count)) / scale
    }

    /// Chooses among the methods that can fit by AICc (methods with no estimated smoothing use their one-step MSE).
    public static func auto(_ y: [Double], m: Int, h: Int) -> Fit? {
        let candidates: [Method] = [.naive, .seasonalNaive, .linearTrend, .holt, .holtWintersAdditive, .holtWintersMultiplicative]
        let fits = candidates.compactMap { fit($0, y, m: m, h: h) }
        return fits.min { a, b in
            let x = a.aicc.isFinite ? a.aicc : Double.infinity, z = b.aicc.isFinite ? b.aicc : Double.infinity
            return x != z ? x < z : a.method.rawValue < b.method.rawValue
        }
    }
}
