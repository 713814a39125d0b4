/// The syntax tree of the expression language (filters, derived columns, rules, KPIs) and its hand-written parser.
///
/// Grammar, loosest binding first:
/// `or` · `and` · `not` · comparisons (`= == != <> < <= > >=`, `is [not] null`, `[not] in (...)`,
/// `[not] between a and b`, `[not] like`) · `||` · `+ -` · `* / %` · unary `-` · primary
/// (literal, column, `"quoted column"`, call, `(...)`, `case when ... end`, `cast(x as type)`, `date '...'`).

/// A half-open range of UTF-8 byte offsets into the expression text.
public struct ExprSpan: Sendable, Hashable {
    public var start: Int
    public var end: Int
    public init(_ start: Int, _ end: Int) {
        self.start = start
        self.end = end
    }
    func merged(_ o: ExprSpan) -> ExprSpan { ExprSpan(Swift.min(start, o.start), Swift.max(end, o.end)) }
}

/// A problem in an expression: what, where (offsets into the text), and what to do.
public struct ExprError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Stable code: `E_SYNTAX`, `E_TYPE`, `E_COLUMN`, `E_FUNCTION`.
    public var code: String
    public var message: String
    public var span: ExprSpan
    public var hint: String?
    public init(_ code: String, _ message: String, _ span: ExprSpan, hint: String? = nil) {
        self.code = code
        self.message = message
        self.span = span
        self.hint = hint
    }
    public var description: String { "\(message) at offset \(span.start)" + (hint.map { " (\($0))" } ?? "") }
}

/// Binary operators.
public enum BinaryOperator: String, Sendable, Hashable {
    case add = "+", subtract = "-", multiply = "*", divide = "/", remainder = "%"
    case equal = "=", notEqual = "!=", less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">="
    case and, or
    case concat = "||"

    var isComparison: Bool { [.equal, .notEqual, .less, .lessEqual, .greater, .greaterEqual].contains(self) }
    var isArithmetic: Bool { [.add, .subtract, .multiply, .divide, .remainder].contains(self) }
}

/// A parsed expression. Every node keeps its span so errors point at the exact spot.
public indirect enum ExprNode: Sendable, Hashable {
    case literal(Value, ExprSpan)
    case column(String, ExprSpan)
    case star(ExprSpan)
    case negate(ExprNode, ExprSpan)
    case not(ExprNode, ExprSpan)
    case binary(BinaryOperator, ExprNode, ExprNode, ExprSpan)
    case call(String, [ExprNode], ExprSpan)
    case inList(ExprNode, [ExprNode], negated: Bool, ExprSpan)
    case between(ExprNode, ExprNode, ExprNode, negated: Bool, ExprSpan)
    case isNull(ExprNode, negated: Bool, ExprSpan)
    case like(ExprNode, ExprNode, negated: Bool, ExprSpan)
    case caseWhen([ExprNode], [ExprNode], ExprNode?, ExprSpan)
    case cast(ExprNode, DataType, ExprSpan)

    public var span: ExprSpan {
        switch self {
        case .literal(_, let s), .column(_, let s), .star(let s), .negate(_, let s), .not(_, let s), .binary(_, _, _, let s),
             .call(_, _, let s), .inList(_, _, _, let s), .between(_, _, _, _, let s), .isNull(_, _, let s),
             .like(_, _, _, let s), .caseWhen(_, _, _, let s), .cast(_, _, let s):
            return s
        }
    }

    /// The nodes directly below this one.
    public var children: [ExprNode] {
        switch self {
        case .literal, .column, .star: return []
        case .negate(let a, _), .not(let a, _), .isNull(let a, _, _), .cast(let a, _, _): return [a]
        case .binary(_, let a, let b, _), .like(let a, let b, _, _): return [a, b]
        case .call(_, let args, _): return args
        case .inList(let a, let list, _, _): return [a] + list
        case .between(let a, let b, let c, _, _): return [a, b, c]
        case .caseWhen(let w, let t, let e, _): return w + t + (e.map { [$0] } ?? [])
        }
    }

    /// Levels from this node to its deepest leaf (1 for a leaf), computed without recursion.
    public var depth: Int {
        var deepest = 0
        var stack: [(ExprNode, Int)] = [(self, 1)]
        while let (node, d) = stack.popLast() {
            deepest = max(deepest, d)
            for c in node.children { stack.append((c, d + 1)) }
        }
        return deepest
    }

    /// Column names the expression reads, in first-use order.
    public var referencedColumns: [String] {
        var out: [String] = []
        visit { if case .column(let n, _) = $0, !out.contains(n) { out.append(n) } }
        return out
    }

    /// Calls `body` on this node and every node below it, parents first.
    public func visit(_ body: (ExprNode) -> Void) {
        body(self)
        switch self {
        case .literal, .column, .star: break
        case .negate(let a, _), .not(let a, _), .isNull(let a, _, _), .cast(let a, _, _): a.visit(body)
        case .binary(_, let a, let b, _), .like(let a, let b, _, _): a.visit(body); b.visit(body)
        case .call(_, let args, _): args.forEach { $0.visit(body) }
        case .inList(let a, let list, _, _): a.visit(body); list.forEach { $0.visit(body) }
        case .between(let a, let b, let c, _, _): a.visit(body); b.visit(body); c.visit(body)
        case .caseWhen(let w, let t, let e, _):
            w.forEach { $0.visit(body) }
            t.forEach { $0.visit(body) }
            e?.visit(body)
        }
    }
}

// MARK: - Lexer

enum TokenKind: Sendable, Hashable {
    case identifier(String)
    case quotedIdentifier(String)
    case string(String)
    case integer(Int64)
    case number(Double)
    case symbol(String)
    case end
}

struct Token: Sendable {
    var kind: TokenKind
    var span: ExprSpan
    /// Lower-cased identifier text, for keyword checks.
    var keyword: String? {
        if case .identifier(let s) = kind { return s.lowercased() }
        return nil
    }
}

enum ExprLexer {
    static func tokens(_ text: String) throws(ExprError) -> [Token] {
        let b = Array(text.utf8)
        var out: [Token] = []
        var i = 0
        func isIdentStart(_ c: UInt8) -> Bool { (c | 0x20) >= 97 && (c | 0x20) <= 122 || c == 95 || c >= 0x80 }
        func isIdent(_ c: UInt8) -> Bool { isIdentStart(c) || (c >= 48 && c <= 57) }
        while i < b.count {
            let c = b[i]
            if c == 32 || c == 9 || c == 10 || c == 13 { i += 1; continue }
            let start = i
            if isIdentStart(c) {
                while i < b.count, isIdent(b[i]) { i += 1 }
                out.append(Token(kind: .identifier(String(decoding: b[start..<i], as: UTF8.self)), span: ExprSpan(start, i)))
            } else if c >= 48 && c <= 57 || (c == 46 && i + 1 < b.count && b[i + 1] >= 48 && b[i + 1] <= 57) {
                var isFloat = false
                while i < b.count, b[i] >= 48 && b[i] <= 57 { i += 1 }
                if i < b.count, b[i] == 46 { isFloat = true; i += 1; while i < b.count, b[i] >= 48 && b[i] <= 57 { i += 1 } }
                if i < b.count, b[i] | 0x20 == 101 {
                    var j = i + 1
                    if j < b.count, b[j] == 43 || b[j] == 45 { j += 1 }
                    if j < b.count, b[j] >= 48 && b[j] <= 57 {
                        isFloat = true
                        i = j
                        while i < b.count, b[i] >= 48 && b[i] <= 57 { i += 1 }
                    }
                }
                let s = String(decoding: b[start..<i], as: UTF8.self)
                if !isFloat, let v = Int64(s) {
                    out.append(Token(kind: .integer(v), span: ExprSpan(start, i)))
                } else if let d = Double(s) {
                    out.append(Token(kind: .number(d), span: ExprSpan(start, i)))
                } else {
                    throw ExprError("E_SYNTAX", "invalid number '\(s)'", ExprSpan(start, i))
                }
            } else if c == 39 || c == 34 {
                // 'string' or "quoted column"; a doubled quote inside stands for one.
                var bytes: [UInt8] = []
                i += 1
                var closed = false
                while i < b.count {
                    if b[i] == c {
                        if i + 1 < b.count, b[i + 1] == c { bytes.append(c); i += 2; continue }
                        i += 1
                        closed = true
                        break
                    }
                    bytes.append(b[i])
                    i += 1
                }
                guard closed else {
                    throw ExprError("E_SYNTAX", c == 39 ? "unterminated string" : "unterminated quoted column name", ExprSpan(start, b.count),
                                    hint: c == 39 ? "close it with ' (write '' for a quote inside)" : "close it with \"")
                }
                let s = String(decoding: bytes, as: UTF8.self)
                out.append(Token(kind: c == 39 ? .string(s) : .quotedIdentifier(s), span: ExprSpan(start, i)))
            } else {
                let two = i + 1 < b.count ? String(decoding: b[i...i + 1], as: UTF8.self) : ""
                if ["==", "!=", "<>", "<=", ">=", "||"].contains(two) {
                    i += 2
                    out.append(Token(kind: .symbol(two == "<>" ? "!=" : two), span: ExprSpan(start, i)))
                } else if "+-*/%=<>(),".utf8.contains(c) {
                    i += 1
                    out.append(Token(kind: .symbol(String(UnicodeScalar(c))), span: ExprSpan(start, i)))
                } else {
                    throw ExprError("E_SYNTAX", "unexpected character '\(String(UnicodeScalar(c)))'", ExprSpan(start, start + 1),
                                    hint: c == 96 ? "quote column names with double quotes: \"Close Date\"" : nil)
                }
            }
        }
        out.append(Token(kind: .end, span: ExprSpan(b.count, b.count)))
        return out
    }
}

// MARK: - Parser

/// Parses expression text into an `ExprNode`.
public struct ExprParser {
    var tokens: [Token]
    var position = 0
    /// Parentheses, calls, `case`, `not` and unary minus open inside each other (the parser recurses there).
    var nesting = 0
    /// Limits that keep every recursive walk of an expression (checking, evaluating, freeing it) far from the end of a
    /// worker thread's stack; no expression a person writes comes near them.
    public static let maxNesting = 100
    public static let maxDepth = 256
    public static let maxTokens = 20_000
    static let reserved: Set<String> = ["and", "or", "not", "in", "between", "like", "is", "null", "true", "false", "case", "when",
                                        "then", "else", "end", "as"]

    /// Parses `text`; the error's span points at the offending token.
    public static func parse(_ text: String) throws(ExprError) -> ExprNode {
        let tokens = try ExprLexer.tokens(text)
        guard tokens.count <= maxTokens else {
            throw ExprError("E_SYNTAX", "the expression is too long (\(tokens.count) tokens; at most \(maxTokens))", ExprSpan(0, 0),
                            hint: "split it into several derived columns")
        }
        var p = ExprParser(tokens: tokens)
        if case .end = p.peek.kind { throw ExprError("E_SYNTAX", "empty expression", ExprSpan(0, 0), hint: "write an expression such as amount > 0") }
        let node = try p.parseOr()
        guard case .end = p.peek.kind else {
            throw ExprError("E_SYNTAX", "unexpected \(p.describe(p.peek)) after a complete expression", p.peek.span,
                            hint: "join conditions with and / or; quote column names with spaces: \"Close Date\"")
        }
        let depth = node.depth
        guard depth <= maxDepth else {
            throw ExprError("E_SYNTAX", "the expression is nested too deeply (\(depth) levels; at most \(maxDepth))", node.span,
                            hint: "split it into several derived columns, or use in (...) instead of a long chain of or")
        }
        return node
    }

    /// Enters one level of nesting at `span`; fails past `maxNesting`.
    mutating func enter(_ span: ExprSpan) throws(ExprError) {
        nesting += 1
        if nesting > Self.maxNesting {
            throw ExprError("E_SYNTAX", "the expression is nested more than \(Self.maxNesting) levels deep", span,
                            hint: "split it into several derived columns")
        }
    }

    var peek: Token { tokens[position] }
    mutating func advance() -> Token {
        let t = tokens[position]
        if position < tokens.count - 1 { position += 1 }
        return t
    }
    func isKeyword(_ k: String) -> Bool { peek.keyword == k }
    func isSymbol(_ s: String) -> Bool { if case .symbol(let x) = peek.kind { return x == s }; return false }
    mutating func eatKeyword(_ k: String) -> Bool { if isKeyword(k) { _ = advance(); return true }; return false }
    mutating func eatSymbol(_ s: String) -> Bool { if isSymbol(s) { _ = advance(); return true }; return false }

    func describe(_ t: Token) -> String {
        switch t.kind {
        case .identifier(let s): return "'\(s)'"
        case .quotedIdentifier(let s): return "\"\(s)\""
        case .string(let s): return "string '\(s)'"
        case .integer(let v): return "number \(v)"
        case .number(let v): return "number \(v)"
        case .symbol(let s): return "'\(s)'"
        case .end: return "end of expression"
        }
    }

    mutating func expectKeyword(_ k: String, hint: String? = nil) throws(ExprError) -> Token {
        guard isKeyword(k) else { throw ExprError("E_SYNTAX", "expected '\(k)' but found \(describe(peek))", peek.span, hint: hint) }
        return advance()
    }
    mutating func expectSymbol(_ s: String, hint: String? = nil) throws(ExprError) -> Token {
        guard isSymbol(s) else { throw ExprError("E_SYNTAX", "expected '\(s)' but found \(describe(peek))", peek.span, hint: hint) }
        return advance()
    }

    mutating func parseOr() throws(ExprError) -> ExprNode {
        var lhs = try parseAnd()
        while eatKeyword("or") {
            let rhs = try parseAnd()
            lhs = .binary(.or, lhs, rhs, lhs.span.merged(rhs.span))
        }
        return lhs
    }

    mutating func parseAnd() throws(ExprError) -> ExprNode {
        var lhs = try parseNot()
        while eatKeyword("and") {
            let rhs = try parseNot()
            lhs = .binary(.and, lhs, rhs, lhs.span.merged(rhs.span))
        }
        return lhs
    }

    mutating func parseNot() throws(ExprError) -> ExprNode {
        if isKeyword("not") {
            let t = advance()
            try enter(t.span)
            defer { nesting -= 1 }
            let inner = try parseNot()
            return .not(inner, t.span.merged(inner.span))
        }
        return try parseComparison()
    }

    mutating func parseComparison() throws(ExprError) -> ExprNode {
        let lhs = try parseConcat()
        if case .symbol(let s) = peek.kind, let op = Self.comparison(s) {
            _ = advance()
            let rhs = try parseConcat()
            return .binary(op, lhs, rhs, lhs.span.merged(rhs.span))
        }
        if isKeyword("is") {
            _ = advance()
            let negated = eatKeyword("not")
            let t = try expectKeyword("null", hint: "write 'is null' or 'is not null'; compare values with = or ==")
            return .isNull(lhs, negated: negated, lhs.span.merged(t.span))
        }
        var negated = false
        if isKeyword("not"), let next = tokens[safe: position + 1]?.keyword, ["in", "between", "like"].contains(next) {
            _ = advance()
            negated = true
        }
        if eatKeyword("in") {
            _ = try expectSymbol("(", hint: "write in ('a', 'b')")
            var list: [ExprNode] = []
            repeat { list.append(try parseConcat()) } while eatSymbol(",")
            let close = try expectSymbol(")", hint: "separate the values with commas and close the list with )")
            return .inList(lhs, list, negated: negated, lhs.span.merged(close.span))
        }
        if eatKeyword("between") {
            let lo = try parseConcat()
            _ = try expectKeyword("and", hint: "write x between low and high")
            let hi = try parseConcat()
            return .between(lhs, lo, hi, negated: negated, lhs.span.merged(hi.span))
        }
        if eatKeyword("like") {
            let pattern = try parseConcat()
            return .like(lhs, pattern, negated: negated, lhs.span.merged(pattern.span))
        }
        return lhs
    }

    static func comparison(_ s: String) -> BinaryOperator? {
        switch s {
        case "=", "==": return .equal
        case "!=": return .notEqual
        case "<": return .less
        case "<=": return .lessEqual
        case ">": return .greater
        case ">=": return .greaterEqual
        default: return nil
        }
    }

    mutating func parseConcat() throws(ExprError) -> ExprNode {
        var lhs = try parseAdditive()
        while eatSymbol("||") {
            let rhs = try parseAdditive()
            lhs = .binary(.concat, lhs, rhs, lhs.span.merged(rhs.span))
        }
        return lhs
    }

    mutating func parseAdditive() throws(ExprError) -> ExprNode {
        var lhs = try parseMultiplicative()
        while true {
            let op: BinaryOperator
            if isSymbol("+") { op = .add } else if isSymbol("-") { op = .subtract } else { return lhs }
            _ = advance()
            let rhs = try parseMultiplicative()
            lhs = .binary(op, lhs, rhs, lhs.span.merged(rhs.span))
        }
    }

    mutating func parseMultiplicative() throws(ExprError) -> ExprNode {
        var lhs = try parseUnary()
        while true {
            let op: BinaryOperator
            if isSymbol("*") { op = .multiply } else if isSymbol("/") { op = .divide } else if isSymbol("%") { op = .remainder } else { return lhs }
            _ = advance()
            let rhs = try parseUnary()
            lhs = .binary(op, lhs, rhs, lhs.span.merged(rhs.span))
        }
    }

    mutating func parseUnary() throws(ExprError) -> ExprNode {
        if isSymbol("-") {
            let t = advance()
            try enter(t.span)
            defer { nesting -= 1 }
            let inner = try parseUnary()
            if case .literal(.integer(let v), let s) = inner { return .literal(.integer(-v), t.span.merged(s)) }
            if case .literal(.double(let v), let s) = inner { return .literal(.double(-v), t.span.merged(s)) }
            return .negate(inner, t.span.merged(inner.span))
        }
        if isSymbol("+") { _ = advance() }
        return try parsePrimary()
    }

    mutating func parsePrimary() throws(ExprError) -> ExprNode {
        let t = peek
        switch t.kind {
        case .integer(let v): _ = advance(); return .literal(.integer(v), t.span)
        case .number(let v): _ = advance(); return .literal(.double(v), t.span)
        case .string(let s): _ = advance(); return .literal(.string(s), t.span)
        case .quotedIdentifier(let s): _ = advance(); return .column(s, t.span)
        case .symbol("("):
            _ = advance()
            try enter(t.span)
            defer { nesting -= 1 }
            let inner = try parseOr()
            _ = try expectSymbol(")", hint: "every ( needs a matching )")
            return inner
        case .symbol("*"):
            _ = advance()
            return .star(t.span)
        case .identifier(let name):
            let k = name.lowercased()
            switch k {
            case "null": _ = advance(); return .literal(.null, t.span)
            case "true": _ = advance(); return .literal(.boolean(true), t.span)
            case "false": _ = advance(); return .literal(.boolean(false), t.span)
            case "case":
                try enter(t.span)
                defer { nesting -= 1 }
                return try parseCase()
            case "cast", "try_cast":
                try enter(t.span)
                defer { nesting -= 1 }
                return try parseCast(orNull: k == "try_cast")
            case "date", "timestamp":
                if case .string(let s) = tokens[position + 1].kind {
                    _ = advance()
                    let lit = advance()
                    let span = t.span.merged(lit.span)
                    return try Self.typedLiteral(k == "date" ? .date : .timestamp, s, span)
                }
            default: break
            }
            if Self.reserved.contains(k) {
                throw ExprError("E_SYNTAX", "expected a value but found the keyword '\(name)'", t.span,
                                hint: "quote a column with this name: \"\(name)\"")
            }
            _ = advance()
            if eatSymbol("(") {
                try enter(t.span)
                defer { nesting -= 1 }
                var args: [ExprNode] = []
                if !isSymbol(")") {
                    repeat { args.append(try parseOr()) } while eatSymbol(",")
                }
                let close = try expectSymbol(")", hint: "separate arguments with commas and close the call with )")
                return .call(k, args, t.span.merged(close.span))
            }
            return .column(name, t.span)
        case .symbol(let s):
            throw ExprError("E_SYNTAX", "expected a value but found '\(s)'", t.span)
        case .end:
            throw ExprError("E_SYNTAX", "the expression ends too early", t.span, hint: "something is missing after the last operator")
        }
    }

    static func typedLiteral(_ type: DataType, _ s: String, _ span: ExprSpan) throws(ExprError) -> ExprNode {
        let bytes = Array(s.utf8)
        let scan = bytes.withUnsafeBufferPointer { DateParsing.scan($0) }
        if type == .date, let d = scan.flatMap({ $0.shape == .numeric ? nil : $0.days(order: nil) }) {
            return .literal(.date(Int32(d)), span)
        }
        if type == .timestamp, let t = scan.flatMap({ $0.shape == .numeric ? nil : $0.micros(order: nil) }) {
            return .literal(.timestamp(t), span)
        }
        throw ExprError("E_SYNTAX", "'\(s)' is not a valid \(type.rawValue)", span, hint: type == .date ? "write date 'YYYY-MM-DD'" : "write timestamp 'YYYY-MM-DDTHH:MM:SSZ'")
    }

    mutating func parseCase() throws(ExprError) -> ExprNode {
        let start = advance()
        var whens: [ExprNode] = []
        var thens: [ExprNode] = []
        // `case x when 1 then ...` (simple form) compares x to each value.
        var subject: ExprNode?
        if !isKeyword("when") { subject = try parseOr() }
        while eatKeyword("when") {
            let w = try parseOr()
            whens.append(subject.map { .binary(.equal, $0, w, w.span) } ?? w)
            _ = try expectKeyword("then", hint: "write case when condition then value ... end")
            thens.append(try parseOr())
        }
        if whens.isEmpty { throw ExprError("E_SYNTAX", "expected 'when' after 'case'", peek.span, hint: "write case when condition then value else other end") }
        var otherwise: ExprNode?
        if eatKeyword("else") { otherwise = try parseOr() }
        let end = try expectKeyword("end", hint: "close the case with end")
        return .caseWhen(whens, thens, otherwise, start.span.merged(end.span))
    }

    /// `cast(value as type)` rejects a row whose value does not convert; `try_cast(value as type)` gives null instead
    /// (a call of the hidden function try_cast_<type>).
    mutating func parseCast(orNull: Bool = false) throws(ExprError) -> ExprNode {
        let start = advance()
        let form = orNull ? "try_cast(value as type)" : "cast(value as type)"
        _ = try expectSymbol("(", hint: "write \(form)")
        let inner = try parseOr()
        _ = try expectKeyword("as", hint: "write \(form)")
        let typeToken = advance()
        guard let name = typeToken.keyword, let type = DataType(userName: name) else {
            throw ExprError("E_SYNTAX", "unknown type \(describe(typeToken))", typeToken.span,
                            hint: "use one of " + DataType.allCases.map(\.rawValue).joined(separator: ", "))
        }
        let close = try expectSymbol(")")
        if orNull { return .call("try_cast_" + type.rawValue, [inner], start.span.merged(close.span)) }
        return .cast(inner, type, start.span.merged(close.span))
    }
}

extension Array {
    subscript(safe i: Int) -> Element? { i >= 0 && i < count ? self[i] : nil }
}
