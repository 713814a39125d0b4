import Foundation

/// The Theta method (Assimakopoulos & Nikolopoulos 2000) in the state space form of Fiorucci, Pellegrini, Louzada,
/// Petropoulos & Koehler (2016), "Models for optimising the theta method and their relationship to state space models":
///
///   μ_t = ℓ_{t−1} + (1 − 1/θ)·[(1−α)^{t−1}·A + (1 − (1−α)^t)/α · B],  ℓ_t = α·y_t + (1−α)·ℓ_{t−1},
///
/// where A and B are the intercept and slope of the least-squares line through the (deseasonalised) series. The
/// standard Theta method (STM) fixes θ = 2, which is simple exponential smoothing with drift B/2 (Hyndman & Billah
/// 2003); the optimised Theta method (OTM) estimates θ ≥ 1 too. α and ℓ₀ (and θ) minimise the in-sample MSE. Seasonal
/// series (the 90% autocorrelation test at lag m of `forecast::thetaf`) are deseasonalised by a classical
/// multiplicative decomposition first (additive where the data has zeros or negative values) and reseasonalised after.
public enum Theta {
    public struct Model: Sendable {
        public var optimised: Bool
        public var alpha: Double, theta: Double, l0: Double
        public var a: Double, b: Double
        public var n: Int
        public var level: Double
        public var residuals: [Double]
        public var mse: Double
        /// The seasonal index per position (empty when the series was not deseasonalised), and whether it multiplies.
        public var seasonal: [Double]
        public var multiplicative: Bool
        public var m: Int

        public var name: String { (optimised ? "OTM" : "STM") + (seasonal.isEmpty ? "" : " (deseasonalised)") }

        func reseason(_ v: Double, at t: Int) -> Double {
            guard !seasonal.isEmpty else { return v }
            let s = seasonal[t % m]
            return multiplicative ? v * s : v + s
        }

        public func forecast(_ h: Int) -> [Double] {
            let decay = pow(1 - alpha, Double(n))
            return (0..<h).map { k in
                let f = level + (1 - 1 / theta) * (decay * a + (Double(k) + (1 - pow(1 - alpha, Double(n + 1))) / alpha) * b)
                return reseason(f, at: n + k)
            }
        }

        /// The simple exponential smoothing variance σ²·(1 + α²·(h−1)) (as `forecast::thetaf`), reseasonalised.
        public func bounds(_ h: Int) -> ForecastBounds {
            var flat = self
            flat.seasonal = []
            let mean = flat.forecast(h)
            let sd = (0..<h).map { (mse * (1 + alpha * alpha * Double($0))).squareRoot() }
            let raw = ForecastBounds(mean: mean, sd: sd)
            func re(_ v: [Double]) -> [Double] { v.enumerated().map { reseason($1, at: n + $0) } }
            var out = ForecastBounds(lo80: re(raw.lo80), hi80: re(raw.hi80), lo95: re(raw.lo95), hi95: re(raw.hi95))
            for k in 0..<h where out.lo95[k] > out.hi95[k] {
                swap(&out.lo95[k], &out.hi95[k]); swap(&out.lo80[k], &out.hi80[k])
            }
            return out
        }
    }

    /// Whether the series is seasonal at lag m: |r_m| > 1.645·√((1 + 2·Σ_{k<m} r_k²) ÷ n), as `forecast::thetaf`.
    public static func isSeasonal(_ y: [Double], m: Int) -> Bool {
        let n = y.count
        guard m >= 2, n >= 2 * m else { return false }
        let mean = y.reduce(0, +) / Double(n)
        let c0 = y.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        guard c0 > 0 else { return false }
        func r(_ k: Int) -> Double { (k..<n).reduce(0.0) { $0 + (y[$1] - mean) * (y[$1 - k] - mean) } / c0 }
        var sum = 0.0
        for k in 1..<m { let v = r(k); sum += v * v }
        return abs(r(m)) > 1.644_853_6 * ((1 + 2 * sum) / Double(n)).squareRoot()
    }

    /// In-sample one-step errors of the model for given α, θ, ℓ₀.
    static func sse(_ x: UnsafeBufferPointer<Double>, alpha: Double, theta: Double, l0: Double, a: Double, b: Double,
                    residuals: UnsafeMutableBufferPointer<Double>?) -> (sse: Double, level: Double) {
        var level = l0, decay = 1.0, sse = 0.0
        let w = 1 - 1 / theta
        for t in 0..<x.count {
            // (1−α)^{t−1} and (1 − (1−α)^t)/α, with t counted from 1.
            let mu = level + w * (decay * a + (1 - decay * (1 - alpha)) / alpha * b)
            let e = x[t] - mu
            residuals?[t] = e
            sse += e * e
            level = alpha * x[t] + (1 - alpha) * level
            decay *= 1 - alpha
        }
        return (sse, level)
    }

    public static func fit(_ y: [Double], m: Int, optimised: Bool) -> Model? {
        let n = y.count
        guard n >= 3 else { return nil }
        var seasonal: [Double] = []
        let multiplicative = y.allSatisfy { $0 > 0 }
        var x = y
        if isSeasonal(y, m: m) {
            seasonal = ETS.classicalFigure(y, m: m, multiplicative: multiplicative)
            x = y.indices.map { multiplicative ? y[$0] / seasonal[$0 % m] : y[$0] - seasonal[$0 % m] }
        }
        let line = TrendStage.linearTrend(x)
        let a = line.intercept, b = line.slope
        let start = [0.5, x[0], 2.0]
        let scale = max(1e-8, x.map(abs).reduce(0, +) / Double(n))
        let best = x.withUnsafeBufferPointer { xp in
            NelderMead.minimise(optimised ? start : Array(start.prefix(2)), step: optimised ? [0.1, 0.1 * scale, 0.5] : [0.1, 0.1 * scale],
                                maxEvaluations: 1000, tolerance: 1e-9) { p in
                let theta = optimised ? p[2] : 2
                guard p[0] > 0.1, p[0] < 0.99, theta >= 1 else { return .infinity }
                return sse(xp, alpha: p[0], theta: theta, l0: p[1], a: a, b: b, residuals: nil).sse
            }
        }
        guard best.value.isFinite else { return nil }
        let alpha = best.x[0], l0 = best.x[1], theta = optimised ? best.x[2] : 2
        var residuals = [Double](repeating: 0, count: n)
        let r = x.withUnsafeBufferPointer { xp in residuals.withUnsafeMutableBufferPointer { sse(xp, alpha: alpha, theta: theta, l0: l0, a: a, b: b, residuals: $0) } }
        return Model(optimised: optimised, alpha: alpha, theta: theta, l0: l0, a: a, b: b, n: n, level: r.level, residuals: residuals,
                     mse: r.sse / Double(n), seasonal: seasonal, multiplicative: multiplicative, m: m)
    }

    /// STM or OTM, whichever has the lower in-sample MSE (as statsforecast's AutoTheta chooses among its variants).
    public static func auto(_ y: [Double], m: Int) -> Model? {
        let fits = [fit(y, m: m, optimised: false), fit(y, m: m, optimised: true)].compactMap { $0 }
        return fits.min { $0.mse < $1.mse }
    }
}
