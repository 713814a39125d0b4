import Foundation
import Testing
@testable import CRMFlowStages

/// ARIMA against statsmodels 0.15.0 (`SARIMAX` exact maximum likelihood, `kpss`) and Box & Jenkins' airline model.
@Suite struct ARIMATests {
    static let y = SeriesFixtures.airPassengers

    /// The airline model ARIMA(0,1,1)(0,1,1)[12] on log passengers: statsmodels' maximum likelihood gives
    /// θ = −0.4019, Θ = −0.5571, σ² = 0.001348 (R's `arima` prints −0.4018, −0.5569). Conditional sum of squares
    /// lands close to it.
    @Test func airlineModelMatchesPublishedEstimates() throws {
        let logY = Self.y.map { log($0) }
        let order = ARIMA.Order(p: 0, d: 1, q: 1, P: 0, D: 1, Q: 1, m: 12, constant: false)
        let model = try #require(ARIMA.fit(logY, order: order))
        #expect(abs(model.ma[0] - -0.4019) < 0.05, "θ = \(model.ma[0])")
        #expect(abs(model.sma[0] - -0.5571) < 0.06, "Θ = \(model.sma[0])")
        #expect(abs(model.sigma2 - 0.001348) / 0.001348 < 0.2, "σ² = \(model.sigma2)")
        let published = [450.42, 425.72, 479.02, 492.4, 509.05, 583.35, 670.01, 667.08, 558.19, 497.21, 429.87, 477.25]
        for (f, p) in zip(model.forecast(12).map { exp($0) }, published) { #expect(abs(f - p) / p < 0.02, "\(f) vs \(p)") }
        let b = model.bounds(12)
        #expect(b.lo95[0] < log(published[0]) && log(published[0]) < b.hi95[0])
        #expect(b.hi95[11] - b.lo95[11] > b.hi95[0] - b.lo95[0])
    }

    /// statsmodels `kpss(x, regression="c", nlags=4)`: 2.739473620962186 on the series, 0.014626312320007039 on its
    /// first differences.
    @Test func kpssMatchesStatsmodels() {
        #expect(abs(ARIMA.kpss(Self.y, lags: 4) - 2.739473620962186) < 1e-9)
        let d = (1..<Self.y.count).map { Self.y[$0] - Self.y[$0 - 1] }
        #expect(abs(ARIMA.kpss(d, lags: 4) - 0.014626312320007039) < 1e-9)
        // The default lag, ⌊3√n/13⌋ = 2 for the 132 seasonal differences of log passengers: statsmodels gives
        // 0.5367 there (above the 5% critical value 0.463, so one more difference, as statsforecast's ndiffs says).
        let logs = Self.y.map { log($0) }
        let seasonal = (12..<logs.count).map { logs[$0] - logs[$0 - 12] }
        #expect(abs(ARIMA.kpss(seasonal) - Self.seasonalKPSS) < 1e-9)
    }

    static let seasonalKPSS = 0.5366879474447167

    @Test(arguments: [([0.5], true), ([1.2], false), ([-0.99], true), ([1.5, -0.56], true), ([0.5, 0.6], false), ([0, 0, 0.3], true), ([], true)])
    func stationarityByTheStepDownRecursion(_ coefficients: [Double], _ stationary: Bool) {
        #expect(ARIMA.isStationary(coefficients) == stationary)
    }

    @Test func differencesAndTheirInverseRoundTrip() {
        let order = ARIMA.Order(p: 0, d: 1, q: 0, P: 0, D: 1, Q: 0, m: 12, constant: false)
        let head = Array(Self.y.prefix(120)), tail = Array(Self.y.suffix(24))
        let w = ARIMA.differenced(Self.y, order)
        let wTail = Array(w.suffix(24))
        let back = ARIMA.integrate(wTail, head, order)
        for (a, b) in zip(back, tail) { #expect(abs(a - b) < 1e-9) }
    }

    @Test func automaticOrderDifferencesLogPassengersOnceAndSeasonally() throws {
        let model = try #require(ARIMA.auto(Self.y.map { log($0) }, m: 12))
        #expect(model.order.d == 1 && model.order.D == 1, "\(model.order)")
        #expect(model.order.p + model.order.q + model.order.P + model.order.Q <= 5)
        #expect(ARIMA.seasonalStrength(Self.y.map { log($0) }, m: 12) > 0.64)
        // A white-noise-like series needs no differences and no seasonal part.
        var rng = SeededNormal(seed: 7)
        let noise = (0..<120).map { _ in 50 + rng.next() }
        let flat = try #require(ARIMA.auto(noise, m: 12))
        #expect(flat.order.d == 0 && flat.order.D == 0, "\(flat.order)")
    }
}
