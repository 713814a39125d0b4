/// Type checking of parsed expressions against a schema, producing a bound tree the evaluator runs.

/// Column names and (where known) types an expression is checked against.
/// A nil type means "not known before the data is read" (validation from headers only): anything goes.
public struct ExprSchema: Sendable, Hashable {
    public var names: [String]
    public var types: [DataType?]
    public init(names: [String], types: [DataType?]) {
        self.names = names
        self.types = types
    }
    public init(_ schema: Schema) {
        names = schema.names
        types = schema.fields.map { $0.type }
    }
    public func index(of name: String) -> Int? { names.firstIndex(of: name) }
}

/// The evaluable form of an expression, bound to column positions with every type resolved.
indirect enum Bound: Sendable {
    case constant(Value, DataType)
    case column(Int, DataType)
    case negate(Bound, DataType)
    case not(Bound)
    case logic(BinaryOperator, Bound, Bound)
    case arithmetic(BinaryOperator, Bound, Bound, DataType)
    case compare(BinaryOperator, Bound, Bound, ComparisonDomain)
    case concat(Bound, Bound)
    case isNull(Bound, negated: Bool)
    case inList(Bound, [Bound], negated: Bool, ComparisonDomain)
    case like(Bound, LikePattern?, Bound, negated: Bool)
    case caseWhen([Bound], [Bound], Bound?, DataType)
    case cast(Bound, DataType)
    case call(FunctionDef, [Bound], DataType)

    var type: DataType {
        switch self {
        case .constant(_, let t), .column(_, let t), .negate(_, let t), .arithmetic(_, _, _, let t), .caseWhen(_, _, _, let t),
             .cast(_, let t), .call(_, _, let t):
            return t
        case .not, .logic, .compare, .isNull, .inList, .like: return .boolean
        case .concat: return .string
        }
    }
}

/// How two values are compared once their types are reconciled.
enum ComparisonDomain: Sendable {
    case integer, double, money, string, boolean, date, timestamp
}

/// A type-checked expression, ready to evaluate on tables with the schema it was checked against.
public struct CompiledExpr: Sendable {
    let root: Bound
    /// The source text, for messages.
    public let text: String
    /// The result type.
    public var type: DataType { root.type }
    /// Names of the columns read.
    public let columns: [String]
}

/// Result of checking against a schema that may lack types: the type when known.
public struct ExprCheck: Sendable {
    public var type: DataType?
    public var compiled: CompiledExpr?
}

/// Parses and type-checks expressions.
public enum ExprCompiler {
    /// Checks `node` against `schema`. When every type it touches is known the result carries a compiled expression.
    public static func check(_ node: ExprNode, text: String, schema: ExprSchema) throws(ExprError) -> ExprCheck {
        var checker = Checker(schema: schema)
        let (bound, type) = try checker.bind(node)
        return ExprCheck(type: type, compiled: bound.map { CompiledExpr(root: $0, text: text, columns: node.referencedColumns) })
    }

    /// Parses, checks and compiles `text` against a fully typed schema.
    public static func compile(_ text: String, schema: Schema) throws(ExprError) -> CompiledExpr {
        let node = try ExprParser.parse(text)
        return try compile(node, text: text, schema: schema)
    }

    public static func compile(_ node: ExprNode, text: String, schema: Schema) throws(ExprError) -> CompiledExpr {
        let c = try check(node, text: text, schema: ExprSchema(schema))
        guard let compiled = c.compiled else { throw ExprError("E_TYPE", "expression could not be typed", node.span) }
        return compiled
    }
}

struct Checker {
    let schema: ExprSchema

    static func isNumeric(_ t: DataType) -> Bool { t == .integer || t == .double || t == .money }

    func columnError(_ name: String, _ span: ExprSpan) -> ExprError {
        let near = Suggest.nearest(name, among: schema.names)
        let hint: String
        if let near { hint = "did you mean '\(near)'?" } else {
            hint = "available columns: " + schema.names.prefix(12).joined(separator: ", ") + (schema.names.count > 12 ? ", ..." : "")
        }
        return ExprError("E_COLUMN", "unknown column '\(name)'", span, hint: hint)
    }

    /// Binds a node; returns nil for the bound tree when a type is unknown (validation only).
    mutating func bind(_ node: ExprNode) throws(ExprError) -> (Bound?, DataType?) {
        switch node {
        case .literal(let v, _):
            let t: DataType
            switch v {
            case .null: t = .string
            case .string: t = .string
            case .integer: t = .integer
            case .double: t = .double
            case .boolean: t = .boolean
            case .date: t = .date
            case .timestamp: t = .timestamp
            case .money: t = .money
            }
            return (.constant(v, t), t)
        case .column(let name, let span):
            guard let i = schema.index(of: name) else { throw columnError(name, span) }
            guard let t = schema.types[i] else { return (nil, nil) }
            return (.column(i, t), t)
        case .star(let span):
            throw ExprError("E_SYNTAX", "'*' is only allowed as count(*)", span)
        case .negate(let inner, let span):
            let (b, t) = try bind(inner)
            if let t, !Self.isNumeric(t) { throw ExprError("E_TYPE", "cannot negate a \(t.rawValue)", span) }
            guard let b, let t else { return (nil, t) }
            return (.negate(b, t), t)
        case .not(let inner, let span):
            let (b, t) = try bind(inner)
            if let t, t != .boolean, !isNullLiteral(inner) { throw ExprError("E_TYPE", "'not' needs a boolean, got \(t.rawValue)", span, hint: "compare the value first, e.g. not (x = 1)") }
            guard let b else { return (nil, .boolean) }
            return (.not(b), .boolean)
        case .binary(let op, let l, let r, let span):
            return try bindBinary(op, l, r, span)
        case .isNull(let inner, let negated, _):
            let (b, _) = try bind(inner)
            guard let b else { return (nil, .boolean) }
            return (.isNull(b, negated: negated), .boolean)
        case .inList(let lhs, let list, let negated, let span):
            let (lb, lt) = try bind(lhs)
            var items: [Bound] = []
            var known = lb != nil
            var domain: ComparisonDomain?
            for item in list {
                let (ib, it) = try bind(coerceLiteral(item, to: lt))
                if let lt, let it {
                    guard let d = Self.domain(lt, it, isNullLiteral(item)) else {
                        throw ExprError("E_TYPE", "cannot compare \(lt.rawValue) with \(it.rawValue) in 'in (...)'", item.span.merged(span), hint: "cast one side: cast(x as \(lt.rawValue))")
                    }
                    domain = domain.map { Self.wider($0, d) } ?? d
                }
                if let ib { items.append(ib) } else { known = false }
            }
            guard known, let lb, let domain else { return (nil, .boolean) }
            return (.inList(lb, items, negated: negated, domain), .boolean)
        case .between(let x, let lo, let hi, let negated, let span):
            let both: ExprNode = .binary(.and, .binary(.greaterEqual, x, lo, span), .binary(.lessEqual, x, hi, span), span)
            return try bind(negated ? .not(both, span) : both)
        case .like(let x, let pattern, let negated, let span):
            let (xb, xt) = try bind(x)
            let (pb, pt) = try bind(pattern)
            if let xt, xt != .string { throw ExprError("E_TYPE", "'like' needs text, got \(xt.rawValue)", x.span, hint: "cast it: cast(x as string) like '...'") }
            if let pt, pt != .string { throw ExprError("E_TYPE", "a 'like' pattern must be text", pattern.span) }
            guard let xb, let pb else { return (nil, .boolean) }
            var compiled: LikePattern?
            if case .literal(.string(let p), _) = pattern { compiled = LikePattern(p) }
            _ = span
            return (.like(xb, compiled, pb, negated: negated), .boolean)
        case .caseWhen(let whens, let thens, let otherwise, _):
            var wb: [Bound] = [], tb: [Bound] = []
            var known = true
            var result: DataType?
            var resultIsOnlyNull = true
            for (w, t) in zip(whens, thens) {
                let (b, ty) = try bind(w)
                if let ty, ty != .boolean, !isNullLiteral(w) { throw ExprError("E_TYPE", "a 'when' condition must be boolean, got \(ty.rawValue)", w.span) }
                if let b { wb.append(b) } else { known = false }
                let (vb, vt) = try bind(t)
                if let vb { tb.append(vb) } else { known = false }
                if !isNullLiteral(t) { result = try unify(result, vt, resultIsOnlyNull, t.span); resultIsOnlyNull = false }
            }
            var eb: Bound?
            if let otherwise {
                let (b, ty) = try bind(otherwise)
                if b == nil { known = false }
                eb = b
                if !isNullLiteral(otherwise) { result = try unify(result, ty, resultIsOnlyNull, otherwise.span); resultIsOnlyNull = false }
            }
            let type = resultIsOnlyNull ? DataType.string : result
            guard known, let type else { return (nil, type) }
            return (.caseWhen(wb, tb, eb, type), type)
        case .cast(let inner, let type, _):
            let (b, _) = try bind(inner)
            guard let b else { return (nil, type) }
            return (.cast(b, type), type)
        case .call(let name, let args, let span):
            return try bindCall(name, args, span)
        }
    }

    func isNullLiteral(_ n: ExprNode) -> Bool { if case .literal(.null, _) = n { return true }; return false }

    /// A string literal compared with a date or timestamp is read as one, so `close_date >= '2024-01-01'` works.
    func coerceLiteral(_ node: ExprNode, to type: DataType?) -> ExprNode {
        guard let type, type == .date || type == .timestamp, case .literal(.string(let s), let span) = node else { return node }
        return (try? ExprParser.typedLiteral(type, s, span)) ?? node
    }

    mutating func unify(_ a: DataType?, _ b: DataType?, _ aIsUnset: Bool, _ span: ExprSpan) throws(ExprError) -> DataType? {
        guard let b else { return nil }
        if aIsUnset { return b }
        guard let a else { return nil }
        if a == b { return a }
        if Self.isNumeric(a), Self.isNumeric(b) { return (a == .money || b == .money) ? .money : .double }
        if (a == .date && b == .timestamp) || (a == .timestamp && b == .date) { return .timestamp }
        throw ExprError("E_TYPE", "the branches give different types: \(a.rawValue) and \(b.rawValue)", span, hint: "cast them to one type")
    }

    static func domain(_ a: DataType, _ b: DataType, _ eitherNull: Bool = false) -> ComparisonDomain? {
        if eitherNull { return domain(a, a) }
        switch (a, b) {
        case (.integer, .integer): return .integer
        case (.money, .money), (.money, .integer), (.integer, .money), (.money, .double), (.double, .money): return .money
        case (.double, .double), (.double, .integer), (.integer, .double): return .double
        case (.string, .string): return .string
        case (.boolean, .boolean): return .boolean
        case (.date, .date): return .date
        case (.timestamp, .timestamp), (.date, .timestamp), (.timestamp, .date): return .timestamp
        default: return nil
        }
    }

    static func wider(_ a: ComparisonDomain, _ b: ComparisonDomain) -> ComparisonDomain {
        if a == b { return a }
        if a == .money || b == .money { return .money }
        if a == .double || b == .double { return .double }
        if a == .timestamp || b == .timestamp { return .timestamp }
        return a
    }

    mutating func bindBinary(_ op: BinaryOperator, _ l: ExprNode, _ r: ExprNode, _ span: ExprSpan) throws(ExprError) -> (Bound?, DataType?) {
        let (lb0, lt0) = try bind(l)
        let (lb, lt): (Bound?, DataType?)
        let (rb, rt): (Bound?, DataType?)
        if op.isComparison {
            // Reading a string literal as a date needs the other side's type.
            (rb, rt) = try bind(coerceLiteral(r, to: lt0))
            if lt0 == .string, rt == .date || rt == .timestamp {
                (lb, lt) = try bind(coerceLiteral(l, to: rt))
            } else {
                (lb, lt) = (lb0, lt0)
            }
        } else {
            (lb, lt) = (lb0, lt0)
            (rb, rt) = try bind(r)
        }
        switch op {
        case .and, .or:
            for (t, n) in [(lt, l), (rt, r)] where t != nil && t != .boolean && !isNullLiteral(n) {
                throw ExprError("E_TYPE", "'\(op.rawValue)' needs booleans, got \(t!.rawValue)", n.span, hint: "compare the value first, e.g. \(op.rawValue) x = 'y'")
            }
            guard let lb, let rb else { return (nil, .boolean) }
            return (.logic(op, lb, rb), .boolean)
        case .concat:
            guard let lb, let rb else { return (nil, .string) }
            return (.concat(lb, rb), .string)
        case .equal, .notEqual, .less, .lessEqual, .greater, .greaterEqual:
            guard let lt, let rt else { return (nil, .boolean) }
            guard let d = Self.domain(lt, rt, isNullLiteral(l) || isNullLiteral(r)) else {
                let hint: String
                if lt == .string || rt == .string {
                    hint = "cast the text: cast(x as \((lt == .string ? rt : lt).rawValue)), or quote the value if it is text"
                } else {
                    hint = "cast one side: cast(x as \(lt.rawValue))"
                }
                throw ExprError("E_TYPE", "cannot compare \(lt.rawValue) with \(rt.rawValue)", span, hint: hint)
            }
            guard let lb, let rb else { return (nil, .boolean) }
            return (.compare(op, lb, rb, d), .boolean)
        case .add, .subtract, .multiply, .divide, .remainder:
            guard let lt, let rt else { return (nil, nil) }
            let result: DataType
            switch (lt, rt) {
            case (.integer, .integer): result = op == .divide ? .double : .integer
            case (.double, .double), (.double, .integer), (.integer, .double): result = .double
            case (.money, .money):
                guard op == .add || op == .subtract || op == .divide else {
                    throw ExprError("E_TYPE", "cannot \(op == .multiply ? "multiply" : "take the remainder of") two money amounts", span)
                }
                result = op == .divide ? .double : .money
            case (.money, .integer), (.money, .double): result = .money
            case (.integer, .money), (.double, .money):
                guard op != .divide, op != .remainder else { throw ExprError("E_TYPE", "cannot divide a number by money", span) }
                result = .money
            case (.date, .integer) where op == .add || op == .subtract: result = .date
            case (.integer, .date) where op == .add: result = .date
            case (.date, .date) where op == .subtract: result = .integer
            case (.timestamp, .timestamp) where op == .subtract: result = .double
            default:
                let hint = (lt == .string || rt == .string) ? "use || to join text, or cast(x as double) to read a number from text"
                    : (lt == .date || rt == .date) ? "use date_add(date, n, 'day') or days_between(a, b)" : nil
                throw ExprError("E_TYPE", "cannot apply '\(op.rawValue)' to \(lt.rawValue) and \(rt.rawValue)", span, hint: hint)
            }
            guard let lb, let rb else { return (nil, result) }
            return (.arithmetic(op, lb, rb, result), result)
        }
    }

    mutating func bindCall(_ name: String, _ args: [ExprNode], _ span: ExprSpan) throws(ExprError) -> (Bound?, DataType?) {
        if AggregateCatalog.names.contains(name) {
            throw ExprError("E_FUNCTION", "aggregate \(name)() is not allowed here", span, hint: "aggregates belong in an aggregate stage or a KPI")
        }
        guard let def = FunctionCatalog.byName[name] else {
            let near = Suggest.nearest(name, among: FunctionCatalog.all.map(\.name) + AggregateCatalog.names.sorted())
            throw ExprError("E_FUNCTION", "unknown function '\(name)'", ExprSpan(span.start, span.start + name.utf8.count),
                            hint: near.map { "did you mean '\($0)'?" } ?? "see the function list in docs/stages.md")
        }
        guard args.count >= def.minArgs, args.count <= def.maxArgs else {
            throw ExprError("E_FUNCTION", "\(name) takes \(def.arityText), got \(args.count)", span, hint: "usage: \(def.signature)")
        }
        // A written pattern is compiled when the pipeline is validated: a bad one is an error at its position.
        if name == "regexp_matches" || name == "regexp_replace", args.count > 1, case .literal(.string(let pattern), let at) = args[1] {
            var flags = ""
            if let last = args.dropFirst(2).last, name == "regexp_matches" ? args.count == 3 : args.count == 4, case .literal(.string(let f), _) = last { flags = f }
            if CompiledRegex.cache.get(pattern, caseInsensitive: flags.contains("i")) == nil {
                throw ExprError("E_REGEX", FunctionCatalog.invalidRegex(pattern), at,
                                hint: "write \\d, \\s, \\w or POSIX classes ([[:digit:]]); put ']' first in a bracket to match it")
            }
        }
        var bounds: [Bound] = []
        var types: [DataType?] = []
        var known = true
        for a in args {
            let (b, t) = try bind(a)
            if let b { bounds.append(b) } else { known = false }
            types.append(isNullLiteral(a) ? nil : t)
        }
        let result: DataType?
        switch def.typeRule(types) {
        case .success(let t): result = t
        case .failure(let message): throw ExprError("E_TYPE", "\(name): \(message.text)", span, hint: "usage: \(def.signature)")
        }
        guard known, let result else { return (nil, result) }
        return (.call(def, bounds, result), result)
    }
}

/// Suggestions for misspelt names.
public enum Suggest {
    /// The candidate closest to `name` by edit distance, when close enough to be a likely typo.
    public static func nearest(_ name: String, among candidates: [String]) -> String? {
        let lower = name.lowercased()
        var best: (String, Int)?
        for c in candidates {
            let d = distance(Array(lower.utf8), Array(c.lowercased().utf8))
            if best == nil || d < best!.1 { best = (c, d) }
        }
        guard let best else { return nil }
        let limit = max(1, min(3, name.count / 3 + 1))
        if best.1 <= limit || best.0.lowercased() == lower { return best.0 }
        if lower.count >= 3, best.0.lowercased().hasPrefix(lower) || lower.hasPrefix(best.0.lowercased()) { return best.0 }
        return nil
    }

    /// Optimal string alignment distance (Levenshtein with transpositions).
    public static func distance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev2 = [Int](repeating: 0, count: b.count + 1)
        var prev = Array(0...b.count)
        var cur = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            cur[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { cur[j] = min(cur[j], prev2[j - 2] + 1) }
            }
            (prev2, prev, cur) = (prev, cur, prev2)
        }
        return prev[b.count]
    }
}
