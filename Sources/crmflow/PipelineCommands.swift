import ArgumentParser
import CRMFlowCore
import CRMFlowIO
import CRMFlowPipeline
import CRMFlowSpark
import CRMFlowStages
import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Options shared by the commands that load a pipeline file.
struct PipelineArguments: ParsableArguments {
    @Argument(help: "The pipeline file, e.g. pipelines/nightly.yaml.")
    var pipeline: String

    @Option(name: .customLong("var"), help: ArgumentHelp("Override a variable: NAME=VALUE (repeatable).", valueName: "name=value"))
    var variables: [String] = []

    @Option(help: "The date today() returns, YYYY-MM-DD (default: the current UTC date), so nightly runs are reproducible.")
    var asOf: String?

    @Option(name: .customLong("allow-write"), help: ArgumentHelp("Allow outputs under this directory outside --out (repeatable).", valueName: "dir"))
    var allowedWriteRoots: [String] = []

    func loaderOptions() throws -> PipelineLoader.Options {
        var o = PipelineLoader.Options()
        for v in variables {
            guard let eq = v.firstIndex(of: "="), eq != v.startIndex else {
                throw CRMFlowError(.usage, "--var '\(v)' is not NAME=VALUE", hint: "for example --var data=/srv/exports")
            }
            o.variables[String(v[..<eq])] = String(v[v.index(after: eq)...])
        }
        if let asOf { o.evalEnvironment = EvalEnvironment(asOf: try Self.parseDate(asOf)) }
        o.allowedWriteRoots = allowedWriteRoots
        return o
    }

    static func parseDate(_ text: String) throws -> Int32 {
        let bytes = Array(text.utf8)
        let scan = bytes.withUnsafeBufferPointer { DateParsing.scan($0) }
        guard let scan, scan.shape == .iso, !scan.hasTime, let d = scan.days(order: nil) else {
            throw CRMFlowError(.usage, "--as-of '\(text)' is not a date", hint: "write YYYY-MM-DD, e.g. --as-of 2024-06-30")
        }
        return Int32(d)
    }

    /// Loads and validates; prints every diagnostic and exits 78 when there are any.
    func load(checkSchemas: Bool = true) throws -> (Pipeline, PipelineLoader.Options) {
        var options = try loaderOptions()
        options.checkSchemas = checkSchemas
        let log = DiagnosticLog()
        let pipeline = try PipelineLoader.load(path: pipeline, options: options, log: log)
        if let pipeline, log.isEmpty { return (pipeline, options) }
        let all = log.all
        let text = PipelineLoader.readText(self.pipeline)
        FileHandle.standardError.write(DiagnosticRenderer.render(all, sources: [self.pipeline: text]))
        FileHandle.standardError.write("\n\(all.count) problem\(all.count == 1 ? "" : "s") in \(self.pipeline); nothing was run\n")
        // NB: a file that is right but whose inputs are not there (yet) is "input missing", not "bad pipeline file".
        let onlyMissingInputs = !all.isEmpty && all.allSatisfy { $0.code == .inputFileMissing }
        throw ExitCode((onlyMissingInputs ? ExitStatus.inputMissing : ExitStatus.badPipeline).rawValue)
    }
}


/// Where a pipeline runs: crmflow's own engine, or Apache Spark through Spark Connect.
struct EngineOptions: ParsableArguments {
    @Option(help: "local (default), or spark: the stages SQL expresses run on Apache Spark through Spark Connect, the rest in crmflow.")
    var engine: String = "local"

    @Option(help: "The Spark Connect server for --engine spark (default: $CRMFLOW_SPARK, else sc://127.0.0.1:15002).")
    var spark: String?

    @Option(name: .customLong("spark-conf"), help: ArgumentHelp("A Spark SQL setting for the session (repeatable), e.g. spark.sql.shuffle.partitions=4.", valueName: "key=value"))
    var sparkConf: [String] = []

    @Option(name: .customLong("spark-partition-records"), help: ArgumentHelp("Records per partition of a merge on Spark (each partition learns its own model) and of a clean stage's dedupe (default 250000).", valueName: "n"))
    var sparkPartitionRecords: Int?

    var isSpark: Bool { engine == "spark" }

    /// `SET key=value` statements from --spark-conf.
    func settings() throws -> [String] {
        try sparkConf.map { c in
            guard let eq = c.firstIndex(of: "="), eq != c.startIndex,
                  c[..<eq].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "_" }),
                  !c[c.index(after: eq)...].contains(where: { $0 == ";" || $0.isNewline }) else {
                throw CRMFlowError(.usage, "--spark-conf '\(c)' is not KEY=VALUE", hint: "e.g. --spark-conf spark.sql.shuffle.partitions=4")
            }
            return "SET " + c
        }
    }

    func validate() throws {
        guard ["local", "spark"].contains(engine) else { throw CRMFlowError(.usage, "unknown engine '\(engine)'", hint: "use local or spark") }
        if spark != nil, !isSpark { throw CRMFlowError(.usage, "--spark needs --engine spark") }
        if sparkPartitionRecords != nil, !isSpark { throw CRMFlowError(.usage, "--spark-partition-records needs --engine spark") }
    }

    var endpoint: String { spark ?? ProcessInfo.processInfo.environment["CRMFLOW_SPARK"] ?? "sc://127.0.0.1:15002" }

    /// Compiles for Spark; a stage or expression Spark cannot run is reported at its place in the file (exit 78).
    func compile(_ pipeline: Pipeline, loader: PipelineLoader.Options, staging: String, arguments: PipelineArguments) throws -> SparkPlan {
        let base = FileManager.default.currentDirectoryPath
        // The executors start this very binary as `crmflow worker`, with the run's variables and as-of date.
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let file = arguments.pipeline.hasPrefix("/") ? arguments.pipeline : base + "/" + arguments.pipeline
        var extra: [String] = []
        for v in arguments.variables { extra += ["--var", v] }
        extra += ["--as-of", Value.date(loader.evalEnvironment.asOf).description, "--base-directory", base]
        let worker = SparkWorkerCommand(executable: exe, pipeline: file, arguments: extra)
        do {
            var plan = try SparkCompiler.compile(pipeline, staging: staging, baseDirectory: base, environment: loader.evalEnvironment, worker: worker)
            let extra = try settings()
            if let n = sparkPartitionRecords {
                guard n >= 1 else { throw CRMFlowError(.usage, "--spark-partition-records must be at least 1") }
                plan.recordsPerPartition = n
            }
            plan.statements.insert(contentsOf: extra.map { SparkPlan.Statement(stage: "", sql: $0) }, at: SparkPlan.sessionSettings.count)
            return plan
        } catch let error as SparkPlanError {
            FileHandle.standardError.write("\(error.location): error: \(error.message)\n" + (error.hint.map { "  hint: \($0)\n" } ?? ""))
            FileHandle.standardError.write("the pipeline cannot run on Spark as written; nothing was run\n")
            throw ExitCode(ExitStatus.badPipeline.rawValue)
        }
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a pipeline: every stage as soon as its inputs are ready, independent stages concurrently.",
        discussion: "Outputs go to out/<pipeline name>/ (or --out); rows a stage cannot use go to <stage>.rejects.csv there. Exit codes: 0 ok, 1 a stage failed, 78 the pipeline file has problems, 130 interrupted.")

    @OptionGroup var arguments: PipelineArguments

    @OptionGroup var engine: EngineOptions

    @Option(help: "Stages run at once (default: number of cores).")
    var jobs: Int?

    @Flag(help: "Stop every stage as soon as one fails (default: independent branches finish).")
    var failFast = false

    @Flag(help: "Ignore the watermarks of incremental sources: read every row (the watermarks are set anew when the run succeeds).")
    var fullRefresh = false

    @Flag(help: "Keep each finished stage's rows in <out>/.crmflow/checkpoints/ so that a failed run can be resumed (removed when the run succeeds).")
    var checkpoint = false

    @Flag(help: "After a failed run with --checkpoint: reuse the stages whose inputs and options are unchanged, run the rest (keeps checkpointing).")
    var resume = false

    @Option(help: "Directory for outputs and rejects (default: out/<pipeline name>).")
    var out: String?

    @Option(help: "Write the run manifest (stages, row accounting, input and output hashes) as JSON to this file (default: <out>/run-summary.json; a failed run's goes to <out>/.crmflow/failed/). `crmflow verify` checks the outputs against it.")
    var summary: String?

    @Flag(help: "Validate and print the plan, reading only headers; run nothing.")
    var dryRun = false

    @Flag(help: "Print nothing but errors and warnings: no progress, no summary (the run manifest is still written).")
    var quiet = false

    @Option(help: "Runs whose replaced outputs are kept under <out>/.crmflow/previous/ (0 keeps none).")
    var keepRuns = 1

    @Flag(help: "Mask e-mail addresses, phone numbers and names in the examples of clean stages' change reports.")
    var maskPii = false

    @Option(help: "Exit 3 when a KPI's current period is this bad or worse: off-track, or at-risk (at risk or off track). For alerting from nightly jobs.")
    var failOnKpi: String?

    func run() throws {
        if let failOnKpi, !["off-track", "at-risk"].contains(failOnKpi) {
            throw CRMFlowError(.usage, "--fail-on-kpi must be off-track or at-risk, got '\(failOnKpi)'")
        }
        let (pipeline, loader) = try arguments.load()
        if dryRun {
            FileHandle.standardOutput.write(PlanRenderer.text(pipeline))
            FileHandle.standardOutput.write("dry run: the pipeline is valid; nothing was read beyond headers and nothing was written\n")
            return
        }
        var options = Runner.Options()
        if let jobs {
            guard jobs >= 1 else { throw CRMFlowError(.usage, "--jobs must be at least 1") }
            options.jobs = jobs
        }
        options.failFast = failFast
        options.checkpoint = checkpoint || resume
        options.resume = resume
        options.maskPII = maskPii
        guard keepRuns >= 0 else { throw CRMFlowError(.usage, "--keep-runs must be 0 or more") }
        options.keepRuns = keepRuns
        options.allowedWriteRoots = loader.allowedWriteRoots
        options.outputDirectory = out ?? "out/\(pipeline.name)"
        options.environment = loader.evalEnvironment
        let state = options.outputDirectory + "/" + RunHistory.fileName
        if engine.isSpark {
            // Spark computes its stages first; the runner then takes their results like any stage's.
            let absoluteOut = options.outputDirectory.hasPrefix("/") ? options.outputDirectory : FileManager.default.currentDirectoryPath + "/" + options.outputDirectory
            let staging = absoluteOut + "/.crmflow/spark-\(getpid())"
            let plan = try engine.compile(pipeline, loader: loader, staging: staging, arguments: arguments)
            let endpoint: SparkEndpoint
            do { endpoint = try SparkEndpoint(engine.endpoint) } catch { throw CRMFlowError(.usage, error.message, hint: error.hint) }
            if !quiet { FileHandle.standardError.write("crmflow: \(plan.sparkStages.count) of \(pipeline.stages.count) stages run on Spark at sc://\(endpoint.host):\(endpoint.port)\n") }
            let began = Date()
            do {
                options.computed = try SparkEngine.compute(pipeline, plan: plan, session: SparkSession(endpoint: endpoint))
                if !quiet { FileHandle.standardError.write(String(format: "crmflow: Spark computed its stages in %.2f s\n", Date().timeIntervalSince(began))) }
            } catch {
                try? FileManager.default.removeItem(atPath: staging)
                FileHandle.standardError.write("crmflow: error: \(error.message)\n" + (error.hint.map { "  hint: \($0)\n" } ?? ""))
                throw ExitCode(ExitStatus.stageFailed.rawValue)
            }
        }
        if !fullRefresh { options.watermarks = try Watermarks.load(from: state, pipeline: pipeline.name) }
        let observer = ConsoleObserver(quiet: quiet)
        let runner = Runner(pipeline: pipeline, options: options, observer: observer)
        signal(SIGINT, SIG_IGN)
        let interrupt = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        interrupt.setEventHandler {
            FileHandle.standardError.write("\ncrmflow: interrupted — stopping; outputs not yet written are left as they were\n")
            runner.cancel()
        }
        interrupt.resume()
        let report = runner.run()
        interrupt.cancel()
        observer.finish()
        // NB: --quiet keeps silence on success; a failed run still prints its summary, which names what failed.
        if !quiet || report.exitStatus != 0 { FileHandle.standardError.write("\n" + RunSummary.table(report)) }
        let manifest = summary ?? (report.setAside.map { $0 + "/run-summary.json" } ?? options.outputDirectory + "/run-summary.json")
        if summary != nil || !report.wasCancelled {
            let json = RunSummary.json(report, pipeline: pipeline, asOf: options.environment.asOf, jobs: options.jobs)
            do {
                let output = try AtomicOutput(path: manifest)
                try output.write(Secrets.redact(json))
                try output.commit()
            } catch {
                // NB: when the run already failed (an unwritable output directory, say), its own exit code says more.
                if report.exitStatus == 0 { throw error }
            }
        }
        if !report.wasCancelled {
            let record = Self.record(report, pipeline: pipeline, asOf: options.environment.asOf)
            try RunHistory.append(record, to: state)
            // NB: watermarks advance only when the whole run succeeded and was published; a failed run reads the same
            // rows again next time.
            if report.exitStatus == 0 {
                var marks: [String: Watermark] = [:]
                for s in report.stages { if let w = s.watermark { marks[s.id] = w } }
                try Watermarks.save(marks, to: state, pipeline: pipeline.name, runID: record.runID, at: record.startedAt)
                // The snapshot histories, as published, also in the state database (table snapshot_<stage>), for SQL.
                for s in report.stages where s.kind == "snapshot" {
                    guard let history = s.outputs.first, let file = try? CSVFile.open(history, options: CSVOptions()) else { continue }
                    let loaded = try file.load()
                    try SQLiteStore.write(loaded.table, path: state, table: "snapshot_" + s.id, mode: .replace)
                }
            }
        }
        if report.exitStatus != 0 { throw ExitCode(report.exitStatus) }
        if let failOnKpi {
            let bad: Set<String> = failOnKpi == "at-risk" ? ["at risk", "off track"] : ["off track"]
            let alerts = report.stages.flatMap { s in s.kpis.filter { bad.contains($0.status) }.map { (s.id, $0) } }
            if !alerts.isEmpty {
                for (stage, k) in alerts {
                    FileHandle.standardError.write("crmflow: KPI \(k.status): \(k.kpi) in the period from \(k.period) is \(k.value) against a target of \(k.target) (stage \(stage))\n")
                }
                throw ExitCode(3)
            }
        }
    }
}

extension Run {
    /// The run as one row of the run history.
    static func record(_ report: RunReport, pipeline: Pipeline, asOf: Int32) -> RunRecord {
        var now = time(nil) - time_t(report.seconds.rounded())
        var parts = tm()
        gmtime_r(&now, &parts)
        let started = String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                             Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
        let sources = report.stages.filter { $0.kind == "ingest" }
        return RunRecord(runID: started + "-\(getpid())", pipeline: pipeline.name, pipelineSHA256: pipeline.sha256, startedAt: started,
                         seconds: report.seconds, status: report.exitStatus == 0 ? "succeeded" : "failed", exitCode: Int(report.exitStatus),
                         asOf: Value.date(asOf).description, stages: report.stages.count, failedStages: report.failed.count,
                         rowsRead: sources.compactMap { $0.accounting?.rowsIn }.reduce(0, +),
                         rejected: report.stages.compactMap { $0.accounting?.rejected }.reduce(0, +),
                         outputs: report.stages.reduce(0) { $0 + $1.outputs.count })
    }
}

struct History: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List a pipeline's past runs from its run history (out/<pipeline>/crmflow.db), newest first.")

    @OptionGroup var arguments: PipelineArguments

    @Option(help: "The output directory the pipeline ran with (default: out/<pipeline name>).")
    var out: String?

    @Option(help: "Runs to show.")
    var limit = 20

    func run() throws {
        let (pipeline, _) = try arguments.load(checkSchemas: false)
        let path = (out ?? "out/\(pipeline.name)") + "/" + RunHistory.fileName
        let runs = try RunHistory.runs(in: path, limit: limit)
        var rows = [["started (UTC)", "status", "exit", "as of", "stages", "failed", "rows read", "rejected", "outputs", "time"]]
        for r in runs {
            rows.append([r.startedAt, r.status, "\(r.exitCode)", r.asOf, "\(r.stages)", "\(r.failedStages)", "\(r.rowsRead)", "\(r.rejected)",
                         "\(r.outputs)", String(format: "%.2fs", r.seconds)])
        }
        let widths = rows[0].indices.map { c in rows.map { $0[c].count }.max() ?? 0 }
        var text = ""
        for (i, r) in rows.enumerated() {
            text += zip(r, widths).map { $0 + String(repeating: " ", count: $1 - $0.count) }.joined(separator: "  ").trimmingCharacters(in: .whitespaces) + "\n"
            if i == 0 { text += widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n" }
        }
        text += "\(runs.count) run\(runs.count == 1 ? "" : "s") of \(pipeline.name) in \(path)\n"
        let marks = try Watermarks.list(in: path, pipeline: pipeline.name)
        if !marks.isEmpty {
            text += "\nwatermarks (incremental sources read past these values next run):\n"
            for m in marks { text += "  \(m[0]): \(m[2]) > \(m[3])  (\(m[1]); set by the run of \(m[5]))\n" }
        }
        FileHandle.standardOutput.write(text)
    }
}

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a pipeline file and report every problem at once (exit 78 when there are any). Reads only input headers.")

    @OptionGroup var arguments: PipelineArguments

    func run() throws {
        let (pipeline, _) = try arguments.load()
        FileHandle.standardOutput.write("\(arguments.pipeline): ok — pipeline '\(pipeline.name)', \(pipeline.stages.count) stages\n")
    }
}

struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the stage graph: text (levels that run concurrently), Graphviz dot or Mermaid.")

    @OptionGroup var arguments: PipelineArguments

    @Option(help: "text, dot or mermaid.")
    var format: String = "text"

    @OptionGroup var engine: EngineOptions

    func run() throws {
        if engine.isSpark {
            // The Spark SQL needs the files' headers and types: the pipeline is checked against them.
            let (pipeline, loader) = try arguments.load()
            let plan = try engine.compile(pipeline, loader: loader, staging: "<out>/.crmflow/spark", arguments: arguments)
            FileHandle.standardOutput.write(SparkCompiler.text(plan, pipeline: pipeline))
            return
        }
        let (pipeline, _) = try arguments.load(checkSchemas: false)
        switch format {
        case "text": FileHandle.standardOutput.write(PlanRenderer.text(pipeline))
        case "dot": FileHandle.standardOutput.write(PlanRenderer.dot(pipeline))
        case "mermaid": FileHandle.standardOutput.write(PlanRenderer.mermaid(pipeline))
        default: throw CRMFlowError(.usage, "unknown plan format '\(format)'", hint: "use text, dot or mermaid")
        }
    }
}

struct Stages: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List every stage kind with its options (the same specs the validator uses).")

    @Argument(help: "Show one kind in detail.")
    var kind: String?

    @Flag(help: "Print the Markdown reference (docs/stages.md).")
    var markdown = false

    func run() throws {
        if markdown {
            FileHandle.standardOutput.write(StageReference.markdown())
            return
        }
        if let kind, StageRegistry.spec(kind) == nil {
            throw CRMFlowError(.usage, "unknown stage kind '\(kind)'",
                               hint: (Suggest.nearest(kind, among: StageRegistry.kinds).map { "did you mean '\($0)'? " } ?? "") + "kinds: " + StageRegistry.kinds.joined(separator: ", "))
        }
        FileHandle.standardOutput.write(StageReference.text(kind: kind))
    }
}

struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Write the JSON Schema of the pipeline format (from the same stage specs as `crmflow stages`), for editors.",
        discussion: """
        With the YAML language server (VS Code's YAML extension, Neovim, Helix …), write the schema once and name it on
        the first line of a pipeline file:

          crmflow schema -o crmflow.schema.json
          # yaml-language-server: $schema=./crmflow.schema.json
        """)

    @Option(name: [.short, .customLong("output")], help: "Write to this file (atomically) instead of standard output.")
    var output: String?

    func run() throws {
        let json = PipelineSchema.json()
        guard let output else {
            FileHandle.standardOutput.write(json)
            return
        }
        let out = try AtomicOutput(path: output)
        try out.write(json)
        try out.commit()
    }
}

struct TestPipeline: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "test", abstract: "Run the tests: block of a pipeline file (given rows in, expected rows out).")

    @OptionGroup var arguments: PipelineArguments

    func run() throws {
        let (pipeline, loader) = try arguments.load(checkSchemas: false)
        let cases = pipeline.testCases
        if cases.isEmpty {
            FileHandle.standardError.write("\(arguments.pipeline) has no tests: block\n")
            throw ExitCode(ExitStatus.badPipeline.rawValue)
        }
        var options = Runner.Options()
        options.environment = loader.evalEnvironment
        let outcomes = PipelineTestRunner.run(pipeline, cases: cases, options: options)
        for o in outcomes {
            FileHandle.standardOutput.write("\(o.passed ? "PASS" : "FAIL") \(o.name)\n")
            for f in o.failures { FileHandle.standardOutput.write("  \(f)\n") }
        }
        let failed = outcomes.filter { !$0.passed }.count
        FileHandle.standardOutput.write("\(outcomes.count - failed) passed, \(failed) failed\n")
        if failed > 0 { throw ExitCode(ExitStatus.stageFailed.rawValue) }
    }
}

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Explain a merge stage's decisions for one record: every candidate pair with its comparison levels and weights, and why it was or was not merged.",
        discussion: "Runs the stage and the stages it needs (outputs go to --out, default out/<pipeline name>/). The id is the record's id as in the lineage file (source:id when the stage names a source column), or the bare id.")

    @OptionGroup var arguments: PipelineArguments

    @Option(help: "The merge stage.") var stage: String
    @Option(help: "The record id.") var id: String
    @Option(help: "Directory for outputs (default: out/<pipeline name>).") var out: String?

    func run() throws {
        let (pipeline, loader) = try arguments.load()
        guard let decl = pipeline.stage(stage) else {
            throw CRMFlowError(.usage, "no stage '\(stage)' in \(arguments.pipeline)", hint: "stages: " + pipeline.stages.map(\.id).joined(separator: ", "))
        }
        guard decl.kind == "merge" else { throw CRMFlowError(.usage, "stage '\(stage)' is a \(decl.kind) stage; explain needs a merge stage") }
        var options = Runner.Options()
        options.outputDirectory = out ?? "out/\(pipeline.name)"
        options.environment = loader.evalEnvironment
        options.targets = [stage]
        options.explainID = id
        let report = Runner(pipeline: pipeline, options: options).run()
        guard let r = report.stages.first(where: { $0.id == stage }), case .succeeded = r.status else {
            FileHandle.standardError.write(RunSummary.table(report))
            throw ExitCode(report.exitStatus == 0 ? 1 : report.exitStatus)
        }
        FileHandle.standardOutput.write(r.explanation.joined(separator: "\n") + "\n")
    }
}

struct Decide: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Record human verdicts on record pairs for a merge stage (in out/<pipeline>/crmflow.db); the stage honours them with `decisions: state`.",
        discussion: """
        crmflow decide pipelines/nightly.yaml --stage golden_customers --apart LG-0005 0035e00001
        crmflow decide pipelines/nightly.yaml --stage golden_customers --from reviewed.csv   # columns id_a, id_b, verdict
        crmflow decide pipelines/nightly.yaml --stage golden_customers                       # lists the verdicts
        """)

    @OptionGroup var arguments: PipelineArguments

    @Option(help: "The merge stage the verdicts are for.")
    var stage: String

    @Option(help: "The output directory the pipeline runs with (default: out/<pipeline name>).")
    var out: String?

    @Option(parsing: .upToNextOption, help: "Two record ids that are the same customer.")
    var merge: [String] = []

    @Option(parsing: .upToNextOption, help: "Two record ids that are different customers (never merged, even by a rule).")
    var apart: [String] = []

    @Option(help: "A CSV of verdicts (id_a, id_b, verdict: merge or apart), e.g. a review file with a verdict column filled in.")
    var from: String?

    @Option(help: "A note kept with the verdicts (who decided, why).")
    var note: String?

    func run() throws {
        let (pipeline, _) = try arguments.load(checkSchemas: false)
        guard let decl = pipeline.stage(stage), decl.kind == "merge" else {
            throw CRMFlowError(.usage, "'\(stage)' is not a merge stage of \(pipeline.name)",
                               hint: "merge stages: " + pipeline.stages.filter { $0.kind == "merge" }.map(\.id).joined(separator: ", "))
        }
        let path = (out ?? "out/\(pipeline.name)") + "/" + RunHistory.fileName
        var verdicts: [(a: String, b: String, verdict: String)] = []
        for (ids, verdict) in [(merge, "merge"), (apart, "apart")] where !ids.isEmpty {
            guard ids.count == 2 else { throw CRMFlowError(.usage, "--\(verdict) takes two record ids, got \(ids.count)") }
            verdicts.append((ids[0], ids[1], verdict))
        }
        if let from {
            let loaded = try CSVFile.open(from, options: { var o = CSVOptions(); o.allStrings = true; return o }()).load()
            let t = loaded.table
            guard let a = t.column(named: "id_a"), let b = t.column(named: "id_b"), let v = t.column(named: "verdict") else {
                throw CRMFlowError(.badData, "'\(from)' needs the columns id_a, id_b and verdict", hint: "verdict is merge or apart; rows with no verdict are skipped")
            }
            for r in 0..<t.rowCount {
                let verdict = v.value(at: r).description.trimmingCharacters(in: .whitespaces).lowercased()
                if verdict.isEmpty { continue }
                verdicts.append((a.value(at: r).description, b.value(at: r).description, verdict))
            }
        }
        if !verdicts.isEmpty {
            var now = time(nil)
            var parts = tm()
            gmtime_r(&now, &parts)
            let stamp = String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                               Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
            try MergeDecisions.record(verdicts, pipeline: pipeline.name, stage: stage, at: stamp, note: note, in: path)
            FileHandle.standardError.write("\(verdicts.count) verdict\(verdicts.count == 1 ? "" : "s") recorded for \(stage) in \(path)\n")
        }
        let all = try MergeDecisions.load(from: path, pipeline: pipeline.name, stage: stage)
        var text = "\(all.count) verdict\(all.count == 1 ? "" : "s") for \(stage):\n"
        for v in all { text += "  \(v.verdict)  \(v.a)  \(v.b)\n" }
        if decl.config.options.first(where: { $0.key == "decisions" })?.value.scalar != "state" {
            text += "note: \(stage) reads them only with `decisions: state`\n"
        }
        FileHandle.standardOutput.write(text)
    }
}

/// `crmflow worker`: what Spark's executors run for a stage SQL cannot express (SELECT TRANSFORM). Reads the stage's
/// input rows on stdin, one JSON array of texts per line, and writes its output rows (and rejects) the same way.
struct Worker: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run one stage on rows from stdin (started by Spark for --engine spark; not for people).")

    @OptionGroup var arguments: PipelineArguments

    @Option(help: "The stage to run.") var stage: String
    @Option(help: "The input's columns and types (base64 JSON, as the Spark plan writes it).") var schema: String

    @Option(help: "A merge's pass: keys, partition, components or golden (see SparkMerge).") var merge: String?
    @Option(help: "A merge's records in all partitions.") var mergeRecords: Int?
    @Option(help: "A clean stage's steps this pass runs, FROM:TO (0-based, TO excluded; see SparkClean).") var cleanSteps: String?
    @Option(help: "The directory the run's relative paths are read from (where crmflow was started).") var baseDirectory: String?
    @Flag(help: "Run the stage on whole groups of rows, each after its input place (a forecast; see SparkForecast).") var groupTask = false

    func run() throws {
        // NB: Spark starts workers in its own folder; relative paths (rates files, variables) are the run's.
        if let baseDirectory, !FileManager.default.changeCurrentDirectoryPath(baseDirectory) {
            throw CRMFlowError(.usage, "--base-directory '\(baseDirectory)' cannot be entered")
        }
        let (pipeline, loader) = try arguments.load(checkSchemas: false)
        guard let decl = pipeline.stage(stage), let built = decl.stage else { throw CRMFlowError(.usage, "no stage '\(stage)' in \(arguments.pipeline)") }
        guard let input = SparkWorker.decodeSchema(schema) else { throw CRMFlowError(.usage, "--schema is not a column list") }
        let bytes = [UInt8](Foundation.FileHandle.standardInput.readDataToEndOfFile())
        let context = RunContext(stageID: stage, outputDirectory: NSTemporaryDirectory(), baseDirectory: FileManager.default.currentDirectoryPath,
                                 environment: loader.evalEnvironment, threads: 1)
        var out: [UInt8] = []
        do throws(StageFailure) {
            if let cleanSteps {
                guard let c = built as? CleanStage else { throw StageFailure("--clean-steps needs a clean stage") }
                let bounds = cleanSteps.split(separator: ":").compactMap { Int($0) }
                guard bounds.count == 2, bounds[0] >= 0, bounds[0] <= bounds[1], bounds[1] <= c.stepCount else { throw StageFailure("--clean-steps must be FROM:TO") }
                try Self.clean(c, steps: bounds[0]..<bounds[1], bytes, input, context, into: &out)
            } else if groupTask {
                guard let f = built as? ForecastStage else { throw StageFailure("--group-task needs a forecast stage") }
                try Self.groups(f, bytes, input, context, into: &out)
            } else if let merge {
                guard let m = built as? MergeStage else { throw StageFailure("--merge needs a merge stage") }
                try Self.merge(pass: merge, m, bytes, input, records: mergeRecords ?? 0, context, into: &out)
            } else {
                let table: Table
                do { table = try SparkWorker.readRows(bytes, schema: input) } catch { throw StageFailure(error.description) }
                let result = try built.run([StageData(table: table, origins: nil)], context)
                SparkWorker.writeRows(result.data.table, rejects: result.rejects, to: &out)
                for n in result.notes { SparkWorker.appendRow([SparkWorker.noteMarker, n], to: &out) }
            }
        } catch {
            throw CRMFlowError(.stageFailed, "stage '\(stage)': \(error.message)", hint: error.hint)
        }
        // NB: the rows as they are (not through the secret redaction of messages).
        out.withUnsafeBufferPointer { buf in
            var off = 0
            while off < buf.count {
                let n = Glibc.write(1, buf.baseAddress! + off, buf.count - off)
                if n <= 0 { return }
                off += n
            }
        }
    }
}

extension Worker {
    /// One pass of a merge per blocking partition (`MergePartitioned`, `SparkMerge`): rows in, rows out.
    static func merge(pass: String, _ stage: MergeStage, _ bytes: [UInt8], _ input: ExprSchema, records total: Int, _ context: RunContext,
                      into out: inout [UInt8]) throws(StageFailure) {
        let rules = MergePartitioned.ruleCount(stage)
        func read(_ lead: [String], record: Bool = true) throws(StageFailure) -> Table {
            let schema = ExprSchema(names: lead + (record ? input.names : []), types: lead.map { _ in DataType.string } + (record ? input.types : []))
            do { return try SparkWorker.readRows(bytes, schema: schema) } catch { throw StageFailure(error.description) }
        }
        func text(_ t: Table, _ c: Int, _ r: Int) -> String? { t.columns[c].isNull(r) ? nil : t.columns[c].value(at: r).description }
        /// The record columns (after `lead` text columns) at `rows`.
        func records(_ t: Table, lead: Int, _ rows: [Int]) -> Table {
            let fields = Array(t.schema.fields[lead...])
            return Table(schema: Schema(fields), columns: t.columns[lead...].map { $0.selecting(rows) }, rowCount: rows.count)
        }
        switch pass {
        case "keys":
            // [id, key per rule..., the record's texts as they came]
            let t = try read([])
            let (ids, keys) = try MergePartitioned.keys(stage, t, context)
            for (r, line) in SparkWorker.rowLines(bytes).enumerated() {
                var head: [UInt8] = []
                SparkWorker.appendRow([ids[r]] + keys.map { $0[r] }, to: &head)
                out.append(contentsOf: head.dropLast(2))
                out.append(UInt8(ascii: ","))
                out.append(contentsOf: bytes[(line.lowerBound + 1)..<line.upperBound])
                out.append(10)
            }
        case "partition":
            let lead = ["__rule", "__key", "__ov", "__ord", "__id"] + (0..<rules).map { "__k\($0)" }
            let t = try read(lead)
            guard t.rowCount > 0 else { return }
            var owned = [Set<String>](repeating: [], count: rules), seen: [String: Int] = [:], rows: [Int] = [], oversized: [[Int]] = []
            for r in 0..<t.rowCount {
                if let rule = text(t, 0, r).flatMap(Int.init), rule >= 0, rule < rules, let key = text(t, 1, r) { owned[rule].insert(key) }
                let id = text(t, 4, r) ?? ""
                if seen[id] != nil { continue }
                seen[id] = rows.count
                rows.append(r)
                oversized.append((text(t, 2, r) ?? "").split(separator: ",").compactMap { Int($0) })
            }
            let keys = (0..<rules).map { t.columns[5 + $0].selecting(rows) }
            let result = try MergePartitioned.partition(stage, records: records(t, lead: lead.count, rows), keys: keys, owned: owned, oversized: oversized,
                                                           totalRecords: total, context)
            for e in result.edges { SparkWorker.appendRow(["e", e.id, e.root, e.best.isNaN ? nil : String(e.best)], to: &out) }
            SparkWorker.appendRows(result.review, prefix: { _ in ["r"] }, to: &out)
            SparkWorker.appendRow(["n", String(result.pairs)], to: &out)
        case "components":
            let t = try read(["id", "root", "best"], record: false)
            var edges: [(id: String, root: String, best: Double)] = []
            for r in 0..<t.rowCount { edges.append((text(t, 0, r) ?? "", text(t, 1, r) ?? "", text(t, 2, r).flatMap(Double.init) ?? .nan)) }
            for c in MergePartitioned.components(edges) { SparkWorker.appendRow([c.id, c.label, c.best.isNaN ? nil : String(c.best)], to: &out) }
        case "golden":
            let lead = ["__label", "__ord", "__best"]
            let t = try read(lead)
            guard t.rowCount > 0 else { return }
            let labels = (0..<t.rowCount).map { text(t, 0, $0) ?? "" }
            let ord = (0..<t.rowCount).map { text(t, 1, $0) }
            let best = (0..<t.rowCount).map { text(t, 2, $0).flatMap(Double.init) ?? .nan }
            let g = try MergePartitioned.golden(stage, records: records(t, lead: lead.count, Array(0..<t.rowCount)), labels: labels, best: best, context)
            SparkWorker.appendRows(g.golden, prefix: { ["g", ord[g.first[$0]]] }, to: &out)
            SparkWorker.appendRows(g.lineage, prefix: { ["l", ord[$0]] }, to: &out)
        default:
            throw StageFailure("--merge must be keys, partition, components or golden, got '\(pass)'")
        }
    }
}

extension Worker {
    /// One pass of a clean stage (`CleanPartitioned`, `SparkClean`): rows in (each after its input place), rows out
    /// (each after the input place of the row it came from), then rejects, changes and dedupe lineage rows.
    static func clean(_ stage: CleanStage, steps: Range<Int>, _ bytes: [UInt8], _ input: ExprSchema, _ context: RunContext, into out: inout [UInt8]) throws(StageFailure) {
        let t: Table
        do {
            t = try SparkWorker.readRows(bytes, schema: ExprSchema(names: ["__ord"] + input.names, types: [DataType.string] + input.types))
        } catch { throw StageFailure(error.description) }
        guard t.rowCount > 0 else { return }
        let ord = (0..<t.rowCount).map { t.columns[0].isNull($0) ? nil : t.columns[0].value(at: $0).description }
        let records = Table(schema: Schema(Array(t.schema.fields.dropFirst())), columns: Array(t.columns.dropFirst()), rowCount: t.rowCount)
        let (result, kept, lineage) = try CleanPartitioned.run(stage, steps: steps, records, context)
        SparkWorker.appendRows(result.data.table, prefix: { [ord[kept[$0]]] }, to: &out)
        for j in result.rejects { SparkWorker.appendRow([SparkWorker.rejectMarker, j.reason, j.record, j.code], to: &out) }
        for c in result.changes { SparkWorker.appendRow([SparkWorker.changeMarker, CleanPartitioned.encode(c)], to: &out) }
        if let lineage {
            // Rows inside Spark have no file line: the lineage names the rows by id; its lines (here the partition's
            // rows, 1-based) only find each duplicate's input place, which orders the file.
            for r in 0..<lineage.rowCount {
                let cell = { (c: Int) -> String? in lineage.columns[c].isNull(r) ? nil : lineage.columns[c].value(at: r).description }
                let row = (cell(1).flatMap { Int($0) } ?? 0) - 1
                SparkWorker.appendRow([SparkWorker.lineageMarker, row >= 0 && row < ord.count ? ord[row] : nil, "", nil, cell(2), "", nil, cell(5), cell(6)], to: &out)
            }
        }
    }
}

extension Worker {
    /// A forecast over whole groups of rows (`SparkForecast`): each output row after its group's first input place and
    /// its place in the output; each note after the input place of the group it names (the rest last).
    static func groups(_ stage: ForecastStage, _ bytes: [UInt8], _ input: ExprSchema, _ context: RunContext, into out: inout [UInt8]) throws(StageFailure) {
        let t: Table
        do {
            t = try SparkWorker.readRows(bytes, schema: ExprSchema(names: ["__ord"] + input.names, types: [DataType.string] + input.types))
        } catch { throw StageFailure(error.description) }
        guard t.rowCount > 0 else { return }
        let records = Table(schema: Schema(Array(t.schema.fields.dropFirst())), columns: Array(t.columns.dropFirst()), rowCount: t.rowCount)
        let by = stage.partitionColumns ?? []
        let groupColumns = by.compactMap { records.column(named: $0) }
        // Each group's first input place, by its note label (the output's group values give the same label).
        var firstPlace: [String: String] = [:]
        for r in 0..<t.rowCount where stage.counts(records, row: r) {
            let label = stage.noteLabel(groupColumns.map { $0.value(at: r) })
            if firstPlace[label] == nil { firstPlace[label] = t.columns[0].value(at: r).description }
        }
        let result = try stage.run([StageData(table: records)], context)
        let data = result.data.table
        let outGroups = (0..<by.count).map { data.columns[$0] }
        SparkWorker.appendRows(data, prefix: { r in [firstPlace[stage.noteLabel(outGroups.map { $0.value(at: r) })] ?? String(Int64.max), String(r)] }, to: &out)
        for n in result.notes {
            let label = n.firstRange(of: ": ").map { String(n[..<$0.lowerBound]) }
            SparkWorker.appendRow([SparkWorker.noteMarker, label.flatMap { firstPlace[$0] } ?? String(Int64.max), n], to: &out)
        }
    }
}
