import CRMFlowCore
import CRMFlowStages

/// A `clean` stage on Spark, in passes of `crmflow worker --clean-steps FROM:TO` (`CleanPartitioned`).
///
/// The steps before a `dedupe` run row by row over the input's partitions; the dedupe and the steps after it run over
/// the rows distributed by the dedupe keys, so rows with one key meet in one partition. Each row carries its place in
/// the input (`monotonically_increasing_id`, partition-major), and the stage's rows come back in that order, as in a
/// local run. Rejects, the change report (summed over partitions) and the dedupe lineage are further outputs.
enum SparkClean {
    struct Plan {
        var statements: [String]
        var select: String
        var rejects: String
        var changes: String
        var sideTables: [SparkPlan.SideTable]
    }

    static func plan(_ id: String, input: String, inputSchema: ExprSchema, output: ExprSchema, stage: CleanStage, check: SchemaCheck,
                     command: SparkWorkerCommand) -> Plan {
        let q = SparkCompiler.quoteName, lit = SparkCompiler.literal
        func view(_ suffix: String) -> String { q(id + "__" + suffix) }
        func typed(_ names: [String], _ types: [DataType?], from: Int) -> String {
            zip(names, types).enumerated().map { k, c in "CAST(v[\(from + k)] AS \(SparkStageRenderer.sqlType(c.1 ?? .string))) AS \(q(c.0))" }.joined(separator: ", ")
        }
        var statements: [String] = [], rejects: [String] = [], changes: [String] = [], sideTables: [SparkPlan.SideTable] = []
        let passes = CleanPartitioned.passes(stage)
        var schema = inputSchema
        var rows = "(SELECT monotonically_increasing_id() AS __ord, * FROM \(q(input)))"
        for (k, pass) in passes.enumerated() {
            let after = pass.steps.upperBound == stage.stepCount ? output
                : (CleanPartitioned.restricted(stage, to: 0..<pass.steps.upperBound).outputSchema([inputSchema], check) ?? output)
            var from = rows
            if pass.distributed {
                let keys = CleanPartitioned.dedupeColumns(stage, first: pass.steps.lowerBound, schema: schema).map(q).joined(separator: ", ")
                from = "(SELECT * FROM (SELECT /*+ REPARTITION(\(SparkMerge.partitionsPlaceholder(id)), \(keys)) */ * FROM \(rows)) SORT BY __ord)"
            }
            let texts = (["CAST(__ord AS STRING)"] + schema.names.map { "CAST(\(q($0)) AS STRING)" }).joined(separator: ", ")
            let line = command.line(stage: id, schema: schema, extra: ["--clean-steps", "\(pass.steps.lowerBound):\(pass.steps.upperBound)"])
            statements.append("CREATE OR REPLACE TEMPORARY VIEW \(view("pass\(k)")) AS\n"
                + "SELECT from_json(line, 'ARRAY<STRING>') AS v FROM (SELECT TRANSFORM(to_json(array(\(texts)))) USING \(lit(line)) AS (line STRING) FROM \(from))")
            statements.append("CACHE TABLE \(view("pass\(k)"))")
            statements.append("CREATE OR REPLACE TEMPORARY VIEW \(view("rows\(k)")) AS\n"
                + "SELECT CAST(v[0] AS BIGINT) AS __ord, \(typed(after.names, after.types, from: 1)) FROM \(view("pass\(k)")) WHERE NOT coalesce(substr(v[0], 1, 1) = \(lit("\u{1}")), false)")
            rejects.append("SELECT v[1] AS reason, v[2] AS record, v[3] AS code FROM \(view("pass\(k)")) WHERE v[0] = \(lit(SparkWorker.rejectMarker))")
            changes.append("SELECT \(k) AS pass, v[1] AS change FROM \(view("pass\(k)")) WHERE v[0] = \(lit(SparkWorker.changeMarker))")
            if pass.distributed {
                let names = ["source", "line", "id", "duplicate_of_source", "duplicate_of_line", "duplicate_of_id", "reason"]
                let types: [DataType?] = [.string, .integer, .string, .string, .integer, .string, .string]
                let lineage = "SELECT \(typed(names, types, from: 2)) FROM \(view("pass\(k)")) WHERE v[0] = \(lit(SparkWorker.lineageMarker)) ORDER BY CAST(v[1] AS BIGINT)"
                sideTables.append(SparkPlan.SideTable(stage: id, suffix: "lineage", view: lineage, schema: ExprSchema(names: names, types: types), personalFrom: nil))
            }
            rows = view("rows\(k)")
            schema = after
        }
        let select = "SELECT \(output.names.map(q).joined(separator: ", ")) FROM \(rows) ORDER BY __ord"
        return Plan(statements: statements, select: select, rejects: rejects.joined(separator: "\nUNION ALL\n"),
                    changes: changes.joined(separator: "\nUNION ALL\n"), sideTables: sideTables)
    }
}
