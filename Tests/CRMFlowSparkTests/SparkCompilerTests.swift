import CRMFlowCore
import CRMFlowStages
@testable import CRMFlowPipeline
import CRMFlowSpark
import Foundation
import Testing

/// The Spark SQL a pipeline compiles to, without a server: formats, expressions, placement and errors.
@Suite struct SparkCompilerTests {
    @Test(arguments: [
        ("sc://127.0.0.1:15002", "127.0.0.1", 15002),
        ("sc://spark.internal", "spark.internal", 15002),
        ("sc://host:443/;token=abc", "host", 443),
    ])
    func endpoints(_ url: String, _ host: String, _ port: Int) throws {
        let e = try SparkEndpoint(url)
        #expect(e.host == host && e.port == port)
    }

    @Test(arguments: ["http://host:15002", "sc://", "sc://host:99999", "sc://host:x"])
    func badEndpointsAreErrors(_ url: String) {
        #expect(throws: SparkError.self) { try SparkEndpoint(url) }
    }

    @Test(arguments: [
        ("%Y-%m-%d", true, "yyyy-M-d"),
        ("%d/%m/%Y", true, "d/M/yyyy"),
        ("%d.%m.%Y %H:%M", true, "d.M.yyyy H:mm"),
        ("%Y-%m-%d", false, "yyyy-MM-dd"),
        ("%b %e, %Y", true, "MMM d, yyyy"),
        ("Q%q %Y", false, "'Q'Q yyyy"),
        ("%Y%m%dT", true, "yyyyMd'T'"),
    ])
    func strftimeFormatsBecomeJavaPatterns(_ f: String, _ parsing: Bool, _ java: String) {
        #expect(SparkStageRenderer.javaPattern(f, parsing: parsing) == java)
    }

    @Test(arguments: [
        ("-", 0, "-"),
        ("\\1-\\2", 0, "$1-$2"),
        ("\\1", 1, "$2"),
        ("US$ 5", 0, "US\\$ 5"),
    ])
    func replacementsBecomeJavas(_ r: String, _ shift: Int, _ java: String) {
        #expect(SparkExpressionRenderer.javaReplacement(r, shift: shift) == java)
    }

    static func render(_ expr: String, _ columns: [(String, DataType)], aggregate: Bool = false) throws -> String {
        let node = try ExprParser.parse(expr)
        let text = ExprText(text: expr, node: node, location: SourceLocation(file: "t.yaml", line: 1, column: 1))
        let schema = ExprSchema(names: columns.map(\.0), types: columns.map(\.1))
        var r = SparkExpressionRenderer(text: text, schema: schema, environment: EvalEnvironment(asOf: 20_088), aggregate: aggregate)
        return try r.render(node).0
    }

    @Test(arguments: [
        // Money times a rate is rounded to the cent, half away from zero, as crmflow's money arithmetic does.
        ("amount * rate", "CAST(ROUND(CAST(CAST(`amount` * 100 AS BIGINT) AS DOUBLE) * CAST(`rate` AS DOUBLE), 0) / 100 AS DECIMAL(18,2))"),
        ("n / m", "(CAST(`n` AS DOUBLE) / `m`)"),
        ("name || '!'", "(`name` || '!')"),
        ("today()", "DATE '2024-12-31'"),
        ("date_trunc('month', d)", "trunc(`d`, 'month')"),
        ("days_between(d, d)", "datediff(`d`, `d`)"),
        ("regexp_replace(name, '\\d+', '#', 'g')", "regexp_replace(`name`, '\\\\d+', '#')"),
        ("regexp_replace(name, '\\s', '')", "regexp_replace(`name`, '^(?s)(.*?)(?:\\\\s)', '$1')"),
        ("name like 'a%'", "(`name` LIKE 'a%' ESCAPE '\u{1}')"),
        ("parse_date(name, '%d/%m/%Y', '%Y-%m-%d')", "coalesce(to_date(trim(`name`), 'd/M/yyyy'), to_date(trim(`name`), 'yyyy-M-d'))"),
        ("'it''s'", "'it\\'s'"),
    ])
    func expressions(_ expr: String, _ sql: String) throws {
        let cols: [(String, DataType)] = [("amount", .money), ("rate", .double), ("n", .integer), ("m", .integer), ("name", .string), ("d", .date)]
        #expect(try Self.render(expr, cols) == sql)
    }

    @Test func moneyAggregatesStayMoney() throws {
        #expect(try Self.render("sum(amount)", [("amount", .money)], aggregate: true) == "CAST(sum(`amount`) AS DECIMAL(18,2))")
        #expect(try Self.render("count(*)", [("amount", .money)], aggregate: true) == "count(1)")
    }

    @Test func aFunctionWithoutASparkEquivalentIsAnErrorAtItsSpan() {
        #expect(throws: SparkExpressionProblem.self) { try Self.render("jaro_winkler(name, name)", [("name", .string)]) }
    }
}
