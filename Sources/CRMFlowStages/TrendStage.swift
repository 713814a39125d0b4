import CRMFlowCore
import CRMFlowIO
import Foundation

/// `trend`: growth, moving average, a linear trend with its significance, and anomalies of a series of period values.
public struct TrendStage: Stage {
    public static let spec = StageSpec(
        kind: "trend",
        summary: "Trend analysis of one value per period: period-over-period and year-over-year growth, a moving average, a least-squares linear trend with its slope and whether it is significant (two-sided t-test on the slope), and anomalies: periods whose robust z-score (0.6745 × (value − median) ÷ MAD; with a MAD of 0, (value − median) ÷ (1.2533 × mean absolute deviation)) exceeds a threshold.",
        options: [
            OptionSpec("input", .scalar, required: true, isInput: true, "One row per period (e.g. an aggregate by month)."),
            OptionSpec("x", .scalar, required: true, "The period column (a date)."),
            OptionSpec("y", .scalar, required: true, "The value column."),
            OptionSpec("window", .scalar, default: "3", "Periods in the moving average."),
            OptionSpec("threshold", .scalar, default: "3.5", "Robust z-score above which a period is flagged (3.5 as proposed by Iglewicz and Hoaglin)."),
            OptionSpec("alpha", .scalar, default: "0.05", "Significance level of the trend."),
        ],
        example: """
        revenue_trend:
          trend: { input: revenue_by_month, x: close_month, y: revenue_usd, window: 3 }
        """)

    let x: String
    let y: String
    let window: Int
    let threshold: Double
    let alpha: Double
    let location: SourceLocation

    public init?(_ config: StageConfig) {
        x = config.string("x") ?? ""
        y = config.string("y") ?? ""
        window = config.int("window", min: 1) ?? 3
        threshold = config.number("threshold") ?? 3.5
        alpha = config.number("alpha") ?? 0.05
        location = config.location
    }

    static let outputColumns: [(String, DataType)] = [
        ("pop_growth", .double), ("yoy_growth", .double), ("moving_avg", .double), ("trend", .double), ("robust_z", .double), ("anomaly", .boolean),
    ]

    public func outputSchema(_ inputs: [KnownSchema], _ check: SchemaCheck) -> KnownSchema {
        guard let schema = inputs.first ?? nil else { return nil }
        check.checkColumns([(x, location), (y, location)], in: schema, option: "trend")
        return ExprSchema(names: [x, y] + Self.outputColumns.map { $0.0 },
                          types: [schema.index(of: x).flatMap { schema.types[$0] }, .double] + Self.outputColumns.map { Optional($0.1) })
    }

    public func inputColumns(forOutput needed: Set<String>?) -> [Set<String>?] { [[x, y]] }

    /// Least squares of `ys` on 0, 1, 2, …: slope, intercept, and the two-sided p-value of the slope (nil below 3 points).
    public static func linearTrend(_ ys: [Double]) -> (slope: Double, intercept: Double, p: Double?) {
        let n = Double(ys.count)
        guard ys.count >= 2 else { return (0, ys.first ?? 0, nil) }
        let mx = (n - 1) / 2, my = ys.reduce(0, +) / n
        var sxx = 0.0, sxy = 0.0
        for (i, v) in ys.enumerated() { sxx += (Double(i) - mx) * (Double(i) - mx); sxy += (Double(i) - mx) * (v - my) }
        let slope = sxy / sxx, intercept = my - slope * mx
        guard ys.count >= 3 else { return (slope, intercept, nil) }
        var sse = 0.0
        for (i, v) in ys.enumerated() { let e = v - (intercept + slope * Double(i)); sse += e * e }
        let df = n - 2
        let se = (sse / df / sxx).squareRoot()
        guard se > 0 else { return (slope, intercept, slope == 0 ? 1 : 0) }
        let t = slope / se
        return (slope, intercept, studentTwoSidedP(t, df: df))
    }

    /// P(|T| > |t|) for Student's t with `df` degrees of freedom: I_{df/(df+t²)}(df/2, 1/2).
    public static func studentTwoSidedP(_ t: Double, df: Double) -> Double {
        incompleteBeta(df / (df + t * t), a: df / 2, b: 0.5)
    }

    /// The regularised incomplete beta function I_x(a, b), by its continued fraction (modified Lentz's method).
    public static func incompleteBeta(_ x: Double, a: Double, b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let lnGammas: Double = lgamma(a + b) - lgamma(a) - lgamma(b)
        let lnFront: Double = lnGammas + a * log(x) + b * log(1 - x)
        // The continued fraction converges fast for x < (a + 1) / (a + b + 2); otherwise use the symmetry.
        if x > (a + 1) / (a + b + 2) { return 1 - incompleteBeta(1 - x, a: b, b: a) }
        let tiny = 1e-300
        var c = 1.0, d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var f = d
        for m in 1...300 {
            let m = Double(m)
            // Even step.
            var num = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
            d = 1 + num * d; if abs(d) < tiny { d = tiny }
            c = 1 + num / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            f *= d * c
            // Odd step.
            num = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            d = 1 + num * d; if abs(d) < tiny { d = tiny }
            c = 1 + num / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            f *= delta
            if abs(delta - 1) < 1e-12 { break }
        }
        return exp(lnFront) * f / a
    }

    /// 0.6745 × (v − median) ÷ MAD for each value. When more than half the values are equal the MAD is 0; the mean
    /// absolute deviation is used instead: (v − median) ÷ (1.2533 × MeanAD). Nil when every value is the same.
    public static func robustZ(_ values: [Double]) -> [Double?] {
        guard let median = Stats.median(values), let mad = Stats.median(values.map { abs($0 - median) }) else { return [] }
        if mad > 0 { return values.map { 0.6745 * ($0 - median) / mad } }
        let meanAD = values.map { abs($0 - median) }.reduce(0, +) / Double(values.count)
        guard meanAD > 0 else { return values.map { _ in nil } }
        return values.map { ($0 - median) / (1.253314 * meanAD) }
    }

    public func run(_ inputs: [StageData], _ context: RunContext) throws(StageFailure) -> StageResult {
        let table = inputs[0].table
        guard let xs = table.column(named: x), let ys = table.column(named: y) else {
            throw StageFailure("\(location): trend columns '\(x)' and '\(y)' must both be columns of the input", hint: "columns: " + table.schema.names.joined(separator: ", "), status: .badPipeline)
        }
        // Rows with a period and a value, in period order.
        var points: [(day: Int32, row: Int, value: Double)] = []
        for r in 0..<table.rowCount {
            guard let v = ys.value(at: r).asDouble, let d = xs.value(at: r).asDays else { continue }
            points.append((d, r, v))
        }
        points.sort { $0.day < $1.day }
        let values = points.map(\.value)
        let fit = Self.linearTrend(values)
        let z = Self.robustZ(values)
        var byDay: [Int32: Double] = [:]
        for p in points { byDay[p.day] = p.value }
        var rows: [[Value]] = []
        var anomalies: [String] = []
        for (i, p) in points.enumerated() {
            func growth(_ base: Double?) -> Value {
                guard let base, base != 0 else { return .null }
                return .double(Stats.rounded((p.value - base) / abs(base)))
            }
            let windowValues = values[max(0, i - window + 1)...i]
            let movingAvg: Value = windowValues.count == window ? .double(Stats.rounded(windowValues.reduce(0, +) / Double(window), 4)) : .null
            let flagged = z[i].map { abs($0) > threshold } ?? false
            if flagged { anomalies.append(Value.date(p.day).description + String(format: " (robust z %.1f)", z[i]!)) }
            rows.append([xs.value(at: p.row), .double(p.value), i == 0 ? .null : growth(values[i - 1]), growth(byDay[DateMath.addMonths(p.day, -12)]), movingAvg,
                         .double(Stats.rounded(fit.intercept + fit.slope * Double(i), 4)), z[i].map { .double(Stats.rounded($0, 3)) } ?? .null, .boolean(flagged)])
        }
        var notes: [String] = []
        if let p = fit.p {
            let verdict = p < alpha ? "significant" : "not significant"
            notes.append("trend of \(y): \(fit.slope >= 0 ? "+" : "")\(HumanNumbers.format(fit.slope)) per period over \(points.count) periods (p = \(String(format: "%.3f", p)), \(verdict) at \(HumanNumbers.format(alpha * 100))%)")
        }
        notes.append(anomalies.isEmpty ? "no anomalies (robust z above \(HumanNumbers.format(threshold)))" : "anomalies: " + anomalies.joined(separator: ", "))
        let fields = [Field(name: x, type: xs.type), Field(name: y, type: .double)] + Self.outputColumns.map { Field(name: $0.0, type: $0.1) }
        let out = Table(names: fields.map(\.name), types: fields.map(\.type), rows: rows)
        let n = table.rowCount
        return StageResult(data: StageData(table: out), accounting: Accounting(rowsIn: n, rowsOut: out.rowCount, removed: ["no period or value": n - out.rowCount]), notes: notes)
    }
}
