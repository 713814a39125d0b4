import Foundation
import Testing
@testable import CRMFlowStages

@Suite struct ForecastingTests {
    static let y = SeriesFixtures.airPassengers

    @Test func combinationIsTheMedianOfItsParts() throws {
        let parts = [Forecasting.Method.ets, .theta, .arima].compactMap { Forecasting.fit($0, Self.y, m: 12, h: 6, intervals: true) }
        #expect(parts.count == 3)
        let median = try #require(Forecasting.fit(.combination, Self.y, m: 12, h: 6, intervals: true))
        let mean = try #require(Forecasting.fit(.combinationMean, Self.y, m: 12, h: 6, intervals: true))
        for h in 0..<6 {
            let v = parts.map { $0.forecast[h] }.sorted()
            #expect(abs(median.forecast[h] - v[1]) < 1e-9)
            #expect(abs(mean.forecast[h] - v.reduce(0, +) / 3) < 1e-9)
            let b = try #require(median.bounds)
            #expect(b.lo95[h] <= b.lo80[h] && b.lo80[h] <= median.forecast[h] && median.forecast[h] <= b.hi80[h] && b.hi80[h] <= b.hi95[h])
        }
        #expect(median.model?.hasPrefix("median of ETS(") == true)
    }

    /// A backtest refits the class the selection chose, on the origin's data alone.
    @Test func aFitLikeAnotherKeepsItsModelClass() throws {
        let whole = try #require(Forecasting.fit(.ets, Self.y, m: 12, h: 12))
        let origin = try #require(Forecasting.fit(.ets, Array(Self.y.prefix(120)), m: 12, h: 12, like: whole))
        #expect(origin.model == whole.model)
        #expect(origin.forecast != whole.forecast)
        let arima = try #require(Forecasting.fit(.arima, Self.y, m: 12, h: 12))
        #expect(Forecasting.fit(.arima, Array(Self.y.prefix(120)), m: 12, h: 12, like: arima)?.model == arima.model)
    }

    @Test func shortSeriesStillGetAForecast() throws {
        let nine = [52_000.0, 61_000, 48_000, 70_500, 66_000, 59_000, 73_000, 64_500, 69_000]
        for method in Forecasting.Method.modelled {
            let fit = try #require(Forecasting.fit(method, nine, m: 12, h: 3, intervals: true), "\(method)")
            #expect(fit.forecast.count == 3 && fit.forecast.allSatisfy(\.isFinite))
            #expect(fit.bounds != nil)
        }
    }
}

@Suite struct ForecastEdgeCaseTests {
    /// A constant history (every residual 0) and a series shorter than its seasonal difference: a forecast, no trap.
    @Test func constantAndTinySeriesForecastWithoutTrapping() throws {
        let flat = [Double](repeating: 1200, count: 40)
        for method in Forecasting.Method.modelled {
            let fit = try #require(Forecasting.fit(method, flat, m: 12, h: 4, intervals: true), "\(method)")
            for f in fit.forecast { #expect(abs(f - 1200) < 0.5, "\(method): \(f)") }
        }
        // Multiplicative errors on a constant history: the simulated intervals' seed once converted the likelihood
        // (−10³⁰⁰ for a perfect fit) to an Int and trapped.
        let mnn = try #require(ETS.fit(flat, spec: ETS.Spec("MNN")!, m: 12))
        #expect(mnn.bounds(3).hi95.allSatisfy { abs($0 - 1200) < 0.5 })
        let seasonal = ARIMA.Order(p: 0, d: 1, q: 1, P: 0, D: 1, Q: 1, m: 12, constant: false)
        #expect(ARIMA.fit([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], order: seasonal) == nil)
    }
}

@Suite struct SimulatedQuantileTests {
    /// The tail selection gives R's type-7 quantiles of a full sort, with ties and any order.
    @Test(arguments: [50, 101, 5000])
    func tailSelectionEqualsAFullSort(_ paths: Int) {
        var rng = SeededNormal(seed: UInt64(paths))
        let h = 3
        var values = (0..<(paths * h)).map { i in i % 7 == 0 ? 1.0 : (rng.next() * 10).rounded() }
        let copy = values
        let bounds = ForecastBounds(simulated: &values, paths: paths, h: h)
        for k in 0..<h {
            let sorted = copy[(k * paths)..<((k + 1) * paths)].sorted()
            func q(_ p: Double) -> Double {
                let x = p * Double(paths - 1), i = Int(x), f = x - Double(i)
                return i + 1 < paths ? sorted[i] * (1 - f) + sorted[i + 1] * f : sorted[i]
            }
            #expect(bounds.lo95[k] == q(0.025) && bounds.lo80[k] == q(0.1) && bounds.hi80[k] == q(0.9) && bounds.hi95[k] == q(0.975))
        }
    }
}
