import Foundation
import Testing
@testable import CRMFlowStages

/// Theta against statsmodels 0.15.0's `ThetaModel` (the standard Theta method of Hyndman & Billah 2003, deseasonalised
/// by a classical multiplicative decomposition when its seasonality test says so) on AirPassengers.
@Suite struct ThetaTests {
    static let y = SeriesFixtures.airPassengers

    @Test func standardThetaMatchesStatsmodelsOnASeasonalSeries() throws {
        let published = [440.068, 428.374, 489.696, 475.694, 479.659, 545.354, 602.738, 601.087, 523.94, 456.617, 397.945, 447.635]
        #expect(Theta.isSeasonal(Self.y, m: 12))
        let model = try #require(Theta.fit(Self.y, m: 12, optimised: false))
        #expect(model.theta == 2 && !model.seasonal.isEmpty)
        for (f, p) in zip(model.forecast(12), published) { #expect(abs(f - p) / p < 0.03, "\(f) vs \(p)") }
    }

    @Test func optimisedThetaFitsAtLeastAsWellAsTheStandardOne() throws {
        let stm = try #require(Theta.fit(Self.y, m: 12, optimised: false))
        let otm = try #require(Theta.fit(Self.y, m: 12, optimised: true))
        #expect(otm.mse <= stm.mse * 1.0001)
        #expect(otm.theta >= 1)
        #expect(Theta.auto(Self.y, m: 12)?.mse == min(stm.mse, otm.mse))
    }

    /// With θ = 2 and no season the forecast is a straight line with half the regression slope (drift b/2).
    @Test func standardThetaIsSESWithHalfTheTrend() throws {
        let line: [Double] = (0..<40).map { (i: Int) -> Double in
            let wiggle: Double = i % 2 == 0 ? 1.5 : -1.5
            return 100 + 3 * Double(i) + wiggle
        }
        #expect(!Theta.isSeasonal(line, m: 12))
        let model = try #require(Theta.fit(line, m: 12, optimised: false))
        let f = model.forecast(5)
        for h in 1..<5 {
            let step: Double = f[h] - f[h - 1]
            #expect(abs(step - model.b / 2) < 1e-9)
        }
        #expect(abs(model.b - 3) < 0.01)
        let b = model.bounds(5)
        #expect(b.hi95[4] - b.lo95[4] >= b.hi95[0] - b.lo95[0])
    }
}
