import CRMFlowCore
import CRMFlowIO
import CRMFlowStages
import Foundation

/// How a stage ended.
public enum StageStatus: Sendable, Equatable {
    case succeeded
    case failed(String)
    /// Not run because an input failed or the run stopped.
    case skipped(String)
    case cancelled

    public var label: String {
        switch self {
        case .succeeded: return "ok"
        case .failed: return "FAILED"
        case .skipped: return "skipped"
        case .cancelled: return "cancelled"
        }
    }
}

/// One stage's part of the run summary.
public struct StageReport: Sendable {
    public var id: String
    public var kind: String
    public var status: StageStatus
    public var accounting: Accounting?
    public var seconds: Double
    /// Offsets from the run's start, for checking overlap.
    public var startedAt: Double
    public var endedAt: Double
    public var notes: [String]
    public var outputs: [String]
    public var rejectsFile: String?
    public var inputFiles: [String]
    public var hint: String?
    /// For a failed stage, the kind of failure (DESIGN §7): bad data, a missing input, an unwritable output, ...
    public var failureExit: ExitStatus = .stageFailed
    /// A clean stage's change report.
    public var changes: [CleanChange] = []
    /// A kpi stage's KPIs in the current period.
    public var kpis: [KPIState] = []
    /// A merge stage's explanation of one record (`crmflow explain`).
    public var explanation: [String] = []
    /// An incremental ingest's new watermark.
    public var watermark: Watermark? = nil
}

/// The outcome of a run.
public struct RunReport: Sendable {
    public var pipeline: String
    public var stages: [StageReport]
    public var seconds: Double
    public var wasCancelled: Bool
    /// Row-accounting problems found after the run (an invariant: empty unless crmflow has a bug).
    public var accountingProblems: [String]
    /// Where a failed run's files were kept instead of being published (nil when it succeeded or wrote in place).
    public var setAside: String?
    /// Every stage succeeded but its outputs could not be published (nothing was replaced).
    public var publishFailure: CRMFlowError?
    /// `--resume`: how many stages were reused from checkpoints.
    public var resumeNote: String?

    public var failed: [StageReport] { stages.filter { if case .failed = $0.status { return true }; return false } }

    /// 0, 130 when interrupted, the failure's own code (65, 66, 73, 78) when every failed stage failed for that one
    /// reason, and 1 otherwise.
    public var exitStatus: Int32 {
        if wasCancelled { return 130 }
        if let publishFailure { return publishFailure.status.rawValue }
        if !accountingProblems.isEmpty { return ExitStatus.stageFailed.rawValue }
        let kinds = Set(failed.map(\.failureExit))
        if kinds.count == 1, let only = kinds.first { return only.rawValue }
        return failed.isEmpty ? 0 : ExitStatus.stageFailed.rawValue
    }
}

/// Progress reporting for a run.
public protocol RunObserver: Sendable {
    func stageStarted(_ id: String, kind: String)
    func stageProgress(_ id: String, rows: Int)
    /// The rows a stage expects to process in all (a source's estimate), when it knows.
    func stageExpects(_ id: String, rows: Int)
    func stageFinished(_ report: StageReport)
}

extension RunObserver {
    public func stageExpects(_ id: String, rows: Int) {}
}

/// Executes a pipeline's DAG: each stage starts when its inputs are ready, at most `jobs` at once, on Dispatch.
public final class Runner: @unchecked Sendable {
    public struct Options: Sendable {
        public var jobs = defaultThreadCount()
        public var failFast = false
        /// Mask e-mails, phones and names in change-report examples.
        public var maskPII = false
        public var outputDirectory = "out"
        public var baseDirectory = FileManager.default.currentDirectoryPath
        public var environment = EvalEnvironment.now()
        /// Threads a heavy stage may use inside itself (parsing, evaluation).
        public var threadsPerStage = defaultThreadCount()
        /// Outputs given instead of running a stage (pipeline tests).
        public var given: [String: StageData] = [:]
        /// Only these stages and what they need run (nil: all).
        public var targets: Set<String>?
        /// Write `<stage>.rejects.csv` files.
        public var writeRejects = true
        /// The record a merge stage explains (`crmflow explain --id`).
        public var explainID: String?
        /// Write into a staging folder and move every file into place when the run has succeeded (false: in place).
        public var stagesOutputs = true
        /// How many runs' replaced files to keep under `<out>/.crmflow/previous/` (`--keep-runs`).
        public var keepRuns = 1
        /// Directories outside the output directory that outputs may be written to (`--allow-write DIR`).
        public var allowedWriteRoots: [String] = []
        /// Incremental ingests' watermarks from the last successful run, by stage id (empty: read everything).
        public var watermarks: [String: Watermark] = [:]
        /// Keep each finished stage's rows in `<out>/.crmflow/checkpoints/` (`--checkpoint`) so a failed run can resume.
        public var checkpoint = false
        /// Reuse the checkpoints of the last failed run whose keys still match (`--resume`); implies `checkpoint`.
        public var resume = false
        public init() {}
    }

    let pipeline: Pipeline
    let options: Options
    let observer: RunObserver?
    private let lock = NSLock()
    private var cancelled = false
    /// True when the user interrupted (as opposed to --fail-fast stopping the run).
    private var interrupted = false
    private var results: [String: StageResult] = [:]
    private var reports: [String: StageReport] = [:]
    private var running = Set<String>()
    private var remainingConsumers: [String: Int] = [:]
    private var needed: [String: Set<String>] = [:]
    /// Ingest → the one stage that reads it, when that stage can take it chunk by chunk (see `ChunkConsumer`).
    private var streamedInto: [String: String] = [:]
    /// Consumers whose ingest is streaming into them: not scheduled on their own unless the streaming falls back.
    private var claimed = Set<String>()
    private let start = Date()
    private let finished = DispatchSemaphore(value: 0)
    /// Where this run writes (set up when the run starts).
    private var space: OutputSpace
    /// Final paths of files this run no longer produces (stale rejects files), removed when it is published.
    private var removals: [String] = []
    /// Final outputs kept for callers (tests) when asked.
    public private(set) var kept: [String: StageData] = [:]
    public var keep: Set<String> = []

    /// Outputs given instead of running a stage: the options' (pipeline tests), and checkpoints reused by --resume.
    private var given: [String: StageData]
    /// The stages to run (and what they read); nil: all.
    private var targets: Set<String>?
    /// Results reused from a failed run's checkpoints (`--resume`), by stage id.
    private var resumed: [String: StageResult] = [:]
    /// Each stage's checkpoint key, when checkpoints are on.
    private var checkpointKeys: [String: String] = [:]

    public init(pipeline: Pipeline, options: Options, observer: RunObserver? = nil) {
        self.pipeline = pipeline
        self.options = options
        given = options.given
        targets = options.targets
        self.observer = observer
        space = OutputSpace(directory: options.outputDirectory, baseDirectory: options.baseDirectory, allowsOutside: pipeline.allowsOutsideOut,
                            allowedRoots: options.allowedWriteRoots)
    }

    /// Stops the run: stages not started are skipped; running ones stop at their next check and write nothing.
    public func cancel() {
        lock.lock()
        cancelled = true
        interrupted = true
        lock.unlock()
    }

    public var isCancelled: Bool {
        lock.lock()
        defer { lock.unlock() }
        return cancelled
    }

    var selectedStages: [StageDeclaration] {
        guard let targets else { return pipeline.stages }
        var needed = Set<String>()
        func add(_ id: String) {
            guard !needed.contains(id) else { return }
            needed.insert(id)
            if given[id] != nil { return }
            pipeline.stage(id)?.inputs.forEach(add)
        }
        targets.forEach(add)
        return pipeline.stages.filter { needed.contains($0.id) }
    }

    /// For each stage, the output columns some later stage reads (nil: all of them). Columns nobody reads are dropped
    /// as soon as a stage finishes, so they are neither copied by later stages nor kept in memory.
    func neededColumns(_ stages: [StageDeclaration]) -> [String: Set<String>] {
        var needed: [String: Set<String>] = [:]
        for s in stages.reversed() {
            let consumers = stages.filter { $0.inputs.contains(s.id) }
            if consumers.isEmpty || keep.contains(s.id) { continue }
            var union: Set<String> = []
            var all = false
            for c in consumers {
                guard let stage = c.stage, given[c.id] == nil else { all = true; break }
                let wanted = stage.inputColumns(forOutput: needed[c.id])
                for (k, input) in c.inputs.enumerated() where input == s.id {
                    guard k < wanted.count, let w = wanted[k] else { all = true; break }
                    union.formUnion(w)
                }
                if all { break }
            }
            if !all { needed[s.id] = union }
        }
        return needed
    }

    /// Runs to completion (or cancellation) and returns the report.
    public func run() -> RunReport {
        var reusedNote: String?
        if options.checkpoint || options.resume {
            let all = selectedStages
            checkpointKeys = Checkpoints.keys(all, needed: neededColumns(all), asOf: options.environment.asOf, baseDirectory: options.baseDirectory,
                                              watermarks: options.watermarks)
            if options.resume { reusedNote = resume(all) }
        }
        let stages = selectedStages
        let needed = neededColumns(stages)
        lock.lock()
        self.needed = needed
        for s in stages {
            remainingConsumers[s.id] = stages.filter { $0.inputs.contains(s.id) }.count
        }
        for s in stages where given[s.id] == nil && s.inputs.count == 1 && (s.stage as? any ChunkConsumer)?.streamsChunks == true {
            let source = s.inputs[0]
            guard let decl = stages.first(where: { $0.id == source }), given[source] == nil, !keep.contains(source),
                  remainingConsumers[source] == 1, let ingest = decl.stage as? IngestStage, ingest.canStream else { continue }
            streamedInto[source] = s.id
            claimed.insert(s.id)
        }
        lock.unlock()
        var setupFailure: CRMFlowError?
        if options.stagesOutputs {
            do {
                let staging = try OutputPublisher.makeStaging(for: space.absoluteDirectory)
                space = OutputSpace(directory: options.outputDirectory, baseDirectory: options.baseDirectory, staging: staging,
                                    allowsOutside: pipeline.allowsOutsideOut, allowedRoots: options.allowedWriteRoots)
            } catch {
                setupFailure = error
            }
        }
        if let setupFailure {
            for s in stages { reports[s.id] = makeReport(s, began: 0, .failed(setupFailure.description), hint: setupFailure.hint, exit: .cannotWrite) }
        } else if stages.isEmpty { finished.signal(); finished.wait() } else {
            scheduleReady()
            finished.wait()
        }
        var ordered = stages.compactMap { s in reports[s.id] }
        let problems = checkAccounting(ordered)
        lock.lock()
        let wasInterrupted = interrupted
        lock.unlock()
        var report = RunReport(pipeline: pipeline.name, stages: ordered, seconds: Date().timeIntervalSince(start), wasCancelled: wasInterrupted,
                               accountingProblems: problems)
        if let staging = space.staging, setupFailure == nil {
            if report.exitStatus == 0 {
                do {
                    try OutputPublisher.publish(staging: staging, into: space.absoluteDirectory, removals: removals, keepRuns: options.keepRuns)
                } catch {
                    report.publishFailure = error
                }
            }
            if report.exitStatus == 0 {
                // Published.
            } else if wasInterrupted {
                OutputPublisher.discard(staging: staging, of: space.absoluteDirectory)
            } else {
                // NB: nothing published is replaced; what the failed run wrote (its rejects above all) is kept aside.
                let failed = OutputPublisher.setAside(staging: staging, of: space.absoluteDirectory)
                let shown = space.display(failed)
                func moved(_ path: String) -> String { path.replacingOccurrences(of: space.directory, with: shown, options: .anchored) }
                ordered = ordered.map { r in
                    var r = r
                    r.outputs = r.outputs.map(moved)
                    r.rejectsFile = r.rejectsFile.map(moved)
                    r.hint = r.hint.map { $0.replacingOccurrences(of: "see " + space.directory, with: "see " + shown) }
                    return r
                }
                report.setAside = shown
            }
            report.stages = ordered
            report.accountingProblems = problems
            report.seconds = Date().timeIntervalSince(start)
        }
        report.resumeNote = reusedNote
        if options.checkpoint || options.resume, report.exitStatus == 0 {
            try? FileManager.default.removeItem(atPath: Checkpoints.directory(of: space.absoluteDirectory))
        }
        return report
    }

    /// `--resume`: the stages whose checkpoint still matches are given instead of run, and only what some other stage
    /// still needs is run. Returns the note for the summary.
    private func resume(_ stages: [StageDeclaration]) -> String {
        let directory = Checkpoints.directory(of: space.absoluteDirectory)
        for s in stages where given[s.id] == nil {
            guard let key = checkpointKeys[s.id], let r = Checkpoints.read(stage: s.id, key: key, in: directory) else { continue }
            resumed[s.id] = r
            given[s.id] = r.data
        }
        // A stage runs when it is not reused and it writes something or feeds a stage that runs; a reused stage without
        // rows (a streamed ingest) runs again when a stage that runs reads it.
        var mustRun = Set(stages.filter { s in resumed[s.id] == nil && !stages.contains { $0.inputs.contains(s.id) } }.map(\.id))
        var changed = true
        while changed {
            changed = false
            for s in stages where mustRun.contains(s.id) {
                for i in s.inputs where !mustRun.contains(i) && (resumed[i].map { !Checkpoints.holdsRows($0) } ?? true) {
                    mustRun.insert(i)
                    resumed[i] = nil
                    given[i] = nil
                    changed = true
                }
            }
        }
        // Every reused stage is reported (its rejects file written again, its rows accounted for).
        targets = mustRun.union(resumed.keys).union(options.targets ?? [])
        let skipped = stages.count - mustRun.count - resumed.count
        return "resumed: \(resumed.count) stage\(resumed.count == 1 ? "" : "s") reused from the failed run's checkpoints, \(mustRun.count) run"
            + (skipped > 0 ? ", \(skipped) not needed" : "")
    }

    /// Starts every stage whose inputs are done, up to the job limit. Called with the lock not held.
    private func scheduleReady() {
        var toStart: [StageDeclaration] = []
        lock.lock()
        let stages = selectedStages
        for s in stages where reports[s.id] == nil && !running.contains(s.id) && !claimed.contains(s.id) {
            if running.count + toStart.count >= max(1, options.jobs) { break }
            let inputReports = given[s.id] != nil ? [] : s.inputs.map { reports[$0] }
            if inputReports.contains(where: { $0 == nil }) { continue }
            toStart.append(s)
        }
        for s in toStart { running.insert(s.id) }
        let allDone = reports.count == stages.count
        // NB: cannot happen for a validated DAG; guards against a hang if it ever did.
        let stuck = toStart.isEmpty && running.isEmpty && !allDone
        lock.unlock()
        if allDone || stuck {
            finished.signal()
            return
        }
        for s in toStart {
            DispatchQueue.global(qos: .userInitiated).async { [self] in
                lock.lock()
                let consumer = streamedInto[s.id].flatMap { id in pipeline.stage(id) }
                lock.unlock()
                let done = consumer.map { executeStreaming(s, into: $0) } ?? [execute(s)]
                lock.lock()
                for report in done {
                    guard let decl = pipeline.stage(report.id) else { continue }
                    reports[decl.id] = report
                    claimed.remove(decl.id)
                    if case .failed = report.status, options.failFast { cancelled = true }
                    // Free inputs no later stage needs.
                    for input in Set(decl.inputs) {
                        remainingConsumers[input, default: 1] -= 1
                        if remainingConsumers[input] == 0, !keep.contains(input) { results[input] = nil }
                    }
                    if remainingConsumers[decl.id] == 0, !keep.contains(decl.id) { results[decl.id] = nil }
                }
                // A consumer the ingest did not stream into runs on its own.
                if let c = consumer, reports[c.id] == nil { claimed.remove(c.id) }
                running.remove(s.id)
                lock.unlock()
                for report in done { observer?.stageFinished(report) }
                scheduleReady()
            }
        }
    }

    private func elapsed() -> Double { Date().timeIntervalSince(start) }

    private func makeReport(_ decl: StageDeclaration, began: Double, _ status: StageStatus, _ result: StageResult? = nil, rejectsFile: String? = nil,
                            hint: String? = nil, exit: ExitStatus = .stageFailed) -> StageReport {
        let ended = elapsed()
        var status = status, hint = hint, notes = result?.notes ?? []
        if masksPII {
            // NB: failure messages quote the values that failed ("cannot cast 'ann' to integer").
            switch status {
            case .failed(let m): status = .failed(PIIMask.text(m))
            case .skipped(let m): status = .skipped(PIIMask.text(m))
            default: break
            }
            hint = hint.map(PIIMask.text)
            notes = notes.map(PIIMask.text)
        }
        return StageReport(id: decl.id, kind: decl.kind, status: status, accounting: result?.accounting, seconds: ended - began, startedAt: began,
                           endedAt: ended, notes: notes, outputs: result?.outputs ?? [], rejectsFile: rejectsFile,
                           inputFiles: result?.inputFiles ?? [], hint: hint, failureExit: exit, changes: result?.changes ?? [], kpis: result?.kpis ?? [],
                           explanation: result?.explanation ?? [], watermark: result?.watermark)
    }

    private func context(for decl: StageDeclaration) -> RunContext {
        var context = RunContext(stageID: decl.id, outputDirectory: options.outputDirectory, baseDirectory: options.baseDirectory,
                                 environment: options.environment, threads: options.threadsPerStage,
                                 isCancelled: { [weak self] in self?.isCancelled ?? true },
                                 progress: { [observer] rows in observer?.stageProgress(decl.id, rows: rows) },
                                 protectedPaths: inputPaths())
        context.expect = { [observer] rows in observer?.stageExpects(decl.id, rows: rows) }
        lock.lock()
        context.outputs = space
        context.neededColumns = needed[decl.id]
        context.maskPII = masksPII
        context.explainID = options.explainID
        context.watermark = options.watermarks[decl.id]
        context.pipelineName = pipeline.name
        lock.unlock()
        return context
    }

    /// Runs an ingest streaming into the one stage that reads it; both reports, or the ingest's alone when the
    /// consumer cannot stream these columns (it then runs on its own) or the ingest did not succeed.
    private func executeStreaming(_ decl: StageDeclaration, into consumerDecl: StageDeclaration) -> [StageReport] {
        guard let ingest = decl.stage as? IngestStage, let consumer = consumerDecl.stage as? any ChunkConsumer else { return [execute(decl)] }
        let began = elapsed()
        if isCancelled { return [makeReport(decl, began: began, .cancelled)] }
        observer?.stageStarted(decl.id, kind: decl.kind)
        let outcome: (StageResult, Result<StageResult, StageFailure>)?
        do {
            outcome = try ingest.stream(into: consumer, context(for: decl), context(for: consumerDecl))
        } catch {
            if isCancelled { return [makeReport(decl, began: began, .cancelled)] }
            return [makeReport(decl, began: began, .failed(error.message), hint: error.hint, exit: error.exitStatus)]
        }
        guard let (own, next) = outcome else { return [execute(decl, announce: false)] }
        if isCancelled { return [makeReport(decl, began: began, .cancelled, own)] }
        let first = complete(decl, own, began: began)
        guard case .succeeded = first.status else { return [first] }
        observer?.stageStarted(consumerDecl.id, kind: consumerDecl.kind)
        switch next {
        case .failure(let error): return [first, makeReport(consumerDecl, began: began, .failed(error.message), hint: error.hint, exit: error.status)]
        case .success(let result): return [first, complete(consumerDecl, result, began: began)]
        }
    }

    private func execute(_ decl: StageDeclaration, announce: Bool = true) -> StageReport {
        let began = elapsed()
        func report(_ status: StageStatus, _ result: StageResult? = nil, rejectsFile: String? = nil, hint: String? = nil,
                    exit: ExitStatus = .stageFailed) -> StageReport {
            makeReport(decl, began: began, status, result, rejectsFile: rejectsFile, hint: hint, exit: exit)
        }
        lock.lock()
        let wasCancelled = cancelled
        let failedInput = given[decl.id] != nil ? nil : decl.inputs.first { id in
            if case .succeeded = reports[id]?.status { return false }
            return true
        }
        let inputs = decl.inputs.compactMap { results[$0]?.data }
        lock.unlock()
        if wasCancelled { return report(.cancelled) }
        if let failedInput { return report(.skipped("input '\(failedInput)' did not succeed")) }
        if inputs.count != decl.inputs.count, given[decl.id] == nil {
            return report(.failed("internal error: an input of stage '\(decl.id)' was released before it ran"))
        }
        var result: StageResult
        if let reused = resumed[decl.id] {
            observer?.stageStarted(decl.id, kind: decl.kind)
            result = reused
        } else if let given = given[decl.id] {
            result = StageResult(data: given, accounting: Accounting(rowsIn: given.table.rowCount, rowsOut: given.table.rowCount))
        } else {
            guard let stage = decl.stage else { return report(.failed("stage '\(decl.id)' could not be built")) }
            if announce {
                observer?.stageStarted(decl.id, kind: decl.kind)
                // The rows it works through, for the live line (a source announces its own estimate as it reads).
                let rowsIn = inputs.reduce(0) { $0 + $1.table.rowCount }
                if !inputs.isEmpty { observer?.stageExpects(decl.id, rows: rowsIn) }
            }
            do {
                result = try stage.run(inputs, context(for: decl))
            } catch {
                if isCancelled { return report(.cancelled) }
                return report(.failed(error.message), hint: error.hint, exit: error.exitStatus)
            }
            if isCancelled { return report(.cancelled, result) }
        }
        return complete(decl, result, began: began)
    }

    /// Applies the stage's error policy and budget to its result, writes its rejects file and keeps its output.
    private func complete(_ decl: StageDeclaration, _ result: StageResult, began: Double) -> StageReport {
        var result = result
        func report(_ status: StageStatus, _ result: StageResult? = nil, rejectsFile: String? = nil, hint: String? = nil,
                    exit: ExitStatus = .stageFailed) -> StageReport {
            makeReport(decl, began: began, status, result, rejectsFile: rejectsFile, hint: hint, exit: exit)
        }
        // The stage's error policy decides what its rejects become.
        var failure: String?
        switch decl.onError {
        case .reject: break
        case .drop:
            if !result.rejects.isEmpty {
                result.accounting.removed["dropped", default: 0] += result.rejects.count
                result.accounting.rejected -= result.rejects.count
                result.rejects = []
            }
        case .fail:
            if let first = result.rejects.first {
                failure = "\(result.rejects.count) row\(result.rejects.count == 1 ? "" : "s") could not be processed (on_error: fail); first: \(first.source):\(first.line): \(first.reason)"
            }
        }
        if failure == nil, let budget = decl.maxRejects {
            let allowed = budget.allowed(of: result.accounting.rowsIn)
            if result.accounting.rejected > allowed {
                failure = "error budget exceeded: \(result.accounting.rejected) rows rejected, max_rejects \(budget) allows \(allowed) of \(result.accounting.rowsIn)"
            }
        }
        var rejectsFile: String?
        if options.writeRejects {
            do {
                rejectsFile = try writeRejects(decl.id, result.rejects)
            } catch {
                return report(.failed("cannot write the rejects file: \(error.message)"), result, exit: .cannotWrite)
            }
        }
        result.outputs = result.outputs.map { space.display(space.finalPath(ofWritten: $0)) }
        if let failure { return report(.failed(failure), result, rejectsFile: rejectsFile, hint: rejectsFile.map { "see \($0)" }, exit: .badData) }
        lock.lock()
        if let wanted = needed[decl.id] { result.data = Self.pruned(result.data, to: wanted) }
        results[decl.id] = result
        if keep.contains(decl.id) { kept[decl.id] = result.data }
        let key = checkpointKeys[decl.id]
        lock.unlock()
        if let key, resumed[decl.id] == nil, Checkpoints.isReusable(decl, result) {
            // NB: a checkpoint that cannot be written only costs a later --resume its reuse.
            try? Checkpoints.write(result, stage: decl.id, key: key, in: Checkpoints.directory(of: space.absoluteDirectory))
        }
        return report(.succeeded, result, rejectsFile: rejectsFile)
    }

    /// The data with only the `wanted` columns (at least one, so the row count stays with the table).
    static func pruned(_ data: StageData, to wanted: Set<String>) -> StageData {
        let t = data.table
        var keepIndices = t.schema.fields.indices.filter { wanted.contains(t.schema.fields[$0].name) }
        if keepIndices.count == t.schema.count { return data }
        if keepIndices.isEmpty, !t.columns.isEmpty { keepIndices = [0] }
        let table = Table(schema: Schema(keepIndices.map { t.schema.fields[$0] }), columns: keepIndices.map { t.columns[$0] }, rowCount: t.rowCount)
        return StageData(table: table, origins: data.origins)
    }

    private func inputPaths() -> [String] {
        pipeline.stages.compactMap { s -> String? in
            guard s.kind == "ingest", let p = s.config.string("path") else { return nil }
            return p.hasPrefix("/") ? p : (options.baseDirectory as NSString).appendingPathComponent(p)
        }
    }

    /// Writes `<out>/<stage>.rejects.csv` (source, line, stage, code, reason, record); removes a stale one when there are none.
    private func writeRejects(_ id: String, _ rejects: [Reject]) throws(CRMFlowError) -> String? {
        let name = "\(id).rejects.csv"
        let path = try space.writePath(name)
        if rejects.isEmpty {
            let final = try space.target(name)
            if path != final {
                lock.lock()
                removals.append(final)
                lock.unlock()
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
        try TableFileWriter.write(table, to: path, format: .csv, inputs: inputPaths())
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

    /// Personal data is masked in rejects, review files and log lines (`--mask-pii` or `mask_pii: true`).
    var masksPII: Bool { options.maskPII || pipeline.masksPII }

    /// Each stage balances (`in + added = out + rejected + removed`), and its rows in are what its inputs produced.
    func checkAccounting(_ reports: [StageReport]) -> [String] {
        var problems: [String] = []
        let byID = Dictionary(uniqueKeysWithValues: reports.map { ($0.id, $0) })
        for r in reports {
            guard case .succeeded = r.status, let a = r.accounting else { continue }
            if !a.balances {
                problems.append("stage '\(r.id)': \(a.rowsIn) in + \(a.added.values.reduce(0, +)) added ≠ \(a.rowsOut) out + \(a.rejected) rejected + \(a.removed.values.reduce(0, +)) removed")
            }
            guard given[r.id] == nil, let decl = pipeline.stage(r.id) else { continue }
            let upstream = decl.kind == "join" ? Array(decl.inputs.prefix(1)) : decl.inputs
            guard !upstream.isEmpty else { continue }
            let produced = upstream.compactMap { byID[$0]?.accounting?.rowsOut }.reduce(0, +)
            if produced != a.rowsIn {
                problems.append("stage '\(r.id)' received \(a.rowsIn) rows but its inputs produced \(produced)")
            }
        }
        return problems
    }
}

extension Error {
    var message: String {
        if let e = self as? StageFailure { return e.message }
        if let e = self as? CRMFlowError { return e.description }
        return "\(self)"
    }
    var exitStatus: ExitStatus {
        if let e = self as? StageFailure { return e.status }
        if let e = self as? CRMFlowError { return e.status }
        return .stageFailed
    }
    var hint: String? {
        if let e = self as? StageFailure { return e.hint }
        if let e = self as? CRMFlowError { return e.hint }
        return nil
    }
}
