import Foundation

/// Seasonal ARIMA(p,d,q)(P,D,Q)_m with automatic order selection after Hyndman & Khandakar (2008), "Automatic time
/// series forecasting: the forecast package for R": the seasonal difference D from the seasonal strength of a
/// decomposition (D = 1 when it exceeds 0.64, `nsdiffs(test = "seas")`), the regular differences d from repeated KPSS
/// tests at 5%, then a stepwise search over (p, q, P, Q, constant) by AICc. Coefficients are estimated by conditional
/// sum of squares (R's `method = "CSS"`), restricted to stationary and invertible polynomials.
public enum ARIMA {
    public struct Order: Sendable, Hashable, CustomStringConvertible {
        public var p: Int, d: Int, q: Int, P: Int, D: Int, Q: Int, m: Int
        public var constant: Bool
        public var description: String {
            "ARIMA(\(p),\(d),\(q))" + (P + D + Q > 0 ? "(\(P),\(D),\(Q))[\(m)]" : "") + (constant ? (d + D == 0 ? " with mean" : " with drift") : "")
        }
        var coefficientCount: Int { p + q + P + Q + (constant ? 1 : 0) }
    }

    public struct Model: Sendable {
        public var order: Order
        /// φ₁…φ_p, θ₁…θ_q, Φ₁…Φ_P, Θ₁…Θ_Q, and the mean of the differenced series.
        public var ar: [Double], ma: [Double], sar: [Double], sma: [Double], mean: Double
        public var sigma2: Double
        public var aicc: Double
        public var residuals: [Double]
        /// The original series (the forecast integrates from it).
        var y: [Double]

        /// The AR and MA polynomials of the differenced series, seasonal factors multiplied out (x_t = Σ a_i x_{t−i} +
        /// e_t + Σ b_j e_{t−j}).
        var expanded: (a: [Double], b: [Double]) {
            ARIMA.expand(ar: ar, sar: sar, ma: ma, sma: sma, m: order.m)
        }

        public func forecast(_ h: Int) -> [Double] {
            let w = ARIMA.differenced(y, order)
            let (a, b) = expanded
            var z = w.map { $0 - mean }
            var e = residuals.suffix(w.count).map { $0 }
            if e.count < z.count { e = [Double](repeating: 0, count: z.count - e.count) + e }
            for _ in 0..<h {
                let t = z.count
                var v = 0.0
                for i in 0..<a.count where t - 1 - i >= 0 { v += a[i] * z[t - 1 - i] }
                for j in 0..<b.count where t - 1 - j >= 0 { v += b[j] * e[t - 1 - j] }
                z.append(v); e.append(0)
            }
            let future = z.suffix(h).map { $0 + mean }
            return ARIMA.integrate(future, y, order)
        }

        /// Normal intervals from the ψ-weights of the integrated model: Var(h) = σ²·Σ_{j<h} ψ_j².
        public func bounds(_ h: Int) -> ForecastBounds {
            let (a, b) = expanded
            // Multiply the AR side by (1 − B)^d (1 − B^m)^D.
            var full = [1.0] + a.map { -$0 }   // 1 − a₁B − …
            for _ in 0..<order.d { full = ARIMA.multiply(full, [1, -1]) }
            if order.D > 0 { var s = [Double](repeating: 0, count: order.m + 1); s[0] = 1; s[order.m] = -1; for _ in 0..<order.D { full = ARIMA.multiply(full, s) } }
            let A = full.dropFirst().map { -$0 }
            var psi = [1.0]
            for j in 1..<max(h, 1) {
                var v = j - 1 < b.count ? b[j - 1] : 0
                for i in 0..<min(j, A.count) { v += A[i] * psi[j - 1 - i] }
                psi.append(v)
            }
            var sum = 0.0
            let sd = (0..<h).map { k -> Double in sum += psi[k] * psi[k]; return (sigma2 * sum).squareRoot() }
            return ForecastBounds(mean: forecast(h), sd: sd)
        }
    }

    static func multiply(_ x: [Double], _ y: [Double]) -> [Double] {
        var out = [Double](repeating: 0, count: x.count + y.count - 1)
        for (i, a) in x.enumerated() { for (j, b) in y.enumerated() { out[i + j] += a * b } }
        return out
    }

    static func expand(ar: [Double], sar: [Double], ma: [Double], sma: [Double], m: Int) -> (a: [Double], b: [Double]) {
        var arPoly = [1.0] + ar.map { -$0 }, sarPoly = [1.0]
        for (i, c) in sar.enumerated() { sarPoly += [Double](repeating: 0, count: m - 1) + [-c]; _ = i }
        arPoly = multiply(arPoly, sarPoly)
        var maPoly = [1.0] + ma, smaPoly = [1.0]
        for c in sma { smaPoly += [Double](repeating: 0, count: m - 1) + [c] }
        maPoly = multiply(maPoly, smaPoly)
        return (arPoly.dropFirst().map { -$0 }, Array(maPoly.dropFirst()))
    }

    /// y differenced D times at lag m, then d times at lag 1.
    static func differenced(_ y: [Double], _ o: Order) -> [Double] {
        var x = y
        for _ in 0..<o.D where x.count > o.m { x = (o.m..<x.count).map { x[$0] - x[$0 - o.m] } }
        for _ in 0..<o.d where x.count > 1 { x = (1..<x.count).map { x[$0] - x[$0 - 1] } }
        return x
    }

    /// Undoes `differenced` for forecasts of the differenced series.
    static func integrate(_ w: [Double], _ y: [Double], _ o: Order) -> [Double] {
        // The history at each stage: stages[0] = y, stages[k] = after k differences (seasonal ones first).
        var stages = [y]
        for _ in 0..<o.D { let x = stages.last!; stages.append((o.m..<x.count).map { x[$0] - x[$0 - o.m] }) }
        for _ in 0..<o.d { let x = stages.last!; stages.append((1..<x.count).map { x[$0] - x[$0 - 1] }) }
        var future = w
        var lags = [Int](repeating: o.m, count: o.D) + [Int](repeating: 1, count: o.d)
        lags.reverse()
        for (k, lag) in lags.enumerated() {
            var history = stages[stages.count - 2 - k]
            let start = history.count
            for f in future { history.append(f + history[history.count - lag]) }
            future = Array(history[start...])
        }
        return future
    }

    /// Whether 1 − c₁z − … − c_pz^p has all roots outside the unit circle (the step-down / Schur–Cohn recursion: every
    /// reflection coefficient inside (−1, 1)).
    static func isStationary(_ c: [Double]) -> Bool {
        var a = c
        while let last = a.last, last == 0 { a.removeLast() }
        while !a.isEmpty {
            let p = a.count, k = a[p - 1]
            guard abs(k) < 0.9999 else { return false }
            var next = [Double](repeating: 0, count: p - 1)
            for i in 0..<(p - 1) { next[i] = (a[i] + k * a[p - 2 - i]) / (1 - k * k) }
            a = next
            while let last = a.last, last == 0 { a.removeLast() }
        }
        return true
    }

    /// Conditional sum of squares: residuals from the first period the AR lags are known, earlier errors 0.
    static func css(_ z: UnsafeBufferPointer<Double>, a: [Double], b: [Double], residuals: UnsafeMutableBufferPointer<Double>?) -> (sse: Double, count: Int) {
        let start = a.count
        guard z.count > start else { return (.infinity, 0) }
        // Multiplied-out seasonal polynomials are mostly zeros ((1 − φB)(1 − ΦB¹²) has 3 terms over 13 lags): the loop
        // visits the non-zero lags only.
        let arLags = a.indices.filter { a[$0] != 0 }, arCoefficients = arLags.map { a[$0] }
        let maLags = b.indices.filter { b[$0] != 0 }, maCoefficients = maLags.map { b[$0] }
        var sse = 0.0
        let result = withUnsafeTemporaryAllocation(of: Double.self, capacity: z.count) { e -> (sse: Double, count: Int) in
            for t in 0..<z.count { e[t] = 0 }
            for t in start..<z.count {
                var v = z[t]
                for k in 0..<arLags.count { v -= arCoefficients[k] * z[t - 1 - arLags[k]] }
                // Errors before the first conditioned period are 0.
                for k in 0..<maLags.count where maLags[k] < t - start { v -= maCoefficients[k] * e[t - 1 - maLags[k]] }
                e[t] = v
                sse += v * v
            }
            guard sse < 1e300 else { return (.infinity, 0) }
            if let residuals { for t in 0..<z.count { residuals[t] = e[t] } }
            return (sse, z.count - start)
        }
        return result
    }

    public static func fit(_ y: [Double], order o: Order) -> Model? {
        // Every difference needs its lag of history (the forecast integrates back over it).
        guard y.count > o.m * o.D + o.d + 2 else { return nil }
        let w = differenced(y, o)
        let k = o.coefficientCount
        guard w.count > o.p + o.m * o.P + k + 2 else { return nil }
        let wMean = o.constant ? w.reduce(0, +) / Double(w.count) : 0
        let sd = max(1e-8, (w.reduce(0) { $0 + ($1 - wMean) * ($1 - wMean) } / Double(w.count)).squareRoot())
        var x = [Double](repeating: 0, count: o.p + o.q + o.P + o.Q)
        var step = [Double](repeating: 0.1, count: x.count)
        if o.constant { x.append(wMean); step.append(0.1 * sd) }
        func split(_ p: [Double]) -> (ar: [Double], ma: [Double], sar: [Double], sma: [Double], mean: Double) {
            var i = 0
            func take(_ c: Int) -> [Double] { defer { i += c }; return Array(p[i..<(i + c)]) }
            let ar = take(o.p), ma = take(o.q), sar = take(o.P), sma = take(o.Q)
            return (ar, ma, sar, sma, o.constant ? p[i] : 0)
        }
        var z = [Double](repeating: 0, count: w.count)
        func objective(_ p: [Double]) -> Double {
            let s = split(p)
            guard isStationary(s.ar), isStationary(s.sar), isStationary(s.ma.map { -$0 }), isStationary(s.sma.map { -$0 }) else { return .infinity }
            for t in 0..<w.count { z[t] = w[t] - s.mean }
            let (a, b) = expand(ar: s.ar, sar: s.sar, ma: s.ma, sma: s.sma, m: o.m)
            let r = z.withUnsafeBufferPointer { css($0, a: a, b: b, residuals: nil) }
            return r.count > 0 ? log(r.sse / Double(r.count)) : .infinity
        }
        let best = x.isEmpty ? (x: x, value: objective(x)) : NelderMead.minimise(x, step: step, maxEvaluations: 400 * max(1, x.count), tolerance: 1e-9, objective)
        guard best.value.isFinite else { return nil }
        let s = split(best.x)
        for t in 0..<w.count { z[t] = w[t] - s.mean }
        let (a, b) = expand(ar: s.ar, sar: s.sar, ma: s.ma, sma: s.sma, m: o.m)
        var residuals = [Double](repeating: 0, count: w.count)
        let r = z.withUnsafeBufferPointer { zp in residuals.withUnsafeMutableBufferPointer { css(zp, a: a, b: b, residuals: $0) } }
        guard r.count > k + 2, r.sse > 0 else { return nil }
        let n = Double(r.count), sigma2 = r.sse / n
        // Gaussian log-likelihood at the CSS estimate; AICc with the coefficients and σ² as parameters.
        let loglik = -0.5 * n * (log(2 * Double.pi * sigma2) + 1)
        let kk = Double(k + 1)
        let aicc = -2 * loglik + 2 * kk + 2 * kk * (kk + 1) / max(1e-9, n - kk - 1)
        return Model(order: o, ar: s.ar, ma: s.ma, sar: s.sar, sma: s.sma, mean: s.mean, sigma2: r.sse / max(1, n - Double(k)),
                     aicc: n - kk - 1 > 0 ? aicc : .infinity, residuals: residuals, y: y)
    }

    /// The KPSS level-stationarity statistic (Kwiatkowski et al. 1992) with a Bartlett-kernel long-run variance over
    /// `lags` lags; by default ⌊3·√n / 13⌋ (Hobijn et al. 1998), the lag `forecast::ndiffs` and statsforecast use.
    public static func kpss(_ x: [Double], lags: Int? = nil) -> Double {
        let n = x.count
        guard n > 2 else { return 0 }
        let lags = lags ?? Int(3 * Double(n).squareRoot() / 13)
        let mean = x.reduce(0, +) / Double(n)
        let e = x.map { $0 - mean }
        var s = 0.0, eta = 0.0
        for v in e { s += v; eta += s * s }
        eta /= Double(n * n)
        var variance = e.reduce(0) { $0 + $1 * $1 } / Double(n)
        if lags > 0 {
            for l in 1...lags {
                var c = 0.0
                for t in l..<n { c += e[t] * e[t - l] }
                variance += 2 * (1 - Double(l) / Double(lags + 1)) * c / Double(n)
            }
        }
        return variance > 0 ? eta / variance : 0
    }

    /// The seasonal strength max(0, 1 − Var(R)/Var(S + R)) of a classical additive decomposition (Wang, Smith &
    /// Hyndman 2006; `forecast` reads it from STL).
    public static func seasonalStrength(_ y: [Double], m: Int) -> Double {
        let n = y.count
        guard m >= 2, n >= 2 * m else { return 0 }
        let trend = ETS.centredMovingAverage(y, m: m)
        let figure = ETS.classicalFigure(y, m: m, multiplicative: false)
        var r: [Double] = [], sr: [Double] = []
        for i in 0..<n { if let t = trend[i] { let d = y[i] - t; r.append(d - figure[i % m]); sr.append(d) } }
        func variance(_ v: [Double]) -> Double { let mu = v.reduce(0, +) / Double(v.count); return v.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(v.count) }
        let vsr = variance(sr)
        return vsr > 0 ? max(0, 1 - variance(r) / vsr) : 0
    }

    /// Hyndman–Khandakar: differences by test, then the stepwise search (start models, then moves of ±1 in p, q, P, Q
    /// singly and p, q together, and the constant on or off) while AICc improves; p, q ≤ 5, P, Q ≤ 2, p+q+P+Q ≤ 5.
    public static func auto(_ y: [Double], m: Int) -> Model? {
        let seasonal = m >= 2 && y.count >= 2 * m + 2
        let D = seasonal && seasonalStrength(y, m: m) > 0.64 ? 1 : 0
        var d = 0
        var x = differenced(y, Order(p: 0, d: 0, q: 0, P: 0, D: D, Q: 0, m: m, constant: false))
        while d < 2, x.count > 4, kpss(x) > 0.463 {
            d += 1
            x = (1..<x.count).map { x[$0] - x[$0 - 1] }
        }
        let mm = seasonal ? m : 1
        let allowConstant = d + D <= 1
        var fitted: [Order: Model?] = [:]
        func tryOrder(_ o: Order) -> Model? {
            guard o.p >= 0, o.q >= 0, o.P >= 0, o.Q >= 0, o.p <= 5, o.q <= 5, o.P <= 2, o.Q <= 2, o.p + o.q + o.P + o.Q <= 5 else { return nil }
            if !seasonal, o.P + o.Q > 0 { return nil }
            if o.constant, !allowConstant { return nil }
            if let known = fitted[o] { return known }
            let f = fit(y, order: o)
            fitted[o] = f
            return f
        }
        let c = allowConstant
        var starts = [Order(p: 2, d: d, q: 2, P: seasonal ? 1 : 0, D: D, Q: seasonal ? 1 : 0, m: mm, constant: c),
                      Order(p: 0, d: d, q: 0, P: 0, D: D, Q: 0, m: mm, constant: c),
                      Order(p: 1, d: d, q: 0, P: seasonal ? 1 : 0, D: D, Q: 0, m: mm, constant: c),
                      Order(p: 0, d: d, q: 1, P: 0, D: D, Q: seasonal ? 1 : 0, m: mm, constant: c)]
        if c { starts.append(Order(p: 0, d: d, q: 0, P: 0, D: D, Q: 0, m: mm, constant: false)) }
        var best: Model? = nil
        for o in starts { if let f = tryOrder(o), f.aicc < (best?.aicc ?? .infinity) { best = f } }
        guard var current = best else { return nil }
        var improved = true
        while improved, fitted.count < 94 {
            improved = false
            let o = current.order
            var moves: [Order] = []
            func move(_ dp: Int, _ dq: Int, _ dP: Int, _ dQ: Int, constant: Bool? = nil) {
                moves.append(Order(p: o.p + dp, d: d, q: o.q + dq, P: o.P + dP, D: D, Q: o.Q + dQ, m: mm, constant: constant ?? o.constant))
            }
            if seasonal { move(0, 0, -1, 0); move(0, 0, 1, 0); move(0, 0, 0, -1); move(0, 0, 0, 1); move(0, 0, -1, -1); move(0, 0, 1, 1) }
            move(-1, 0, 0, 0); move(1, 0, 0, 0); move(0, -1, 0, 0); move(0, 1, 0, 0); move(-1, -1, 0, 0); move(1, 1, 0, 0)
            if allowConstant { move(0, 0, 0, 0, constant: !o.constant) }
            for candidate in moves {
                if let f = tryOrder(candidate), f.aicc < current.aicc - 1e-9 { current = f; improved = true; break }
            }
        }
        return current
    }
}
