import Testing
@testable import CRMFlowCore

/// A small typed table: amounts with nulls, names, dates, booleans, money.
private let people: Table = {
    Table(names: ["id", "name", "amount", "score", "joined", "active", "fee", "Close Date"],
          types: [.integer, .string, .integer, .double, .date, .boolean, .money, .date],
          rows: [
              [.integer(1), .string("Ann"), .integer(10), .double(1.5), .date(19_723), .boolean(true), .money(1050, "USD"), .date(19_723)],
              [.integer(2), .string("bob"), .null, .double(-2.25), .date(19_800), .boolean(false), .money(99, "USD"), .null],
              [.integer(3), .null, .integer(-4), .null, .null, .null, .null, .date(19_900)],
          ])
}()

private let env = EvalEnvironment(asOf: 19_723)  // 2024-01-01

private func eval(_ text: String) throws -> [String] {
    let compiled = try ExprCompiler.compile(text, schema: people.schema)
    let r = compiled.evaluate(people, env: env)
    return (0..<people.rowCount).map { r.column.isNull($0) ? "null" : r.column.value(at: $0).description }
}

struct ParseCase: CustomTestStringConvertible, Sendable {
    let text: String
    let tree: String
    var testDescription: String { text }
}

/// Renders a tree with explicit parentheses, to check precedence.
private func show(_ n: ExprNode) -> String {
    switch n {
    case .literal(let v, _): if case .string(let s) = v { return "'\(s)'" }; return v.isNull ? "null" : v.description
    case .column(let c, _): return c
    case .star: return "*"
    case .negate(let a, _): return "(-\(show(a)))"
    case .not(let a, _): return "(not \(show(a)))"
    case .binary(let op, let a, let b, _): return "(\(show(a)) \(op.rawValue) \(show(b)))"
    case .call(let f, let args, _): return "\(f)(\(args.map(show).joined(separator: ", ")))"
    case .inList(let a, let l, let neg, _): return "(\(show(a)) \(neg ? "not in" : "in") [\(l.map(show).joined(separator: ", "))])"
    case .between(let a, let lo, let hi, let neg, _): return "(\(show(a)) \(neg ? "not between" : "between") \(show(lo)) \(show(hi)))"
    case .isNull(let a, let neg, _): return "(\(show(a)) is \(neg ? "not " : "")null)"
    case .like(let a, let p, let neg, _): return "(\(show(a)) \(neg ? "not like" : "like") \(show(p)))"
    case .caseWhen(let w, let t, let e, _):
        return "case[" + zip(w, t).map { "\(show($0)) => \(show($1))" }.joined(separator: "; ") + (e.map { "; else \(show($0))" } ?? "") + "]"
    case .cast(let a, let t, _): return "cast(\(show(a)) as \(t.rawValue))"
    }
}

@Suite struct ExpressionParserTests {
    static let cases: [ParseCase] = [
        ParseCase(text: "1 + 2 * 3", tree: "(1 + (2 * 3))"),
        ParseCase(text: "(1 + 2) * 3", tree: "((1 + 2) * 3)"),
        ParseCase(text: "a - b - c", tree: "((a - b) - c)"),
        ParseCase(text: "a or b and c", tree: "(a or (b and c))"),
        ParseCase(text: "not a = 1 and b", tree: "((not (a = 1)) and b)"),
        ParseCase(text: "x || 'y' = 'ab'", tree: "((x || 'y') = 'ab')"),
        ParseCase(text: "a == 1 or a <> 2", tree: "((a = 1) or (a != 2))"),
        ParseCase(text: "-a * 2", tree: "((-a) * 2)"),
        ParseCase(text: "-2 * 3", tree: "(-2 * 3)"),
        ParseCase(text: "stage in ('Won', 'Lost')", tree: "(stage in ['Won', 'Lost'])"),
        ParseCase(text: "stage not in ('a')", tree: "(stage not in ['a'])"),
        ParseCase(text: "x between 1 and 5 and y", tree: "((x between 1 5) and y)"),
        ParseCase(text: "x not between 1 and 5", tree: "(x not between 1 5)"),
        ParseCase(text: "x is not null", tree: "(x is not null)"),
        ParseCase(text: "name NOT LIKE 'A%'", tree: "(name not like 'A%')"),
        ParseCase(text: "case when a > 1 then 'big' else 'small' end", tree: "case[(a > 1) => 'big'; else 'small']"),
        ParseCase(text: "case stage when 'Won' then 1 end", tree: "case[(stage = 'Won') => 1]"),
        ParseCase(text: "cast(x as INT)", tree: "cast(x as integer)"),
        ParseCase(text: "\"Close Date\" >= date '2024-01-31'", tree: "(Close Date >= 2024-01-31)"),
        ParseCase(text: "coalesce(a, 'it''s')", tree: "coalesce(a, 'it's')"),
        ParseCase(text: "count(*)", tree: "count(*)"),
        ParseCase(text: "1.5e3 + .5", tree: "(1500.0 + 0.5)"),
        ParseCase(text: "TRUE and null", tree: "(true and null)"),
    ]

    @Test(arguments: cases)
    func parses(_ c: ParseCase) throws {
        #expect(show(try ExprParser.parse(c.text)) == c.tree)
    }

    struct ErrorCase: CustomTestStringConvertible, Sendable {
        let text: String
        let start: Int
        let message: String
        var testDescription: String { text }
    }

    static let errors: [ErrorCase] = [
        ErrorCase(text: "amount >", start: 8, message: "the expression ends too early"),
        ErrorCase(text: "a = 'open", start: 4, message: "unterminated string"),
        ErrorCase(text: "(a + 1", start: 6, message: "expected ')' but found end of expression"),
        ErrorCase(text: "a b", start: 2, message: "unexpected 'b' after a complete expression"),
        ErrorCase(text: "x in 1, 2", start: 5, message: "expected '(' but found number 1"),
        ErrorCase(text: "x is 3", start: 5, message: "expected 'null' but found number 3"),
        ErrorCase(text: "`a` = 1", start: 0, message: "unexpected character '`'"),
        ErrorCase(text: "case a end", start: 7, message: "expected 'when' after 'case'"),
        ErrorCase(text: "date 'tomorrow'", start: 0, message: "'tomorrow' is not a valid date"),
        ErrorCase(text: "", start: 0, message: "empty expression"),
    ]

    @Test(arguments: errors)
    func reportsPosition(_ c: ErrorCase) {
        #expect(throws: ExprError.self) { try ExprParser.parse(c.text) }
        do { _ = try ExprParser.parse(c.text) } catch {
            #expect(error.span.start == c.start)
            #expect(error.message == c.message)
        }
    }
}

struct EvalCase: CustomTestStringConvertible, Sendable {
    let text: String
    let values: [String]
    var testDescription: String { text }
}

@Suite struct ExpressionEvaluationTests {
    static let cases: [EvalCase] = [
        // arithmetic and nulls
        EvalCase(text: "amount + 1", values: ["11", "null", "-3"]),
        EvalCase(text: "amount * 2 - id", values: ["19", "null", "-11"]),
        EvalCase(text: "amount / 4", values: ["2.5", "null", "-1.0"]),
        EvalCase(text: "amount % 3", values: ["1", "null", "-1"]),
        EvalCase(text: "amount / 0", values: ["null", "null", "null"]),
        EvalCase(text: "score + amount", values: ["11.5", "null", "null"]),
        EvalCase(text: "-score", values: ["-1.5", "2.25", "null"]),
        // comparisons, three-valued logic
        EvalCase(text: "amount > 0", values: ["true", "null", "false"]),
        EvalCase(text: "amount > 0 or active", values: ["true", "null", "null"]),
        EvalCase(text: "amount > 0 and active", values: ["true", "false", "false"]),
        EvalCase(text: "not active", values: ["false", "true", "null"]),
        EvalCase(text: "name = 'Ann'", values: ["true", "false", "null"]),
        EvalCase(text: "name < 'a'", values: ["true", "false", "null"]),
        EvalCase(text: "amount is null", values: ["false", "true", "false"]),
        EvalCase(text: "name is not null", values: ["true", "true", "false"]),
        EvalCase(text: "id in (1, 3)", values: ["true", "false", "true"]),
        EvalCase(text: "id not in (1, null)", values: ["false", "null", "null"]),
        EvalCase(text: "name in ('bob', 'Ann')", values: ["true", "true", "null"]),
        EvalCase(text: "amount between -5 and 10", values: ["true", "null", "true"]),
        EvalCase(text: "name like '_n%'", values: ["true", "false", "null"]),
        EvalCase(text: "name not like '%b'", values: ["true", "false", "null"]),
        // dates
        EvalCase(text: "joined >= '2024-01-01'", values: ["true", "true", "null"]),
        EvalCase(text: "\"Close Date\" = date '2024-01-01'", values: ["true", "null", "false"]),
        EvalCase(text: "joined + 31", values: ["2024-02-01", "2024-04-18", "null"]),
        EvalCase(text: "days_between(joined, today())", values: ["0", "-77", "null"]),
        EvalCase(text: "year(joined) * 100 + month(joined)", values: ["202401", "202403", "null"]),
        EvalCase(text: "quarter(joined)", values: ["1", "1", "null"]),
        EvalCase(text: "week(joined)", values: ["1", "12", "null"]),
        EvalCase(text: "day_of_week(joined)", values: ["1", "1", "null"]),
        EvalCase(text: "day_of_week(date '2024-03-17') || week(date '2021-01-03')", values: ["753", "753", "753"]),
        EvalCase(text: "date_trunc('month', joined)", values: ["2024-01-01", "2024-03-01", "null"]),
        EvalCase(text: "date_trunc('week', date '2024-03-17')", values: ["2024-03-11", "2024-03-11", "2024-03-11"]),
        EvalCase(text: "date_add(date '2024-01-31', 1, 'month')", values: ["2024-02-29", "2024-02-29", "2024-02-29"]),
        EvalCase(text: "date_add(joined, -1, 'year')", values: ["2023-01-01", "2023-03-18", "null"]),
        EvalCase(text: "months_between(date '2024-01-31', date '2024-03-30')", values: ["1", "1", "1"]),
        EvalCase(text: "date('2024-02-29')", values: ["2024-02-29", "2024-02-29", "2024-02-29"]),
        EvalCase(text: "parse_date(if(active, '03/04/2024', 'Mar 05, 2024'), '%d.%m.%Y', '%m/%d/%Y', '%b %d, %Y')", values: ["2024-03-04", "2024-03-05", "2024-03-05"]),
        EvalCase(text: "parse_date(name, '%Y')", values: ["null", "null", "null"]),
        // strings
        EvalCase(text: "lower(name) || '!'", values: ["ann!", "bob!", "null"]),
        EvalCase(text: "upper(trim('  x '))", values: ["X", "X", "X"]),
        EvalCase(text: "initcap('o''neil-SMITH jr')", values: ["O'neil-Smith Jr", "O'neil-Smith Jr", "O'neil-Smith Jr"]),
        EvalCase(text: "length(name)", values: ["3", "3", "null"]),
        EvalCase(text: "substr('Müller', 2, 3)", values: ["üll", "üll", "üll"]),
        EvalCase(text: "contains(name, 'n')", values: ["true", "false", "null"]),
        EvalCase(text: "starts_with(name, 'A') or ends_with(name, 'b')", values: ["true", "true", "null"]),
        EvalCase(text: "replace('a-b-c', '-', '+')", values: ["a+b+c", "a+b+c", "a+b+c"]),
        EvalCase(text: "split_part('a,b,c', ',', -1)", values: ["c", "c", "c"]),
        EvalCase(text: "regexp_matches('+1 555', '^[+][0-9]')", values: ["true", "true", "true"]),
        // Timestamps keep the time of day; strftime writes dates for people and file names.
        EvalCase(text: "parse_timestamp('2024-03-05 14:30:15', '%Y-%m-%d %H:%M:%S')", values: ["2024-03-05T14:30:15Z", "2024-03-05T14:30:15Z", "2024-03-05T14:30:15Z"]),
        EvalCase(text: "parse_timestamp('05.03.2024 09:05', '%m/%d/%Y %H:%M', '%d.%m.%Y %H:%M')", values: ["2024-03-05T09:05:00Z", "2024-03-05T09:05:00Z", "2024-03-05T09:05:00Z"]),
        EvalCase(text: "parse_timestamp('2024-03-05T14:30:00+02:00')", values: ["2024-03-05T12:30:00Z", "2024-03-05T12:30:00Z", "2024-03-05T12:30:00Z"]),
        EvalCase(text: "parse_timestamp('soon') is null", values: ["true", "true", "true"]),
        EvalCase(text: "strftime(date '2024-03-05', '%d %b %Y, %A, day %j, Q%q')", values: ["05 Mar 2024, Tuesday, day 065, Q1", "05 Mar 2024, Tuesday, day 065, Q1", "05 Mar 2024, Tuesday, day 065, Q1"]),
        EvalCase(text: "format_date(parse_timestamp('2024-12-31 23:59:58', '%Y-%m-%d %H:%M:%S'), '%y%m%d-%H%M%S %B %e')", values: ["241231-235958 December 31", "241231-235958 December 31", "241231-235958 December 31"]),
        EvalCase(text: "strftime(joined, '%Y/%m')", values: ["2024/01", "2024/03", "null"]),
        // try_cast: null where cast would reject the row.
        EvalCase(text: "try_cast('12' as integer) + 1", values: ["13", "13", "13"]),
        EvalCase(text: "try_cast(name as integer)", values: ["null", "null", "null"]),
        EvalCase(text: "coalesce(try_cast('x1' as double), -1)", values: ["-1.0", "-1.0", "-1.0"]),
        EvalCase(text: "try_cast('2024-02-30' as date) is null and try_cast('2024-02-29' as date) = date '2024-02-29'", values: ["true", "true", "true"]),
        EvalCase(text: "try_cast(amount as string) || '!'", values: ["10!", "null", "-4!"]),
        // The PCRE / RE2 shorthands and case-insensitive matching on top of POSIX extended.
        EvalCase(text: "regexp_matches('+1 555', '^\\+\\d\\s\\d{3}$')", values: ["true", "true", "true"]),
        EvalCase(text: "regexp_replace('(555) 010-1234', '\\D', '', 'g')", values: ["5550101234", "5550101234", "5550101234"]),
        EvalCase(text: "regexp_replace('a  b\tc', '\\s+', ' ', 'g')", values: ["a b c", "a b c", "a b c"]),
        EvalCase(text: "regexp_replace('a-b_c d', '\\w', 'x', 'g')", values: ["x-xxx x", "x-xxx x", "x-xxx x"]),
        EvalCase(text: "regexp_replace('x1y22+', '[\\d+]+', '#', 'g')", values: ["x#y#", "x#y#", "x#y#"]),
        EvalCase(text: "regexp_matches(name, 'ANN', 'i') || regexp_matches(name, '(?i)^b') || regexp_matches(name, 'ANN')", values: ["truefalsefalse", "falsetruefalse", "null"]),
        EvalCase(text: "regexp_replace('Acme INC inc', 'inc', 'Inc.', 'gi')", values: ["Acme Inc. Inc.", "Acme Inc. Inc.", "Acme Inc. Inc."]),
        EvalCase(text: "regexp_replace('(555) 010-1234', '[^0-9]', '', 'g')", values: ["5550101234", "5550101234", "5550101234"]),
        EvalCase(text: "regexp_replace('a1b2', '([a-z])([0-9])', '\\2\\1')", values: ["1ab2", "1ab2", "1ab2"]),
        EvalCase(text: "regexp_replace(name || ' 1-2', '[^a-z0-9]', '', 'g')", values: ["nn12", "bob12", "null"]),
        EvalCase(text: "regexp_replace(name || ' +1 (555) 010-12ü', '[^0-9+]', '', 'g') || regexp_replace(name || '-x y', '[ -]', '', 'g')", values: ["+155501012Annxy", "+155501012bobxy", "null"]),
        EvalCase(text: "upper(name) || lower('ÄÖ') || trim(name)", values: ["ANNäöAnn", "BOBäöbob", "null"]),
        EvalCase(text: "lower(name || 'ÆŁĞÉ×ΣSS') || upper('straße ÿ é')", values: ["annæłğé×σss" + "STRASSE Ÿ É", "bobæłğé×σss" + "STRASSE Ÿ É", "null"]),
        EvalCase(text: "'[' || trim(name || '\u{00A0} \u{3000}') || ']' || length(trim(' \t' || name || ' \u{2003}'))", values: ["[Ann]3", "[bob]3", "null"]),
        EvalCase(text: "currency(fee) || length('Zoë')", values: ["USD3", "USD3", "null"]),
        EvalCase(text: "concat_ws('-', name, amount, 'x')", values: ["Ann-10-x", "bob-x", "-4-x"]),
        // math
        EvalCase(text: "abs(amount)", values: ["10", "null", "4"]),
        EvalCase(text: "round(score)", values: ["2.0", "-2.0", "null"]),
        EvalCase(text: "round(2.345, 2)", values: ["2.35", "2.35", "2.35"]),
        EvalCase(text: "round(score * 1.01, 1)", values: ["1.5", "-2.3", "null"]),
        EvalCase(text: "cast(round(cast(fee as double) * 1.08, 2) as money)", values: ["11.34", "1.07", "null"]),
        EvalCase(text: "cast(amount as money) || '/' || cast(amount as double)", values: ["10.00/10.0", "null", "-4.00/-4.0"]),
        EvalCase(text: "date_trunc('quarter', joined)", values: ["2024-01-01", "2024-01-01", "null"]),
        EvalCase(text: "floor(score) + ceil(score)", values: ["3.0", "-5.0", "null"]),
        EvalCase(text: "sqrt(16) + pow(2, 3) + ln(exp(1))", values: ["13.0", "13.0", "13.0"]),
        EvalCase(text: "least(amount, id, 5)", values: ["1", "2", "-4"]),
        EvalCase(text: "greatest(amount, id)", values: ["10", "2", "3"]),
        // money stays exact
        EvalCase(text: "fee + fee", values: ["21.00 USD", "1.98 USD", "null"]),
        EvalCase(text: "fee * 3", values: ["31.50 USD", "2.97 USD", "null"]),
        EvalCase(text: "round(fee, 0)", values: ["11.00 USD", "1.00 USD", "null"]),
        EvalCase(text: "fee > 5", values: ["true", "false", "null"]),
        // other
        EvalCase(text: "coalesce(amount, id * 100)", values: ["10", "200", "-4"]),
        EvalCase(text: "nullif(amount, 10)", values: ["null", "null", "-4"]),
        EvalCase(text: "if(active, 'yes', 'no')", values: ["yes", "no", "no"]),
        EvalCase(text: "case when amount > 5 then 'big' when amount < 0 then 'neg' end", values: ["big", "null", "neg"]),
        EvalCase(text: "case when amount > 5 then 1 else 2.5 end", values: ["1.0", "2.5", "2.5"]),
        EvalCase(text: "cast(amount as string) || '/' || cast(score as integer)", values: ["10/2", "null", "null"]),
        EvalCase(text: "cast('12,50 €' as money)", values: ["12.50 EUR", "12.50 EUR", "12.50 EUR"]),
        EvalCase(text: "cast(active as integer)", values: ["1", "0", "null"]),
    ]

    @Test(arguments: cases)
    func evaluates(_ c: EvalCase) throws {
        #expect(try eval(c.text) == c.values)
    }

    @Test func rowErrorsAreReportedNotFatal() throws {
        let compiled = try ExprCompiler.compile("cast(name as integer)", schema: people.schema)
        let r = compiled.evaluate(people, env: env)
        #expect(r.errors.map(\.row) == [0, 1])
        #expect(r.errors.first?.message == "cannot cast 'Ann' to integer")
        #expect(r.column.nullCount == 3)
    }

    @Test func mixedCurrenciesAreARowErrorNotAWrongSum() throws {
        let t = Table(names: ["a", "b"], types: [.money, .money], rows: [[.money(100, "USD"), .money(100, "EUR")], [.money(100, "USD"), .money(5, "USD")]])
        let r = try ExprCompiler.compile("a + b", schema: t.schema).evaluate(t, env: env)
        #expect(r.errors.map(\.row) == [0])
        #expect(r.column.value(at: 1) == .money(105, "USD"))
    }

    struct TypeErrorCase: CustomTestStringConvertible, Sendable {
        let text: String
        let code: String
        let message: String
        var testDescription: String { text }
    }

    static let typeErrorCases: [TypeErrorCase] = [
        TypeErrorCase(text: "name + 1", code: "E_TYPE", message: "cannot apply '+' to string and integer"),
        TypeErrorCase(text: "amount = 'ten'", code: "E_TYPE", message: "cannot compare integer with string"),
        TypeErrorCase(text: "amount and active", code: "E_TYPE", message: "'and' needs booleans, got integer"),
        TypeErrorCase(text: "amonut > 1", code: "E_COLUMN", message: "unknown column 'amonut'"),
        TypeErrorCase(text: "lowr(name)", code: "E_FUNCTION", message: "unknown function 'lowr'"),
        TypeErrorCase(text: "lower(name, 1)", code: "E_FUNCTION", message: "lower takes 1 argument, got 2"),
        TypeErrorCase(text: "year(name)", code: "E_TYPE", message: "year: argument 1 must be date, got string"),
        TypeErrorCase(text: "sum(amount)", code: "E_FUNCTION", message: "aggregate sum() is not allowed here"),
        TypeErrorCase(text: "case when amount then 1 end", code: "E_TYPE", message: "a 'when' condition must be boolean, got integer"),
        TypeErrorCase(text: "joined > '31/12/2024'", code: "E_TYPE", message: "cannot compare date with string"),
        // Patterns are compiled when the expression is: lookaround, lazy quantifiers and negated shorthands in brackets
        // are refused at the pattern's position, not row by row.
        TypeErrorCase(text: "regexp_matches(name, 'a(?=b)')", code: "E_REGEX", message: "invalid regular expression 'a(?=b)' (POSIX extended with \\d \\s \\w and (?i); no lookaround, lazy quantifiers or \\D \\S \\W inside [...])"),
        TypeErrorCase(text: "regexp_replace(name, 'a+?', '', 'g')", code: "E_REGEX", message: "invalid regular expression 'a+?' (POSIX extended with \\d \\s \\w and (?i); no lookaround, lazy quantifiers or \\D \\S \\W inside [...])"),
        TypeErrorCase(text: "regexp_matches(name, '[\\D]')", code: "E_REGEX", message: "invalid regular expression '[\\D]' (POSIX extended with \\d \\s \\w and (?i); no lookaround, lazy quantifiers or \\D \\S \\W inside [...])"),
        TypeErrorCase(text: "regexp_matches(name, '(unclosed')", code: "E_REGEX", message: "invalid regular expression '(unclosed' (POSIX extended with \\d \\s \\w and (?i); no lookaround, lazy quantifiers or \\D \\S \\W inside [...])"),
    ]

    @Test(arguments: typeErrorCases)
    func rejectsIllTyped(_ c: TypeErrorCase) {
        do {
            _ = try ExprCompiler.compile(c.text, schema: people.schema)
            Issue.record("expected an error for \(c.text)")
        } catch {
            #expect(error.code == c.code)
            #expect(error.message == c.message)
        }
    }

    @Test func misspeltColumnSuggestsTheNearest() {
        do { _ = try ExprCompiler.compile("amonut > 1", schema: people.schema) } catch {
            #expect(error.hint == "did you mean 'amount'?")
            #expect(error.span == ExprSpan(0, 6))
        }
    }

    @Test func unknownTypesAreAcceptedWhileValidating() throws {
        let schema = ExprSchema(names: ["a", "b"], types: [nil, .string])
        let c = try ExprCompiler.check(try ExprParser.parse("a + 1 > 2 and b = 'x'"), text: "", schema: schema)
        #expect(c.type == .boolean)
        #expect(c.compiled == nil)
    }
}

@Suite struct AggregateTests {
    static let deals = Table(names: ["owner", "amount", "won", "fee"], types: [.string, .integer, .boolean, .money], rows: [
        [.string("a"), .integer(10), .boolean(true), .money(150, "USD")],
        [.string("b"), .integer(5), .boolean(false), .money(1, "USD")],
        [.string("a"), .null, .boolean(false), .null],
        [.null, .integer(7), .boolean(true), .money(10, "USD")],
        [.string("a"), .integer(30), .boolean(true), .money(200, "USD")],
    ])

    func aggregate(_ text: String, by keys: [String]) throws -> [String] {
        let t = Self.deals
        let keyCols = keys.map { t.column(named: $0)! }
        let g = Grouping.make(keys: keyCols, rowCount: t.rowCount)
        let (_, compiled) = try AggregateCompiler.check(try ExprParser.parse(text), text: text, input: ExprSchema(t.schema), groupKeys: keys)
        let keysOut = keyCols.map { $0.selecting(g.firstRow) }
        let col = try compiled!.evaluate(t, grouping: g, keys: keysOut, keySchema: keys.map { Field(name: $0, type: t.column(named: $0)!.type) }, env: env)
        return (0..<col.count).map { col.isNull($0) ? "null" : col.value(at: $0).description }
    }

    @Test func groupsInFirstAppearanceOrderWithNullsAsAGroup() throws {
        #expect(try aggregate("count(*)", by: ["owner"]) == ["3", "1", "1"])
        #expect(try aggregate("count(amount)", by: ["owner"]) == ["2", "1", "1"])
        #expect(try aggregate("sum(amount)", by: ["owner"]) == ["40", "5", "7"])
        #expect(try aggregate("avg(amount)", by: ["owner"]) == ["20.0", "5.0", "7.0"])
        #expect(try aggregate("count_if(won)", by: ["owner"]) == ["2", "0", "1"])
        #expect(try aggregate("count_if(won) / count(*)", by: ["owner"]) == ["0.6666666666666666", "0.0", "1.0"])
        #expect(try aggregate("min(amount) || '-' || max(amount)", by: ["owner"]) == ["10-30", "5-5", "7-7"])
        #expect(try aggregate("first(amount)", by: ["owner"]) == ["10", "5", "7"])
        #expect(try aggregate("last(amount)", by: ["owner"]) == ["30", "5", "7"])
        #expect(try aggregate("sum(fee)", by: ["owner"]) == ["3.50 USD", "0.01 USD", "0.10 USD"])
    }

    @Test func wholeTableStatistics() throws {
        #expect(try aggregate("median(amount)", by: []) == ["8.5"])
        #expect(try aggregate("percentile(amount, 0.25)", by: []) == ["6.5"])
        #expect(try aggregate("round(stddev(amount), 4)", by: []) == ["11.5181"])
        #expect(try aggregate("count_distinct(owner)", by: []) == ["2"])
        #expect(try aggregate("count(*) + 0", by: []) == ["5"])
    }

    @Test func columnsOutsideAggregatesMustBeGroupKeys() throws {
        #expect(throws: ExprError.self) { try aggregate("amount + sum(amount)", by: ["owner"]) }
        #expect(throws: ExprError.self) { try aggregate("owner", by: ["owner"]) }
        #expect(throws: ExprError.self) { try aggregate("sum(sum(amount))", by: []) }
        #expect(try aggregate("owner || ':' || count(*)", by: ["owner"]) == ["a:3", "b:1", "null"])
    }
}

/// The byte-level kernels for `||`, `substr` and `soundex` give what the row-by-row definitions give: nulls,
/// non-text operands, a constant side, bounds past the end, accented and non-Latin text.
@Suite struct TextKernelTests {
    static let words = Table(names: ["w", "n", "d"], types: [.string, .integer, .date], rows: [
        [.string("Ashcraft"), .integer(7), .date(19_723)],
        [.string("Müller"), .integer(-1), .null],
        [.string("東京都"), .null, .date(0)],
        [.string(""), .integer(0), .date(1)],
        [.null, .integer(3), .date(2)],
        [.string("ab"), .integer(12), .date(3)],
    ])

    static func eval(_ text: String) throws -> [String] {
        let r = try ExprCompiler.compile(text, schema: words.schema).evaluate(words, env: env)
        return (0..<words.rowCount).map { r.column.isNull($0) ? "null" : r.column.value(at: $0).description }
    }

    @Test(arguments: [
        ("w || '-' || n", ["Ashcraft-7", "Müller--1", "null", "-0", "null", "ab-12"]),
        ("'<' || d", ["<2024-01-01", "null", "<1970-01-01", "<1970-01-02", "<1970-01-03", "<1970-01-04"]),
        ("substr(w, 2, 3)", ["shc", "üll", "京都", "", "null", "b"]),
        ("substr(w, 0)", ["Ashcraft", "Müller", "東京都", "", "null", "ab"]),
        ("substr(w, 3, 0)", ["", "", "", "", "null", ""]),
        ("substr(w, 9)", ["", "", "", "", "null", ""]),
        ("soundex(w)", ["A261", "M460", "", "", "null", "A100"]),
        ("lower(trim(w))", ["ashcraft", "müller", "東京都", "", "null", "ab"]),
        ("upper(trim(' ' || w || ' '))", ["ASHCRAFT", "MÜLLER", "東京都", "", "null", "AB"]),
        ("lower(trim(cast(n as text)))", ["7", "-1", "null", "0", "3", "12"]),
        ("upper(trim('  x '))", ["X", "X", "X", "X", "X", "X"]),
    ])
    func kernelMatchesTheDefinition(expression: String, expected: [String]) throws {
        #expect(try Self.eval(expression) == expected)
    }
}

/// The column kernels for `regexp_replace(text, class, '', 'g')` (a byte filter) and `regexp_matches` (no sub-match
/// positions asked) give what glibc's regexec gives row by row, on random text with spaces, tabs, backslashes,
/// accented and non-Latin letters, and nulls.
@Suite struct RegexKernelTests {
    static func table(seed: UInt64) -> Table {
        var rng = SplitMix64(seed: seed)
        let alphabet: [String] = ["0", "7", "a", "Z", "_", "-", "+", ".", "@", " ", "\t", "\n", "\\", "(", ")", "é", "東", "x", "9"]
        let rows: [[Value]] = (0..<400).map { i in
            if i % 37 == 5 { return [.null] }
            let n = Int(rng.next() % 14)
            return [.string((0..<n).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }.joined())]
        }
        return Table(names: ["w"], types: [.string], rows: rows)
    }

    @Test(arguments: ["\\D", "\\D+", "\\d", "\\s", "\\s+", "\\S", "\\w", "\\W+", "[^0-9]", "[^0-9+]+", "[^\\d+]", "[\\s_-]", "[ -]", "[\\w.]", "[\\\\]", "[a-z]"])
    func classReplacementMatchesRegexec(pattern: String) throws {
        let t = Self.table(seed: UInt64(pattern.utf8.reduce(5) { $0 &* 31 &+ UInt64($1) }))
        #expect(Evaluator.byteClassToKeep(pattern) != nil, "the byte filter should take \(pattern)")
        let r = try ExprCompiler.compile("regexp_replace(w, '\(pattern)', '', 'g')", schema: t.schema).evaluate(t, env: env)
        let re = try #require(CompiledRegex.cache.get(pattern))
        for i in 0..<t.rowCount {
            guard case .string(let s) = t.columns[0].value(at: i) else { #expect(r.column.isNull(i)); continue }
            let want = FunctionCatalog.regexReplace(s, re, [], global: true)
            #expect(r.column.value(at: i) == .string(want), "\(pattern) on \(s.debugDescription)")
        }
    }

    @Test(arguments: ["^[\\w.+-]+@[\\w-]+(\\.[\\w-]+)+$", "\\d{3}", "^(a|Z)+", "é", "(?i)^z"])
    func matchesMatchesRegexec(pattern: String) throws {
        let t = Self.table(seed: 11)
        let r = try ExprCompiler.compile("regexp_matches(w, '\(pattern)')", schema: t.schema).evaluate(t, env: env)
        let re = try #require(CompiledRegex.cache.get(pattern))
        var hits = 0
        for i in 0..<t.rowCount {
            guard case .string(let s) = t.columns[0].value(at: i) else { #expect(r.column.isNull(i)); continue }
            let want = re.match(Array(s.utf8), from: 0) != nil
            hits += want ? 1 : 0
            #expect(r.column.value(at: i) == .boolean(want), "\(pattern) on \(s.debugDescription)")
        }
        #expect(pattern.hasPrefix("^[") || hits > 0, "the random text should match \(pattern) somewhere")
    }

    @Test func anEMailPatternSeparatesGoodFromBad() throws {
        let t = Table(names: ["w"], types: [.string], rows: [[.string("ann.lee+crm@mail.example.org")], [.string("bad@@x")], [.string("x@y")], [.null]])
        let r = try ExprCompiler.compile("regexp_matches(w, '^[\\w.+-]+@[\\w-]+(\\.[\\w-]+)+$')", schema: t.schema).evaluate(t, env: env)
        #expect((0..<4).map { r.column.isNull($0) ? "null" : r.column.value(at: $0).description } == ["true", "false", "false", "null"])
    }
}

/// CASE takes its value and its errors only from the WHENs a row reaches and the branch it takes; AND / OR take the
/// right side's errors only where the left side leaves the answer open. (Before, every branch was evaluated on every
/// row and a cast the WHEN guarded against rejected the row.)
@Suite struct GuardedErrorTests {
    static let texts = Table(names: ["x"], types: [.string], rows: [[.string("0")], [.string("4")], [.string("abc")], [.null], [.string("")]])

    static func eval(_ text: String) throws -> (values: [String], errorRows: [Int]) {
        let r = try ExprCompiler.compile(text, schema: texts.schema).evaluate(texts, env: env)
        return ((0..<texts.rowCount).map { r.column.isNull($0) ? "null" : r.column.value(at: $0).description }, r.errors.map(\.row).sorted())
    }

    @Test(arguments: [
        ("case when x = 'abc' then -1 when x = '' then -2 else 100 / cast(x as integer) end", ["null", "25.0", "-1.0", "null", "-2.0"], [Int]()),
        ("case when x <> 'abc' and x <> '' then cast(x as integer) else 0 end", ["0", "4", "0", "0", "0"], []),
        ("case when cast(x as integer) > 1 then 'big' else 'small' end", ["small", "big", "small", "small", "small"], [2, 4]),
        ("case when x = 'abc' then 'word' when cast(x as integer) > 1 then 'big' end", ["null", "big", "word", "null", "null"], [4]),
        ("case when x = '4' then cast(x as integer) end", ["null", "4", "null", "null", "null"], []),
        ("case when x is null then 'none' else x || '!' end", ["0!", "4!", "abc!", "none", "!"], []),
        ("x <> 'abc' and x <> '' and cast(x as integer) >= 0", ["true", "true", "false", "null", "false"], []),
        ("x = 'abc' or x = '' or cast(x as integer) >= 0", ["true", "true", "true", "null", "true"], []),
        ("cast(x as integer) >= 0 and x <> 'abc'", ["true", "true", "false", "null", "null"], [2, 4]),
    ])
    func errorsComeOnlyFromTheBranchTaken(expression: String, values: [String], errorRows: [Int]) throws {
        let got = try Self.eval(expression)
        #expect(got.values == values)
        #expect(got.errorRows == errorRows)
    }
}

/// The column kernels for `parse_timestamp` with formats, `date(timestamp)`, `starts_with`, `ends_with` and
/// `contains` give what the functions' row-by-row definitions give, nulls and non-Latin text included.
@Suite struct ScalarKernelTests {
    static let texts = Table(names: ["w", "t"], types: [.string, .timestamp], rows: [
        [.string("2024-02-21 12:44:46"), .timestamp(1_708_519_486_000_000)],
        [.string(" 21/02/2024 23:59:59 "), .timestamp(-1)],
        [.string("2024-02-21T00:00:01Z"), .timestamp(0)],
        [.string("21-Feb-2024"), .timestamp(-86_400_000_000)],
        [.string("東京 2024"), .timestamp(-86_400_000_001)],
        [.null, .null],
        [.string(""), .timestamp(253_402_300_799_000_000)],
        [.string("2024-13-01 00:00:00"), .timestamp(1)],
    ])

    @Test(arguments: [
        ("parse_timestamp", ["%Y-%m-%d %H:%M:%S", "%d/%m/%Y %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ"]),
        ("parse_timestamp", ["%d-%b-%Y"]),
        ("parse_date", ["%Y-%m-%d %H:%M:%S", "%d-%b-%Y", "%d/%m/%Y %H:%M:%S"]),
        ("starts_with", ["2024"]), ("starts_with", [""]), ("starts_with", ["東京"]),
        ("ends_with", ["Z"]), ("ends_with", ["2024"]), ("contains", ["Feb"]), ("contains", ["京 2"]), ("contains", [""]),
    ])
    func textKernelMatchesTheDefinition(function: String, constants: [String]) throws {
        let call = "\(function)(w, \(constants.map { "'\($0)'" }.joined(separator: ", ")))"
        let r = try ExprCompiler.compile(call, schema: Self.texts.schema).evaluate(Self.texts, env: env)
        let def = try #require(FunctionCatalog.byName[function])
        for i in 0..<Self.texts.rowCount {
            let w = Self.texts.columns[0].value(at: i)
            var want = Value.null
            if !w.isNull, case .value(let v) = def.body([w] + constants.map { .string($0) }, env) { want = v }
            #expect((r.column.isNull(i) ? Value.null : r.column.value(at: i)) == want, "\(call) on row \(i)")
        }
        #expect(!function.hasPrefix("parse_") || (0..<Self.texts.rowCount).contains { !r.column.isNull($0) }, "\(call) should read some row")
    }

    @Test func dateOfATimestampIsItsUTCDay() throws {
        let r = try ExprCompiler.compile("date(t)", schema: Self.texts.schema).evaluate(Self.texts, env: env)
        for i in 0..<Self.texts.rowCount {
            let t = Self.texts.columns[1].value(at: i)
            #expect((r.column.isNull(i) ? nil : r.column.value(at: i)) == t.asDays.map(Value.date), "row \(i)")
        }
        #expect(r.column.value(at: 1) == .date(-1) && r.column.value(at: 3) == .date(-1) && r.column.value(at: 4) == .date(-2))
    }
}
