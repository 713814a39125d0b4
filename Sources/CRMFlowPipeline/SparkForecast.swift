import CRMFlowCore
import CRMFlowStages

/// A series `forecast` on Spark: rows distributed by the forecast's groups (`REPARTITION(n, by…)`, one partition
/// without groups), each partition forecast by `crmflow worker --group-task` in the executors. Each output row carries
/// the input place of its group's first row and its place among the group's rows, so the rows come back in the local
/// run's order (groups by first appearance, then period); so do the notes.
enum SparkForecast {
    struct Plan {
        var statements: [String]
        var select: String
        var notes: String
    }

    static func plan(_ id: String, input: String, inputSchema: ExprSchema, output: ExprSchema, by: [String], command: SparkWorkerCommand) -> Plan {
        let q = SparkCompiler.quoteName, lit = SparkCompiler.literal
        let view = q(id + "__pass")
        let partitions = by.isEmpty ? "1" : SparkMerge.partitionsPlaceholder(id) + ", " + by.map(q).joined(separator: ", ")
        let texts = (["CAST(__ord AS STRING)"] + inputSchema.names.map { "CAST(\(q($0)) AS STRING)" }).joined(separator: ", ")
        let from = "(SELECT * FROM (SELECT /*+ REPARTITION(\(partitions)) */ * FROM (SELECT monotonically_increasing_id() AS __ord, * FROM \(q(input)))) SORT BY __ord)"
        let line = command.line(stage: id, schema: inputSchema, extra: ["--group-task"])
        let statements = [
            "CREATE OR REPLACE TEMPORARY VIEW \(view) AS\n"
                + "SELECT from_json(line, 'ARRAY<STRING>') AS v FROM (SELECT TRANSFORM(to_json(array(\(texts)))) USING \(lit(line)) AS (line STRING) FROM \(from))",
            "CACHE TABLE \(view)",
        ]
        let cols = zip(output.names, output.types).enumerated().map { k, c in "CAST(v[\(k + 2)] AS \(SparkStageRenderer.sqlType(c.1 ?? .string))) AS \(q(c.0))" }
        let select = "SELECT \(cols.joined(separator: ", ")) FROM \(view) WHERE NOT coalesce(substr(v[0], 1, 1) = \(lit(SparkWorker.markerStart)), false) "
            + "ORDER BY CAST(v[0] AS BIGINT), CAST(v[1] AS BIGINT)"
        let notes = "SELECT CAST(v[1] AS BIGINT) AS ord, v[2] AS note FROM \(view) WHERE v[0] = \(lit(SparkWorker.noteMarker))"
        return Plan(statements: statements, select: select, notes: notes)
    }
}
