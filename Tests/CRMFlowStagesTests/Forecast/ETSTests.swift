import Foundation
import Testing
@testable import CRMFlowStages

/// ETS against statsmodels 0.15.0's `ETSModel` (maximum likelihood over the smoothing parameters and the initial
/// states) on AirPassengers. statsmodels reports the full Gaussian log-likelihood; `forecast::ets`'s criterion, which
/// `ETS.Model.lik` is, equals −2·llf − n·(log(2π/n) + 1). Published with each case: statsmodels' criterion and its
/// point forecasts at horizons 1, 6 and 12.
@Suite struct ETSTests {
    static let y = SeriesFixtures.airPassengers

    @Test(arguments: [
        ("ANN", 1727.7867306743929, [432.0, 432.0, 432.0]),
        ("AAA", 1436.966378926974, [451.58, 567.72, 463.14]),
        ("MAdM", 1358.2330500502455, [441.91, 549.91, 450.24]),
        ("MNM", 1368.189854332834, [438.7, 538.27, 433.0]),
        ("MAM", 1351.9786791709332, [442.77, 554.05, 457.38]),
    ])
    func maximumLikelihoodReachesStatsmodelsFit(_ name: String, _ published: Double, _ forecasts: [Double]) throws {
        let spec = try #require(ETS.Spec(name))
        let model = try #require(ETS.fit(Self.y, spec: spec, m: 12))
        #expect(Self.y.count == 144)
        // As good a likelihood as statsmodels' L-BFGS (within 1.5 units of −2 log L on 144 points), and forecasts
        // within 3% of its forecasts.
        #expect(model.lik <= published + 1.5, "\(spec): −2 log L criterion \(model.lik) vs statsmodels \(published)")
        let f = model.forecast(12)
        for (h, expected) in zip([0, 5, 11], forecasts) {
            #expect(abs(f[h] - expected) / expected < 0.03, "\(spec) h=\(h + 1): \(f[h]) vs \(expected)")
        }
    }

    @Test func namesParseAndPrint() throws {
        #expect(ETS.Spec("MAdM")?.description == "ETS(M,Ad,M)")
        #expect(ETS.Spec("ETS(A,N,N)")?.description == "ETS(A,N,N)")
        #expect(ETS.Spec("MMN") == nil)   // multiplicative trend is not offered
        #expect(ETS.Spec("NAN") == nil)
    }

    @Test func autoPicksAMultiplicativeSeasonForAirPassengers() throws {
        let model = try #require(ETS.auto(Self.y, m: 12))
        #expect(model.spec.error == .multiplicative && model.spec.season == .multiplicative, "\(model.spec)")
        // The chosen model's AICc is within 2 of the lowest any candidate reaches with the full search (the
        // screening step keeps three).
        let full = ETS.candidates(Self.y, m: 12).compactMap { ETS.fit(Self.y, spec: $0, m: 12)?.aicc }.min()!
        #expect(model.aicc <= full + 2, "\(model.spec): \(model.aicc) vs \(full)")
    }

    @Test func candidatesFollowTheDataAndTheHistoryLength() {
        #expect(ETS.candidates(Self.y, m: 12).count == 15)
        let withZero = [0.0] + Self.y.dropFirst()
        #expect(ETS.candidates(withZero, m: 12).allSatisfy { $0.error == .additive && $0.season != .multiplicative })
        #expect(ETS.candidates(withZero, m: 12).count == 6)
        // Fewer than two seasons: no seasonal model.
        let short = Array(Self.y.prefix(20))
        #expect(ETS.candidates(short, m: 12).allSatisfy { $0.season == .none })
        #expect(ETS.fit(short, spec: ETS.Spec("AAA")!, m: 12) == nil)
        #expect(ETS.candidates(Self.y, m: 52).allSatisfy { $0.season == .none })
    }

    /// Class 1 (Hyndman et al. 2008, Table 6.1): ETS(A,N,N) has Var(h) = σ²·(1 + (h−1)·α²).
    @Test func linearModelsHaveClosedFormIntervals() throws {
        let model = try #require(ETS.fit(Self.y, spec: ETS.Spec("ANN")!, m: 12))
        let b = model.bounds(6)
        for h in 0..<6 {
            let sd = (model.sigma2 * (1 + Double(h) * model.alpha * model.alpha)).squareRoot()
            #expect(abs((b.hi95[h] - b.lo95[h]) / 2 - 1.959964 * sd) < 1e-6 * sd)
            #expect(abs((b.hi80[h] - b.lo80[h]) / 2 - 1.2815516 * sd) < 1e-6 * sd)
        }
    }

    @Test func simulatedIntervalsAreRepeatableAndNested() throws {
        let model = try #require(ETS.fit(Self.y, spec: ETS.Spec("MAM")!, m: 12))
        let a = model.bounds(12), b = model.bounds(12)
        #expect(a == b)
        let f = model.forecast(12)
        for h in 0..<12 {
            #expect(a.lo95[h] <= a.lo80[h] && a.lo80[h] <= f[h] && f[h] <= a.hi80[h] && a.hi80[h] <= a.hi95[h])
        }
        // Multiplicative errors: the band widens with the level and the horizon.
        #expect(a.hi95[11] - a.lo95[11] > a.hi95[0] - a.lo95[0])
    }
}
