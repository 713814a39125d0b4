import Foundation

/// Aggregate functions for the aggregate stage and KPIs.
///
/// An aggregate expression may combine aggregates with scalar operations (`sum(amount) / count(*)`): each aggregate call
/// is computed per group into a hidden column, then the outer expression is evaluated once per group.
public enum AggregateCatalog {
    /// Name, usage and meaning, for the reference.
    public static let reference: [(name: String, signature: String, summary: String)] = [
        ("count", "count(*) | count(x)", "rows, or non-null values of x"),
        ("count_if", "count_if(condition)", "rows where the condition is true"),
        ("sum", "sum(x)", "total (exact for money; one currency per group)"),
        ("avg", "avg(x)", "mean of the non-null values"),
        ("min", "min(x)", "smallest value"),
        ("max", "max(x)", "largest value"),
        ("median", "median(x)", "middle value (mean of the two middle values for an even count)"),
        ("percentile", "percentile(x, p)", "p-th quantile, 0 <= p <= 1, linear interpolation between closest ranks"),
        ("stddev", "stddev(x)", "sample standard deviation (n - 1)"),
        ("count_distinct", "count_distinct(x)", "number of distinct non-null values"),
        ("first", "first(x)", "first non-null value in input order"),
        ("last", "last(x)", "last non-null value in input order"),
        ("nps", "nps(score)", "Net Promoter Score of 0–10 answers: % promoters (9–10) − % detractors (0–6), from −100 to 100; answers outside 0–10 are not counted"),
        ("csat", "csat(score)", "customer satisfaction of 1–5 answers: the share answering 4 or 5 (0–1); answers outside 1–5 are not counted"),
    ]
    public static let names: Set<String> = Set(reference.map(\.name))
}

/// One aggregate call found in an aggregate expression.
struct AggregateCall: Sendable {
    var name: String
    var argument: CompiledExpr?
    var percentile: Double
    var resultType: DataType
}

/// An aggregate expression compiled against the input schema.
public struct CompiledAggregate: Sendable {
    let calls: [AggregateCall]
    /// Evaluated over a table of group keys followed by one column per call.
    let outer: CompiledExpr
    public var type: DataType { outer.type }
    public let text: String
}

public enum AggregateCompiler {
    /// Hidden column name for the k-th aggregate call.
    static func slot(_ k: Int) -> String { "\u{1}agg\(k)" }

    /// Checks an aggregate expression. `groupSchema` holds the group-by columns (usable outside aggregates).
    /// Returns nil for the compiled form when types are unknown (validation).
    public static func check(_ node: ExprNode, text: String, input: ExprSchema, groupKeys: [String]) throws(ExprError) -> (DataType?, CompiledAggregate?) {
        var calls: [(String, ExprNode?, Double, ExprSpan)] = []
        let rewritten = try rewrite(node, &calls)
        guard !calls.isEmpty else {
            throw ExprError("E_FUNCTION", "an aggregate expression needs an aggregate such as sum(x) or count(*)", node.span,
                            hint: "aggregates: " + AggregateCatalog.names.sorted().joined(separator: ", "))
        }
        var compiledCalls: [AggregateCall] = []
        var callTypes: [DataType?] = []
        var known = true
        for (name, arg, p, span) in calls {
            var argType: DataType?
            var compiled: CompiledExpr?
            if let arg {
                let c = try ExprCompiler.check(arg, text: text, schema: input)
                argType = c.type
                compiled = c.compiled
                if compiled == nil { known = false }
            }
            let result: DataType?
            switch name {
            case "count", "count_if", "count_distinct": result = .integer
            case "sum":
                if let t = argType, !Checker.isNumeric(t) { throw ExprError("E_TYPE", "sum needs a number, got \(t.rawValue)", span) }
                result = argType
            case "avg", "median", "percentile":
                if let t = argType, !Checker.isNumeric(t), t != .date { throw ExprError("E_TYPE", "\(name) needs a number, got \(t.rawValue)", span) }
                result = argType.map { $0 == .money ? .money : ($0 == .date && name != "avg" ? .date : .double) }
            case "stddev", "nps", "csat":
                if let t = argType, !Checker.isNumeric(t) { throw ExprError("E_TYPE", "\(name) needs a number, got \(t.rawValue)", span) }
                result = .double
            default: result = argType
            }
            if name == "count_if", let t = argType, t != .boolean { throw ExprError("E_TYPE", "count_if needs a condition, got \(t.rawValue)", span) }
            callTypes.append(result)
            if let result { compiledCalls.append(AggregateCall(name: name, argument: compiled, percentile: p, resultType: result)) } else { known = false }
        }
        var names = groupKeys
        var types: [DataType?] = groupKeys.map { k in input.index(of: k).flatMap { input.types[$0] } }
        for (k, t) in callTypes.enumerated() {
            names.append(slot(k))
            types.append(t)
        }
        let outerCheck: ExprCheck
        do {
            outerCheck = try ExprCompiler.check(rewritten, text: text, schema: ExprSchema(names: names, types: types))
        } catch let e where e.code == "E_COLUMN" {
            throw ExprError("E_COLUMN", e.message + " outside an aggregate", e.span,
                            hint: "use it inside an aggregate such as first(x), or add it to group_by")
        }
        guard known, let compiled = outerCheck.compiled else { return (outerCheck.type, nil) }
        return (outerCheck.type, CompiledAggregate(calls: compiledCalls, outer: compiled, text: text))
    }

    static func rewrite(_ node: ExprNode, _ calls: inout [(String, ExprNode?, Double, ExprSpan)]) throws(ExprError) -> ExprNode {
        switch node {
        case .call(let name, let args, let span) where AggregateCatalog.names.contains(name):
            var arg: ExprNode?
            var p = 0.5
            switch name {
            case "count":
                guard args.count <= 1 else { throw ExprError("E_FUNCTION", "count takes one argument or *", span) }
                if let a = args.first, case .star = a { arg = nil } else { arg = args.first }
            case "percentile":
                guard args.count == 2 else { throw ExprError("E_FUNCTION", "percentile takes 2 arguments: percentile(x, p)", span) }
                arg = args[0]
                switch args[1] {
                case .literal(.double(let d), _) where d >= 0 && d <= 1: p = d
                case .literal(.integer(let i), _) where i == 0 || i == 1: p = Double(i)
                default: throw ExprError("E_FUNCTION", "percentile's p must be a number between 0 and 1", args[1].span, hint: "e.g. percentile(amount, 0.9)")
                }
            default:
                guard args.count == 1 else { throw ExprError("E_FUNCTION", "\(name) takes 1 argument", span) }
                if case .star = args[0] { throw ExprError("E_FUNCTION", "only count accepts *", args[0].span) }
                arg = args[0]
            }
            var inner: [(String, ExprNode?, Double, ExprSpan)] = []
            if let arg { _ = try rewrite(arg, &inner) }
            if !inner.isEmpty { throw ExprError("E_FUNCTION", "aggregates cannot be nested", span) }
            calls.append((name, arg, p, span))
            return .column(slot(calls.count - 1), span)
        case .literal, .column, .star: return node
        case .negate(let a, let s): return .negate(try rewrite(a, &calls), s)
        case .not(let a, let s): return .not(try rewrite(a, &calls), s)
        case .binary(let op, let a, let b, let s): return .binary(op, try rewrite(a, &calls), try rewrite(b, &calls), s)
        case .call(let n, let args, let s):
            var out: [ExprNode] = []
            for a in args { out.append(try rewrite(a, &calls)) }
            return .call(n, out, s)
        case .inList(let a, let list, let neg, let s):
            var out: [ExprNode] = []
            for x in list { out.append(try rewrite(x, &calls)) }
            return .inList(try rewrite(a, &calls), out, negated: neg, s)
        case .between(let a, let b, let c, let neg, let s):
            return .between(try rewrite(a, &calls), try rewrite(b, &calls), try rewrite(c, &calls), negated: neg, s)
        case .isNull(let a, let neg, let s): return .isNull(try rewrite(a, &calls), negated: neg, s)
        case .like(let a, let b, let neg, let s): return .like(try rewrite(a, &calls), try rewrite(b, &calls), negated: neg, s)
        case .caseWhen(let w, let t, let e, let s):
            var ws: [ExprNode] = [], ts: [ExprNode] = []
            for x in w { ws.append(try rewrite(x, &calls)) }
            for x in t { ts.append(try rewrite(x, &calls)) }
            return .caseWhen(ws, ts, try e.map { (x) throws(ExprError) in try rewrite(x, &calls) }, s)
        case .cast(let a, let t, let s): return .cast(try rewrite(a, &calls), t, s)
        }
    }
}

/// Rows grouped by key: a group id per row, in first-appearance order.
public struct Grouping: Sendable {
    public var groupOfRow: [Int32]
    public var groupCount: Int
    /// The first row of each group, for taking the key values.
    public var firstRow: [Int]

    public init(groupOfRow: [Int32], groupCount: Int, firstRow: [Int]) {
        self.groupOfRow = groupOfRow
        self.groupCount = groupCount
        self.firstRow = firstRow
    }

    /// Every row in one group.
    public static func single(rows: Int) -> Grouping {
        Grouping(groupOfRow: [Int32](repeating: 0, count: rows), groupCount: 1, firstRow: [0])
    }
}

extension CompiledAggregate {
    /// One value per group. `keys` holds the group-by columns' values per group (in `groupKeys` order).
    public func evaluate(_ table: Table, grouping: Grouping, keys: [Column], keySchema: [Field], env: EvalEnvironment) throws(ExprError) -> Column {
        var fields = keySchema
        var columns = keys
        for (k, call) in calls.enumerated() {
            let arg = call.argument.map { $0.evaluate(table, env: env).column }
            columns.append(try Self.reduce(call, arg, grouping, rowCount: table.rowCount))
            fields.append(Field(name: AggregateCompiler.slot(k), type: call.resultType))
        }
        let groupTable = Table(schema: Schema(fields), columns: columns, rowCount: grouping.groupCount)
        return outer.evaluate(groupTable, env: env).column
    }

    static func reduce(_ call: AggregateCall, _ arg: Column?, _ g: Grouping, rowCount: Int) throws(ExprError) -> Column {
        let n = g.groupCount
        var builder = ColumnBuilder(call.resultType, capacity: n)
        switch call.name {
        case "count", "count_if":
            var counts = [Int64](repeating: 0, count: n)
            for r in 0..<rowCount {
                if let arg {
                    if arg.isNull(r) { continue }
                    if call.name == "count_if", case .boolean(let a) = arg.storage, !a[r] { continue }
                }
                counts[Int(g.groupOfRow[r])] += 1
            }
            return Column(storage: .integer(counts), validity: nil)
        case "count_distinct":
            guard let arg else { break }
            // Values as dense codes (bytes hashed in place), then distinct (group, code) pairs.
            let codes = KeyCoding.encode([[arg]], nullsMatch: false).codes[0]
            var seen = Set<UInt64>()
            var counts = [Int64](repeating: 0, count: n)
            for r in 0..<rowCount where codes[r] >= 0 {
                let k = UInt64(UInt32(g.groupOfRow[r])) << 32 | UInt64(UInt32(codes[r]))
                if seen.insert(k).inserted { counts[Int(g.groupOfRow[r])] += 1 }
            }
            return Column(storage: .integer(counts), validity: nil)
        case "sum", "avg", "stddev":
            guard let arg else { break }
            if call.name != "stddev", case .money(let minor, let cur, let codes) = arg.storage {
                var sums = [Int64](repeating: 0, count: n), counts = [Int](repeating: 0, count: n)
                var currency = [Int](repeating: -1, count: n)
                for r in 0..<rowCount where !arg.isNull(r) {
                    let k = Int(g.groupOfRow[r])
                    let c = Int(cur[r])
                    if currency[k] == -1 || codes[currency[k]].isEmpty { currency[k] = c } else if codes[c] != codes[currency[k]], !codes[c].isEmpty {
                        throw ExprError("E_CURRENCY", "\(call.name) mixes \(codes[currency[k]]) and \(codes[c]) amounts in one group", ExprSpan(0, 0),
                                        hint: "convert to one currency first, or add the currency to group_by")
                    }
                    let (s, o) = sums[k].addingReportingOverflow(minor[r])
                    if o { throw ExprError("E_OVERFLOW", "sum overflows", ExprSpan(0, 0)) }
                    sums[k] = s
                    counts[k] += 1
                }
                for k in 0..<n {
                    if counts[k] == 0 { builder.append(call.name == "sum" ? .money(0, "") : .null); continue }
                    let code = currency[k] >= 0 ? codes[currency[k]] : ""
                    if call.name == "sum" { builder.append(.money(sums[k], code)) } else {
                        builder.append(.money(Int64((Double(sums[k]) / Double(counts[k])).rounded(.toNearestOrAwayFromZero)), code))
                    }
                }
                return builder.finish()
            }
            if call.name == "sum", case .integer(let a) = arg.storage {
                var sums = [Int64](repeating: 0, count: n)
                var any = [Bool](repeating: false, count: n)
                for r in 0..<rowCount where !arg.isNull(r) {
                    let k = Int(g.groupOfRow[r])
                    let (s, o) = sums[k].addingReportingOverflow(a[r])
                    if o { throw ExprError("E_OVERFLOW", "sum overflows a 64-bit integer", ExprSpan(0, 0)) }
                    sums[k] = s
                    any[k] = true
                }
                var v = Bitmap()
                for k in 0..<n { v.append(any[k]) }
                return Column(storage: .integer(sums), validity: v)
            }
            // Kahan-compensated sums of doubles; Welford for the variance.
            var sum = [Double](repeating: 0, count: n), comp = [Double](repeating: 0, count: n)
            var mean = [Double](repeating: 0, count: n), m2 = [Double](repeating: 0, count: n)
            var counts = [Int](repeating: 0, count: n)
            for r in 0..<rowCount where !arg.isNull(r) {
                let k = Int(g.groupOfRow[r])
                let x = arg.value(at: r).asDouble ?? 0
                let y = x - comp[k]
                let t = sum[k] + y
                comp[k] = (t - sum[k]) - y
                sum[k] = t
                counts[k] += 1
                let delta = x - mean[k]
                mean[k] += delta / Double(counts[k])
                m2[k] += delta * (x - mean[k])
            }
            builder = ColumnBuilder(call.resultType, capacity: n)
            for k in 0..<n {
                switch call.name {
                case "sum": builder.append(counts[k] == 0 ? .null : .double(sum[k]))
                case "avg": builder.append(counts[k] == 0 ? .null : .double(sum[k] / Double(counts[k])))
                default: builder.append(counts[k] < 2 ? .null : .double((m2[k] / Double(counts[k] - 1)).squareRoot()))
                }
            }
            return builder.finish()
        case "min", "max", "first", "last":
            guard let arg else { break }
            var best = [Int](repeating: -1, count: n)
            for r in 0..<rowCount where !arg.isNull(r) {
                let k = Int(g.groupOfRow[r])
                let b = best[k]
                switch call.name {
                case "first": if b == -1 { best[k] = r }
                case "last": best[k] = r
                case "min": if b == -1 || compareValues(arg.value(at: r), arg.value(at: b)) < 0 { best[k] = r }
                default: if b == -1 || compareValues(arg.value(at: r), arg.value(at: b)) > 0 { best[k] = r }
                }
            }
            for k in 0..<n { builder.append(best[k] == -1 ? .null : arg.value(at: best[k])) }
            return builder.finish()
        case "nps", "csat":
            guard let arg else { break }
            var total = [Int](repeating: 0, count: n), good = [Int](repeating: 0, count: n), bad = [Int](repeating: 0, count: n)
            for r in 0..<rowCount where !arg.isNull(r) {
                guard let v = arg.value(at: r).asDouble else { continue }
                let k = Int(g.groupOfRow[r])
                if call.name == "nps" {
                    guard v >= 0, v <= 10 else { continue }
                    total[k] += 1
                    if v >= 9 { good[k] += 1 } else if v <= 6 { bad[k] += 1 }
                } else {
                    guard v >= 1, v <= 5 else { continue }
                    total[k] += 1
                    if v >= 4 { good[k] += 1 }
                }
            }
            for k in 0..<n {
                if total[k] == 0 { builder.append(.null); continue }
                let t = Double(total[k])
                builder.append(.double(call.name == "nps" ? (Double(good[k]) - Double(bad[k])) / t * 100 : Double(good[k]) / t))
            }
            return builder.finish()
        case "median", "percentile":
            guard let arg else { break }
            var values = [[Double]](repeating: [], count: n)
            var currency = [String](repeating: "", count: n)
            for r in 0..<rowCount where !arg.isNull(r) {
                let v = arg.value(at: r)
                let k = Int(g.groupOfRow[r])
                if case .money(_, let c) = v { currency[k] = c }
                values[Int(g.groupOfRow[r])].append(v.asDouble ?? Double(v.asDays ?? 0))
            }
            for k in 0..<n {
                var xs = values[k]
                if xs.isEmpty { builder.append(.null); continue }
                xs.sort()
                let pos = call.percentile * Double(xs.count - 1)
                let lo = Int(pos.rounded(.down)), hi = Int(pos.rounded(.up))
                let q = xs[lo] + (xs[hi] - xs[lo]) * (pos - Double(lo))
                switch call.resultType {
                case .money: builder.append(.money(Int64((q * 100).rounded(.toNearestOrAwayFromZero)), currency[k]))
                case .date: builder.append(.date(Int32(q.rounded(.down))))
                default: builder.append(.double(q))
                }
            }
            return builder.finish()
        default: break
        }
        return builder.finish()
    }
}
