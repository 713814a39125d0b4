import Foundation

/// Nelder–Mead minimisation in an unbounded space (Nelder & Mead 1965, with the standard coefficients: reflection 1,
/// expansion 2, contraction ½, shrink ½). Constraints are the objective's business: it returns `.infinity` outside the
/// admissible region. `step` sets the initial simplex per dimension, so parameters of different scales (a smoothing
/// weight and a level in dollars) each get a sensible first move.
enum NelderMead {
    static func minimise(_ start: [Double], step: [Double], maxEvaluations: Int = 2000, tolerance: Double = 1e-8,
                         _ f: ([Double]) -> Double) -> (x: [Double], value: Double) {
        let d = start.count
        guard d > 0 else { return (start, f(start)) }
        // The simplex as d + 1 rows of a flat buffer, and preallocated trial points: no allocation per iteration.
        var simplex = [Double](repeating: 0, count: (d + 1) * d)
        var values = [Double](repeating: 0, count: d + 1)
        var point = start
        for i in 0...d {
            for j in 0..<d { point[j] = start[j] }
            if i > 0 { point[i - 1] += step[i - 1] == 0 ? 0.1 : step[i - 1] }
            for j in 0..<d { simplex[i * d + j] = point[j] }
            values[i] = f(point)
        }
        var evaluations = d + 1
        var centroid = [Double](repeating: 0, count: d), reflected = centroid, other = centroid
        // The sum of all vertices, kept up to date, so the centroid of the others costs O(d), not O(d²).
        var total = [Double](repeating: 0, count: d)
        func recount() { for j in 0..<d { var s = 0.0; for i in 0...d { s += simplex[i * d + j] }; total[j] = s } }
        recount()
        var replacements = 0
        func replace(_ row: Int, with p: [Double], _ value: Double) {
            for j in 0..<d { total[j] += p[j] - simplex[row * d + j]; simplex[row * d + j] = p[j] }
            values[row] = value
            replacements += 1
            if replacements % 64 == 0 { recount() }   // against drift of the running sums
        }
        while evaluations < maxEvaluations {
            var best = 0, worst = 0
            for i in 1...d {
                if values[i] < values[best] { best = i }
                if values[i] >= values[worst] { worst = i }
            }
            if best == worst { worst = best == 0 ? 1 : 0 }
            var second = best
            for i in 0...d where i != worst && values[i] >= values[second] { second = i }
            if values[worst].isFinite, abs(values[worst] - values[best]) <= tolerance * (abs(values[best]) + tolerance) { break }
            for j in 0..<d { centroid[j] = (total[j] - simplex[worst * d + j]) / Double(d) }
            func along(_ t: Double, into p: inout [Double]) {
                for j in 0..<d { p[j] = centroid[j] + t * (simplex[worst * d + j] - centroid[j]) }
            }
            along(-1, into: &reflected)
            let fr = f(reflected); evaluations += 1
            if fr < values[best] {
                along(-2, into: &other)
                let fe = f(other); evaluations += 1
                if fe < fr { replace(worst, with: other, fe) } else { replace(worst, with: reflected, fr) }
            } else if fr < values[second] {
                replace(worst, with: reflected, fr)
            } else {
                let outside = fr < values[worst]
                along(outside ? -0.5 : 0.5, into: &other)
                let fc = f(other); evaluations += 1
                if fc < (outside ? fr : values[worst]) {
                    replace(worst, with: other, fc)
                } else {
                    for i in 0...d where i != best {
                        for j in 0..<d {
                            simplex[i * d + j] = simplex[best * d + j] + 0.5 * (simplex[i * d + j] - simplex[best * d + j])
                            point[j] = simplex[i * d + j]
                        }
                        values[i] = f(point)
                    }
                    recount()
                    evaluations += d
                }
            }
        }
        var best = 0
        for i in 1...d where values[i] < values[best] { best = i }
        return (Array(simplex[(best * d)..<(best * d + d)]), values[best])
    }
}

/// A small deterministic random source for simulated prediction intervals (SplitMix64 and Box–Muller), seeded per
/// series so a forecast is the same on every run.
struct SeededNormal {
    var state: UInt64
    /// Box–Muller makes normals in pairs: the second one, kept for the next call.
    var spare: Double? = nil
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func uniform() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return (Double(z >> 11) + 0.5) / 9_007_199_254_740_992
    }
    mutating func next() -> Double {
        if let s = spare { spare = nil; return s }
        let r = (-2 * log(uniform())).squareRoot(), angle = 2 * Double.pi * uniform()
        spare = r * sin(angle)
        return r * cos(angle)
    }
}

/// Interval bounds per horizon: 80% and 95%, lower and upper.
public struct ForecastBounds: Sendable, Equatable {
    public var lo80: [Double], hi80: [Double], lo95: [Double], hi95: [Double]
    public init(lo80: [Double], hi80: [Double], lo95: [Double], hi95: [Double]) {
        self.lo80 = lo80; self.hi80 = hi80; self.lo95 = lo95; self.hi95 = hi95
    }
    /// Normal bounds around `mean` with standard deviations `sd`.
    public init(mean: [Double], sd: [Double]) {
        lo80 = zip(mean, sd).map { $0 - 1.281_551_6 * $1 }; hi80 = zip(mean, sd).map { $0 + 1.281_551_6 * $1 }
        lo95 = zip(mean, sd).map { $0 - 1.959_964 * $1 }; hi95 = zip(mean, sd).map { $0 + 1.959_964 * $1 }
    }
    /// Empirical quantiles (R's type 7: linear between order statistics) of simulated values, `paths` per horizon,
    /// horizon-major in `values` (which this reorders). Only the tails are sorted: a selection puts the lowest and the
    /// highest 10% (plus one) at the ends of each horizon's slice first.
    init(simulated values: inout [Double], paths: Int, h: Int) {
        var l8 = [Double](), h8 = [Double](), l9 = [Double](), h9 = [Double]()
        values.withUnsafeMutableBufferPointer { all in
            for k in 0..<h {
                let v = UnsafeMutableBufferPointer(rebasing: all[(k * paths)..<((k + 1) * paths)])
                let lowEnd = min(paths - 1, Int(0.1 * Double(paths - 1)) + 2), highStart = max(0, Int(0.9 * Double(paths - 1)) - 1)
                ForecastBounds.select(v, lowEnd, 0, paths - 1)
                ForecastBounds.select(v, highStart, lowEnd, paths - 1)
                var low = UnsafeMutableBufferPointer(rebasing: v[0..<lowEnd]), high = UnsafeMutableBufferPointer(rebasing: v[highStart..<paths])
                low.sort()
                high.sort()
                func q(_ p: Double) -> Double {
                    let x = p * Double(paths - 1), i = Int(x), f = x - Double(i)
                    return i + 1 < paths ? v[i] * (1 - f) + v[i + 1] * f : v[i]
                }
                l8.append(q(0.1)); h8.append(q(0.9)); l9.append(q(0.025)); h9.append(q(0.975))
            }
        }
        self.init(lo80: l8, hi80: h8, lo95: l9, hi95: h9)
    }

    /// Quickselect (Hoare's partition, middle pivot): afterwards v[k] is the k-th smallest of v[lo...hi], the values
    /// before it no larger and the values after it no smaller.
    static func select(_ v: UnsafeMutableBufferPointer<Double>, _ k: Int, _ lo: Int, _ hi: Int) {
        var lo = lo, hi = hi
        while lo < hi {
            let pivot = v[lo + (hi - lo) / 2]
            var i = lo, j = hi
            while i <= j {
                while v[i] < pivot { i += 1 }
                while v[j] > pivot { j -= 1 }
                if i <= j { v.swapAt(i, j); i += 1; j -= 1 }
            }
            if k <= j { hi = j } else if k >= i { lo = i } else { return }
        }
    }
}
