import CRMFlowCore
import CRMFlowIO
import CRMFlowStages
import Foundation
import Synchronization

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
///
/// The parts: a `Planner` decides what runs (stages, column pruning, streaming) before any data is read; this class
/// schedules and runs stages, its mutable state behind one `Mutex` the compiler checks; a `RunSink` writes the
/// rejects, checks the row accounting and publishes the outputs.
public final class Runner: Sendable {
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
        /// Results computed by another engine (Spark), by stage id: taken as the stage's result, so their rejects
        /// are written and their rows accounted for like any stage's, and the stages that read them run as usual.
        public var computed: [String: StageResult] = [:]
        public init() {}
    }

    /// Everything that changes while the run goes on; only touched through `state.withLock`.
    struct State: Sendable {
        var cancelled = false
        /// True when the user interrupted (as opposed to --fail-fast stopping the run).
        var interrupted = false
        var results: [String: StageResult] = [:]
        var reports: [String: StageReport] = [:]
        var running = Set<String>()
        var remainingConsumers: [String: Int] = [:]
        var plan: Planner?
        /// Consumers whose ingest is streaming into them: not scheduled on their own unless the streaming falls back.
        var claimed = Set<String>()
        /// Where this run writes (set up when the run starts).
        var sink: RunSink
        var kept: [String: StageData] = [:]
        var keep: Set<String> = []
        /// Outputs given instead of running a stage: the options' (pipeline tests), and checkpoints reused by --resume.
        var given: [String: StageData]
        /// The stages to run (and what they read); nil: all.
        var targets: Set<String>?
        /// Results reused from a failed run's checkpoints (`--resume`), by stage id.
        var resumed: [String: StageResult] = [:]
        /// Each stage's checkpoint key, when checkpoints are on.
        var checkpointKeys: [String: String] = [:]
    }

    let pipeline: Pipeline
    let options: Options
    let observer: RunObserver?
    private let state: Mutex<State>
    private let start = Date()
    private let finished = DispatchSemaphore(value: 0)

    /// Final outputs kept for callers (tests) when asked.
    public var kept: [String: StageData] { state.withLock { $0.kept } }
    /// The stages whose outputs `kept` holds after the run.
    public var keep: Set<String> {
        get { state.withLock { $0.keep } }
        set { state.withLock { $0.keep = newValue } }
    }

    public init(pipeline: Pipeline, options: Options, observer: RunObserver? = nil) {
        self.pipeline = pipeline
        self.options = options
        self.observer = observer
        let space = OutputSpace(directory: options.outputDirectory, baseDirectory: options.baseDirectory, allowsOutside: pipeline.allowsOutsideOut,
                                allowedRoots: options.allowedWriteRoots)
        var initial = State(sink: RunSink(pipeline: pipeline, options: options, space: space), given: options.given, targets: options.targets)
        for (id, result) in options.computed {
            initial.resumed[id] = result
            initial.given[id] = result.data
        }
        state = Mutex(initial)
    }

    /// Stops the run: stages not started are skipped; running ones stop at their next check and write nothing.
    public func cancel() {
        state.withLock {
            $0.cancelled = true
            $0.interrupted = true
        }
    }

    public var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// The plan for the stages as they stand (given and targets as set so far).
    func plan() -> Planner {
        let (given, targets, keep) = state.withLock { (Set($0.given.keys), $0.targets, $0.keep) }
        return Planner(pipeline: pipeline, given: given, targets: targets, keep: keep)
    }

    /// For each stage, the output columns some later stage reads (nil: all of them).
    func neededColumns(_ stages: [StageDeclaration]) -> [String: Set<String>] {
        let (given, keep) = state.withLock { (Set($0.given.keys), $0.keep) }
        return Planner.neededColumns(stages, given: given, keep: keep)
    }

    static func pruned(_ data: StageData, to wanted: Set<String>) -> StageData { Planner.pruned(data, to: wanted) }

    /// Runs to completion (or cancellation) and returns the report.
    public func run() -> RunReport {
        var reusedNote: String?
        if options.checkpoint || options.resume {
            let first = plan()
            let keys = Checkpoints.keys(first.stages, needed: first.needed, asOf: options.environment.asOf, baseDirectory: options.baseDirectory,
                                        watermarks: options.watermarks)
            state.withLock { $0.checkpointKeys = keys }
            if options.resume { reusedNote = resume(first.stages) }
        }
        let plan = plan()
        let stages = plan.stages
        var setupFailure: CRMFlowError?
        if options.stagesOutputs {
            do {
                let base = state.withLock { $0.sink.space }
                let staging = try OutputPublisher.makeStaging(for: base.absoluteDirectory)
                let space = OutputSpace(directory: options.outputDirectory, baseDirectory: options.baseDirectory, staging: staging,
                                        allowsOutside: pipeline.allowsOutsideOut, allowedRoots: options.allowedWriteRoots)
                state.withLock { $0.sink = RunSink(pipeline: pipeline, options: options, space: space) }
            } catch {
                setupFailure = error
            }
        }
        state.withLock {
            $0.plan = plan
            $0.remainingConsumers = plan.consumers
            $0.claimed = Set(plan.streamedInto.values)
        }
        if let setupFailure {
            let failed = stages.map { makeReport($0, began: 0, .failed(setupFailure.description), hint: setupFailure.hint, exit: .cannotWrite) }
            state.withLock { s in for r in failed { s.reports[r.id] = r } }
        } else if !stages.isEmpty {
            scheduleReady()
            finished.wait()
        }
        let (reports, wasInterrupted, sink, given) = state.withLock { ($0.reports, $0.interrupted, $0.sink, Set($0.given.keys)) }
        let ordered = stages.compactMap { reports[$0.id] }
        let problems = sink.checkAccounting(ordered, given: given)
        var report = RunReport(pipeline: pipeline.name, stages: ordered, seconds: Date().timeIntervalSince(start), wasCancelled: wasInterrupted,
                               accountingProblems: problems)
        if setupFailure == nil {
            sink.finish(&report)
            report.seconds = Date().timeIntervalSince(start)
        }
        report.resumeNote = reusedNote
        if options.checkpoint || options.resume, report.exitStatus == 0 {
            try? FileManager.default.removeItem(atPath: Checkpoints.directory(of: sink.space.absoluteDirectory))
        }
        return report
    }

    /// `--resume`: the stages whose checkpoint still matches are given instead of run, and only what some other stage
    /// still needs is run. Returns the note for the summary.
    private func resume(_ stages: [StageDeclaration]) -> String {
        state.withLock { s in
            let directory = Checkpoints.directory(of: s.sink.space.absoluteDirectory)
            for st in stages where s.given[st.id] == nil {
                guard let key = s.checkpointKeys[st.id], let r = Checkpoints.read(stage: st.id, key: key, in: directory) else { continue }
                s.resumed[st.id] = r
                s.given[st.id] = r.data
            }
            // A stage runs when it is not reused and it writes something or feeds a stage that runs; a reused stage
            // without rows (a streamed ingest) runs again when a stage that runs reads it.
            var mustRun = Set(stages.filter { st in s.resumed[st.id] == nil && !stages.contains { $0.inputs.contains(st.id) } }.map(\.id))
            var changed = true
            while changed {
                changed = false
                for st in stages where mustRun.contains(st.id) {
                    for i in st.inputs where !mustRun.contains(i) && (s.resumed[i].map { !Checkpoints.holdsRows($0) } ?? true) {
                        mustRun.insert(i)
                        s.resumed[i] = nil
                        s.given[i] = nil
                        changed = true
                    }
                }
            }
            // Every reused stage is reported (its rejects file written again, its rows accounted for).
            s.targets = mustRun.union(s.resumed.keys).union(options.targets ?? [])
            let skipped = stages.count - mustRun.count - s.resumed.count
            return "resumed: \(s.resumed.count) stage\(s.resumed.count == 1 ? "" : "s") reused from the failed run's checkpoints, \(mustRun.count) run"
                + (skipped > 0 ? ", \(skipped) not needed" : "")
        }
    }

    /// Starts every stage whose inputs are done, up to the job limit.
    private func scheduleReady() {
        let (toStart, done) = state.withLock { s -> ([StageDeclaration], Bool) in
            let stages = s.plan?.stages ?? []
            var toStart: [StageDeclaration] = []
            for st in stages where s.reports[st.id] == nil && !s.running.contains(st.id) && !s.claimed.contains(st.id) {
                if s.running.count + toStart.count >= max(1, options.jobs) { break }
                let inputReports = s.given[st.id] != nil ? [] : st.inputs.map { s.reports[$0] }
                if inputReports.contains(where: { $0 == nil }) { continue }
                toStart.append(st)
            }
            for st in toStart { s.running.insert(st.id) }
            let allDone = s.reports.count == stages.count
            // NB: cannot happen for a validated DAG; guards against a hang if it ever did.
            let stuck = toStart.isEmpty && s.running.isEmpty && !allDone
            return (toStart, allDone || stuck)
        }
        if done {
            finished.signal()
            return
        }
        for st in toStart {
            DispatchQueue.global(qos: .userInitiated).async { [self] in
                let consumer = state.withLock { $0.plan?.streamedInto[st.id] }.flatMap { id in pipeline.stage(id) }
                let done = consumer.map { executeStreaming(st, into: $0) } ?? [execute(st)]
                state.withLock { s in
                    for report in done {
                        guard let decl = pipeline.stage(report.id) else { continue }
                        s.reports[decl.id] = report
                        s.claimed.remove(decl.id)
                        if case .failed = report.status, options.failFast { s.cancelled = true }
                        // Free inputs no later stage needs.
                        for input in Set(decl.inputs) {
                            s.remainingConsumers[input, default: 1] -= 1
                            if s.remainingConsumers[input] == 0, !s.keep.contains(input) { s.results[input] = nil }
                        }
                        if s.remainingConsumers[decl.id] == 0, !s.keep.contains(decl.id) { s.results[decl.id] = nil }
                    }
                    // A consumer the ingest did not stream into runs on its own.
                    if let c = consumer, s.reports[c.id] == nil { s.claimed.remove(c.id) }
                    s.running.remove(st.id)
                }
                for report in done { observer?.stageFinished(report) }
                scheduleReady()
            }
        }
    }

    private func elapsed() -> Double { Date().timeIntervalSince(start) }

    /// Personal data is masked in rejects, review files and log lines (`--mask-pii` or `mask_pii: true`).
    var masksPII: Bool { options.maskPII || pipeline.masksPII }

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
        // The manifest hashes every input file; a stage done with its files hands them to a background hasher, which
        // overlaps with the stages still running instead of adding a serial pass after the run.
        RunSummary.prefetchFingerprints(result?.inputFiles ?? [])
        return StageReport(id: decl.id, kind: decl.kind, status: status, accounting: result?.accounting, seconds: ended - began, startedAt: began,
                           endedAt: ended, notes: notes, outputs: result?.outputs ?? [], rejectsFile: rejectsFile,
                           inputFiles: result?.inputFiles ?? [], hint: hint, failureExit: exit, changes: result?.changes ?? [], kpis: result?.kpis ?? [],
                           explanation: result?.explanation ?? [], watermark: result?.watermark)
    }

    private func context(for decl: StageDeclaration) -> RunContext {
        let (space, needed, inputs) = state.withLock { ($0.sink.space, $0.plan?.needed[decl.id], $0.sink.inputPaths) }
        var context = RunContext(stageID: decl.id, outputDirectory: options.outputDirectory, baseDirectory: options.baseDirectory,
                                 environment: options.environment, threads: options.threadsPerStage,
                                 isCancelled: { [weak self] in self?.isCancelled ?? true },
                                 progress: { [observer] rows in observer?.stageProgress(decl.id, rows: rows) },
                                 protectedPaths: inputs)
        context.expect = { [observer] rows in observer?.stageExpects(decl.id, rows: rows) }
        context.outputs = space
        context.neededColumns = needed
        context.maskPII = masksPII
        context.explainID = options.explainID
        context.watermark = options.watermarks[decl.id]
        context.pipelineName = pipeline.name
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
        let (wasCancelled, failedInput, inputs, given, reused) = state.withLock { s in
            let failed = s.given[decl.id] != nil ? nil : decl.inputs.first { id in
                if case .succeeded = s.reports[id]?.status { return false }
                return true
            }
            return (s.cancelled, failed, decl.inputs.compactMap { s.results[$0]?.data }, s.given[decl.id], s.resumed[decl.id])
        }
        if wasCancelled { return report(.cancelled) }
        if let failedInput { return report(.skipped("input '\(failedInput)' did not succeed")) }
        if inputs.count != decl.inputs.count, given == nil {
            return report(.failed("internal error: an input of stage '\(decl.id)' was released before it ran"))
        }
        var result: StageResult
        if let reused {
            observer?.stageStarted(decl.id, kind: decl.kind)
            result = reused
            if !result.pendingSideTables.isEmpty, let stage = decl.stage {
                // Side files another engine computed are written here, into this run's output space.
                let context = context(for: decl)
                do {
                    for t in result.pendingSideTables { result.outputs.append(try stage.writeSideTable(t.table, suffix: t.suffix, context, personalFrom: t.personalFrom)) }
                } catch {
                    return report(.failed(error.message), hint: error.hint, exit: error.exitStatus)
                }
                result.pendingSideTables = []
            }
        } else if let given {
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
        let sink = state.withLock { $0.sink }
        var rejectsFile: String?
        if options.writeRejects {
            do {
                rejectsFile = try sink.writeRejects(decl.id, result.rejects)
            } catch {
                return report(.failed("cannot write the rejects file: \(error.message)"), result, exit: .cannotWrite)
            }
        }
        result.outputs = result.outputs.map { sink.space.display(sink.space.finalPath(ofWritten: $0)) }
        if let failure { return report(.failed(failure), result, rejectsFile: rejectsFile, hint: rejectsFile.map { "see \($0)" }, exit: .badData) }
        let finished = result
        let (key, reused) = state.withLock { s -> (String?, Bool) in
            var kept = finished
            if let wanted = s.plan?.needed[decl.id] { kept.data = Planner.pruned(kept.data, to: wanted) }
            s.results[decl.id] = kept
            if s.keep.contains(decl.id) { s.kept[decl.id] = kept.data }
            return (s.checkpointKeys[decl.id], s.resumed[decl.id] != nil)
        }
        if let key, !reused, Checkpoints.isReusable(decl, result) {
            // NB: a checkpoint that cannot be written only costs a later --resume its reuse.
            try? Checkpoints.write(result, stage: decl.id, key: key, in: Checkpoints.directory(of: sink.space.absoluteDirectory))
        }
        return report(.succeeded, result, rejectsFile: rejectsFile)
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
