import CRMFlowCore
import CRMFlowIO
import CRMFlowStages
import Foundation
import Synchronization

/// The one place a run's files go through: each stage's `<stage>.rejects.csv` (with the records as their source files
/// hold them), the row-accounting check over the whole run, and at the end the publication of the staged outputs
/// together (or, for a failed run, setting them aside so nothing published is replaced).
final class RunSink: Sendable {
    let pipeline: Pipeline
    let options: Runner.Options
    let space: OutputSpace
    let masksPII: Bool
    /// Final paths of files this run no longer produces (stale rejects files), removed when it is published.
    private let removals = Mutex<[String]>([])

    init(pipeline: Pipeline, options: Runner.Options, space: OutputSpace) {
        self.pipeline = pipeline
        self.options = options
        self.space = space
        masksPII = options.maskPII || pipeline.masksPII
    }

    /// The files the pipeline reads, which no output may overwrite.
    var inputPaths: [String] {
        pipeline.stages.compactMap { s -> String? in
            guard s.kind == "ingest", let p = s.config.string("path") else { return nil }
            return p.hasPrefix("/") ? p : (options.baseDirectory as NSString).appendingPathComponent(p)
        }
    }

    /// Writes `<out>/<stage>.rejects.csv` (source, line, stage, code, reason, record); removes a stale one when there are none.
    func writeRejects(_ id: String, _ rejects: [Reject]) throws(CRMFlowError) -> String? {
        let name = "\(id).rejects.csv"
        let path = try space.writePath(name)
        if rejects.isEmpty {
            let final = try space.target(name)
            if path != final {
                removals.withLock { $0.append(final) }
            } else if FileManager.default.fileExists(atPath: path) {
                try? FileManager.default.removeItem(atPath: path)
            }
            return nil
        }
        do { try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true) } catch {
            throw CRMFlowError(.cannotWrite, "cannot create the output directory '\(options.outputDirectory)'",
                               hint: "check that its parent exists and is writable, or choose another with --out DIR")
        }
        let rejects = withOriginalRecords(rejects, of: id)
        let names = ["source", "line", "stage", "code", "reason", "record"]
        let types: [DataType] = [.string, .integer, .string, .string, .string, .string]
        let rows: [[Value]] = rejects.map { [.string(Secrets.redact($0.source)), .integer(Int64($0.line)), .string(id), .string($0.code), .string(Secrets.redact($0.reason)), .string($0.record)] }
        let table = Table(names: names, types: types, rows: rows)
        try TableFileWriter.write(table, to: path, format: .csv, inputs: inputPaths)
        return space.display(space.finalPath(ofWritten: path))
    }

    /// The rejects with each record as its source file holds it, every field in the file's order, where the source
    /// is a CSV file this pipeline ingests (column pruning leaves later stages only the columns they read).
    func withOriginalRecords(_ rejects: [Reject], of stageID: String) -> [Reject] {
        var readers: [String: @Sendable (Set<Int>) -> (delimiter: UInt8, records: [Int: String])] = [:]
        for s in pipeline.stages {
            guard let ingest = s.stage as? IngestStage, let r = ingest.originalRecords(baseDirectory: options.baseDirectory) else { continue }
            // NB: a JSON ingest's own rejects are lines that did not parse; they already hold the text as read.
            if s.id == stageID, !ingest.canStream { continue }
            readers[r.source] = r.read
        }
        var bySource: [String: Set<Int>] = [:]
        for r in rejects where r.line > 0 && readers[r.source] != nil { bySource[r.source, default: []].insert(r.line) }
        var records: [String: (delimiter: UInt8, records: [Int: String])] = [:]
        for (source, lines) in bySource { records[source] = readers[source]?(lines) }
        let masks = masksPII
        return rejects.map { r in
            var r = r
            var delimiter: UInt8 = 44
            if let found = records[r.source], let original = found.records[r.line] {
                r.record = original
                delimiter = found.delimiter
            }
            if masks {
                r.record = CSVQuoting.mapFields(r.record, delimiter: delimiter, PIIMask.value)
                r.reason = PIIMask.text(r.reason)
            }
            return r
        }
    }

    /// Each stage balances (`in + added = out + rejected + removed`), and its rows in are what its inputs produced.
    func checkAccounting(_ reports: [StageReport], given: Set<String>) -> [String] {
        var problems: [String] = []
        let byID = Dictionary(uniqueKeysWithValues: reports.map { ($0.id, $0) })
        for r in reports {
            guard case .succeeded = r.status, let a = r.accounting else { continue }
            if !a.balances {
                problems.append("stage '\(r.id)': \(a.rowsIn) in + \(a.added.values.reduce(0, +)) added ≠ \(a.rowsOut) out + \(a.rejected) rejected + \(a.removed.values.reduce(0, +)) removed")
            }
            guard !given.contains(r.id), let decl = pipeline.stage(r.id) else { continue }
            let upstream = decl.kind == "join" ? Array(decl.inputs.prefix(1)) : decl.inputs
            guard !upstream.isEmpty else { continue }
            let produced = upstream.compactMap { byID[$0]?.accounting?.rowsOut }.reduce(0, +)
            if produced != a.rowsIn {
                problems.append("stage '\(r.id)' received \(a.rowsIn) rows but its inputs produced \(produced)")
            }
        }
        return problems
    }

    /// The end of a staged run: a run that succeeded is published at once (every output renamed into place, replaced
    /// files kept for `--keep-runs`); an interrupted one leaves nothing; a failed one is set aside with its rejects, and
    /// the report's paths are rewritten to where they now are.
    func finish(_ report: inout RunReport) {
        guard let staging = space.staging else { return }
        if report.exitStatus == 0 {
            do {
                try OutputPublisher.publish(staging: staging, into: space.absoluteDirectory, removals: removals.withLock { $0 }, keepRuns: options.keepRuns)
            } catch {
                report.publishFailure = error
            }
        }
        if report.exitStatus == 0 { return }
        if report.wasCancelled {
            OutputPublisher.discard(staging: staging, of: space.absoluteDirectory)
            return
        }
        // NB: nothing published is replaced; what the failed run wrote (its rejects above all) is kept aside.
        let failed = OutputPublisher.setAside(staging: staging, of: space.absoluteDirectory)
        let shown = space.display(failed)
        let directory = space.directory
        func moved(_ path: String) -> String { path.replacingOccurrences(of: directory, with: shown, options: .anchored) }
        report.stages = report.stages.map { r in
            var r = r
            r.outputs = r.outputs.map(moved)
            r.rejectsFile = r.rejectsFile.map(moved)
            r.hint = r.hint.map { $0.replacingOccurrences(of: "see " + directory, with: "see " + shown) }
            return r
        }
        report.setAside = shown
    }
}
