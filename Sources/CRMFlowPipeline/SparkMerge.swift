import CRMFlowCore
import CRMFlowStages

/// A dedupe `merge` on Spark, per blocking partition (`MergePartitioned` says what each pass computes).
///
/// Views, each pass through `crmflow worker --merge PASS` by SELECT TRANSFORM, each cached so it runs once:
/// - `<id>__keys`: every input record as texts, with its id and its folded key per blocking rule (row by row) and
///   its place in the input (`monotonically_increasing_id`, partition-major: the input's order);
/// - `<id>__spread`: each record once per rule it has a key for whose block holds 2 to max_block records, with the
///   rules whose block is larger (so a partition treats those keys as none, as a local run does);
/// - `<id>__pairs`: `DISTRIBUTE BY` rule and key, so each block arrives whole in one partition; the worker compares the
///   blocks its partition owns and answers edges (`e`), review pairs (`r`) and its pair count (`n`);
/// - `<id>__clusters`: every edge in one task (`REPARTITION(1)`), joined into clusters (union–find);
/// - `<id>__golden`: every record with its cluster, `DISTRIBUTE BY` cluster and sorted by input place, to
///   survivorship: golden rows (`g`) and lineage rows (`l`), each with the input place it sorts by.
public enum SparkMerge {
    struct Plan {
        var statements: [String]
        var golden: String
        var sideTables: [SparkPlan.SideTable]
        var counts: [String]
    }

    static func plan(_ id: String, input: String, inputSchema: ExprSchema, output: ExprSchema, stage: MergeStage, command: SparkWorkerCommand) -> Plan {
        let q = SparkCompiler.quoteName, lit = SparkCompiler.literal
        let rules = MergePartitioned.ruleCount(stage), n = inputSchema.names.count, maxBlock = MergePartitioned.maxBlock(stage)
        func view(_ suffix: String) -> String { q(id + "__" + suffix) }
        func transform(_ pass: String, _ row: String, from: String, extra: [String] = []) -> String {
            "SELECT from_json(line, 'ARRAY<STRING>') AS v FROM (SELECT TRANSFORM(to_json(\(row))) USING \(lit(command.line(stage: id, schema: inputSchema, extra: ["--merge", pass] + extra))) AS (line STRING) FROM \(from))"
        }
        let partitions = partitionsPlaceholder(id)
        var statements: [String] = []
        func create(_ suffix: String, _ select: String, cache: Bool) {
            statements.append("CREATE OR REPLACE TEMPORARY VIEW \(view(suffix)) AS\n" + select)
            if cache { statements.append("CACHE TABLE \(view(suffix))") }
        }
        // v = [id, key per rule..., the record's texts...]
        let texts = inputSchema.names.map { "CAST(\(q($0)) AS STRING)" }.joined(separator: ", ")
        create("keys", "SELECT monotonically_increasing_id() AS __ord, v FROM (" + transform("keys", "array(\(texts))", from: q(input)) + ")", cache: true)
        let sizes = (0..<rules).map { r in "count(*) OVER (PARTITION BY v[\(r + 1)]) AS __n\(r)" }
        let large = (0..<rules).map { r in "IF(v[\(r + 1)] IS NOT NULL AND __n\(r) > \(maxBlock), '\(r)', NULL)" }
        create("sized", "SELECT __ord, v, \((0..<rules).map { "__n\($0)" }.joined(separator: ", ")), concat_ws(',', \(large.joined(separator: ", "))) AS __ov "
            + "FROM (SELECT __ord, v, \(sizes.joined(separator: ", ")) FROM \(view("keys")))", cache: true)
        let spread = (0..<rules).map { r in
            "SELECT \(r) AS __rule, v[\(r + 1)] AS __key, __ord, v, __ov FROM \(view("sized")) WHERE v[\(r + 1)] IS NOT NULL AND __n\(r) BETWEEN 2 AND \(maxBlock)"
        }
        create("spread", spread.joined(separator: "\nUNION ALL\n"), cache: false)
        create("pairs", transform("partition", "concat(array(CAST(__rule AS STRING), __key, __ov, CAST(__ord AS STRING)), v)",
                                  from: "(SELECT * FROM (SELECT /*+ REPARTITION(\(partitions), __rule, __key) */ * FROM \(view("spread"))) SORT BY __ord)",
                                  extra: ["--merge-records", recordsPlaceholder(id)]), cache: true)
        create("clusters", "SELECT v[0] AS __id, v[1] AS __label, CAST(v[2] AS DOUBLE) AS __best FROM ("
            + transform("components", "array(v[1], v[2], v[3])", from: "(SELECT /*+ REPARTITION(1) */ v FROM \(view("pairs")) WHERE v[0] = 'e')") + ")", cache: true)
        let joined = "(SELECT * FROM (SELECT /*+ REPARTITION(\(partitions), __cluster) */ * FROM (SELECT k.__ord, k.v, coalesce(c.__label, k.v[0]) AS __cluster, c.__best "
            + "FROM \(view("keys")) k LEFT JOIN \(view("clusters")) c ON k.v[0] = c.__id)) SORT BY __ord)"
        create("golden", transform("golden", "concat(array(__cluster, CAST(__ord AS STRING), CAST(__best AS STRING)), slice(v, \(rules + 2), \(n)))", from: joined), cache: true)

        func typed(_ names: [String], _ types: [DataType?], from: Int) -> String {
            zip(names, types).enumerated().map { k, c in "CAST(v[\(from + k)] AS \(SparkStageRenderer.sqlType(c.1 ?? .string))) AS \(q(c.0))" }.joined(separator: ", ")
        }
        let golden = "SELECT \(typed(output.names, output.types, from: 2)) FROM \(view("golden")) WHERE v[0] = 'g' ORDER BY CAST(v[1] AS BIGINT)"
        let lineage = MergePartitioned.lineageSchema
        let lineageView = "SELECT \(typed(lineage.names, lineage.types, from: 2)) FROM \(view("golden")) WHERE v[0] = 'l' ORDER BY CAST(v[1] AS BIGINT)"
        let review = MergePartitioned.reviewSchema(stage)
        let reviewView = "SELECT \(typed(review.names, review.types, from: 1)) FROM \(view("pairs")) WHERE v[0] = 'r' ORDER BY weight DESC, id_a, id_b"
        let sideTables = [
            SparkPlan.SideTable(stage: id, suffix: "lineage", view: lineageView, schema: ExprSchema(names: lineage.names, types: lineage.types), personalFrom: nil),
            SparkPlan.SideTable(stage: id, suffix: "review", view: reviewView, schema: ExprSchema(names: review.names, types: review.types), personalFrom: 5),
        ]
        let counts = [
            "SELECT \(lit(id)) AS stage, 'pairs' AS kind, coalesce(sum(CAST(v[1] AS BIGINT)), 0) AS n FROM \(view("pairs")) WHERE v[0] = 'n'",
            "SELECT \(lit(id)) AS stage, 'partitions' AS kind, count(*) AS n FROM \(view("pairs")) WHERE v[0] = 'n'",
            "SELECT \(lit(id)) AS stage, 'edges' AS kind, count(*) AS n FROM \(view("clusters"))",
        ]
        return Plan(statements: statements, golden: golden, sideTables: sideTables, counts: counts)
    }

    /// Stand-ins the engine replaces once the keys view is computed: the number of partitions and of records.
    public static func partitionsPlaceholder(_ id: String) -> String { "__CRMFLOW_PARTITIONS_\(id.utf8.map { String($0, radix: 16) }.joined())__" }
    public static func recordsPlaceholder(_ id: String) -> String { "__CRMFLOW_RECORDS_\(id.utf8.map { String($0, radix: 16) }.joined())__" }

    /// Records per partition by default: a partition learns its model from its own pairs, so it should be large;
    /// 250,000 records keep a worker under about 1 GB.
    public static let defaultRecordsPerPartition = 250_000

    /// The partitions for `records` records: enough for `perPartition` records each, at least one.
    public static func partitions(records: Int, perPartition: Int) -> Int { max(1, (records + perPartition - 1) / max(1, perPartition)) }

    /// `statements` with the stand-ins of `id` replaced.
    public static func resolve(_ statements: [String], stage id: String, records: Int, perPartition: Int) -> [String] {
        let p = partitionsPlaceholder(id), r = recordsPlaceholder(id), n = String(partitions(records: records, perPartition: perPartition))
        return statements.map { $0.replacingOccurrences(of: p, with: n).replacingOccurrences(of: r, with: String(records)) }
    }
}
