import CRMFlowCore
import CRMFlowIO
import CRMFlowStages
import Foundation

/// A pipeline compiled for Apache Spark: where each stage runs, and the Spark SQL that computes the stages Spark runs.
///
/// Placement: a stage runs on Spark when it compiles to a relational operator (`LogicalOp`) and every input runs on
/// Spark; every other stage runs in crmflow on the driver, as in a local run. `emit` always runs in crmflow, so output
/// files are written by crmflow's own writers, atomically. A Spark stage that a crmflow stage reads is materialised:
/// Spark writes it as CSV under the staging folder and crmflow reads it back with the types crmflow gives it.
///
/// Each Spark stage becomes a temporary view named after it; a CSV ingest becomes a raw view over the file (every
/// column text) plus a typed view and a rejects view: a row whose non-empty value does not convert to the column's
/// type goes to the rejects with the column and the value, as in a local run.
public struct SparkPlan: Sendable {
    public enum Placement: Sendable, Equatable {
        case spark
        /// On Spark, through crmflow's own code in each executor (`crmflow worker`, by SELECT TRANSFORM).
        case worker
        /// A dedupe merge on Spark: its blocking partitions through crmflow worker in the executors, then one pass
        /// joining the clusters' edges and one for the golden records (`SparkMerge`).
        case partitioned
        case crmflow(reason: String)

        public var isSpark: Bool {
            switch self {
            case .spark, .worker, .partitioned: return true
            case .crmflow: return false
            }
        }
    }

    /// A side file of a Spark stage (a merge's lineage and review) that Spark writes and crmflow publishes.
    public struct SideTable: Sendable {
        public var stage: String
        public var suffix: String
        public var view: String
        public var schema: ExprSchema
        public var personalFrom: Int?
    }

    /// One statement sent to Spark, in order.
    public struct Statement: Sendable {
        public var stage: String
        public var sql: String
        public init(stage: String, sql: String) {
            self.stage = stage
            self.sql = sql
        }
    }

    /// A stage Spark writes out for crmflow to read back.
    public struct Materialized: Sendable {
        public var stage: String
        public var folder: String
        public var schema: ExprSchema
    }

    public var placement: [String: Placement] = [:]
    /// Session settings, then the views, in topological order.
    public var statements: [Statement] = []
    /// The SELECT each Spark stage's view is (for the counts and the writes).
    public var views: [String: String] = [:]
    /// Ingest stages with a rejects view.
    public var rejectViews: [String: String] = [:]
    public var materialized: [Materialized] = []
    public var sideTables: [SideTable] = []
    /// Stages whose partitions are sized by their records (a merge per blocking partition, a clean with a dedupe):
    /// the view whose row count sizes them (`SparkMerge.resolve`).
    public var sizedBy: [String: String] = [:]
    /// Clean stages on Spark: each one's change report rows (pass, change as JSON), summed by the engine.
    public var changeViews: [String: String] = [:]
    /// Stages run in partitions by crmflow worker: their notes (ord, note), ordered and combined by the engine.
    public var noteViews: [String: String] = [:]
    /// Records per such partition (`--spark-partition-records`).
    public var recordsPerPartition = SparkMerge.defaultRecordsPerPartition
    /// Row counts per stage: one query over every Spark view, written to `countsFolder`.
    public var countsSQL: String = ""
    /// Each Spark stage's schema with crmflow's types.
    public var schemas: [String: ExprSchema] = [:]
    /// The raw header of each CSV scan (for the rejects' records).
    public var rawHeaders: [String: [String]] = [:]
    public var scanPaths: [String: String] = [:]
    public var staging: String

    /// The reason Spark gives a record with the wrong number of fields; crmflow words the real one.
    public static let raggedMarker = "\u{1}ragged"

    public var sparkStages: [String] { placement.filter { $0.value.isSpark }.map(\.key) }
    public func runsOnSpark(_ id: String) -> Bool { placement[id]?.isSpark ?? false }

    /// Settings every session gets: non-ANSI arithmetic and casts (null, not an error, where crmflow gives null),
    /// UTC, and the date parser that reads the patterns given.
    public static let sessionSettings = [
        "SET spark.sql.ansi.enabled=false",
        "SET spark.sql.caseSensitive=true",
        "SET spark.sql.session.timeZone=UTC",
        "SET spark.sql.legacy.timeParserPolicy=CORRECTED",
    ]
}

/// A problem compiling a pipeline for Spark, at the place in the pipeline file that causes it.
public struct SparkPlanError: Error, Sendable, CustomStringConvertible {
    public var location: SourceLocation
    public var message: String
    public var hint: String?
    /// The stage can run, but not as Spark SQL (a value SQL would turn into null where crmflow rejects the row).
    var needsCrmflow = false
    /// The stage being rendered.
    var stage: String?
    public var description: String { "\(location): \(message)" + (hint.map { " (\($0))" } ?? "") }
}

public enum SparkCompiler {
    /// Compiles `pipeline` for Spark. `staging` is an absolute folder Spark and crmflow both reach (results and
    /// counts are written there); `baseDirectory` resolves relative input paths.
    public static func compile(_ pipeline: Pipeline, staging: String, baseDirectory: String, environment: EvalEnvironment,
                               worker: SparkWorkerCommand? = nil) throws(SparkPlanError) -> SparkPlan {
        // A stage found not to be expressible faithfully in SQL while rendering moves to the worker (or crmflow), and
        // the placement is decided again.
        var overrides: [String: String] = [:]
        while true {
            do {
                return try compile(pipeline, staging: staging, baseDirectory: baseDirectory, environment: environment, worker: worker, overrides: overrides)
            } catch let e where e.needsCrmflow {
                guard let id = e.stage, overrides[id] == nil else { throw e }
                overrides[id] = "\(e.location): \(e.message)"
            }
        }
    }

    static func compile(_ pipeline: Pipeline, staging: String, baseDirectory: String, environment: EvalEnvironment,
                        worker: SparkWorkerCommand?, overrides: [String: String]) throws(SparkPlanError) -> SparkPlan {
        var plan = SparkPlan(staging: staging)
        plan.statements = SparkPlan.sessionSettings.map { SparkPlan.Statement(stage: "", sql: $0) }
        let log = DiagnosticLog()
        let check = SchemaCheck(log: log, environment: environment, baseDirectory: baseDirectory)
        plan.placement = placements(pipeline, worker: worker, overrides: overrides)
        var extraCounts: [String] = []
        for decl in pipeline.stages {
            guard let stage = decl.stage else { continue }
            let op = LogicalOp.of(stage)
            if plan.runsOnSpark(decl.id) {
                let inputs = decl.inputs.map { plan.schemas[$0] }
                var renderer = SparkStageRenderer(id: decl.id, location: decl.config.kindLocation, environment: environment)
                renderer.inputOrder = sortKeys(of: decl.inputs.first, in: pipeline)
                let select: String
                switch op {
                case .scan(let scan):
                    let (raw, typed, rejects, schema) = try renderer.scan(scan, baseDirectory: baseDirectory)
                    plan.statements.append(.init(stage: decl.id, sql: "CREATE OR REPLACE TEMPORARY VIEW \(quoteName(decl.id + "__raw")) (\(raw.columns)) USING csv OPTIONS (\(raw.options))"))
                    plan.rawHeaders[decl.id] = raw.header
                    plan.scanPaths[decl.id] = raw.path
                    plan.schemas[decl.id] = schema
                    plan.rejectViews[decl.id] = rejects
                    select = typed
                default:
                    let schemas = inputs.compactMap { $0 }
                    guard schemas.count == inputs.count else {
                        throw SparkPlanError(location: decl.config.kindLocation, message: "stage '\(decl.id)': an input's columns are not known")
                    }
                    // crmflow's own typing of the stage's output, from its inputs' types.
                    let known = stage.outputSchema(schemas, check)
                    guard let known else { throw SparkPlanError(location: decl.config.kindLocation, message: "stage '\(decl.id)': its columns are not known") }
                    plan.schemas[decl.id] = known
                    if plan.placement[decl.id] == .partitioned, let worker, let clean = stage as? CleanStage {
                        let c = SparkClean.plan(decl.id, input: decl.inputs[0], inputSchema: schemas[0], output: known, stage: clean, check: check, command: worker)
                        plan.statements += c.statements.map { .init(stage: decl.id, sql: $0) }
                        plan.rejectViews[decl.id] = c.rejects
                        plan.changeViews[decl.id] = c.changes
                        plan.sizedBy[decl.id] = quoteName(decl.inputs[0])
                        plan.sideTables += c.sideTables
                        select = c.select
                    } else if plan.placement[decl.id] == .partitioned, let worker, let forecast = stage as? ForecastStage, let by = forecast.partitionColumns {
                        let f = SparkForecast.plan(decl.id, input: decl.inputs[0], inputSchema: schemas[0], output: known, by: by, command: worker)
                        plan.statements += f.statements.map { .init(stage: decl.id, sql: $0) }
                        plan.noteViews[decl.id] = f.notes
                        if !by.isEmpty { plan.sizedBy[decl.id] = quoteName(decl.inputs[0]) }
                        select = f.select
                    } else if plan.placement[decl.id] == .partitioned, let worker, let merge = stage as? MergeStage {
                        let m = SparkMerge.plan(decl.id, input: decl.inputs[0], inputSchema: schemas[0], output: known, stage: merge, command: worker)
                        plan.statements += m.statements.map { .init(stage: decl.id, sql: $0) }
                        extraCounts += m.counts
                        plan.sideTables += m.sideTables
                        plan.sizedBy[decl.id] = quoteName(decl.id + "__keys")
                        select = m.golden
                    } else if plan.placement[decl.id] == .worker, let worker {
                        let w = SparkWorker.views(decl.id, input: decl.inputs[0], inputSchema: schemas[0], output: known, command: worker)
                        plan.statements.append(.init(stage: decl.id, sql: "CREATE OR REPLACE TEMPORARY VIEW \(quoteName(decl.id + "__worker")) AS\n" + w.worker))
                        // NB: cached, so the rows, the rejects and the counts come from one run of the workers.
                        plan.statements.append(.init(stage: decl.id, sql: "CACHE TABLE \(quoteName(decl.id + "__worker"))"))
                        plan.rejectViews[decl.id] = w.rejects
                        plan.noteViews[decl.id] = "SELECT 0 AS ord, v[1] AS note FROM \(quoteName(decl.id + "__worker")) WHERE v[0] = \(literal(SparkWorker.noteMarker))"
                        select = w.rows
                    } else {
                        do {
                            select = try renderer.render(op, inputs: decl.inputs, schemas: schemas)
                        } catch {
                            var e = error
                            e.stage = decl.id
                            throw e
                        }
                    }
                }
                if let problem = log.all.first {
                    throw SparkPlanError(location: problem.location ?? decl.config.kindLocation, message: problem.message, hint: problem.hint)
                }
                if case .join(let keys, "inner", _) = op {
                    // Left rows without a match, for the accounting (an inner join drops them).
                    let on = keys.map { "l.\(quoteName($0.left)) = r.\(quoteName($0.right))" }.joined(separator: " AND ")
                    extraCounts.append("SELECT \(literal(decl.id)) AS stage, 'unmatched' AS kind, count(*) AS n FROM \(quoteName(decl.inputs[0])) l LEFT ANTI JOIN \(quoteName(decl.inputs[1])) r ON \(on)")
                }
                plan.views[decl.id] = select
                plan.statements.append(.init(stage: decl.id, sql: "CREATE OR REPLACE TEMPORARY VIEW \(quoteName(decl.id)) AS\n" + select))
                if let r = plan.rejectViews[decl.id] {
                    plan.statements.append(.init(stage: decl.id, sql: "CREATE OR REPLACE TEMPORARY VIEW \(quoteName(decl.id + "__rejects")) AS\n" + r))
                }
            }
        }
        // Spark stages a crmflow stage reads are written out for it.
        for decl in pipeline.stages where !plan.runsOnSpark(decl.id) {
            for i in decl.inputs where plan.runsOnSpark(i) && !plan.materialized.contains(where: { $0.stage == i }) {
                plan.materialized.append(.init(stage: i, folder: staging + "/" + i, schema: plan.schemas[i]!))
            }
        }
        // Counts only where the rows out follow from nothing else: a materialised stage's are the rows read back, a
        // select's, sort's or SQL derive's are its input's, a union's the sum of its inputs', and rejects are read back.
        let counted = pipeline.stages.filter { d in
            guard plan.runsOnSpark(d.id), !plan.materialized.contains(where: { $0.stage == d.id }) else { return false }
            return !rowsFollowInput(d, plan)
        }.map(\.id)
        var parts = counted.map { "SELECT \(literal($0)) AS stage, 'rows' AS kind, count(*) AS n FROM \(quoteName($0))" }
        parts += extraCounts
        plan.countsSQL = parts.joined(separator: "\nUNION ALL\n")
        // NB: a Spark view is computed again by every query that reads it; one read more than once (by other views, a
        // write, the rejects or the counts) is cached on first use, so the file is parsed and each step computed once.
        var reads: [String: Int] = [:]
        for d in pipeline.stages where plan.runsOnSpark(d.id) { for i in d.inputs { reads[i, default: 0] += 1 } }
        for m in plan.materialized { reads[m.stage, default: 0] += 1 }
        for id in counted { reads[id, default: 0] += 1 }
        for id in plan.rejectViews.keys { reads[id, default: 0] += 1 }
        for d in pipeline.stages where plan.runsOnSpark(d.id) && (reads[d.id] ?? 0) >= 2 && plan.placement[d.id] != .worker {
            plan.statements.append(.init(stage: d.id, sql: "CACHE LAZY TABLE \(quoteName(d.id))"))
        }
        return plan
    }

    /// A Spark stage whose rows out are its input's rows (less its rejects), or the sum of its inputs' (a union).
    public static func rowsFollowInput(_ d: StageDeclaration, _ plan: SparkPlan) -> Bool {
        guard plan.placement[d.id] == .spark, let stage = d.stage else { return false }
        switch LogicalOp.of(stage) {
        case .project, .derive, .sort, .union: return true
        default: return false
        }
    }

    /// Where each stage runs. A stage runs on Spark when it compiles to a relational operator and every input runs
    /// there. Then, until nothing changes, a Spark stage that only crmflow stages read moves to crmflow (unless it
    /// aggregates, which shrinks what crosses over): reading a file on Spark only to hand every row to crmflow costs a
    /// write and a read, and the rows would lose their file lines (rejects downstream name them).
    static func placements(_ pipeline: Pipeline, worker: SparkWorkerCommand?, overrides: [String: String] = [:]) -> [String: SparkPlan.Placement] {
        var placement: [String: SparkPlan.Placement] = [:]
        for decl in pipeline.stages {
            guard let stage = decl.stage else { placement[decl.id] = .crmflow(reason: "not built"); continue }
            if let why = overrides[decl.id] {
                let inputsOnSpark = decl.inputs.allSatisfy { placement[$0]?.isSpark ?? false }
                placement[decl.id] = worker != nil && inputsOnSpark && SparkWorker.runsRowByRow(LogicalOp.of(stage)) ? .worker : .crmflow(reason: why)
                continue
            }
            if let clean = stage as? CleanStage, worker != nil, decl.inputs.allSatisfy({ placement[$0]?.isSpark ?? false }) {
                // A clean stage runs on Spark in passes of crmflow's own code (SparkClean).
                placement[decl.id] = CleanPartitioned.problem(clean).map { .crmflow(reason: "clean on Spark: \($0)") } ?? .partitioned
                continue
            }
            if worker != nil, decl.inputs.allSatisfy({ placement[$0]?.isSpark ?? false }) {
                // Forecasts per group in partitions of rows distributed by the groups; points and rotting scores row by row.
                if let forecast = stage as? ForecastStage {
                    placement[decl.id] = forecast.partitionColumns == nil ? .crmflow(reason: "a pipeline forecast adds quotas per period over all deals") : .partitioned
                    continue
                }
                if let score = stage as? ScoreStage, score.scoresRowByRow {
                    placement[decl.id] = .worker
                    continue
                }
            }
            if let merge = stage as? MergeStage, worker != nil, decl.inputs.allSatisfy({ placement[$0]?.isSpark ?? false }) {
                // A dedupe merge runs on Spark per blocking partition, in crmflow's own code (SparkMerge).
                placement[decl.id] = MergePartitioned.problem(merge).map { .crmflow(reason: "merge per blocking partition: \($0)") } ?? .partitioned
                continue
            }
            switch LogicalOp.of(stage) {
            case .swift(let reason): placement[decl.id] = .crmflow(reason: reason)
            case .write: placement[decl.id] = .crmflow(reason: "outputs are written by crmflow")
            case .aggregate(_, _, true): placement[decl.id] = .crmflow(reason: "fill (missing periods) is crmflow's own code")
            case let op:
                if let i = decl.inputs.first(where: { !(placement[$0]?.isSpark ?? false) }) {
                    placement[decl.id] = .crmflow(reason: "reads '\(i)', which runs in crmflow")
                } else if let (expr, span, name) = SparkExpressionRenderer.unsupported(in: op, ordered: sortKeys(of: decl.inputs.first, in: pipeline) != nil) {
                    // Row by row, crmflow's own code runs inside Spark's executors (SELECT TRANSFORM).
                    if worker != nil, SparkWorker.runsRowByRow(op) {
                        placement[decl.id] = .worker
                    } else {
                        placement[decl.id] = .crmflow(reason: "\(expr.location(of: span)): \(name)() has no equivalent in Spark SQL")
                    }
                } else if let i = decl.inputs.first(where: { !(placement[$0]?.isSpark ?? false) }) {
                    placement[decl.id] = .crmflow(reason: "reads '\(i)', which runs in crmflow")
                } else {
                    placement[decl.id] = .spark
                }
            }
        }
        var changed = true
        while changed {
            changed = false
            for decl in pipeline.stages.reversed() where placement[decl.id] == .spark || placement[decl.id] == .worker {
                if case .aggregate? = decl.stage.map(LogicalOp.of) { continue }
                let readers = pipeline.consumers(of: decl.id)
                if !readers.isEmpty, readers.allSatisfy({ !(placement[$0]?.isSpark ?? false) }) {
                    placement[decl.id] = .crmflow(reason: "only stages that run in crmflow read it")
                    changed = true
                }
            }
        }
        return placement
    }

    /// The keys of `id` when it is a sort stage.
    static func sortKeys(of id: String?, in pipeline: Pipeline) -> [(column: String, descending: Bool, nullsFirst: Bool)]? {
        guard let id, let stage = pipeline.stage(id)?.stage, case .sort(let keys) = LogicalOp.of(stage) else { return nil }
        return keys
    }

    /// The statement that writes `select` as CSV files (no header; crmflow knows the columns) into `folder`.
    public static func write(_ select: String, to folder: String) -> String {
        "INSERT OVERWRITE DIRECTORY \(literal(folder)) USING csv OPTIONS (header 'false', escape '\"', escapeQuotes 'true', quoteAll 'false', nullValue '', emptyValue '\"\"', "
            + "dateFormat 'yyyy-MM-dd', timestampFormat \"yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'\", lineSep '\\n')\n" + select
    }

    /// The plan as text: where each stage runs, then the SQL.
    public static func text(_ plan: SparkPlan, pipeline: Pipeline) -> String {
        var out = "-- pipeline '\(pipeline.name)' on Spark\n"
        for decl in pipeline.stages {
            switch plan.placement[decl.id] {
            case .spark: out += "-- \(decl.id) (\(decl.kind)): Spark\n"
            case .worker: out += "-- \(decl.id) (\(decl.kind)): Spark, through crmflow worker in the executors\n"
            case .partitioned where decl.kind == "forecast":
                out += "-- \(decl.id) (\(decl.kind)): Spark, through crmflow worker in the executors (rows distributed by the forecast's groups)\n"
            case .partitioned where decl.kind == "clean":
                out += "-- \(decl.id) (\(decl.kind)): Spark, through crmflow worker in the executors (a dedupe and the steps after it over rows distributed by its keys)\n"
            case .partitioned: out += "-- \(decl.id) (\(decl.kind)): Spark, merged per blocking partition by crmflow worker in the executors, then the partitions' cluster edges joined\n"
            case .crmflow(let why): out += "-- \(decl.id) (\(decl.kind)): crmflow — \(why)\n"
            case nil: out += "-- \(decl.id) (\(decl.kind)): not built\n"
            }
        }
        for s in plan.statements { out += "\n" + s.sql + ";\n" }
        for m in plan.materialized { out += "\n" + write("SELECT * FROM \(quoteName(m.stage))", to: m.folder) + ";\n" }
        for (stage, _) in plan.rejectViews.sorted(by: { $0.key < $1.key }) {
            out += "\n" + write("SELECT * FROM \(quoteName(stage + "__rejects"))", to: plan.staging + "/" + stage + ".rejects") + ";\n"
        }
        if !plan.countsSQL.isEmpty { out += "\n" + write(plan.countsSQL, to: plan.staging + "/_counts") + ";\n" }
        return out
    }

    public static func quoteName(_ n: String) -> String { "`" + n.replacingOccurrences(of: "`", with: "``") + "`" }

    /// A Spark SQL string literal (backslashes are escapes in Spark's default dialect).
    public static func literal(_ s: String) -> String {
        "'" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
    }
}

/// Renders one stage's operator and expressions as Spark SQL.
struct SparkStageRenderer {
    let id: String
    let location: SourceLocation
    let environment: EvalEnvironment
    /// The sort keys of the input, when the input is a sort stage (first() and last() follow its order).
    var inputOrder: [(column: String, descending: Bool, nullsFirst: Bool)]?

    init(id: String, location: SourceLocation, environment: EvalEnvironment) {
        self.id = id
        self.location = location
        self.environment = environment
    }

    func q(_ n: String) -> String { SparkCompiler.quoteName(n) }
    func lit(_ s: String) -> String { SparkCompiler.literal(s) }

    static func sqlType(_ t: DataType) -> String {
        switch t {
        case .string: return "STRING"
        case .integer: return "BIGINT"
        case .double: return "DOUBLE"
        case .boolean: return "BOOLEAN"
        case .date: return "DATE"
        case .timestamp: return "TIMESTAMP"
        case .money: return "DECIMAL(18,2)"
        }
    }

    // MARK: - Scans

    struct RawScan {
        var columns: String
        var options: String
        var header: [String]
        var path: String
    }

    /// The raw view's options, the typed SELECT, the rejects SELECT and the typed schema.
    mutating func scan(_ scan: LogicalScan, baseDirectory: String) throws(SparkPlanError) -> (RawScan, String, String, ExprSchema) {
        let full = scan.path.hasPrefix("/") ? scan.path : (baseDirectory as NSString).appendingPathComponent(scan.path)
        let file: CSVFile
        let inferred: [InferenceResult]
        do {
            file = try CSVFile.open(full, options: scan.options)
            let missing = scan.missingDeclared(raw: file.columnNames)
            if let (name, loc) = missing.first {
                throw SparkPlanError(location: loc, message: "declared column '\(name)' is not in the header of '\(scan.path)'")
            }
            var o = scan.options
            o.declared = scan.declaredPlans(raw: file.columnNames)
            // Types from the first 4 MiB, as a streaming local read decides them: a later value that does not fit is
            // a reject with its reason.
            inferred = try CSVFile.open(full, options: o).inferColumns(sampleBytes: 4 << 20)
        } catch let e as SparkPlanError {
            throw e
        } catch {
            throw SparkPlanError(location: location, message: "cannot read '\(scan.path)': \(error)")
        }
        let raw = file.columnNames
        let finals = scan.finalNames(raw: raw)
        let d = file.dialect
        // NB: the raw view reads every column as text under positional names, so headers Spark would rename
        // (duplicates, dots) cannot change what a column means.
        // A record with too few or too many fields lands whole in `__corrupt` (Spark's PERMISSIVE mode); crmflow
        // counts its fields and words the reason (`ragged: pad` keeps it, padded, as a local read does).
        let ragged = scan.options.ragged == .reject
        let schema = (raw.indices.map { "`c\($0)` STRING" } + ["`__corrupt` STRING"]).joined(separator: ", ")
        var options = [
            "path \(lit(full))", "header '\(d.hasHeader ? "true" : "false")'", "inferSchema 'false'", "multiLine 'true'",
            "sep \(lit(String(UnicodeScalar(d.delimiter))))", "quote \(lit(String(UnicodeScalar(d.quote))))", "escape \(lit(String(UnicodeScalar(d.quote))))",
            "mode 'PERMISSIVE'", "columnNameOfCorruptRecord '__corrupt'", "ignoreLeadingWhiteSpace 'false'", "ignoreTrailingWhiteSpace 'false'", "nullValue ''", "emptyValue ''",
        ]
        if d.hasBOM { options.append("encoding 'UTF-8'") }
        var typed: [String] = []
        var failures: [String] = []
        var types: [DataType?] = []
        for (i, result) in inferred.enumerated() where i < raw.count {
            let col = "`c\(i)`"
            let (expr, type) = convert(col, result.plan)
            typed.append("\(expr) AS \(q(finals[i]))")
            types.append(type)
            if type != .string {
                let what = result.plan.format.map { "\(type.rawValue) in format \($0)" } ?? type.rawValue
                failures.append("WHEN \(col) IS NOT NULL AND trim(\(col)) <> '' AND \(expr) IS NULL THEN concat(\(lit("column '\(raw[i])': '")), \(col), \(lit("' is not a valid \(what)")))")
            }
        }
        // NB: the first branch also reads `c0`: Spark refuses a query whose only column read is the corrupt-record
        // column (a count of an all-text file's rejects would be one).
        if ragged, !raw.isEmpty {
            failures.insert("WHEN `__corrupt` IS NOT NULL AND `c0` IS NULL THEN \(lit(SparkPlan.raggedMarker)) WHEN `__corrupt` IS NOT NULL THEN \(lit(SparkPlan.raggedMarker))", at: 0)
        }
        let reason = failures.isEmpty ? "CAST(NULL AS STRING)" : "CASE " + failures.joined(separator: " ") + " END"
        let record = "to_csv(struct(" + raw.indices.map { "`c\($0)`" }.joined(separator: ", ") + "))"
        let from = "FROM \(q(id + "__raw"))"
        let checked = "SELECT *, \(reason) AS `__reason` \(from)"
        let typedSelect = "SELECT " + typed.joined(separator: ", ") + " FROM (\(checked)) WHERE `__reason` IS NULL"
        let rejects = "SELECT `__reason` AS reason, CASE WHEN `__corrupt` IS NOT NULL THEN `__corrupt` ELSE \(record) END AS record, 'E_TYPE' AS code FROM (\(checked)) WHERE `__reason` IS NOT NULL"
        return (RawScan(columns: schema, options: options.joined(separator: ", "), header: raw, path: full), typedSelect, rejects, ExprSchema(names: finals, types: types))
    }

    /// The SQL that converts a text column to a column plan's type, null where the text does not convert.
    func convert(_ col: String, _ plan: ColumnPlan) -> (String, DataType) {
        let t = "nullif(trim(\(col)), '')"
        switch plan.type {
        case .string: return (col, .string)
        case .integer:
            return ("CASE WHEN \(t) RLIKE '^[+-]?[0-9]+$' THEN CAST(\(t) AS BIGINT) END", .integer)
        case .double:
            return ("CASE WHEN \(t) RLIKE '^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$' THEN CAST(\(t) AS DOUBLE) END", .double)
        case .boolean:
            return ("CASE WHEN lower(\(t)) IN ('true', 't', 'yes', 'y', '1') THEN true WHEN lower(\(t)) IN ('false', 'f', 'no', 'n', '0') THEN false END", .boolean)
        case .money:
            // Plain amounts, with a currency sign or code and thousands separators: 1234.5, $1,234.50, 1234.50 USD.
            let stripped = "regexp_replace(\(t), '^[A-Z]{3} *|^[$€£¥] *| *[A-Z]{3}$| *[$€£¥]$|,', '')"
            return ("CASE WHEN \(stripped) RLIKE '^[+-]?[0-9]+([.][0-9]{1,2})?$' THEN CAST(\(stripped) AS DECIMAL(18,2)) END", .money)
        case .date:
            let fmt = plan.format.map { Self.javaPattern($0, parsing: true) } ?? "yyyy-M-d"
            return ("to_date(\(t), \(lit(fmt)))", .date)
        case .timestamp:
            if let f = plan.format { return ("to_timestamp(\(t), \(lit(Self.javaPattern(f, parsing: true))))", .timestamp) }
            return ("CAST(\(t) AS TIMESTAMP)", .timestamp)
        }
    }

    /// A strftime-like format (`%d/%m/%Y`) as a Java DateTimeFormatter pattern (single letters parse one or two digits).
    static func javaPattern(_ f: String, parsing: Bool) -> String {
        var out = ""
        var literal = ""
        func flush() {
            if literal.isEmpty { return }
            out += "'" + literal.replacingOccurrences(of: "'", with: "''") + "'"
            literal = ""
        }
        var chars = Array(f)[...]
        while let c = chars.popFirst() {
            guard c == "%", let n = chars.popFirst() else {
                if c.isLetter || c == "'" { literal.append(c) } else { flush(); out.append(c) }
                continue
            }
            let code: String?
            switch n {
            case "Y": code = "yyyy"
            case "y": code = "yy"
            case "m": code = parsing ? "M" : "MM"
            case "d": code = parsing ? "d" : "dd"
            case "e": code = "d"
            case "H": code = parsing ? "H" : "HH"
            case "M": code = "mm"
            case "S": code = "ss"
            case "b": code = "MMM"
            case "B": code = "MMMM"
            case "a": code = "EEE"
            case "A": code = "EEEE"
            case "j": code = "DDD"
            case "q": code = "Q"
            case "%": code = nil; literal.append("%")
            default: code = nil; literal.append(n)
            }
            if let code { flush(); out += code }
        }
        flush()
        return out
    }

    // MARK: - Operators

    mutating func render(_ op: LogicalOp, inputs: [String], schemas: [ExprSchema]) throws(SparkPlanError) -> String {
        let from = inputs.first.map { "FROM \(q($0))" } ?? ""
        let schema = schemas.first ?? ExprSchema(names: [], types: [])
        switch op {
        case .project(let keep, let drop, let rename):
            var names = keep ?? schema.names
            names.removeAll { drop.contains($0) }
            let cols = names.map { n in
                let to = rename.first { $0.from == n }?.to ?? n
                return to == n ? q(n) : "\(q(n)) AS \(q(to))"
            }
            return "SELECT " + cols.joined(separator: ", ") + " " + from
        case .derive(let columns):
            // Columns that read a column derived before them in the same stage start a new level.
            var current = schema
            var sql = "SELECT * " + from
            var level: [(String, String)] = []
            var derivedHere = Set<String>()
            func close(_ sql: String, _ level: [(String, String)], _ names: [String]) -> String {
                let replaced = Dictionary(level, uniquingKeysWith: { $1 })
                let cols = names.map { n in replaced[n].map { "\($0) AS \(q(n))" } ?? q(n) }
                return "SELECT " + cols.joined(separator: ", ") + " FROM (\(sql))"
            }
            var levelNames = current.names
            for c in columns {
                let refs = Set(c.expr.node.referencedColumns)
                if !refs.isDisjoint(with: derivedHere) || derivedHere.contains(c.name) {
                    sql = close(sql, level, levelNames)
                    level = []
                    derivedHere = []
                }
                let (text, type) = try expression(c.expr, current)
                level.append((c.name, text))
                derivedHere.insert(c.name)
                if let i = current.index(of: c.name) { current.types[i] = type } else {
                    current.names.append(c.name)
                    current.types.append(type)
                }
                levelNames = current.names
            }
            return close(sql, level, levelNames)
        case .filter(let condition):
            let (text, _) = try expression(condition, schema)
            return "SELECT * \(from) WHERE coalesce(\(text), false)"
        case .join(let keys, let type, let suffix):
            let left = schemas[0], right = schemas[1]
            var names = left.names
            var cols = left.names.map { "l.\(q($0))" }
            if type != "anti" {
                for n in right.names {
                    if keys.contains(where: { $0.left == n && $0.right == n }) { continue }
                    var name = n
                    while names.contains(name) { name += suffix }
                    names.append(name)
                    cols.append(name == n ? "r.\(q(n))" : "r.\(q(n)) AS \(q(name))")
                }
            }
            let on = keys.map { "l.\(q($0.left)) = r.\(q($0.right))" }.joined(separator: " AND ")
            let how = type == "anti" ? "LEFT ANTI JOIN" : type == "left" ? "LEFT OUTER JOIN" : "INNER JOIN"
            return "SELECT " + cols.joined(separator: ", ") + " FROM \(q(inputs[0])) l \(how) \(q(inputs[1])) r ON \(on)"
        case .aggregate(let groupBy, let aggregates, _):
            var cols = groupBy.map { q($0) }
            var windows: [String] = []
            // first(x) / last(x) of a sorted input: the first (last) non-null x in the sort's order within the group,
            // as a window over the group; the aggregate then takes that one value.
            let over = inputOrder.map { keys in
                let by = keys.map { "\(q($0.column)) \($0.descending ? "DESC" : "ASC") NULLS \($0.nullsFirst ? "FIRST" : "LAST")" }.joined(separator: ", ")
                return "OVER (" + (groupBy.isEmpty ? "" : "PARTITION BY " + groupBy.map { q($0) }.joined(separator: ", ") + " ")
                    + "ORDER BY \(by) ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)"
            }
            for a in aggregates {
                let (text, _) = try expression(a.expr, schema, aggregate: true, window: over, windows: &windows)
                cols.append("\(text) AS \(q(a.name))")
            }
            let group = groupBy.isEmpty ? "" : " GROUP BY " + groupBy.map { q($0) }.joined(separator: ", ")
            let source = windows.isEmpty ? from : "FROM (SELECT *, " + windows.joined(separator: ", ") + " \(from))"
            return "SELECT " + cols.joined(separator: ", ") + " " + source + group
        case .union(let sourceColumn):
            var names: [String] = []
            for s in schemas { for n in s.names where !names.contains(n) { names.append(n) } }
            var types: [String: DataType?] = [:]
            for s in schemas { for (n, t) in zip(s.names, s.types) { types[n] = UnionStage.widened(types[n] ?? nil, t) } }
            let parts = zip(inputs, schemas).map { input, s in
                var cols = names.map { n -> String in
                    let t = types[n] ?? nil
                    guard s.names.contains(n) else { return "CAST(NULL AS \(t.map(Self.sqlType) ?? "STRING")) AS \(q(n))" }
                    let own = s.types[s.index(of: n)!]
                    if let t, own != t { return "CAST(\(q(n)) AS \(Self.sqlType(t))) AS \(q(n))" }
                    return q(n)
                }
                if let sourceColumn { cols.append("\(lit(input)) AS \(q(sourceColumn))") }
                return "SELECT " + cols.joined(separator: ", ") + " FROM \(q(input))"
            }
            return parts.joined(separator: "\nUNION ALL\n")
        case .sort(let keys):
            let by = keys.map { "\(q($0.column)) \($0.descending ? "DESC" : "ASC") NULLS \($0.nullsFirst ? "FIRST" : "LAST")" }
            return "SELECT * \(from) ORDER BY " + by.joined(separator: ", ")
        case .limit(let rows, let offset):
            return "SELECT * \(from) LIMIT \(rows)" + (offset > 0 ? " OFFSET \(offset)" : "")
        case .scan, .write, .swift:
            throw SparkPlanError(location: location, message: "stage '\(id)' does not run on Spark")
        }
    }

    // MARK: - Expressions

    func expression(_ e: ExprText, _ schema: ExprSchema, aggregate: Bool = false) throws(SparkPlanError) -> (String, DataType?) {
        var none: [String] = []
        return try expression(e, schema, aggregate: aggregate, window: nil, windows: &none)
    }

    func expression(_ e: ExprText, _ schema: ExprSchema, aggregate: Bool, window: String?, windows: inout [String]) throws(SparkPlanError) -> (String, DataType?) {
        var r = SparkExpressionRenderer(text: e, schema: schema, environment: environment, aggregate: aggregate)
        r.window = window
        r.windowBase = windows.count
        do {
            let (sql, type) = try r.render(e.node)
            windows += r.windows
            return (sql, type)
        } catch let problem as SparkExpressionProblem {
            throw SparkPlanError(location: e.location(of: problem.span), message: problem.message, hint: problem.hint, needsCrmflow: problem.needsCrmflow)
        } catch {
            throw SparkPlanError(location: e.location, message: "\(error)")
        }
    }
}

struct SparkExpressionProblem: Error {
    var span: ExprSpan
    var message: String
    var hint: String?
    var needsCrmflow = false
}

/// Renders the expression language as Spark SQL, function by function; a function Spark has no faithful equivalent
/// for is an error at its place in the pipeline file.
struct SparkExpressionRenderer {
    let text: ExprText
    let schema: ExprSchema
    let environment: EvalEnvironment
    let aggregate: Bool
    /// The window (OVER ...) first() and last() are taken over, when the input has an order; the window columns made.
    var window: String?
    var windowBase = 0
    var windows: [String] = []

    init(text: ExprText, schema: ExprSchema, environment: EvalEnvironment, aggregate: Bool) {
        self.text = text
        self.schema = schema
        self.environment = environment
        self.aggregate = aggregate
    }

    func lit(_ s: String) -> String { SparkCompiler.literal(s) }

    /// Functions that map one to one onto a Spark function of another (or the same) name.
    static let direct: [String: String] = [
        "lower": "lower", "upper": "upper", "length": "char_length", "abs": "abs", "sqrt": "sqrt", "exp": "exp",
        "coalesce": "coalesce", "nullif": "nullif", "greatest": "greatest", "least": "least", "year": "year", "month": "month",
        "quarter": "quarter", "week": "weekofyear", "starts_with": "startswith", "ends_with": "endswith", "contains": "contains",
        "soundex": "soundex", "if": "if", "concat_ws": "concat_ws",
    ]

    /// Functions with a rendering below (besides `direct`).
    static let rendered: Set<String> = [
        "trim", "initcap", "ln", "pow", "round", "floor", "ceil", "replace", "substr", "split_part", "regexp_matches", "regexp_replace",
        "date", "parse_date", "parse_timestamp", "strftime", "format_date", "today", "date_add", "days_between", "months_between",
        "day_of_week", "date_trunc", "levenshtein", "count", "count_if", "count_distinct", "sum", "min", "max", "avg", "median",
        "percentile", "stddev", "nps", "csat", "first", "last",
    ]

    /// The first call in the operator's expressions that has no Spark rendering: the expression, the call's span, its name.
    static func unsupported(in op: LogicalOp, ordered: Bool = false) -> (ExprText, ExprSpan, String)? {
        var exprs: [ExprText] = []
        switch op {
        case .derive(let columns): exprs = columns.map(\.expr)
        case .filter(let e): exprs = [e]
        case .aggregate(_, let aggregates, _): exprs = aggregates.map(\.expr)
        default: return nil
        }
        for e in exprs {
            var found: (ExprSpan, String)?
            e.node.visit { n in
                guard found == nil, case .call(let name, _, let span) = n else { return }
                let known = direct[name] != nil || rendered.contains(name) || name.hasPrefix("try_cast_")
                if ordered, name == "first" || name == "last" { return }
                if unsupported.contains(name) || !known { found = (span, name) }
            }
            if let (span, name) = found { return (e, span, name) }
        }
        return nil
    }

    /// Functions crmflow has and Spark SQL does not express the same way.
    static let unsupported: Set<String> = [
        "jaro_winkler", "damerau_levenshtein", "double_metaphone", "double_metaphone_alt", "double_metaphone_match", "nysiis",
        "nickname_match", "qgram_jaccard", "token_set_ratio", "token_sort_ratio", "initials", "currency",
    ]

    func problem(_ node: ExprNode, _ message: String, hint: String? = nil) -> SparkExpressionProblem {
        SparkExpressionProblem(span: node.span, message: message, hint: hint)
    }

    /// crmflow's type of a subtree without aggregates (nil when not known).
    func scalarType(_ node: ExprNode) -> DataType? {
        (try? ExprCompiler.check(node, text: text.text, schema: schema))?.type
    }

    func containsAggregate(_ node: ExprNode) -> Bool {
        var found = false
        node.visit { if case .call(let n, _, _) = $0, AggregateCatalog.names.contains(n) || n == "count_if" { found = true } }
        return found
    }

    mutating func render(_ node: ExprNode) throws -> (String, DataType?) {
        let type = containsAggregate(node) ? nil : scalarType(node)
        switch node {
        case .literal(let v, _):
            return (literal(v), type ?? v.dataType)
        case .column(let n, _):
            return (SparkCompiler.quoteName(n), type)
        case .star:
            return ("*", nil)
        case .negate(let a, _):
            let (s, t) = try render(a)
            return ("(-\(s))", type ?? t)
        case .not(let a, _):
            return ("(NOT \(try render(a).0))", .boolean)
        case .binary(let op, let a, let b, _):
            let (l, lt) = try render(a)
            let (r, rt) = try render(b)
            switch op {
            case .and: return ("(\(l) AND \(r))", .boolean)
            case .or: return ("(\(l) OR \(r))", .boolean)
            case .concat: return ("(\(stringOf(l, lt)) || \(stringOf(r, rt)))", .string)
            case .equal, .notEqual, .less, .lessEqual, .greater, .greaterEqual:
                let sqlOp = op == .notEqual ? "<>" : op.rawValue
                return ("(\(l) \(sqlOp) \(r))", .boolean)
            case .add, .subtract, .multiply, .divide, .remainder:
                return arithmetic(op, l, lt, r, rt, resultType: type)
            }
        case .call(let name, let args, _):
            return try call(name, args, node, type)
        case .inList(let a, let list, let negated, _):
            let items = try list.map { try render($0).0 }
            return ("(\(try render(a).0) \(negated ? "NOT " : "")IN (\(items.joined(separator: ", "))))", .boolean)
        case .between(let a, let lo, let hi, let negated, _):
            return ("(\(try render(a).0) \(negated ? "NOT " : "")BETWEEN \(try render(lo).0) AND \(try render(hi).0))", .boolean)
        case .isNull(let a, let negated, _):
            return ("(\(try render(a).0) IS \(negated ? "NOT " : "")NULL)", .boolean)
        case .like(let a, let p, let negated, _):
            // NB: crmflow's LIKE has no escape character; Spark's default one is the backslash.
            return ("(\(try render(a).0) \(negated ? "NOT " : "")LIKE \(try render(p).0) ESCAPE '\u{1}')", .boolean)
        case .caseWhen(let whens, let thens, let otherwise, _):
            var out = "CASE"
            var t: DataType? = type
            for (w, th) in zip(whens, thens) {
                let (ts, tt) = try render(th)
                out += " WHEN \(try render(w).0) THEN \(ts)"
                if t == nil { t = tt }
            }
            if let otherwise { out += " ELSE \(try render(otherwise).0)" }
            return (out + " END", t)
        case .cast(let a, let to, _):
            let (s, t) = try render(a)
            if to != .string, t == .string || t == nil {
                // crmflow rejects a row whose text does not convert; Spark's CAST would give null.
                throw SparkExpressionProblem(span: node.span, message: "cast of text to \(to.rawValue) rejects rows whose text does not convert, which Spark SQL cannot",
                                             needsCrmflow: true)
            }
            return (cast(s, from: t, to: to), to)
        }
    }

    func literal(_ v: Value) -> String {
        switch v {
        case .null: return "NULL"
        case .string(let s): return lit(s)
        case .integer(let i): return Int32(exactly: i) != nil ? "\(i)" : "\(i)L"
        case .double(let d): return "CAST(\(lit(String(d))) AS DOUBLE)"
        case .boolean(let b): return b ? "true" : "false"
        case .date: return "DATE \(lit(v.description))"
        case .timestamp: return "TIMESTAMP \(lit(v.description))"
        case .money(let m, _): return "CAST(\(m) AS DECIMAL(18,0)) / 100"
        }
    }

    func stringOf(_ s: String, _ t: DataType?) -> String {
        switch t {
        case .string?, nil: return s
        case .date?: return "date_format(\(s), 'yyyy-MM-dd')"
        default: return "CAST(\(s) AS STRING)"
        }
    }

    func cast(_ s: String, from: DataType?, to: DataType) -> String {
        switch (from, to) {
        case (.money?, .integer): return "CAST(CAST(\(s) * 100 AS BIGINT) DIV 100 AS BIGINT)"
        // crmflow: the amount times 100, rounded half away from zero, in cents.
        case (.double?, .money), (.integer?, .money): return "CAST(ROUND(CAST(\(s) AS DOUBLE) * 100, 0) / 100 AS DECIMAL(18,2))"
        default: return "CAST(\(s) AS \(SparkStageRenderer.sqlType(to)))"
        }
    }

    /// crmflow's arithmetic: integer division gives a double; money times or divided by a number is rounded to the
    /// cent half away from zero; money divided by money is a double.
    func arithmetic(_ op: BinaryOperator, _ l: String, _ lt: DataType?, _ r: String, _ rt: DataType?, resultType: DataType?) -> (String, DataType?) {
        let sym = op.rawValue
        func cents(_ s: String) -> String { "CAST(CAST(\(s) * 100 AS BIGINT) AS DOUBLE)" }
        switch (lt, rt) {
        case (.money?, .money?):
            if op == .divide { return ("(\(cents(l)) / \(cents(r)))", .double) }
            return ("(\(l) \(sym) \(r))", .money)
        case (.money?, .integer?) where op == .add || op == .subtract, (.integer?, .money?) where op == .add || op == .subtract:
            return ("CAST(\(l) \(sym) \(r) AS DECIMAL(18,2))", .money)
        case (.money?, .integer?), (.money?, .double?), (.integer?, .money?), (.double?, .money?):
            let m = lt == .money ? l : r, x = lt == .money ? r : l
            let raw: String
            switch op {
            case .add: raw = "\(cents(m)) + CAST(\(x) AS DOUBLE) * 100"
            case .subtract: raw = lt == .money ? "\(cents(m)) - CAST(\(x) AS DOUBLE) * 100" : "CAST(\(x) AS DOUBLE) * 100 - \(cents(m))"
            case .multiply: raw = "\(cents(m)) * CAST(\(x) AS DOUBLE)"
            default: raw = "\(cents(m)) \(sym) CAST(\(x) AS DOUBLE)"
            }
            return ("CAST(ROUND(\(raw), 0) / 100 AS DECIMAL(18,2))", .money)
        case (.integer?, .integer?) where op == .divide:
            return ("(CAST(\(l) AS DOUBLE) / \(r))", .double)
        case (.date?, .integer?):
            return (op == .add ? "date_add(\(l), CAST(\(r) AS INT))" : "date_sub(\(l), CAST(\(r) AS INT))", .date)
        case (.integer?, .date?):
            return ("date_add(\(r), CAST(\(l) AS INT))", .date)
        default:
            if op == .divide { return ("(CAST(\(l) AS DOUBLE) / \(r))", .double) }
            let t: DataType? = resultType ?? ((lt == .double || rt == .double) ? .double : lt)
            return ("(\(l) \(sym) \(r))", t)
        }
    }

    mutating func call(_ name: String, _ args: [ExprNode], _ node: ExprNode, _ type: DataType?) throws -> (String, DataType?) {
        if Self.unsupported.contains(name) {
            throw problem(node, "\(name)() has no equivalent in Spark SQL, so this stage cannot run on Spark",
                          hint: "run it with the local engine, or compute it in a stage that runs in crmflow")
        }
        if AggregateCatalog.names.contains(name) || name == "count_if" {
            guard aggregate else { throw problem(node, "\(name)() is an aggregate; it belongs in an aggregate stage") }
            return try aggregateCall(name, args, node)
        }
        var rendered: [(String, DataType?)] = []
        for a in args { rendered.append(try render(a)) }
        let s = rendered.map(\.0)
        func arg(_ i: Int) -> ExprNode { args[i] }
        func constantText(_ i: Int) throws -> String {
            guard i < args.count, case .literal(.string(let t), _) = args[i] else {
                throw problem(i < args.count ? args[i] : node, "\(name)() on Spark needs this argument written as a constant text", hint: "write it in quotes")
            }
            return t
        }
        if let f = Self.direct[name] { return ("\(f)(\(s.joined(separator: ", ")))", type) }
        switch name {
        case "trim": return ("regexp_replace(\(s[0]), '^[\\\\s]+|[\\\\s]+$', '')", .string)
        case "initcap": return ("initcap(\(s[0]))", .string)
        case "ln": return ("CASE WHEN \(s[0]) > 0 THEN ln(\(s[0])) END", .double)
        case "pow": return ("power(\(s[0]), \(s[1]))", .double)
        case "round":
            let digits = s.count > 1 ? s[1] : "0"
            if rendered[0].1 == .integer { return (s[0], .integer) }
            if rendered[0].1 == .money { return ("CAST(ROUND(\(s[0]), least(2, \(digits))) AS DECIMAL(18,2))", .money) }
            // crmflow: (x * 10^d) rounded half away from zero, / 10^d, in doubles. Spark's ROUND of a double rounds
            // its shortest decimal form, which for x * 10^d gives the same integer.
            return ("(ROUND(\(s[0]) * POWER(10, \(digits)), 0) / POWER(10, \(digits)))", type)
        case "floor", "ceil":
            if rendered[0].1 == .money { return ("CAST(\(name)(\(s[0])) AS DECIMAL(18,2))", .money) }
            return ("\(name)(\(s[0]))", type)
        case "replace": return ("CASE WHEN \(s[1]) = '' THEN \(s[0]) ELSE replace(\(s[0]), \(s[1]), \(s[2])) END", .string)
        case "substr":
            return (s.count > 2 ? "substring(\(s[0]), greatest(\(s[1]), 1), greatest(\(s[2]), 0))" : "substring(\(s[0]), greatest(\(s[1]), 1))", .string)
        case "split_part": return ("split_part(\(s[0]), \(s[1]), CAST(\(s[2]) AS INT))", .string)
        case "regexp_matches":
            let flags = args.count > 2 ? try constantText(2) : ""
            let pattern = try regexPattern(try constantText(1), caseInsensitive: flags.contains("i"), node: arg(1))
            return ("(\(s[0]) RLIKE \(lit(pattern)))", .boolean)
        case "regexp_replace":
            let flags = args.count > 3 ? try constantText(3) : ""
            let p = try regexPattern(try constantText(1), caseInsensitive: flags.contains("i"), node: arg(1))
            let replacement = try constantText(2)
            if flags.contains("g") { return ("regexp_replace(\(s[0]), \(lit(p)), \(lit(Self.javaReplacement(replacement, shift: 0))))", .string) }
            // The first match only: the text before it is kept as group 1.
            return ("regexp_replace(\(s[0]), \(lit("^(?s)(.*?)(?:" + p + ")")), \(lit("$1" + Self.javaReplacement(replacement, shift: 1))))", .string)
        case "date":
            if rendered[0].1 == .string || rendered[0].1 == nil {
                throw SparkExpressionProblem(span: node.span, message: "date() of text rejects rows that hold no date, which Spark SQL cannot", needsCrmflow: true)
            }
            return ("to_date(\(s[0]))", .date)
        case "parse_date", "parse_timestamp":
            let fn = name == "parse_date" ? "to_date" : "to_timestamp"
            if args.count == 1 { return ("CAST(trim(\(s[0])) AS TIMESTAMP)", .timestamp) }
            var tries: [String] = []
            for i in 1..<args.count { tries.append("\(fn)(trim(\(s[0])), \(lit(SparkStageRenderer.javaPattern(try constantText(i), parsing: true))))") }
            return ("coalesce(\(tries.joined(separator: ", ")))", name == "parse_date" ? .date : .timestamp)
        case "strftime", "format_date":
            return ("date_format(\(s[0]), \(lit(SparkStageRenderer.javaPattern(try constantText(1), parsing: false))))", .string)
        case "today": return ("DATE \(lit(Value.date(environment.asOf).description))", .date)
        case "date_add":
            return ("date_add(\(s[0]), CAST(\(s[1]) AS INT))", .date)
        case "days_between": return ("datediff(\(s[1]), \(s[0]))", .integer)
        case "months_between":
            // Whole months from the first date to the second.
            return ("CAST(trunc(months_between(\(s[1]), \(s[0])), 0) AS BIGINT)", .integer)
        case "day_of_week": return ("(weekday(\(s[0])) + 1)", .integer)
        case "date_trunc":
            let unit = try constantText(0)
            guard let u = DateUnit(text: unit) else { throw problem(arg(0), "unknown date unit '\(unit)'") }
            switch u {
            case .day: return ("to_date(\(s[1]))", .date)
            case .week: return ("trunc(\(s[1]), 'week')", .date)
            default: return ("trunc(\(s[1]), \(lit(u.rawValue)))", .date)
            }
        case "levenshtein": return ("levenshtein(lower(trim(\(s[0]))), lower(trim(\(s[1]))))", .integer)
        default:
            if name.hasPrefix("try_cast_"), let t = DataType(rawValue: String(name.dropFirst("try_cast_".count))) {
                return (cast(s[0], from: rendered[0].1, to: t), t)
            }
            throw problem(node, "\(name)() has no Spark SQL rendering yet, so this stage cannot run on Spark",
                          hint: "run it with the local engine")
        }
    }

    mutating func aggregateCall(_ name: String, _ args: [ExprNode], _ node: ExprNode) throws -> (String, DataType?) {
        if name == "count", args.isEmpty || { if case .star = args[0] { return true }; return false }() { return ("count(1)", .integer) }
        let (s, t) = try render(args[0])
        switch name {
        case "first", "last":
            guard let window else {
                throw problem(node, "\(name)() needs an order, and Spark's rows have none unless the input is a sort stage",
                              hint: "aggregate a sort stage's output (first() then follows its keys)")
            }
            let column = "`__\(name)_\(windowBase + windows.count)`"
            windows.append("\(name == "first" ? "first_value" : "last_value")(\(s), true) \(window) AS \(column)")
            return ("max(\(column))", t)
        case "count": return ("count(\(s))", .integer)
        case "count_if": return ("count_if(\(s))", .integer)
        case "count_distinct": return ("count(DISTINCT \(s))", .integer)
        case "sum": return t == .money ? ("CAST(sum(\(s)) AS DECIMAL(18,2))", .money) : ("sum(\(s))", t)
        case "min", "max": return ("\(name)(\(s))", t)
        case "avg", "median":
            if t == .money {
                let inner = name == "avg" ? "sum(\(s) * 100) / count(\(s))" : "median(\(s) * 100)"
                return ("CAST(ROUND(CAST(\(inner) AS DOUBLE), 0) / 100 AS DECIMAL(18,2))", .money)
            }
            return ("\(name)(\(s))", .double)
        case "percentile":
            guard args.count == 2 else { throw problem(node, "percentile takes 2 arguments") }
            let p = try render(args[1]).0
            if t == .money { return ("CAST(ROUND(percentile(\(s) * 100, \(p)), 0) / 100 AS DECIMAL(18,2))", .money) }
            return ("percentile(\(s), \(p))", .double)
        case "stddev": return ("stddev_samp(\(s))", .double)
        case "nps":
            return ("((count_if(\(s) >= 9 AND \(s) <= 10) - count_if(\(s) >= 0 AND \(s) <= 6)) * 100.0D / nullif(count_if(\(s) >= 0 AND \(s) <= 10), 0))", .double)
        case "csat":
            return ("(count_if(\(s) >= 4 AND \(s) <= 5) * 1.0D / nullif(count_if(\(s) >= 1 AND \(s) <= 5), 0))", .double)
        default:
            throw problem(node, "\(name)() has no equivalent in Spark SQL, so this stage cannot run on Spark", hint: "run it with the local engine")
        }
    }

    /// crmflow's regex dialect (POSIX extended with \d \s \w, a leading (?i)) as a Java pattern.
    func regexPattern(_ p: String, caseInsensitive: Bool, node: ExprNode) throws -> String {
        var p = p
        var icase = caseInsensitive
        if p.hasPrefix("(?i)") { p.removeFirst(4); icase = true }
        return (icase ? "(?i)" : "") + p
    }

    /// A replacement with \1 group references as Java's $1, every other $ and \ taken literally.
    static func javaReplacement(_ r: String, shift: Int) -> String {
        var out = ""
        var chars = Array(r)[...]
        while let c = chars.popFirst() {
            if c == "\\", let n = chars.first, let d = n.wholeNumberValue {
                chars.removeFirst()
                out += "$\(d + shift)"
            } else if c == "$" || c == "\\" {
                out += "\\" + String(c)
            } else {
                out.append(c)
            }
        }
        return out
    }
}

extension Value {
    var dataType: DataType? {
        switch self {
        case .null: return nil
        case .string: return .string
        case .integer: return .integer
        case .double: return .double
        case .boolean: return .boolean
        case .date: return .date
        case .timestamp: return .timestamp
        case .money: return .money
        }
    }
}

/// How Spark starts `crmflow worker` in its executors: this binary, the pipeline file and the run's variables, all
/// at paths every node sees (the same machine for `local[N]`; a fixed path on every node of a cluster).
public struct SparkWorkerCommand: Sendable {
    public var executable: String
    public var pipeline: String
    public var arguments: [String]
    public init(executable: String, pipeline: String, arguments: [String]) {
        self.executable = executable
        self.pipeline = pipeline
        self.arguments = arguments
    }

    /// The command line for one stage, quoted for `/bin/bash -c` (what Spark's TRANSFORM runs).
    func line(stage: String, schema: ExprSchema, extra: [String] = []) -> String {
        let encoded = SparkWorker.encodeSchema(schema)
        let words = [executable, "worker", pipeline, "--stage", stage, "--schema", encoded] + extra + arguments
        return words.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
    }
}

/// Stages that run row by row in crmflow's own code inside Spark's executors.
///
/// Each partition's rows go to a `crmflow worker` process as one JSON array of texts per line (`to_json` escapes tabs
/// and line ends, so Spark's line-delimited TRANSFORM protocol holds any value); the worker types them as crmflow
/// does, runs the stage, and answers one JSON array per output row, or `["\u{1}reject", reason, record]` for a
/// reject. Spark casts the texts back to the stage's output types.
public enum SparkWorker {
    public static let rejectMarker = "\u{1}reject"
    /// A clean stage's change report row, and a dedupe lineage row (`SparkClean`).
    public static let changeMarker = "\u{1}change"
    public static let lineageMarker = "\u{1}lineage"
    /// A note of the stage run in one partition (combined by `PartitionNotes`).
    public static let noteMarker = "\u{1}note"
    /// Any row that is not a data row starts with this.
    public static let markerStart = "\u{1}"

    /// Stages whose result for a row depends on that row alone.
    static func runsRowByRow(_ op: LogicalOp) -> Bool {
        switch op {
        case .derive, .filter: return true
        default: return false
        }
    }

    /// `name:type` pairs, base64 of JSON, for the command line.
    public static func encodeSchema(_ s: ExprSchema) -> String {
        let pairs = zip(s.names, s.types).map { [$0, ($1 ?? .string).rawValue] }
        let data = (try? JSONSerialization.data(withJSONObject: pairs)) ?? Data()
        return data.base64EncodedString()
    }

    public static func decodeSchema(_ text: String) -> ExprSchema? {
        guard let data = Data(base64Encoded: text), let pairs = try? JSONSerialization.jsonObject(with: data) as? [[String]] else { return nil }
        var names: [String] = [], types: [DataType?] = []
        for p in pairs {
            guard p.count == 2, let t = DataType(rawValue: p[1]) else { return nil }
            names.append(p[0])
            types.append(t)
        }
        return ExprSchema(names: names, types: types)
    }

    /// The worker view (cached), the stage's rows and its rejects.
    static func views(_ id: String, input: String, inputSchema: ExprSchema, output: ExprSchema, command: SparkWorkerCommand) -> (worker: String, rows: String, rejects: String) {
        let q = SparkCompiler.quoteName, lit = SparkCompiler.literal
        let texts = inputSchema.names.map { "CAST(\(q($0)) AS STRING)" }.joined(separator: ", ")
        let worker = "SELECT from_json(line, 'ARRAY<STRING>') AS v FROM (SELECT TRANSFORM(to_json(array(\(texts)))) USING \(lit(command.line(stage: id, schema: inputSchema))) AS (line STRING) FROM \(q(input)))"
        let isReject = "coalesce(v[0] = \(lit(rejectMarker)), false)"
        let cols = zip(output.names, output.types).enumerated().map { k, c in
            "CAST(v[\(k)] AS \(SparkStageRenderer.sqlType(c.1 ?? .string))) AS \(q(c.0))"
        }
        let rows = "SELECT " + cols.joined(separator: ", ") + " FROM \(q(id + "__worker")) WHERE NOT coalesce(substr(v[0], 1, 1) = \(lit(markerStart)), false)"
        let rejects = "SELECT v[1] AS reason, v[2] AS record, v[3] AS code FROM \(q(id + "__worker")) WHERE \(isReject)"
        return (worker, rows, rejects)
    }

    // MARK: - The worker's side

    /// Rows as the worker reads them: one JSON array of texts (or nulls) per line, typed as `schema` says.
    public static func readRows(_ bytes: [UInt8], schema: ExprSchema) throws(CRMFlowError) -> Table {
        let n = schema.names.count
        var texts = [StringBuffer](repeating: StringBuffer(), count: n)
        var valid = [Bitmap](repeating: Bitmap(), count: n)
        var rows = 0
        var i = 0
        var cell: [UInt8] = []
        func fail(_ why: String) -> CRMFlowError { CRMFlowError(.badData, "worker input row \(rows + 1): \(why)") }
        while i < bytes.count {
            var end = i
            while end < bytes.count, bytes[end] != 10 { end += 1 }
            defer { i = end + 1 }
            var p = i
            func skip() { while p < end, bytes[p] == 32 || bytes[p] == 13 || bytes[p] == 9 { p += 1 } }
            skip()
            if p == end { continue }
            guard bytes[p] == UInt8(ascii: "[") else { throw fail("not a JSON array") }
            p += 1
            var c = 0
            skip()
            if p < end, bytes[p] == UInt8(ascii: "]") { p += 1 } else {
                while true {
                    skip()
                    guard c < n else { throw fail("more than \(n) values") }
                    if end - p >= 4, bytes[p] == UInt8(ascii: "n"), bytes[p + 1] == UInt8(ascii: "u"), bytes[p + 2] == UInt8(ascii: "l"), bytes[p + 3] == UInt8(ascii: "l") {
                        texts[c].appendEmpty()
                        valid[c].append(false)
                        p += 4
                    } else {
                        guard p < end, bytes[p] == 34 else { throw fail("values must be texts or null") }
                        p += 1
                        cell.removeAll(keepingCapacity: true)
                        guard JSONStrings.unescape(bytes, &p, end: end, into: &cell) else { throw fail("a text is not valid JSON") }
                        cell.withUnsafeBytes { texts[c].append($0) }
                        valid[c].append(true)
                    }
                    c += 1
                    skip()
                    guard p < end else { throw fail("the array does not end") }
                    if bytes[p] == UInt8(ascii: ",") { p += 1; continue }
                    guard bytes[p] == UInt8(ascii: "]") else { throw fail("expected , or ]") }
                    p += 1
                    break
                }
            }
            guard c == n else { throw fail("\(c) values for \(n) columns") }
            rows += 1
        }
        var fields: [Field] = []
        var columns: [Column] = []
        for k in 0..<n {
            let type = schema.types[k] ?? .string
            fields.append(Field(name: schema.names[k], type: type))
            let plan = ColumnPlan(type: type, format: type == .date ? "%Y-%m-%d" : nil, isDeclared: true)
            let outcome = ColumnConversion.convert(texts[k], validity: valid[k], plan: plan)
            if let bad = outcome.failedRows.first {
                throw CRMFlowError(.badData, "worker input row \(bad + 1): column '\(schema.names[k])': '\(texts[k].string(bad))' is not a valid \(type.rawValue)")
            }
            columns.append(outcome.column)
        }
        return Table(schema: Schema(fields), columns: columns, rowCount: rows)
    }

    /// The worker's answer: each row as a JSON array of texts, then each reject.
    public static func writeRows(_ table: Table, rejects: [Reject], to out: inout [UInt8]) {
        appendRows(table, to: &out)
        for j in rejects { appendRow([rejectMarker, j.reason, j.record, j.code], to: &out) }
    }

    /// One line: a JSON array of texts (nil: null).
    public static func appendRow(_ texts: [String?], to out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        for (k, t) in texts.enumerated() {
            if k > 0 { out.append(UInt8(ascii: ",")) }
            if let t { JSONStrings.append(Array(t.utf8), to: &out) } else { out.append(contentsOf: Array("null".utf8)) }
        }
        out.append(UInt8(ascii: "]"))
        out.append(10)
    }

    /// Each row of `table` as one line, after the texts `prefix` gives for it.
    public static func appendRows(_ table: Table, prefix: (Int) -> [String?] = { _ in [] }, to out: inout [UInt8]) {
        for r in 0..<table.rowCount {
            out.append(UInt8(ascii: "["))
            let head = prefix(r)
            for (k, t) in head.enumerated() {
                if k > 0 { out.append(UInt8(ascii: ",")) }
                if let t { JSONStrings.append(Array(t.utf8), to: &out) } else { out.append(contentsOf: Array("null".utf8)) }
            }
            for (k, c) in table.columns.enumerated() {
                if k > 0 || !head.isEmpty { out.append(UInt8(ascii: ",")) }
                let v = c.value(at: r)
                switch v {
                case .null: out.append(contentsOf: Array("null".utf8))
                case .money(let minor, _):
                    var amount: [UInt8] = []
                    Money.appendAmount(minor, to: &amount)
                    JSONStrings.append(amount, to: &out)
                default: JSONStrings.append(Array(v.description.utf8), to: &out)
                }
            }
            out.append(UInt8(ascii: "]"))
            out.append(10)
        }
    }

    /// The worker's input lines that hold a row (as `readRows` counts them), each from its opening `[`.
    public static func rowLines(_ bytes: [UInt8]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var i = 0
        while i < bytes.count {
            var end = i
            while end < bytes.count, bytes[end] != 10 { end += 1 }
            var p = i
            while p < end, bytes[p] == 32 || bytes[p] == 13 || bytes[p] == 9 { p += 1 }
            if p < end { out.append(p..<end) }
            i = end + 1
        }
        return out
    }
}

/// JSON string escapes on bytes.
enum JSONStrings {
    static func append(_ s: [UInt8], to out: inout [UInt8]) {
        out.append(34)
        for b in s {
            switch b {
            case 34: out.append(contentsOf: [92, 34])
            case 92: out.append(contentsOf: [92, 92])
            case 10: out.append(contentsOf: [92, UInt8(ascii: "n")])
            case 13: out.append(contentsOf: [92, UInt8(ascii: "r")])
            case 9: out.append(contentsOf: [92, UInt8(ascii: "t")])
            case 0..<32:
                out.append(contentsOf: Array(String(format: "\\u%04x", Int(b)).utf8))
            default: out.append(b)
            }
        }
        out.append(34)
    }

    /// Reads a JSON string body from `p` (after its opening quote) through its closing quote.
    static func unescape(_ b: [UInt8], _ p: inout Int, end: Int, into out: inout [UInt8]) -> Bool {
        func hex4(_ at: Int) -> UInt32? {
            guard at + 4 <= end else { return nil }
            var v: UInt32 = 0
            for k in at..<(at + 4) {
                guard let d = Character(UnicodeScalar(b[k])).hexDigitValue else { return nil }
                v = v * 16 + UInt32(d)
            }
            return v
        }
        while p < end {
            let c = b[p]
            if c == 34 { p += 1; return true }
            if c != 92 { out.append(c); p += 1; continue }
            guard p + 1 < end else { return false }
            let e = b[p + 1]
            p += 2
            switch e {
            case UInt8(ascii: "n"): out.append(10)
            case UInt8(ascii: "r"): out.append(13)
            case UInt8(ascii: "t"): out.append(9)
            case UInt8(ascii: "b"): out.append(8)
            case UInt8(ascii: "f"): out.append(12)
            case UInt8(ascii: "u"):
                guard var v = hex4(p) else { return false }
                p += 4
                if (0xD800..<0xDC00).contains(v), p + 6 <= end, b[p] == 92, b[p + 1] == UInt8(ascii: "u"), let lo = hex4(p + 2), (0xDC00..<0xE000).contains(lo) {
                    v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00)
                    p += 6
                }
                guard let scalar = UnicodeScalar(v) else { return false }
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
            default: out.append(e)
            }
        }
        return false
    }
}
