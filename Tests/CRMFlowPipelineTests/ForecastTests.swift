import Foundation
import Testing
@testable import CRMFlowCore
@testable import CRMFlowIO
@testable import CRMFlowPipeline
@testable import CRMFlowStages

@Suite struct ForecastTests {
    /// Box & Jenkins' airline passengers, 1949-1960 (monthly totals, thousands): the classic seasonal series.
    static let airPassengers: [Double] = [
        112, 118, 132, 129, 121, 135, 148, 148, 136, 119, 104, 118, 115, 126, 141, 135, 125, 149, 170, 170, 158, 133, 114, 140,
        145, 150, 178, 163, 172, 178, 199, 199, 184, 162, 146, 166, 171, 180, 193, 181, 183, 218, 230, 242, 209, 191, 172, 194,
        196, 196, 236, 235, 229, 243, 264, 272, 237, 211, 180, 201, 204, 188, 235, 227, 234, 264, 302, 293, 259, 229, 203, 229,
        242, 233, 267, 269, 270, 315, 364, 347, 312, 274, 237, 278, 284, 277, 317, 313, 318, 374, 413, 405, 355, 306, 271, 306,
        315, 301, 356, 348, 355, 422, 465, 467, 404, 347, 305, 336, 340, 318, 362, 348, 363, 435, 491, 505, 404, 359, 310, 337,
        360, 342, 406, 396, 420, 472, 548, 559, 463, 407, 362, 405, 417, 391, 419, 461, 472, 535, 622, 606, 508, 461, 390, 432,
    ]

    /// R's `datasets::austres`: quarterly Australian residents (thousands), 1971 Q2 - 1994 Q2.
    static let austres: [Double] = [
        13067.3, 13130.5, 13198.4, 13254.2, 13303.7, 13353.9, 13409.3, 13459.2, 13504.5, 13552.6, 13614.3, 13669.5, 13722.6, 13772.1, 13832.0,
        13862.6, 13893.0, 13926.8, 13968.9, 14004.7, 14033.1, 14066.0, 14110.1, 14155.6, 14192.2, 14231.7, 14281.5, 14330.3, 14359.3, 14396.6,
        14430.8, 14478.4, 14515.7, 14554.9, 14602.5, 14646.4, 14695.4, 14746.6, 14807.4, 14874.4, 14923.3, 14988.7, 15054.1, 15121.7, 15184.2,
        15239.3, 15288.9, 15346.2, 15393.5, 15439.0, 15483.5, 15531.5, 15579.4, 15628.5, 15677.3, 15736.7, 15788.3, 15839.7, 15900.6, 15961.5,
        16018.3, 16076.9, 16139.0, 16203.0, 16263.3, 16327.9, 16398.9, 16478.3, 16538.2, 16621.6, 16697.0, 16777.2, 16833.1, 16891.6, 16956.8,
        17026.3, 17085.4, 17106.9, 17169.4, 17239.4, 17292.0, 17354.2, 17414.2, 17447.3, 17482.6, 17526.0, 17568.7, 17627.1, 17661.5,
    ]

    /// Published figures: R's `HoltWinters(austres, gamma = FALSE)` (stats package) prints smoothing parameters
    /// alpha = 1, beta = 0.4062519 and coefficients a = 17661.5, b = 43.2471, so the next quarter is 17704.75. Our
    /// Holt filter (undamped, started from the first value and the first difference, as R starts it) with those
    /// parameters must give the same level, trend and forecast.
    @Test func holtFilterReproducesRsPublishedAustresFit() {
        let r = Forecasting.holt(Self.austres, alpha: 1, beta: 0.4062519, phi: 1, h: 2)
        #expect(abs(r.forecast[0] - 17704.75) < 0.005)
        #expect(abs((r.forecast[1] - r.forecast[0]) - 43.2471) < 0.0001)
        #expect(abs((2 * r.forecast[0] - r.forecast[1]) - 17661.5) < 0.0001)
    }

    /// Published figures: R's `HoltWinters(AirPassengers, seasonal = "multiplicative")` (stats package, start values from
    /// a classical decomposition of the first two years) prints alpha 0.2755925, beta 0.03269295, gamma 0.8707292 and
    /// coefficients a 469.3232206, b 3.0215391, s1…s12 below; `HoltWinters(AirPassengers)` (additive) prints alpha
    /// 0.2479595, beta 0.03453373, gamma 1 and a 477.827781, b 3.127627, s1…s12 below. Our filter with those parameters
    /// and our start values must reproduce the coefficients, and our optimiser, searching R's box [0, 1]³ from the
    /// same start values, must find a fit at least as good (sum of squared one-step errors) as R's.
    @Test(arguments: [
        (true, [0.2755925, 0.03269295, 0.8707292], 469.3232206, 3.0215391,
         [0.9464611, 0.8829239, 0.9717369, 1.0304825, 1.0476884, 1.1805272, 1.3590778, 1.3331706, 1.1083381, 0.9868813, 0.8361333, 0.9209877]),
        (false, [0.2479595, 0.03453373, 1], 477.827781, 3.127627,
         [-27.457685, -54.692464, -20.174608, 12.919120, 18.873607, 75.294426, 152.888368, 134.613464, 33.778349, -18.379060, -87.772408, -45.827781]),
    ])
    func holtWintersReproducesRsPublishedAirPassengersFit(multiplicative: Bool, parameters: [Double], a: Double, b: Double, s: [Double]) {
        let r = Forecasting.holtWinters(Self.airPassengers, m: 12, alpha: parameters[0], beta: parameters[1], gamma: parameters[2], multiplicative: multiplicative, h: 12)
        #expect(abs(r.level - a) < 1e-4)
        #expect(abs(r.trend - b) < 1e-5)
        for (ours, published) in zip(r.nextSeason, s) { #expect(abs(ours - published) < (multiplicative ? 1e-6 : 1e-4)) }
        // The forecast is (a + h·b)·s_h or a + h·b + s_h.
        #expect(abs(r.forecast[0] - (multiplicative ? (a + b) * s[0] : a + b + s[0])) < 1e-3)
        let best = Forecasting.optimise(dimensions: 3) { p in
            Forecasting.holtWinters(Self.airPassengers, m: 12, alpha: p[0], beta: p[1], gamma: p[2], multiplicative: multiplicative, h: 0).sse
        }
        let ours = Forecasting.holtWinters(Self.airPassengers, m: 12, alpha: best[0], beta: best[1], gamma: best[2], multiplicative: multiplicative, h: 0).sse
        #expect(ours <= r.sse * 1.001, "our SSE \(ours) vs R's \(r.sse)")
    }

    /// Interval widths follow each method's model: h-step standard deviation ÷ σ.
    @Test func intervalSpreadsFollowTheMethodsModels() {
        func fit(_ m: Forecasting.Method, _ p: [String: Double] = [:]) -> Forecasting.Fit {
            Forecasting.Fit(method: m, forecast: [], residuals: [], parameters: p, k: 0)
        }
        func close(_ a: [Double], _ b: [Double]) -> Bool { a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) < 1e-12 } }
        #expect(close(fit(.naive).spread(h: 3, m: 12, n: 30), [1, 2.0.squareRoot(), 3.0.squareRoot()]))
        // Seasonal naive: the error grows once per season (h = 13 is the second season).
        #expect(close(Array(fit(.seasonalNaive).spread(h: 13, m: 12, n: 30).suffix(2)), [1, 2.0.squareRoot()]))
        // Linear trend on t = 0…9: 1 + 1/n + (t_h − t̄)² / Sxx, with t̄ = 4.5, Sxx = 82.5.
        #expect(close(fit(.linearTrend).spread(h: 1, m: 12, n: 10), [(1 + 0.1 + 5.5 * 5.5 / 82.5).squareRoot()]))
        // Undamped Holt with β = 0 is simple exponential smoothing: 1 + (h − 1)α².
        #expect(close(fit(.holt, ["alpha": 0.5, "beta": 0, "phi": 1]).spread(h: 3, m: 12, n: 30), [1, 1.25.squareRoot(), 1.5.squareRoot()]))
        // Holt-Winters additive, m = 2: c1 = α + αβ*, c2 = α + 2αβ* + γ*(1 − α) (R's predict.HoltWinters uses the same ψ weights).
        let (a, b, g) = (0.3, 0.1, 0.2)
        let c1 = a + a * b, c2 = a + 2 * a * b + g * (1 - a)
        #expect(close(fit(.holtWintersAdditive, ["alpha": a, "beta": b, "gamma": g]).spread(h: 3, m: 2, n: 30),
                      [1, (1 + c1 * c1).squareRoot(), (1 + c1 * c1 + c2 * c2).squareRoot()]))
    }

    @Test func multiplicativeHoltWintersBeatsSeasonalNaiveOnAirPassengers() throws {
        let train = Array(Self.airPassengers.prefix(132)), test = Array(Self.airPassengers.suffix(12))
        let hw = try #require(Forecasting.fit(.holtWintersMultiplicative, train, m: 12, h: 12))
        let sn = try #require(Forecasting.fit(.seasonalNaive, train, m: 12, h: 12))
        let hwMASE = Forecasting.mase(hw.forecast, test, training: train, m: 12), snMASE = Forecasting.mase(sn.forecast, test, training: train, m: 12)
        #expect(hwMASE < snMASE)
        #expect(Forecasting.smape(hw.forecast, test) < 6)
        // The fitted smoothing parameters are in range and the seasonal peak (July/August) is forecast.
        #expect(hw.parameters.values.allSatisfy { $0 > 0 && $0 < 1 })
        #expect(hw.forecast.firstIndex(of: hw.forecast.max()!)! == 6 || hw.forecast.firstIndex(of: hw.forecast.max()!)! == 7)
    }

    @Test func benchmarksOnConstructedSeries() throws {
        let line = (0..<24).map { 100 + 5 * Double($0) }
        let trend = try #require(Forecasting.fit(.linearTrend, line, m: 12, h: 3))
        #expect(trend.forecast.map { ($0 * 1000).rounded() / 1000 } == [220, 225, 230])
        let naive = try #require(Forecasting.fit(.naive, line, m: 12, h: 2))
        #expect(naive.forecast == [215, 215])
        #expect(abs(Forecasting.smape([110], [100]) - 9.5238) < 0.001)
        // MASE scale: the in-sample mean absolute seasonal difference (here 12 × 5 = 60).
        #expect(abs(Forecasting.mase([230], [220], training: line, m: 12) - 10.0 / 60) < 1e-9)
        let holt = try #require(Forecasting.fit(.holt, line, m: 12, h: 3))
        #expect(abs(holt.forecast[0] - 220) < 2)
    }

    @Test func forecastStagePerGroupIsDeterministicAcrossThreads() throws {
        var rows: [[String: String?]] = []
        for (i, v) in Self.airPassengers.enumerated() {
            let month = String(format: "%04d-%02d-15", 1949 + i / 12, i % 12 + 1)
            rows.append(["day": month, "amount": String(v), "region": "north"])
            rows.append(["day": month, "amount": String(v / 2 + Double(i % 5)), "region": "south"])
        }
        let sales = table(rows, columns: ["day", "amount", "region"])
        let yaml = "  s:\n    ingest: { path: s.csv }\n  f:\n    forecast: { input: s, date: day, value: amount, period: month, horizon: 6, by: region }\n"
        var outputs: [[[String]]] = []
        var notes: [String] = []
        for jobs in [1, 4] {
            let (report, out) = try runStages(yaml, given: ["s": sales], jobs: jobs, keep: ["f"], outputDirectory: Paths.scratch("forecast"))
            outputs.append(rendered(out["f"]))
            notes = report.stages.first { $0.id == "f" }!.notes
        }
        #expect(outputs[0] == outputs[1])
        let forecastRows = outputs[0].filter { $0[2] == "forecast" }
        #expect(forecastRows.count == 12)
        // Each forecast row has its 80% interval inside its 95% interval.
        for r in forecastRows { #expect(Double(r[6])! <= Double(r[4])! && Double(r[5])! <= Double(r[7])!) }
        #expect(notes.first?.hasPrefix("region=north: ") == true && notes.first?.contains("backtest on the last 6 periods: sMAPE") == true)
        #expect(notes.first?.contains("seasonal naive: sMAPE") == true)
    }

    @Test func pipelineForecastWeightsOpenDealsAndCategories() throws {
        let deals = table([
            ["close": "2025-01-20", "amount": "1000", "p": "0.9", "open": "true", "won": "false"],
            ["close": "2025-02-10", "amount": "2000", "p": "0.5", "open": "true", "won": "false"],
            ["close": "2025-03-05", "amount": "4000", "p": "0.1", "open": "true", "won": "false"],
            ["close": "2025-01-05", "amount": "3000", "p": nil, "open": "false", "won": "true"],
            ["close": "2025-04-05", "amount": "500", "p": "0.8", "open": "true", "won": "false"],
        ], columns: ["close", "amount", "p", "open", "won"])
        let yaml = "  d:\n    ingest: { path: d.csv }\n  f:\n    forecast: { input: d, method: pipeline, date: close, value: amount, probability: p, open: open, won: won, period: quarter, quotas: sample-data/reference/quotas.csv }\n"
        let (_, out) = try runStages(yaml, given: ["d": deals], keep: ["f"], outputDirectory: Paths.scratch("pipeline"))
        let rows = rendered(out["f"]).filter { $0[0] == "2025-01-01" || $0[0] == "2025-04-01" }
        // Q1 2025: won 3000; commit 1000; best case 1000 + 2000; pipeline 7000; weighted 900 + 1000 + 400; quota 200000.
        #expect(rows[0] == ["2025-01-01", "3000.0", "1000.0", "3000.0", "7000.0", "2300.0", "200000.0", "0.015", "0.0265"])
        #expect(rows[1][1...5] == ["0.0", "500.0", "500.0", "500.0", "400.0"])
    }
}
