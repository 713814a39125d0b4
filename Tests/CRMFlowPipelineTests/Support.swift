import Foundation
import Testing
@testable import CRMFlowCore
@testable import CRMFlowIO
@testable import CRMFlowPipeline
@testable import CRMFlowStages

enum Paths {
    static let packageRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func fixture(_ name: String) -> URL { packageRoot.appendingPathComponent("Tests/Fixtures/\(name)") }
    static let scratch: String = {
        let dir = NSTemporaryDirectory() + "crmflow-pipeline-tests-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }()
    static func scratch(_ name: String) -> String { scratch + "/" + UUID().uuidString + "-" + name }
}

let asOf = EvalEnvironment(asOf: 20_088)  // 2024-12-31

/// Loads pipeline text; returns the pipeline (nil when invalid) and every diagnostic.
func load(_ yaml: String, file: String = "test.yaml", checkSchemas: Bool = true, variables: [String: String] = [:],
          environment: [String: String] = [:]) -> (Pipeline?, [Diagnostic]) {
    var o = PipelineLoader.Options()
    o.checkSchemas = checkSchemas
    o.baseDirectory = Paths.packageRoot.path
    o.variables = variables
    o.environment = environment
    o.evalEnvironment = asOf
    let log = DiagnosticLog()
    let p = PipelineLoader.load(text: yaml, path: file, options: o, log: log)
    return (p, log.all)
}

/// Loads a pipeline file of the repository (path relative to the package root) with the tests' as-of date; every
/// diagnostic goes to `log`, and a file that does not load fails with them rendered.
func loadFile(_ relativePath: String, variables: [String: String] = [:], log: DiagnosticLog = DiagnosticLog()) throws -> Pipeline {
    var o = PipelineLoader.Options()
    o.baseDirectory = Paths.packageRoot.path
    o.variables = variables
    o.evalEnvironment = asOf
    guard let p = try PipelineLoader.load(path: Paths.packageRoot.appendingPathComponent(relativePath).path, options: o, log: log) else {
        throw TestFailure(DiagnosticRenderer.render(log.all, sources: [:]))
    }
    return p
}

/// Runner options of the tests: the as-of date, the package root for relative inputs, and `out` for outputs.
func runnerOptions(out: String? = nil, jobs: Int? = nil) -> Runner.Options {
    var o = Runner.Options()
    o.environment = asOf
    o.baseDirectory = Paths.packageRoot.path
    if let out { o.outputDirectory = out }
    if let jobs { o.jobs = jobs }
    return o
}

/// A table from compact rows; types inferred as for a CSV file.
func table(_ rows: [[String: String?]], columns: [String]) -> Table {
    PipelineTestRunner.table(rows.map { r in columns.map { ($0, r[$0] ?? nil) } }, columns: columns)
}

/// Runs `stages` (YAML under `stages:`) with `given` tables standing in for source stages named in it.
/// Source stages must be declared (any kind); their outputs are replaced.
func runStages(_ stages: String, given: [String: Table] = [:], jobs: Int = 2, keep: Set<String>, outputDirectory: String? = nil,
               failFast: Bool = false, environment: [String: String] = [:]) throws -> (report: RunReport, outputs: [String: Table]) {
    let (p, diagnostics) = load("pipeline: t\nstages:\n" + stages, checkSchemas: false, environment: environment)
    guard let p else {
        throw TestFailure(DiagnosticRenderer.render(diagnostics, sources: [:]))
    }
    var o = runnerOptions(out: outputDirectory ?? Paths.scratch("out"), jobs: jobs)
    o.failFast = failFast
    o.given = given.mapValues { StageData(table: $0, origins: RowOrigins(file: "given.csv", lines: (0..<$0.rowCount).map { Int32($0 + 2) })) }
    let runner = Runner(pipeline: p, options: o)
    runner.keep = keep
    let report = runner.run()
    return (report, runner.kept.mapValues(\.table))
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Rows rendered as text (null as "null").
func rendered(_ t: Table?) -> [[String]] {
    guard let t else { return [] }
    return (0..<t.rowCount).map { r in t.columns.map { $0.isNull(r) ? "null" : $0.value(at: r).description } }
}
