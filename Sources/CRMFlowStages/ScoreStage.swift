import CRMFlowCore
import CRMFlowIO
import Foundation

/// `score`: win probabilities learned from history (logistic regression), rule points, or rotting deals.
public struct ScoreStage: Stage {
    public static let spec = StageSpec(
        kind: "score",
        summary: "Score rows. `logistic`: a win probability learned from historical rows (L2-regularised logistic regression, Newton's method: deterministic), with numeric features standardised, text one-hot (rare levels pooled), dates as ages; a 1-99 score, a grade and the top 3 reasons per row; quality on a held-out fifth (ROC AUC, log loss, calibration by decile) in the run summary and `<stage>.quality.csv`, coefficients in `<stage>.coefficients.csv`. `points`: rule points, clamped, with the rules that fired. `rotting`: open deals whose days in their stage exceed the stage's limit.",
        options: [
            OptionSpec("input", .scalar, required: true, isInput: true, "The rows (e.g. all deals: closed ones to learn from, open ones to score)."),
            OptionSpec("method", .scalar, required: true, allowed: ["logistic", "points", "rotting"], "How rows are scored."),
            OptionSpec("train", .scalar, "logistic: which rows to learn from (an expression, e.g. is_closed)."),
            OptionSpec("target", .scalar, "logistic: the outcome (an expression, e.g. is_won)."),
            OptionSpec("apply", .scalar, "logistic: which rows to score (default: the rows not trained on)."),
            OptionSpec("features", .list, "logistic: the feature columns."),
            OptionSpec("l2", .scalar, default: "1.0", "logistic: L2 penalty on the coefficients (not the intercept)."),
            OptionSpec("min_level_count", .scalar, default: "5", "logistic: text values seen fewer times in training are pooled as (other)."),
            OptionSpec("grades", .mapping, default: "{ A: 75, B: 50, C: 25 }", "Score cut-offs of the grades, highest first; below the last is D."),
            OptionSpec("rules", .list, "points: `- { name: …, when: <expression>, add: <points> }`."),
            OptionSpec("min", .scalar, default: "0", "points: the lowest score."),
            OptionSpec("max", .scalar, default: "100", "points: the highest score."),
            OptionSpec("stage", .scalar, default: "stage", "rotting: the stage column."),
            OptionSpec("since", .scalar, "rotting: the date the deal entered its stage."),
            OptionSpec("limits", .mapping, "rotting: days allowed per stage, e.g. { Prospecting: 14, Negotiation: 30 }."),
        ],
        example: """
        deal_scores:
          score:
            input: deals
            method: logistic
            train: is_closed
            target: is_won
            features: [amount_usd, owner, stage, created_date]
        lead_points:
          score:
            input: leads
            method: points
            rules:
              - { name: executive, when: "title like '%VP%'", add: 10 }
              - { name: inactive, when: "days_since_activity > 30", add: -20 }
        """)

    let method: String
    let train: ExprText?, target: ExprText?, apply: ExprText?
    let features: [String]
    let l2: Double
    let minLevelCount: Int
    let grades: [(String, Double)]
    let rules: [(name: String, expr: ExprText, points: Double)]
    let minScore: Double, maxScore: Double
    let stageColumn: String
    let since: String?
    let limits: [String: Double]
    let location: SourceLocation

    public init?(_ config: StageConfig) {
        method = config.choice("method") ?? ""
        train = config.expression("train")
        target = config.expression("target")
        apply = config.expression("apply")
        features = config.strings("features") ?? []
        l2 = config.number("l2") ?? 1.0
        minLevelCount = config.int("min_level_count", min: 1) ?? 5
        minScore = config.number("min") ?? 0
        maxScore = config.number("max") ?? 100
        stageColumn = config.string("stage") ?? "stage"
        since = config.string("since")
        location = config.location
        var ok = !method.isEmpty
        var grades: [(String, Double)] = []
        for e in config.mapping("grades") ?? [] {
            guard let v = e.value.scalar.flatMap(Double.init) else { config.log.add(.invalidValue, "grade \(e.key) needs a score cut-off", at: e.value.location); ok = false; continue }
            grades.append((e.key, v))
        }
        self.grades = grades.isEmpty ? [("A", 75), ("B", 50), ("C", 25)] : grades.sorted { $0.1 > $1.1 }
        var rules: [(String, ExprText, Double)] = []
        for item in config.node("rules")?.items ?? [] {
            guard let e = item.entries, let when = e.first(where: { $0.key == "when" })?.value, let add = e.first(where: { $0.key == "add" })?.value.scalar.flatMap(Double.init) else {
                config.log.add(.optionShape, "each rule is `{ name: …, when: <expression>, add: <points> }`", at: item.location)
                ok = false
                continue
            }
            let name = e.first { $0.key == "name" }?.value.scalar ?? when.scalar ?? "rule"
            if let x = config.expression(when, option: "rules.when") { rules.append((name, x, add)) } else { ok = false }
        }
        self.rules = rules
        var limits: [String: Double] = [:]
        for e in config.mapping("limits") ?? [] { if let v = e.value.scalar.flatMap(Double.init) { limits[Countries.lookupKey(e.key)] = v } }
        self.limits = limits
        switch method {
        case "logistic":
            if train == nil || target == nil || features.isEmpty {
                config.log.add(.missingOption, "logistic scoring needs train:, target: and features:", at: config.node("method")?.location); ok = false
            }
        case "points": if rules.isEmpty { config.log.add(.missingOption, "points scoring needs rules:", at: config.node("method")?.location); ok = false }
        case "rotting": if since == nil || limits.isEmpty { config.log.add(.missingOption, "rotting needs since: and limits:", at: config.node("method")?.location); ok = false }
        default: break
        }
        if !ok { return nil }
    }

    public func outputSchema(_ inputs: [KnownSchema], _ check: SchemaCheck) -> KnownSchema {
        guard let schema = inputs.first ?? nil else { return nil }
        switch method {
        case "logistic":
            check.checkColumns(features.map { ($0, location) }, in: schema, option: "score features")
            for e in [train, target, apply] { check.check(e, schema) }
            return schema.setting("probability", .double).setting("score", .integer).setting("grade", .string).setting("reasons", .string)
        case "points":
            for r in rules { check.check(r.expr, schema) }
            return schema.setting("points", .double).setting("fired", .string)
        default:
            check.checkColumns([(stageColumn, location), (since ?? "", location)], in: schema, option: "rotting")
            return schema.setting("days_in_stage", .integer).setting("rotting", .boolean)
        }
    }

    public func run(_ inputs: [StageData], _ context: RunContext) throws(StageFailure) -> StageResult {
        switch method {
        case "logistic": return try logistic(inputs[0], context)
        case "points": return try points(inputs[0], context)
        default: return try rotting(inputs[0], context)
        }
    }

    func grade(_ score: Int) -> String { grades.first { Double(score) >= $0.1 }?.0 ?? "D" }

    func booleans(_ expr: ExprText, _ table: Table, _ context: RunContext, option: String) throws(StageFailure) -> [Bool] {
        try conditionRows(expr, table, context, option: option)
    }

    // MARK: - Points and rotting

    func points(_ data: StageData, _ context: RunContext) throws(StageFailure) -> StageResult {
        let table = data.table
        var total = [Double](repeating: 0, count: table.rowCount)
        var fired = [[String]](repeating: [], count: table.rowCount)
        var counts: [String: Int] = [:]
        for rule in rules {
            let hits = try booleans(rule.expr, table, context, option: "rule \(rule.name)")
            for r in 0..<table.rowCount where hits[r] {
                total[r] += rule.points
                fired[r].append("\(rule.name) \(rule.points >= 0 ? "+" : "")\(HumanNumbers.format(rule.points))")
                counts[rule.name, default: 0] += 1
            }
        }
        let clamped = total.map { min(maxScore, max(minScore, $0)) }
        var buffer = StringBuffer()
        for f in fired { buffer.append(f.joined(separator: "; ")) }
        let out = table.setting("points", Column(storage: .double(clamped), validity: nil)).setting("fired", Column(storage: .string(buffer), validity: nil))
        let notes = rules.map { "\($0.name): fired for \(counts[$0.name] ?? 0) rows" }
        return StageResult(data: StageData(table: out, origins: data.origins), accounting: Accounting(rowsIn: table.rowCount, rowsOut: table.rowCount), notes: notes)
    }

    func rotting(_ data: StageData, _ context: RunContext) throws(StageFailure) -> StageResult {
        let table = data.table
        guard let stages = table.column(named: stageColumn), let sinceName = since, let entered = table.column(named: sinceName) else {
            throw StageFailure("\(location): rotting needs the columns '\(stageColumn)' and '\(since ?? "")'", hint: "columns: " + table.schema.names.joined(separator: ", "), status: .badPipeline)
        }
        var days = ColumnBuilder(.integer, capacity: table.rowCount), flags = ColumnBuilder(.boolean, capacity: table.rowCount)
        var rotten = 0
        for r in 0..<table.rowCount {
            guard let d = entered.value(at: r).asFractionalDays else { days.appendNull(); flags.appendNull(); continue }
            let inStage = Int64(Double(context.environment.asOf) - d.rounded(.down))
            days.append(.integer(inStage))
            let limit = stages.isNull(r) ? nil : limits[Countries.lookupKey(stages.value(at: r).description)]
            let isRotten = limit.map { Double(inStage) > $0 } ?? false
            if isRotten { rotten += 1 }
            flags.append(.boolean(isRotten))
        }
        let out = table.setting("days_in_stage", days.finish()).setting("rotting", flags.finish())
        return StageResult(data: StageData(table: out, origins: data.origins), accounting: Accounting(rowsIn: table.rowCount, rowsOut: table.rowCount),
                           notes: ["\(rotten) deals have stayed in their stage longer than its limit"])
    }

    // MARK: - Logistic regression

    /// How one input column becomes model features.
    enum Encoding {
        case numeric(mean: Double, sd: Double)
        case age(mean: Double, sd: Double)
        case levels([String])
    }

    /// The design matrix of `rows`, row-major (`rows.count` × width), features in encoding order.
    static func encode(_ table: Table, _ columns: [String], _ encodings: [Encoding], rows: [Int], asOf: Int32) -> Matrix {
        let cols = columns.map { table.column(named: $0)! }
        let width = encodings.reduce(0) { w, e in if case .levels(let l) = e { return w + l.count }; return w + 1 }
        var data = [Double](repeating: 0, count: rows.count * width)
        for (c, enc) in encodings.enumerated() {
            let column = cols[c]
            var offset = 0
            for e in encodings[..<c] { if case .levels(let l) = e { offset += l.count } else { offset += 1 } }
            switch enc {
            case .numeric(let mean, let sd):
                for (i, r) in rows.enumerated() { data[i * width + offset] = ((column.value(at: r).asDouble ?? mean) - mean) / sd }
            case .age(let mean, let sd):
                for (i, r) in rows.enumerated() { data[i * width + offset] = ((column.value(at: r).asFractionalDays.map { Double(asOf) - $0 } ?? mean) - mean) / sd }
            case .levels(let levels):
                let index = Dictionary(levels.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
                let other = index["(other)"]
                for (i, r) in rows.enumerated() {
                    if let hit = index[column.value(at: r).description] ?? other { data[i * width + offset + hit] = 1 }
                }
            }
        }
        return Matrix(rows: rows.count, width: width, data: data)
    }

    /// A dense row-major matrix.
    public struct Matrix: Sendable {
        public var rows: Int
        public var width: Int
        public var data: [Double]
        public init(rows: Int, width: Int, data: [Double]) { self.rows = rows; self.width = width; self.data = data }
        public init(_ rowsOf: [[Double]]) {
            rows = rowsOf.count
            width = rowsOf.first?.count ?? 0
            data = rowsOf.flatMap { $0 }
        }
        public func row(_ i: Int) -> ArraySlice<Double> { data[(i * width)..<((i + 1) * width)] }
    }

    /// Coefficients (intercept first) of an L2-regularised logistic regression by Newton's method.
    public static func fit(_ x: [[Double]], _ y: [Double], l2: Double) -> [Double] { fit(Matrix(x), y, l2: l2, threads: 1) }

    /// Newton's method on row slices in parallel: each slice sums its gradient and Hessian, the sums are added in slice
    /// order (so the result does not depend on the number of threads).
    public static func fit(_ x: Matrix, _ y: [Double], l2: Double, threads: Int) -> [Double] {
        let d = x.width + 1
        var w = [Double](repeating: 0, count: d)
        let n = x.rows
        // Slices fixed by the row count (not the thread count), so the sums are the same on any machine.
        let slices = RowSlices.ranges(count: n, parts: 16, minimumRows: 20_000)
        for _ in 0..<50 {
            let weights = w
            let sums = ConcurrentMap.map(slices, threads: threads) { range -> ([Double], [Double]) in
                var grad = [Double](repeating: 0, count: d)
                var hess = [Double](repeating: 0, count: d * d)
                x.data.withUnsafeBufferPointer { data in
                    var row = [Double](repeating: 1, count: d)
                    for i in range {
                        for j in 0..<x.width { row[j + 1] = data[i * x.width + j] }
                        var z = 0.0
                        for j in 0..<d { z += weights[j] * row[j] }
                        let p = 1 / (1 + exp(-z))
                        let s = max(p * (1 - p), 1e-12)
                        let g = p - y[i]
                        for j in 0..<d {
                            grad[j] += g * row[j]
                            let sj = s * row[j]
                            if sj != 0 { for k in 0...j { hess[j * d + k] += sj * row[k] } }
                        }
                    }
                }
                return (grad, hess)
            }
            var grad = [Double](repeating: 0, count: d)
            var flat = [Double](repeating: 0, count: d * d)
            for (g, h) in sums { for j in 0..<d { grad[j] += g[j] }; for j in 0..<(d * d) { flat[j] += h[j] } }
            var hess = (0..<d).map { j in (0..<d).map { k in k <= j ? flat[j * d + k] : flat[k * d + j] } }
            for j in 1..<d { grad[j] += l2 * w[j]; hess[j][j] += l2 }
            guard let step = solve(hess, grad) else { break }
            var change = 0.0
            for j in 0..<d { w[j] -= step[j]; change = max(change, abs(step[j])) }
            if change < 1e-10 { break }
        }
        return w
    }

    /// Solves A x = b for a symmetric positive definite A (Cholesky).
    static func solve(_ a: [[Double]], _ b: [Double]) -> [Double]? {
        let n = b.count
        var l = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        for i in 0..<n {
            for j in 0...i {
                var s = a[i][j]
                for k in 0..<j { s -= l[i][k] * l[j][k] }
                if i == j {
                    guard s > 0 else { return nil }
                    l[i][i] = s.squareRoot()
                } else {
                    l[i][j] = s / l[j][j]
                }
            }
        }
        var y = [Double](repeating: 0, count: n)
        for i in 0..<n { var s = b[i]; for k in 0..<i { s -= l[i][k] * y[k] }; y[i] = s / l[i][i] }
        var x = [Double](repeating: 0, count: n)
        for i in stride(from: n - 1, through: 0, by: -1) { var s = y[i]; for k in (i + 1)..<n { s -= l[k][i] * x[k] }; x[i] = s / l[i][i] }
        return x
    }

    static func probability(_ w: [Double], _ x: ArraySlice<Double>) -> Double {
        var z = w[0]
        for (j, v) in x.enumerated() { z += w[j + 1] * v }
        return 1 / (1 + exp(-z))
    }

    /// ROC AUC by the rank-sum (Mann-Whitney) formula, ties counted half.
    public static func auc(_ p: [Double], _ y: [Double]) -> Double? {
        let pos = zip(p, y).filter { $0.1 > 0.5 }.map(\.0), neg = zip(p, y).filter { $0.1 <= 0.5 }.map(\.0)
        guard !pos.isEmpty, !neg.isEmpty else { return nil }
        let sortedNeg = neg.sorted()
        var wins = 0.0
        for q in pos {
            var lo = 0, hi = sortedNeg.count
            while lo < hi { let m = (lo + hi) / 2; if sortedNeg[m] < q { lo = m + 1 } else { hi = m } }
            var eq = lo
            while eq < sortedNeg.count, sortedNeg[eq] == q { eq += 1 }
            wins += Double(lo) + Double(eq - lo) / 2
        }
        return wins / (Double(pos.count) * Double(neg.count))
    }

    func logistic(_ data: StageData, _ context: RunContext) throws(StageFailure) -> StageResult {
        let table = data.table
        for f in features where table.schema.index(of: f) == nil {
            throw StageFailure("\(location): feature '\(f)' is not a column of the input", hint: "columns: " + table.schema.names.joined(separator: ", "), status: .badPipeline)
        }
        let isTrain = try booleans(train!, table, context, option: "train")
        let outcome = try booleans(target!, table, context, option: "target")
        let isApply = try apply.map { e throws(StageFailure) in try booleans(e, table, context, option: "apply") } ?? isTrain.map { !$0 }
        let trainRows = (0..<table.rowCount).filter { isTrain[$0] }
        // A deterministic held-out fifth: every fifth training row (in input order) when there are enough rows.
        let holdOut = trainRows.count >= 20 ? Set(trainRows.enumerated().filter { $0.offset % 5 == 4 }.map(\.element)) : []
        let fitRows = trainRows.filter { !holdOut.contains($0) }
        let asOf = context.environment.asOf
        var encodings: [Encoding] = []
        var names: [String] = []
        for f in features {
            let c = table.column(named: f)!
            switch c.type {
            case .integer, .double, .money, .date, .timestamp:
                let isDate = c.type == .date || c.type == .timestamp
                let xs = fitRows.compactMap { r -> Double? in isDate ? c.value(at: r).asFractionalDays.map { Double(asOf) - $0 } : c.value(at: r).asDouble }
                let mean = xs.isEmpty ? 0 : xs.reduce(0, +) / Double(xs.count)
                let sd = xs.count < 2 ? 1 : max((xs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(xs.count - 1)).squareRoot(), 1e-9)
                encodings.append(isDate ? .age(mean: mean, sd: sd) : .numeric(mean: mean, sd: sd))
                names.append(isDate ? "\(f) (age)" : f)
            default:
                var counts: [String: Int] = [:]
                for r in fitRows { counts[c.value(at: r).description, default: 0] += 1 }
                var levels = counts.filter { $0.value >= minLevelCount }.keys.sorted()
                if counts.count > levels.count { levels.append("(other)") }
                // One level is the baseline (dropped) so the intercept stays identifiable.
                if levels.count > 1 { levels.removeFirst() }
                encodings.append(.levels(levels))
                names += levels.map { "\(f)=\($0)" }
            }
        }
        let xFit = Self.encode(table, features, encodings, rows: fitRows, asOf: asOf)
        let yFit = fitRows.map { outcome[$0] ? 1.0 : 0.0 }
        let w = Self.fit(xFit, yFit, l2: l2, threads: context.threads)
        var notes: [String] = []
        let won = yFit.filter { $0 > 0.5 }.count, lost = yFit.count - won
        if won < 10 || lost < 10 {
            notes.append("history too small to trust: \(won) won and \(lost) lost rows to learn from (scores are indicative; quality figures are unreliable)")
        }
        // Quality on the held-out rows (or on the training rows, said so, when there are too few).
        let evalRows = holdOut.isEmpty ? fitRows : trainRows.filter { holdOut.contains($0) }
        let xEval = Self.encode(table, features, encodings, rows: evalRows, asOf: asOf)
        let yEval = evalRows.map { outcome[$0] ? 1.0 : 0.0 }
        let pEval = (0..<xEval.rows).map { Self.probability(w, xEval.row($0)) }
        let auc = Self.auc(pEval, yEval)
        let logLoss = zip(pEval, yEval).map { p, y in -(y * log(max(p, 1e-15)) + (1 - y) * log(max(1 - p, 1e-15))) }.reduce(0, +) / Double(max(1, yEval.count))
        notes.append("model quality on \(holdOut.isEmpty ? "the training rows (too few for a held-out set)" : "\(evalRows.count) held-out rows"): ROC AUC \(auc.map { String(format: "%.3f", $0) } ?? "n/a"), log loss \(String(format: "%.3f", logLoss))")
        // Calibration by decile of predicted probability.
        let order = pEval.indices.sorted { pEval[$0] < pEval[$1] }
        var calibration: [[Value]] = []
        for dcl in 0..<10 {
            let part = order[(order.count * dcl / 10)..<(order.count * (dcl + 1) / 10)]
            guard !part.isEmpty else { continue }
            let mp = part.map { pEval[$0] }.reduce(0, +) / Double(part.count), my = part.map { yEval[$0] }.reduce(0, +) / Double(part.count)
            calibration.append([.integer(Int64(dcl + 1)), .integer(Int64(part.count)), .double(Stats.rounded(mp)), .double(Stats.rounded(my))])
        }
        let quality = Table(names: ["decile", "rows", "mean_predicted", "observed_rate"], types: [.integer, .integer, .double, .double], rows: calibration
            + [[.null, .integer(Int64(evalRows.count)), auc.map { .double(Stats.rounded($0)) } ?? .null, .double(Stats.rounded(logLoss))]])
        let coefficients = Table(names: ["feature", "coefficient"], types: [.string, .double],
                                 rows: [[.string("(intercept)"), .double(Stats.rounded(w[0], 6))]] + names.enumerated().map { [.string($1), .double(Stats.rounded(w[$0 + 1], 6))] })
        // Scores for the rows to score; other rows pass through unscored.
        let scoreRows = (0..<table.rowCount).filter { isApply[$0] }
        let xScore = Self.encode(table, features, encodings, rows: scoreRows, asOf: asOf)
        var prob = [Double?](repeating: nil, count: table.rowCount), reasons = [String?](repeating: nil, count: table.rowCount)
        for (i, r) in scoreRows.enumerated() {
            let p = Self.probability(w, xScore.row(i))
            prob[r] = p
            let contributions = xScore.row(i).enumerated().map { (names[$0], w[$0 + 1] * $1) }.filter { abs($0.1) > 1e-9 }
            reasons[r] = contributions.sorted { abs($0.1) != abs($1.1) ? abs($0.1) > abs($1.1) : $0.0 < $1.0 }.prefix(3)
                .map { "\($0.0) \($0.1 >= 0 ? "+" : "")\(String(format: "%.2f", $0.1))" }.joined(separator: "; ")
        }
        var pCol = ColumnBuilder(.double, capacity: table.rowCount), sCol = ColumnBuilder(.integer, capacity: table.rowCount)
        var gCol = ColumnBuilder(.string, capacity: table.rowCount), rCol = ColumnBuilder(.string, capacity: table.rowCount)
        for r in 0..<table.rowCount {
            guard let p = prob[r] else { pCol.appendNull(); sCol.appendNull(); gCol.appendNull(); rCol.appendNull(); continue }
            let score = min(99, max(1, Int((p * 100).rounded())))
            pCol.append(.double(Stats.rounded(p, 4)))
            sCol.append(.integer(Int64(score)))
            gCol.append(.string(grade(score)))
            rCol.append(.string(reasons[r] ?? ""))
        }
        let out = table.setting("probability", pCol.finish()).setting("score", sCol.finish()).setting("grade", gCol.finish()).setting("reasons", rCol.finish())
        let outputs = [try writeSideTable(coefficients, suffix: "coefficients", context), try writeSideTable(quality, suffix: "quality", context)]
        notes.append("\(scoreRows.count) rows scored from \(fitRows.count) training rows (\(won) won, \(lost) lost)")
        return StageResult(data: StageData(table: out, origins: data.origins), accounting: Accounting(rowsIn: table.rowCount, rowsOut: table.rowCount),
                           notes: notes, outputs: outputs)
    }
}

extension ScoreStage {
    /// Points and rotting score each row on its own; logistic learns from every closed row.
    public var scoresRowByRow: Bool { method != "logistic" }
}
