import CRMFlowCore
import CRMFlowIO
import Foundation

/// `segment`: customer segments by RFM scores, k-means clusters or ordered rules.
public struct SegmentStage: Stage {
    public static let spec = StageSpec(
        kind: "segment",
        summary: "Customer segments. `rfm`: recency, frequency and monetary value per customer from transactions, scores 1–5 by quintiles of the rank (ties broken by customer id ascending, numerically when every id is digits: pandas' qcut of rank(method='first') over rows sorted by customer id; R reversed so the most recent get 5) and the named segments of DOMAIN.md from (R, F). `kmeans`: clusters of standardised numeric and one-hot categorical features, k-means++ seeded, k chosen by silhouette with `k: auto`. `rules`: the first matching `when` expression gives the label, else the default.",
        options: [
            OptionSpec("input", .scalar, required: true, isInput: true, "Transactions (rfm) or one row per customer (kmeans, rules)."),
            OptionSpec("method", .scalar, required: true, allowed: ["rfm", "kmeans", "rules"], "How segments are made."),
            OptionSpec("customer", .scalar, default: "customer_id", "rfm: the customer column."),
            OptionSpec("date", .scalar, default: "date", "rfm: the purchase date column."),
            OptionSpec("amount", .scalar, default: "amount", "rfm: the purchase amount column."),
            OptionSpec("monetary", .scalar, default: "total", allowed: ["total", "average"], "rfm: monetary value as the total or the average purchase."),
            OptionSpec("features", .list, "kmeans: the columns clustered (numeric standardised, text one-hot)."),
            OptionSpec("k", .scalar, default: "auto", "kmeans: the number of clusters, or auto (2 to 8, best silhouette)."),
            OptionSpec("seed", .scalar, default: "42", "kmeans: the random seed (same seed, same clusters)."),
            OptionSpec("rules", .list, "rules: `- { when: <expression>, label: <text> }`, first match wins."),
            OptionSpec("default", .scalar, default: "Other", "rules: the label when no rule matches."),
            OptionSpec("output", .scalar, default: "segment", "The label column's name."),
        ],
        example: """
        rfm:
          segment: { input: orders, method: rfm, customer: customer_id, date: order_date, amount: amount_usd }
        clusters:
          segment: { input: customers, method: kmeans, features: [revenue, orders, country], k: auto }
        tiers:
          segment:
            input: customers
            method: rules
            rules:
              - { when: "revenue >= 100000", label: Enterprise }
              - { when: "revenue >= 10000", label: Mid-market }
            default: SMB
        """)

    let method: String
    let customer: String, date: String, amount: String, monetary: String
    let features: [String]
    let k: Int?
    let seed: UInt64
    let rules: [(label: String, expr: ExprText)]
    let defaultLabel: String
    let output: String
    let location: SourceLocation

    public init?(_ config: StageConfig) {
        method = config.choice("method") ?? ""
        customer = config.string("customer") ?? "customer_id"
        date = config.string("date") ?? "date"
        amount = config.string("amount") ?? "amount"
        monetary = config.choice("monetary") ?? "total"
        features = config.strings("features") ?? []
        location = config.location
        var ok = !method.isEmpty
        if let kText = config.string("k"), kText != "auto" {
            guard let v = Int(kText), v >= 2 else { config.log.add(.invalidValue, "k must be auto or a whole number of at least 2, got '\(kText)'", at: config.node("k")?.textLocation); return nil }
            k = v
        } else { k = nil }
        seed = UInt64(config.int("seed", min: 0) ?? 42)
        defaultLabel = config.string("default") ?? "Other"
        output = config.string("output") ?? "segment"
        var rules: [(String, ExprText)] = []
        for item in config.node("rules")?.items ?? [] {
            guard let e = item.entries, let when = e.first(where: { $0.key == "when" })?.value, let label = e.first(where: { $0.key == "label" })?.value.scalar else {
                config.log.add(.optionShape, "each rule is `{ when: <expression>, label: <text> }`", at: item.location)
                ok = false
                continue
            }
            if let x = config.expression(when, option: "rules.when") { rules.append((label, x)) } else { ok = false }
        }
        self.rules = rules
        if method == "kmeans", features.isEmpty {
            config.log.add(.missingOption, "kmeans needs features: the columns to cluster", at: config.node("method")?.location)
            ok = false
        }
        if method == "rules", rules.isEmpty {
            config.log.add(.missingOption, "rules needs at least one rule", at: config.node("method")?.location)
            ok = false
        }
        if !ok { return nil }
    }

    public func outputSchema(_ inputs: [KnownSchema], _ check: SchemaCheck) -> KnownSchema {
        guard let schema = inputs.first ?? nil else { return nil }
        switch method {
        case "rfm":
            check.checkColumns([customer, date, amount].map { ($0, location) }, in: schema, option: "rfm")
            return ExprSchema(names: [customer, "recency", "frequency", "monetary", "r", "f", "m", "rfm", output],
                              types: [schema.index(of: customer).flatMap { schema.types[$0] }, .integer, .integer, .double, .integer, .integer, .integer, .string, .string])
        case "kmeans":
            check.checkColumns(features.map { ($0, location) }, in: schema, option: "kmeans features")
            return ExprSchema(names: schema.names + [output, "distance"], types: schema.types + [.integer, .double])
        default:
            for r in rules {
                if let t = check.check(r.expr, schema), t != .boolean {
                    check.log.add(.expressionType, "a rule's when must be true or false, but it gives \(t.rawValue)", at: r.expr.location, length: r.expr.text.count)
                }
            }
            return schema.setting(output, .string)
        }
    }

    public func run(_ inputs: [StageData], _ context: RunContext) throws(StageFailure) -> StageResult {
        let table = inputs[0].table
        switch method {
        case "rfm": return try rfm(table, context)
        case "kmeans": return try kmeans(inputs[0], context)
        default: return try applyRules(inputs[0], context)
        }
    }

    func column(_ name: String, _ table: Table) throws(StageFailure) -> Column {
        try requireColumn(name, in: table, for: "segment", at: location)
    }

    // MARK: - RFM

    /// Customer ids in natural order: by number when every id is written in digits (an id column stays text, yet ids
    /// 1, 2, 10 are numbers to the people who rank by them), else by value.
    static func naturalOrder(_ ids: [Value]) -> [Int] {
        let digits: [String]? = {
            var out: [String] = []
            for v in ids {
                guard case .string(let s) = v, !s.isEmpty, s.utf8.allSatisfy({ $0 &- 48 < 10 }) else { return nil }
                // Leading zeros do not count: 007 is 7 (ties with 7 then fall back to the text).
                let trimmed = s.drop { $0 == "0" }
                out.append(trimmed.isEmpty ? "0" : String(trimmed))
            }
            return out
        }()
        guard let digits else { return ids.indices.sorted { compareValues(ids[$0], ids[$1]) < 0 } }
        return ids.indices.sorted { a, b in
            let x = digits[a], y = digits[b]
            if x.count != y.count { return x.count < y.count }
            if x != y { return x < y }
            return compareValues(ids[a], ids[b]) < 0
        }
    }

    /// Scores 1–5 for values in customer-id order: pandas' `qcut(rank(method='first'), 5)`: ranks 1…n (ties in the
    /// given order), bin edges at the 0, 20, …, 100% quantiles of the ranks (linear interpolation), right-closed.
    public static func quintileScores(_ values: [Double], reversed: Bool) -> [Int] {
        let n = values.count
        guard n > 0 else { return [] }
        let order = values.indices.sorted { values[$0] != values[$1] ? values[$0] < values[$1] : $0 < $1 }
        var rank = [Int](repeating: 0, count: n)
        for (r, i) in order.enumerated() { rank[i] = r + 1 }
        let edges = (0...5).map { 1 + Double(n - 1) * Double($0) / 5 }
        return rank.map { r in
            var bin = 1
            while bin < 5, Double(r) > edges[bin] { bin += 1 }
            return reversed ? 6 - bin : bin
        }
    }

    /// The named segment of (R, F), first match wins (DOMAIN.md); "Lost" when none does.
    public static func segmentName(r: Int, f: Int) -> String {
        let table: [(String, ClosedRange<Int>, ClosedRange<Int>)] = [
            ("Champions", 5...5, 4...5), ("Loyal Customers", 3...4, 4...5), ("Potential Loyalists", 4...5, 2...3), ("New Customers", 5...5, 1...1),
            ("Promising", 4...4, 1...1), ("Need Attention", 3...3, 3...3), ("About To Sleep", 3...3, 1...2), ("Cannot Lose Them", 1...2, 5...5),
            ("At Risk", 1...2, 3...4), ("Hibernating", 1...2, 1...2),
        ]
        return table.first { $0.1.contains(r) && $0.2.contains(f) }?.0 ?? "Lost"
    }

    /// Per-customer totals of some transactions: last purchase day, purchases and amount; rows without a customer,
    /// date or amount are counted as skipped.
    public struct RFMTotals: Sendable {
        var ids: [Value] = []
        var last: [Int32] = []
        var count: [Int] = []
        var total: [Double] = []
        var skipped = 0
        /// Customer → index, kept while chunks are added.
        var index: [Value: Int] = [:]

        mutating func add(_ other: RFMTotals) {
            skipped += other.skipped
            if ids.isEmpty, index.isEmpty {
                (ids, last, count, total) = (other.ids, other.last, other.count, other.total)
                index.reserveCapacity(ids.count * 2)
                for (i, id) in ids.enumerated() { index[id] = i }
                return
            }
            for (j, id) in other.ids.enumerated() {
                if let i = index[id] {
                    last[i] = max(last[i], other.last[j])
                    count[i] += other.count[j]
                    total[i] += other.total[j]
                } else {
                    index[id] = ids.count
                    ids.append(id); last.append(other.last[j]); count.append(other.count[j]); total.append(other.total[j])
                }
            }
        }
    }

    func rfmTotals(ids: Column, dates: Column, amounts: Column, rowCount: Int) -> RFMTotals {
        let grouping = Grouping.make(keys: [ids], rowCount: rowCount)
        let g = grouping.groupCount
        var t = RFMTotals(last: [Int32](repeating: Int32.min, count: g), count: [Int](repeating: 0, count: g), total: [Double](repeating: 0, count: g))
        // NB: the common shapes (a date column, a double column) read their arrays directly, not through `Value`.
        let dayArray: [Int32]? = if case .date(let a) = dates.storage { a } else { nil }
        let amountArray: [Double]? = if case .double(let a) = amounts.storage { a } else { nil }
        for r in 0..<rowCount {
            guard !ids.isNull(r), !dates.isNull(r), !amounts.isNull(r),
                  let d = dayArray.map({ $0[r] }) ?? dates.value(at: r).asDays,
                  let a = amountArray.map({ $0[r] }) ?? amounts.value(at: r).asDouble else { t.skipped += 1; continue }
            let k = Int(grouping.groupOfRow[r])
            t.last[k] = max(t.last[k], d)
            t.count[k] += 1
            t.total[k] += a
        }
        // Groups with at least one usable purchase.
        let used = (0..<g).filter { t.count[$0] > 0 }
        t.ids = used.map { ids.value(at: grouping.firstRow[$0]) }
        t.last = used.map { t.last[$0] }
        t.count = used.map { t.count[$0] }
        t.total = used.map { t.total[$0] }
        return t
    }

    func rfm(_ table: Table, _ context: RunContext) throws(StageFailure) -> StageResult {
        let ids = try column(customer, table), dates = try column(date, table), amounts = try column(amount, table)
        return try rfmResult(rfmTotals(ids: ids, dates: dates, amounts: amounts, rowCount: table.rowCount), idType: ids.type, rowsIn: table.rowCount, context)
    }

    func rfmResult(_ totals: RFMTotals, idType: DataType, rowsIn n: Int, _ context: RunContext) throws(StageFailure) -> StageResult {
        let (last, count, total, skipped) = (totals.last, totals.count, totals.total, totals.skipped)
        // Customers in id order (the tie rule), those with at least one usable purchase.
        let customers = Self.naturalOrder(totals.ids)
        let asOf = context.environment.asOf
        let recency = customers.map { Double(Int(asOf) - Int(last[$0])) }
        let frequency = customers.map { Double(count[$0]) }
        let money = customers.map { monetary == "average" ? total[$0] / Double(count[$0]) : total[$0] }
        let r = Self.quintileScores(recency, reversed: true), f = Self.quintileScores(frequency, reversed: false), m = Self.quintileScores(money, reversed: false)
        var rows: [[Value]] = []
        var profile: [String: (n: Int, revenue: Double, recency: Double, frequency: Double)] = [:]
        let revenueTotal = customers.reduce(0.0) { $0 + total[$1] }
        for (i, c) in customers.enumerated() {
            let name = Self.segmentName(r: r[i], f: f[i])
            rows.append([totals.ids[c], .integer(Int64(recency[i])), .integer(Int64(frequency[i])), .double(Stats.rounded(money[i], 2)),
                         .integer(Int64(r[i])), .integer(Int64(f[i])), .integer(Int64(m[i])), .string("\(r[i])\(f[i])\(m[i])"), .string(name)])
            var p = profile[name] ?? (0, 0, 0, 0)
            p.n += 1; p.revenue += total[c]; p.recency += recency[i]; p.frequency += frequency[i]
            profile[name] = p
        }
        var notes = profile.sorted { $0.value.n != $1.value.n ? $0.value.n > $1.value.n : $0.key < $1.key }.map { name, p in
            "\(name): \(p.n) customers, \(HumanNumbers.percent(revenueTotal > 0 ? p.revenue / revenueTotal : 0)) of revenue, average recency \(HumanNumbers.format(p.recency / Double(p.n))) days, frequency \(HumanNumbers.format(p.frequency / Double(p.n)))"
        }
        if skipped > 0 { notes.append("\(skipped) rows without a customer, date or amount are not counted") }
        let profileTable = Table(names: ["segment", "customers", "revenue_share", "avg_recency", "avg_frequency", "avg_monetary"],
                                 types: [.string, .integer, .double, .double, .double, .double],
                                 rows: profile.sorted { $0.value.n != $1.value.n ? $0.value.n > $1.value.n : $0.key < $1.key }.map { name, p in
                                     [.string(name), .integer(Int64(p.n)), .double(Stats.rounded(revenueTotal > 0 ? p.revenue / revenueTotal : 0)),
                                      .double(Stats.rounded(p.recency / Double(p.n), 2)), .double(Stats.rounded(p.frequency / Double(p.n), 2)),
                                      .double(Stats.rounded(p.revenue / Double(p.n), 2))]
                                 })
        let profilePath = try writeSideTable(profileTable, suffix: "profile", context)
        let fields: [(String, DataType)] = [(customer, idType), ("recency", .integer), ("frequency", .integer), ("monetary", .double), ("r", .integer), ("f", .integer), ("m", .integer), ("rfm", .string), (output, .string)]
        let out = Table(names: fields.map(\.0), types: fields.map(\.1), rows: rows)
        return StageResult(data: StageData(table: out), accounting: Accounting(rowsIn: n, rowsOut: out.rowCount, removed: ["aggregated": n], added: ["customer": out.rowCount]),
                           notes: notes, outputs: [profilePath])
    }

    // MARK: - Rules

    func applyRules(_ data: StageData, _ context: RunContext) throws(StageFailure) -> StageResult {
        let table = data.table
        var label = [String?](repeating: nil, count: table.rowCount)
        var counts: [String: Int] = [:]
        for rule in rules {
            let b = try conditionRows(rule.expr, table, context, option: "a rule's when")
            for r in 0..<table.rowCount where label[r] == nil && b[r] { label[r] = rule.label }
        }
        var builder = StringBuffer()
        for r in 0..<table.rowCount {
            let l = label[r] ?? defaultLabel
            counts[l, default: 0] += 1
            builder.append(l)
        }
        let out = table.setting(output, Column(storage: .string(builder), validity: nil))
        let notes = (rules.map(\.label) + [defaultLabel]).filter { counts[$0] != nil }.map { "\($0): \(counts[$0]!) rows" }
        return StageResult(data: StageData(table: out, origins: data.origins), accounting: Accounting(rowsIn: table.rowCount, rowsOut: table.rowCount), notes: notes)
    }

    // MARK: - k-means

    /// Standardised numeric features and one-hot categorical ones; rows with a missing numeric value get the mean.
    static func featureMatrix(_ columns: [Column]) -> (rows: [[Double]], names: [String]) {
        let n = columns.first?.count ?? 0
        var matrix = [[Double]](repeating: [], count: n)
        var names: [String] = []
        for (j, c) in columns.enumerated() {
            if isNumeric(c.type) {
                let xs = (0..<n).map { c.value(at: $0).asDouble }
                let present = xs.compactMap { $0 }
                let mean = present.isEmpty ? 0 : present.reduce(0, +) / Double(present.count)
                let sd = present.count < 2 ? 1 : (present.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(present.count - 1)).squareRoot()
                for i in 0..<n { matrix[i].append(((xs[i] ?? mean) - mean) / (sd > 0 ? sd : 1)) }
                names.append("f\(j)")
            } else {
                let levels = Array(Set((0..<n).map { c.value(at: $0).description })).sorted()
                for level in levels {
                    for i in 0..<n { matrix[i].append(c.value(at: i).description == level ? 1 : 0) }
                    names.append("f\(j)=\(level)")
                }
            }
        }
        return (matrix, names)
    }

    static func isNumeric(_ t: DataType) -> Bool { t == .integer || t == .double || t == .money }

    @inline(__always) static func distance2(_ a: [Double], _ b: [Double]) -> Double {
        var s = 0.0
        for i in a.indices { let d = a[i] - b[i]; s += d * d }
        return s
    }

    /// k-means++ seeding and Lloyd iterations; assignments are computed in row slices on `threads` threads.
    public static func cluster(_ x: [[Double]], k: Int, seed: UInt64, threads: Int) -> (labels: [Int], centres: [[Double]], inertia: Double) {
        let n = x.count
        guard n > 0, k > 0 else { return ([], [], 0) }
        var rng = SplitMix64(seed: seed)
        var centres = [x[Int(rng.next() % UInt64(n))]]
        var nearest = x.map { distance2($0, centres[0]) }
        while centres.count < min(k, n) {
            let total = nearest.reduce(0, +)
            var target = Double(rng.next() % 1_000_000_007) / 1_000_000_007 * total
            var pick = n - 1
            for i in 0..<n { target -= nearest[i]; if target <= 0 { pick = i; break } }
            centres.append(x[pick])
            for i in 0..<n { nearest[i] = min(nearest[i], distance2(x[i], centres.last!)) }
        }
        var labels = [Int](repeating: 0, count: n)
        let slices = RowSlices.ranges(count: n, parts: threads, minimumRows: 10_000)
        for _ in 0..<100 {
            let cs = centres
            let parts = ConcurrentMap.map(slices, threads: threads) { range -> [Int] in
                range.map { i in (0..<cs.count).min { distance2(x[i], cs[$0]) < distance2(x[i], cs[$1]) }! }
            }
            let next = Array(parts.joined())
            var sums = [[Double]](repeating: [Double](repeating: 0, count: x[0].count), count: centres.count)
            var counts = [Int](repeating: 0, count: centres.count)
            for i in 0..<n { counts[next[i]] += 1; for j in x[i].indices { sums[next[i]][j] += x[i][j] } }
            for c in centres.indices where counts[c] > 0 { centres[c] = sums[c].map { $0 / Double(counts[c]) } }
            if next == labels { break }
            labels = next
        }
        let inertia = (0..<n).reduce(0.0) { $0 + distance2(x[$1], centres[labels[$1]]) }
        return (labels, centres, inertia)
    }

    /// Mean silhouette of a clustering (on at most 2,000 evenly spaced rows).
    public static func silhouette(_ x: [[Double]], _ labels: [Int], k: Int) -> Double {
        let step = max(1, x.count / 2000)
        let idx = Array(stride(from: 0, to: x.count, by: step))
        var total = 0.0
        for i in idx {
            var sums = [Double](repeating: 0, count: k), counts = [Int](repeating: 0, count: k)
            for j in idx where j != i { sums[labels[j]] += distance2(x[i], x[j]).squareRoot(); counts[labels[j]] += 1 }
            let own = labels[i]
            guard counts[own] > 0 else { continue }
            let a = sums[own] / Double(counts[own])
            let b = (0..<k).filter { $0 != own && counts[$0] > 0 }.map { sums[$0] / Double(counts[$0]) }.min() ?? 0
            total += max(a, b) > 0 ? (b - a) / max(a, b) : 0
        }
        return total / Double(idx.count)
    }

    func kmeans(_ data: StageData, _ context: RunContext) throws(StageFailure) -> StageResult {
        let table = data.table
        let cols = try features.map { n throws(StageFailure) in try column(n, table) }
        let (x, _) = Self.featureMatrix(cols)
        var notes: [String] = []
        var chosen: (labels: [Int], centres: [[Double]], inertia: Double)
        if let k {
            chosen = Self.cluster(x, k: k, seed: seed, threads: context.threads)
        } else {
            var best: ((labels: [Int], centres: [[Double]], inertia: Double), Double, Int)? = nil
            var scores: [String] = []
            for k in 2...max(2, min(8, x.count - 1)) {
                let c = Self.cluster(x, k: k, seed: seed, threads: context.threads)
                let s = Self.silhouette(x, c.labels, k: k)
                scores.append("k=\(k): \(String(format: "%.3f", s))")
                if best == nil || s > best!.1 + 1e-12 { best = (c, s, k) }
            }
            guard let best else { throw StageFailure("kmeans needs at least 3 rows", status: .badData) }
            chosen = best.0
            notes.append("k = \(best.2) by silhouette (" + scores.joined(separator: ", ") + ")")
        }
        let label = Column(storage: .integer(chosen.labels.map { Int64($0 + 1) }), validity: nil)
        let distance = Column(storage: .double(x.indices.map { Stats.rounded(Self.distance2(x[$0], chosen.centres[chosen.labels[$0]]).squareRoot(), 4) }), validity: nil)
        var sizes = [Int](repeating: 0, count: chosen.centres.count)
        for l in chosen.labels { sizes[l] += 1 }
        notes.append("cluster sizes: " + sizes.enumerated().map { "\($0 + 1): \($1)" }.joined(separator: ", "))
        let out = table.setting(output, label).setting("distance", distance)
        // The cluster profile: size, and per feature the mean (numbers) or the most common value (text), in input units.
        var profileRows: [[Value]] = []
        for c in chosen.centres.indices {
            let members = chosen.labels.indices.filter { chosen.labels[$0] == c }
            var row: [Value] = [.integer(Int64(c + 1)), .integer(Int64(members.count))]
            for col in cols {
                if Self.isNumeric(col.type) {
                    let xs = members.compactMap { col.value(at: $0).asDouble }
                    row.append(xs.isEmpty ? .null : .string(HumanNumbers.format(xs.reduce(0, +) / Double(xs.count))))
                } else {
                    var counts: [String: Int] = [:]
                    for m in members { counts[col.value(at: m).description, default: 0] += 1 }
                    let top = counts.max { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key }
                    row.append(top.map { .string("\($0.key) (\(HumanNumbers.percent(Double($0.value) / Double(max(1, members.count)))))") } ?? .null)
                }
            }
            profileRows.append(row)
        }
        let profile = Table(names: [output, "size"] + features, types: [.integer, .integer] + features.map { _ in .string }, rows: profileRows)
        let profilePath = try writeSideTable(profile, suffix: "profile", context)
        return StageResult(data: StageData(table: out, origins: data.origins), accounting: Accounting(rowsIn: table.rowCount, rowsOut: table.rowCount), notes: notes,
                           outputs: [profilePath])
    }
}


// MARK: - Streaming RFM

/// RFM reads its transactions chunk by chunk when they come straight from a CSV file: per chunk, totals per customer;
/// the totals are merged in file order, so memory holds the customers, not the transactions.
extension SegmentStage: ChunkConsumer {
    public var streamsChunks: Bool { method == "rfm" }

    public func chunkPlans(sampled: [String: ColumnPlan]) -> [String: ColumnPlan]? {
        guard method == "rfm", let ids = sampled[customer], let d = sampled[date], var a = sampled[amount] else { return nil }
        guard d.type == .date || d.type == .timestamp else { return nil }
        switch a.type {
        case .double, .money: break
        // An integer column in the first MiB may hold decimals further on.
        case .integer where !a.isDeclared: a.type = .double
        case .integer: break
        default: return nil
        }
        // Ids are kept as text and typed at the end from every distinct id (the same evidence a whole read has).
        return [customer: ids.isDeclared ? ids : ColumnPlan(type: .string), date: d, amount: a]
    }

    public func partial(_ chunk: Table) -> RFMTotals {
        guard let i = chunk.schema.index(of: customer), let d = chunk.schema.index(of: date), let a = chunk.schema.index(of: amount) else {
            return RFMTotals(skipped: chunk.rowCount)
        }
        return rfmTotals(ids: chunk.columns[i], dates: chunk.columns[d], amounts: chunk.columns[a], rowCount: chunk.rowCount)
    }

    public func emptyTotals() -> RFMTotals { RFMTotals() }

    public func add(_ partial: RFMTotals, to totals: inout RFMTotals) { totals.add(partial) }

    public func finish(_ totals: RFMTotals, rowsIn: Int, plans: [String: ColumnPlan], _ context: RunContext) throws(StageFailure) -> StageResult {
        var totals = totals
        totals.index = [:]
        var idType = plans[customer]?.type ?? .string
        if plans[customer]?.isDeclared != true {
            var text = StringBuffer()
            var evidence = ColumnEvidence()
            for id in totals.ids {
                let s = id.description
                text.append(s)
                let bytes = Array(s.utf8)
                bytes.withUnsafeBufferPointer { evidence.observe($0) }
            }
            let plan = TypeInference.decide(name: customer, evidence: evidence).plan
            if plan.type != .string {
                let outcome = ColumnConversion.convert(text, validity: nil, plan: plan)
                if outcome.failedRows.isEmpty {
                    totals.ids = (0..<totals.ids.count).map { outcome.column.value(at: $0) }
                    idType = plan.type
                }
            }
        }
        return try rfmResult(totals, idType: idType, rowsIn: rowsIn, context)
    }
}
