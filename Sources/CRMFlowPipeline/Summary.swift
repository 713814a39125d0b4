import CRMFlowCore
import CRMFlowIO
import CRMFlowStages
import Crypto
import Foundation
import Synchronization

/// Progress on stderr: on a terminal a live line with a bar, rows/s and the ETA of each running stage (the bar and ETA
/// where a stage knows how many rows to expect, as a file source does); otherwise plain log lines: a stage's start and
/// end, and every `logInterval` seconds a line for each stage still running. `quiet` prints nothing.
public final class ConsoleObserver: RunObserver, Sendable {
    let isTerminal: Bool
    let quiet: Bool
    let logInterval: Double

    struct Running {
        var kind: String
        var started: Date
        var rows: Int
        var expected: Int?
        var logged: Date
    }

    /// The running stages in start order, and the timer that redraws them; shared by the runner's threads and the timer.
    struct State {
        var active: [String: Running] = [:]
        var order: [String] = []
        var ticker: DispatchSourceTimer?
    }

    private let state = Mutex(State())

    public init(isTerminal: Bool = isatty(2) != 0, quiet: Bool = false, logInterval: Double = 10) {
        self.isTerminal = isTerminal
        self.quiet = quiet
        self.logInterval = logInterval
        if !quiet {
            let every = isTerminal ? 0.2 : min(1, logInterval)
            // NB: the timer is made inside the lock: it then belongs to the state alone (it is not Sendable).
            state.withLock { s in
                let t = DispatchSource.makeTimerSource(queue: DispatchQueue.global(qos: .utility))
                t.schedule(deadline: .now() + every, repeating: every)
                t.setEventHandler { [weak self] in self?.tick() }
                t.resume()
                s.ticker = t
            }
        }
    }

    deinit { state.withLock { $0.ticker?.cancel() } }

    /// Stops the live line (call before printing the summary).
    public func finish() {
        state.withLock {
            $0.ticker?.cancel()
            $0.ticker = nil
        }
        if isTerminal, !quiet { write("\r\u{1B}[K") }
    }

    func write(_ s: String) { FileHandle.standardError.write(Data(Secrets.redact(s).utf8)) }

    public func stageStarted(_ id: String, kind: String) {
        state.withLock {
            $0.active[id] = Running(kind: kind, started: Date(), rows: 0, expected: nil, logged: Date())
            $0.order.append(id)
        }
        if !isTerminal, !quiet { write("crmflow: \(id) (\(kind)) started\n") }
    }

    public func stageProgress(_ id: String, rows: Int) {
        state.withLock { $0.active[id]?.rows = rows }
    }

    public func stageExpects(_ id: String, rows: Int) {
        state.withLock { $0.active[id]?.expected = rows }
    }

    public func stageFinished(_ report: StageReport) {
        state.withLock {
            $0.active[report.id] = nil
            $0.order.removeAll { $0 == report.id }
        }
        guard !quiet else { return }
        var line = "crmflow: \(report.id) (\(report.kind)) \(report.status.label)"
        if let a = report.accounting { line += ": \(a.rowsIn) in, \(a.rowsOut) out, \(a.rejected) rejected" }
        line += String(format: " (%.2f s)", report.seconds)
        switch report.status {
        case .failed(let m): line += " — \(m)"
        case .skipped(let m): line += " — \(m)"
        default: break
        }
        if isTerminal { write("\r\u{1B}[K" + line + "\n") } else { write(line + "\n") }
    }

    func tick() {
        let now = Date()
        let (parts, due) = state.withLock { s -> ([String], [String]) in
            var due: [String] = []
            let parts = s.order.compactMap { id -> String? in
                guard let a = s.active[id] else { return nil }
                let text = Self.progress(id: id, elapsed: now.timeIntervalSince(a.started), rows: a.rows, expected: a.expected, bar: isTerminal)
                if !isTerminal, now.timeIntervalSince(a.logged) >= logInterval {
                    s.active[id]?.logged = now
                    due.append(text)
                }
                return text
            }
            return (parts, due)
        }
        if isTerminal {
            guard !parts.isEmpty else { return }
            // One line, cut to the terminal's width so it never wraps (a wrapped line cannot be redrawn in place).
            var line = "▸ " + parts.joined(separator: " · ")
            let width = Self.terminalColumns()
            if line.count > width - 1 { line = String(line.prefix(max(width - 2, 10))) + "…" }
            write("\r\u{1B}[K" + line)
        } else {
            for p in due { write("crmflow: \(p)\n") }
        }
    }

    static func terminalColumns() -> Int {
        var size = winsize()
        if ioctl(2, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        return 100
    }

    /// One stage's progress: `contacts [██████░░░░] 62% 1.2M rows, 410k rows/s, ETA 3 s` when the rows to expect are
    /// known, else `merge 3.2 s, 1.2M rows, 410k rows/s`.
    public static func progress(id: String, elapsed: Double, rows: Int, expected: Int?, bar: Bool) -> String {
        let rate = elapsed > 0 ? Double(rows) / elapsed : 0
        var s = id
        if let expected, expected > 0, rows == 0 {
            // A stage that reports only when done: how long, over how many rows.
            return s + " " + duration(elapsed) + ", " + compact(expected) + " rows in"
        }
        if let expected, expected > 0 {
            let fraction = min(1, Double(rows) / Double(expected))
            if bar {
                let filled = Int((fraction * 20).rounded(.down))
                s += " [" + String(repeating: "█", count: filled) + String(repeating: "░", count: 20 - filled) + "]"
            }
            s += String(format: " %.0f%%", fraction * 100)
            s += " " + compact(rows) + " of ~" + compact(expected) + " rows"
            if rate > 0 { s += ", " + compact(Int(rate)) + " rows/s" }
            if rate > 0, rows < expected { s += ", ETA " + duration(Double(expected - rows) / rate) }
        } else {
            s += " " + duration(elapsed)
            if rows > 0 { s += ", " + compact(rows) + " rows" }
            if rows > 0, rate > 0 { s += ", " + compact(Int(rate)) + " rows/s" }
        }
        return s
    }

    static func compact(_ n: Int) -> String {
        let d = Double(n)
        if n >= 1_000_000 { return String(format: "%.1fM", d / 1_000_000) }
        if n >= 10_000 { return String(format: "%.0fk", d / 1000) }
        return String(n)
    }

    static func duration(_ s: Double) -> String {
        if s < 60 { return String(format: "%.0f s", s.rounded(.up)) }
        if s < 3600 { return String(format: "%d min %02d s", Int(s) / 60, Int(s) % 60) }
        return String(format: "%d h %02d min", Int(s) / 3600, Int(s) % 3600 / 60)
    }
}

/// The end-of-run summary as a table and as the JSON run manifest (`--summary FILE`).
public enum RunSummary {
    public static func table(_ report: RunReport) -> String {
        var rows: [[String]] = [["stage", "kind", "status", "rows in", "rows out", "rejected", "other", "time"]]
        for s in report.stages {
            let a = s.accounting
            var other: [String] = []
            for (k, v) in (a?.removed ?? [:]).sorted(by: { $0.key < $1.key }) { other.append("\(v) \(k)") }
            for (k, v) in (a?.added ?? [:]).sorted(by: { $0.key < $1.key }) { other.append("+\(v) \(k)") }
            rows.append([s.id, s.kind, s.status.label, a.map { "\($0.rowsIn)" } ?? "-", a.map { "\($0.rowsOut)" } ?? "-",
                         a.map { "\($0.rejected)" } ?? "-", other.joined(separator: ", "), String(format: "%.2fs", s.seconds)])
        }
        let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max() ?? 0 }
        let numeric: Set<Int> = [3, 4, 5, 7]
        var out = ""
        for (i, r) in rows.enumerated() {
            let cells = r.enumerated().map { c, v in
                let pad = String(repeating: " ", count: widths[c] - v.count)
                return numeric.contains(c) && i > 0 ? pad + v : v + pad
            }
            out += cells.joined(separator: "  ").trimmingCharacters(in: .whitespaces) + "\n"
            if i == 0 { out += widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n" }
        }
        out += String(format: "%@: %d stage%@ in %.2f s", report.pipeline, report.stages.count, report.stages.count == 1 ? "" : "s", report.seconds)
        let failed = report.failed
        if report.wasCancelled { out += " — cancelled (interrupted); no partial outputs were written" }
        else if failed.isEmpty, report.accountingProblems.isEmpty, report.publishFailure == nil { out += " — every row accounted for" }
        out += "\n"
        for f in failed {
            if case .failed(let m) = f.status { out += "FAILED \(f.id): \(m)\n" }
            if let h = f.hint { out += "  hint: \(h)\n" }
        }
        for p in report.accountingProblems { out += "ACCOUNTING \(p)\n" }
        if let e = report.publishFailure {
            out += "FAILED publishing the outputs: \(e.message)\n"
            if let h = e.hint { out += "  hint: \(h)\n" }
        }
        if let note = report.resumeNote { out += note + "\n" }
        if let aside = report.setAside {
            out += "the run did not succeed: no output was replaced; what it wrote (rejects included) is in \(aside)\n"
        }
        // Columns a source read as text that look like something else (dates with impossible days, mixed day/month
        // orders): said here, not only in the manifest, since every later stage sees them as text.
        let typeNotes = report.stages.filter { $0.kind == "ingest" }.flatMap { s in
            s.notes.filter { n in n.hasPrefix("column '") && n.contains("': kept as text:") }.map { "  \(s.id): \($0)" }
        }
        if !typeNotes.isEmpty { out += "\ncolumns read as text:\n" + typeNotes.joined(separator: "\n") + "\n" }
        for s in report.stages where !s.changes.isEmpty { out += changeReport(s) }
        for s in report.stages where !s.kpis.isEmpty {
            out += "\nKPIs of \(s.id), current period:\n"
            let width = s.kpis.map(\.kpi.count).max() ?? 0
            for k in s.kpis {
                out += "  " + k.kpi + String(repeating: " ", count: width - k.kpi.count) + "  \(k.period)  \(k.status.uppercased())  \(k.value) against \(k.target)\n"
            }
        }
        let rejectFiles = report.stages.compactMap(\.rejectsFile)
        if !rejectFiles.isEmpty { out += "rejects: " + rejectFiles.joined(separator: ", ") + "\n" }
        let outputs = report.stages.flatMap(\.outputs)
        if !outputs.isEmpty { out += "outputs: " + outputs.joined(separator: ", ") + "\n" }
        return out
    }

    /// SHA-256 and size of a file, streamed through one buffer. With `remembered`, a file is read once per process even
    /// where both the checkpoint keys and the manifest ask: the result is kept for the file's device, inode, size and
    /// modification time, so a file changed in between is read again (`verify` always reads).
    public static func fingerprint(_ path: String, remembered: Bool = false) -> (bytes: Int, sha256: String)? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return nil }
        let identity = FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
                                    seconds: Int64(info.st_mtim.tv_sec), nanoseconds: Int64(info.st_mtim.tv_nsec))
        if remembered, let known = fingerprints.withLock({ $0[identity] }) { return known }
        var hasher = SHA256()
        var total = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n < 0 { if errno == EINTR { continue }; return nil }
            if n == 0 { break }
            total += n
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
        let result = (total, hasher.finalize().map { String(format: "%02x", $0) }.joined())
        if remembered { fingerprints.withLock { $0[identity] = result } }
        return result
    }

    /// Starts hashing `paths` in the background (remembered, as `fingerprint(_:remembered: true)` would); callers of
    /// `json` wait for it, so no file is read twice.
    public static func prefetchFingerprints(_ paths: [String]) {
        for p in paths {
            prefetching.enter()
            DispatchQueue.global(qos: .utility).async {
                _ = fingerprint(p, remembered: true)
                prefetching.leave()
            }
        }
    }

    static let prefetching = DispatchGroup()

    struct FileIdentity: Hashable, Sendable {
        var device: UInt64, inode: UInt64, size: Int64, seconds: Int64, nanoseconds: Int64
    }

    static let fingerprints = Mutex<[FileIdentity: (bytes: Int, sha256: String)]>([:])

    /// The run manifest: stages with their accounting, the pipeline's hash, and every input and output file's size and hash.
    public static func json(_ report: RunReport, pipeline: Pipeline, asOf: Int32, jobs: Int) -> String {
        var out = "{\n"
        out += "  \"pipeline\": \(quote(pipeline.name)),\n"
        out += "  \"pipeline_file\": \(quote(pipeline.path)),\n"
        out += "  \"pipeline_sha256\": \(quote(pipeline.sha256)),\n"
        out += "  \"working_directory\": \(quote(FileManager.default.currentDirectoryPath)),\n"
        out += "  \"as_of\": \(quote(Value.date(asOf).description)),\n"
        out += "  \"jobs\": \(jobs),\n"
        out += "  \"status\": \(quote(report.wasCancelled ? "cancelled" : (report.exitStatus == 0 ? "succeeded" : "failed"))),\n"
        out += "  \"exit_code\": \(report.exitStatus),\n"
        out += String(format: "  \"seconds\": %.3f,\n", report.seconds)
        out += "  \"stages\": [\n"
        out += report.stages.map { s in
            var fields = ["\"id\": \(quote(s.id))", "\"kind\": \(quote(s.kind))", "\"status\": \(quote(s.status.label.lowercased()))"]
            if let a = s.accounting {
                fields.append("\"rows_in\": \(a.rowsIn)")
                fields.append("\"rows_out\": \(a.rowsOut)")
                fields.append("\"rejected\": \(a.rejected)")
                fields.append("\"removed\": {" + a.removed.sorted { $0.key < $1.key }.map { "\(quote($0.key)): \($0.value)" }.joined(separator: ", ") + "}")
                fields.append("\"added\": {" + a.added.sorted { $0.key < $1.key }.map { "\(quote($0.key)): \($0.value)" }.joined(separator: ", ") + "}")
                fields.append("\"balanced\": \(a.balances)")
            }
            fields.append(String(format: "\"seconds\": %.3f", s.seconds))
            fields.append(String(format: "\"started_at\": %.3f", s.startedAt))
            switch s.status {
            case .failed(let m), .skipped(let m): fields.append("\"reason\": \(quote(m))")
            default: break
            }
            if let r = s.rejectsFile { fields.append("\"rejects_file\": \(quote(r))") }
            if !s.outputs.isEmpty { fields.append("\"outputs\": [" + s.outputs.map(quote).joined(separator: ", ") + "]") }
            if !s.notes.isEmpty { fields.append("\"notes\": [" + s.notes.map(quote).joined(separator: ", ") + "]") }
            if !s.changes.isEmpty { fields.append("\"changes\": [\n" + s.changes.map(changeJSON).joined(separator: ",\n") + "\n    ]") }
            if !s.kpis.isEmpty {
                fields.append("\"kpis\": [" + s.kpis.map { k in
                    "{\"kpi\": \(quote(k.kpi)), \"period\": \(quote(k.period)), \"status\": \(quote(k.status)), \"value\": \(quote(k.value)), \"target\": \(quote(k.target))}"
                }.joined(separator: ", ") + "]")
            }
            return "    {" + fields.joined(separator: ", ") + "}"
        }.joined(separator: ",\n")
        out += "\n  ],\n"
        prefetching.wait()
        func files(_ paths: [String]) -> String {
            var seen = Set<String>()
            return paths.filter { seen.insert($0).inserted }.map { p in
                let f = fingerprint(p, remembered: true)
                return "    {\"path\": \(quote(p)), \"bytes\": \(f?.bytes ?? 0), \"sha256\": \(quote(f?.sha256 ?? ""))}"
            }.joined(separator: ",\n")
        }
        out += "  \"inputs\": [\n" + files(report.stages.flatMap(\.inputFiles)) + "\n  ],\n"
        out += "  \"outputs\": [\n" + files(report.stages.flatMap(\.outputs) + report.stages.compactMap(\.rejectsFile)) + "\n  ],\n"
        out += "  \"accounting_problems\": [" + report.accountingProblems.map(quote).joined(separator: ", ") + "],\n"
        out += "  \"publish_failure\": " + (report.publishFailure.map { quote($0.message) } ?? "null") + "\n"
        out += "}\n"
        return out
    }

    public static func quote(_ s: String) -> String { JSONText.quoted(s) }

    static func changeJSON(_ c: CleanChange) -> String {
        var f = ["\"step\": \(c.step)", "\"kind\": \(quote(c.kind))", "\"column\": \(quote(c.column))", "\"examined\": \(c.examined)",
                 "\"changed\": \(c.changed)", "\"nulled\": \(c.nulled)", "\"rejected\": \(c.rejected)", "\"invalid_kept\": \(c.invalidKept)",
                 "\"deduplicated\": \(c.deduplicated)"]
        f.append("\"samples\": [" + c.samples.map { "{\"before\": \(quote($0.before)), \"after\": \(quote($0.after))}" }.joined(separator: ", ") + "]")
        f.append("\"notes\": [" + c.notes.map(quote).joined(separator: ", ") + "]")
        return "      {" + f.joined(separator: ", ") + "}"
    }

    /// A value as it can be read on one line: quoted, with line breaks and tabs shown.
    static func visible(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\r\n", with: "⏎").replacingOccurrences(of: "\n", with: "⏎").replacingOccurrences(of: "\t", with: "⇥") + "\""
    }

    /// A clean stage's change report: one line per step and column that did something, with an example.
    public static func changeReport(_ s: StageReport) -> String {
        let active = s.changes.filter { !$0.isEmpty }
        var out = "\nchanges made by \(s.id) (clean):\n"
        var rows: [[String]] = [["step", "column", "values", "changed", "nulled", "rejected", "kept invalid", "removed", "example"]]
        for c in active {
            let example = c.samples.first.map { "\(visible($0.before)) → \(visible($0.after))" } ?? ""
            let clipped = example.count > 70 ? String(example.prefix(69)) + "…" : example
            rows.append(["\(c.step) \(c.kind)", c.column, "\(c.examined)", "\(c.changed)", "\(c.nulled)", "\(c.rejected)", "\(c.invalidKept)",
                         "\(c.deduplicated)", clipped])
        }
        let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max() ?? 0 }
        let numeric: Set<Int> = [2, 3, 4, 5, 6, 7]
        for (i, r) in rows.enumerated() {
            let cells = r.enumerated().map { c, v in
                let pad = String(repeating: " ", count: widths[c] - v.count)
                return numeric.contains(c) && i > 0 ? pad + v : v + pad
            }
            out += "  " + cells.joined(separator: "  ").trimmingCharacters(in: .whitespaces) + "\n"
        }
        let idle = s.changes.count - active.count
        if idle > 0 { out += "  (\(idle) step/column pair\(idle == 1 ? "" : "s") changed nothing)\n" }
        for c in s.changes { for n in c.notes { out += "  step \(c.step) \(c.kind) \(c.column): \(n)\n" } }
        return out
    }

}

/// The plan: stages by level (a stage's level is one more than its deepest input), as text, Graphviz or Mermaid.
public enum PlanRenderer {
    public static func levels(_ p: Pipeline) -> [[StageDeclaration]] { Planner(pipeline: p).levels }

    public static func text(_ p: Pipeline) -> String {
        var out = "pipeline \(p.name) (\(p.path)): \(p.stages.count) stages\n"
        for (i, stages) in levels(p).enumerated() {
            out += "level \(i)\(stages.count > 1 ? " (run concurrently)" : ""):\n"
            for s in stages {
                out += "  \(s.id) [\(s.kind)]"
                if !s.inputs.isEmpty { out += " ← " + s.inputs.joined(separator: ", ") }
                if s.kind == "ingest", let node = s.config.node("path") { out += "  (\(node.containsSecret ? (node.rawText ?? "") : (node.scalar ?? "")))" }
                if s.kind == "emit", let path = s.config.string("path") { out += "  → \(path)" }
                out += "\n"
            }
        }
        return out
    }

    public static func dot(_ p: Pipeline) -> String {
        var out = "digraph \(RunSummary.quote(p.name)) {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n"
        for s in p.stages { out += "  \(RunSummary.quote(s.id)) [label=\(RunSummary.quote("\(s.id)\n\(s.kind)"))];\n" }
        for s in p.stages { for i in s.inputs { out += "  \(RunSummary.quote(i)) -> \(RunSummary.quote(s.id));\n" } }
        return out + "}\n"
    }

    public static func mermaid(_ p: Pipeline) -> String {
        var out = "flowchart LR\n"
        func node(_ id: String) -> String { id.replacingOccurrences(of: "-", with: "_") }
        for s in p.stages { out += "  \(node(s.id))[\"\(s.id)<br/>\(s.kind)\"]\n" }
        for s in p.stages { for i in s.inputs { out += "  \(node(i)) --> \(node(s.id))\n" } }
        return out
    }
}

/// The stage reference, generated from the specs (`crmflow stages --markdown`, kept in docs/stages.md).
public enum StageReference {
    public static func markdown() -> String {
        var out = "# Stage reference\n\nGenerated by `crmflow stages --markdown` from the stage specs the validator uses; a test fails when this file is stale.\n\n"
        out += "Every stage also accepts `on_error` (reject | drop | fail), `max_rejects` (a count or a percentage) and `description`.\n\n"
        for type in StageRegistry.all {
            let spec = type.spec
            out += "## `\(spec.kind)`\n\n\(spec.summary)\n\n| option | form | required | default | description |\n|---|---|---|---|---|\n"
            for o in spec.options where !StageSpec.common.contains(where: { $0.name == o.name }) {
                var desc = o.summary
                if let allowed = o.allowed { desc += " One of: " + allowed.map { "`\($0)`" }.joined(separator: ", ") + "." }
                out += "| `\(o.name)` | \(o.shape.rawValue) | \(o.isRequired ? "yes" : "") | \(o.defaultValue.map { "`\($0)`" } ?? "") | \(desc.replacingOccurrences(of: "|", with: "\\|")) |\n"
            }
            out += "\nExample:\n\n```yaml\n\(spec.example)\n```\n\n"
            if spec.kind == "clean" {
                out += "### Clean steps\n\nEvery step accepts `column`/`columns` (names, `all`, or a type such as `string`) and `on_invalid` (reject | null | keep, overriding the stage's).\n\n"
                out += "| step | written as | what it does |\n|---|---|---|\n"
                for s in CleanStage.stepReference { out += "| `\(s.step)` | \(s.form.replacingOccurrences(of: "|", with: "\\|")) | \(s.summary.replacingOccurrences(of: "|", with: "\\|")) |\n" }
                out += "\n"
            }
        }
        out += "# Functions\n\n| function | description |\n|---|---|\n"
        for f in ExprReference.functions { out += "| `\(f.signature)` | \(f.summary) |\n" }
        out += "\n# Aggregates\n\n| aggregate | description |\n|---|---|\n"
        for a in AggregateCatalog.reference { out += "| `\(a.signature)` | \(a.summary) |\n" }
        return out
    }

    public static func text(kind: String? = nil) -> String {
        var out = ""
        for type in StageRegistry.all where kind == nil || type.spec.kind == kind {
            let spec = type.spec
            out += "\(spec.kind): \(spec.summary)\n"
            if kind != nil {
                for o in spec.options {
                    out += "  \(o.name)\(o.isRequired ? " (required)" : "")\(o.defaultValue.map { " [default \($0)]" } ?? ""): \(o.summary)"
                    if let a = o.allowed { out += " One of: " + a.joined(separator: ", ") + "." }
                    out += "\n"
                }
                out += "example:\n" + spec.example.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n"
                if spec.kind == "clean" {
                    out += "steps (each also takes column/columns and on_invalid):\n"
                    for s in CleanStage.stepReference { out += "  \(s.step): \(s.summary)\n    \(s.form.replacingOccurrences(of: "`", with: ""))\n" }
                }
            }
        }
        return out
    }
}

/// The pipeline format as a JSON Schema (draft-07, as the YAML language server reads it), generated from the stage
/// specs the validator uses, so it cannot drift from them: every stage kind with its options (shape, allowed values,
/// default, description), the clean stage's steps by name, and the file's top-level keys. The validator stays the
/// judge (it also checks columns, expressions and the graph); the schema gives editors completion and early errors.
public enum PipelineSchema {
    public static func json() -> String {
        var definitions: [(String, JSONValue)] = []
        definitions.append(("scalar", .object([("type", .array([.string("string"), .string("number"), .string("boolean"), .string("null")]))])))
        definitions.append(("stage", .object([
            ("description", .string("One stage: its id maps to exactly one kind, whose value holds the kind's options.")),
            ("type", .string("object")),
            ("minProperties", .number(1)), ("maxProperties", .number(1)),
            ("properties", .object(StageRegistry.all.map { ($0.spec.kind, .object([("$ref", .string("#/definitions/kind_\($0.spec.kind)"))])) })),
            ("additionalProperties", .bool(false)),
        ])))
        for type in StageRegistry.all {
            let spec = type.spec
            var properties: [(String, JSONValue)] = []
            for o in spec.options { properties.append((o.name, option(o, kind: spec.kind))) }
            var body: [(String, JSONValue)] = [
                ("description", .string(spec.summary)),
                ("type", .string("object")),
                ("properties", .object(properties)),
                ("additionalProperties", .bool(false)),
            ]
            let required = spec.options.filter(\.isRequired).map { JSONValue.string($0.name) }
            if !required.isEmpty { body.append(("required", .array(required))) }
            definitions.append(("kind_\(spec.kind)", .object(body)))
        }
        let steps = CleanStage.stepReference
        definitions.append(("clean_step", .object([
            ("description", .string("One clean step: `- step: column`, `- step: [columns]` or `- step: { column: …, options }`.")),
            ("type", .string("object")),
            ("minProperties", .number(1)), ("maxProperties", .number(1)),
            ("properties", .object(steps.map { s in (s.step, .object([("description", .string(s.summary + " Written as: " + s.form))])) })),
            ("additionalProperties", .bool(false)),
        ])))
        let root: JSONValue = .object([
            ("$schema", .string("http://json-schema.org/draft-07/schema#")),
            ("title", .string("crmflow pipeline")),
            ("description", .string("A crmflow pipeline file (generated by `crmflow schema` from the stage specs; see docs/stages.md).")),
            ("type", .string("object")),
            ("required", .array([.string("pipeline"), .string("stages")])),
            ("additionalProperties", .bool(false)),
            ("properties", .object([
                ("pipeline", .object([("description", .string("The pipeline's name; it names the output directory out/<name>.")), ("type", .string("string")),
                                      ("pattern", .string("^[A-Za-z0-9._-]+$"))])),
                ("description", .object([("description", .string("Free text for people.")), ("type", .string("string"))])),
                ("vars", .object([("description", .string("Variables, used as ${name} in values; --var name=value overrides.")), ("type", .array([.string("object"), .string("null")])),
                                  ("additionalProperties", .object([("$ref", .string("#/definitions/scalar"))]))])),
                ("stages", .object([("description", .string("Stage id → kind and options.")), ("type", .string("object")),
                                    ("propertyNames", .object([("pattern", .string("^[A-Za-z_][A-Za-z0-9_-]*$"))])),
                                    ("additionalProperties", .object([("$ref", .string("#/definitions/stage"))]))])),
                ("tests", .object([("description", .string("Pipeline tests: given rows for source stages, expected rows of other stages (`crmflow test`).")),
                                   ("type", .array([.string("array"), .string("object"), .string("null")]))])),
                ("allow_outside_out", .object([("description", .string("Let emits write outside the output directory.")), ("type", .string("boolean"))])),
                ("mask_pii", .object([("description", .string("Mask e-mails, phones and names in run summaries and change reports.")), ("type", .string("boolean"))])),
            ])),
            ("definitions", .object(definitions)),
        ])
        return root.rendered(indent: 0) + "\n"
    }

    static func option(_ o: OptionSpec, kind: String) -> JSONValue {
        var description = o.summary
        if let d = o.defaultValue { description += " Default: \(d)." }
        var body: [(String, JSONValue)] = [("description", .string(description))]
        let scalar: [(String, JSONValue)]
        if let allowed = o.allowed {
            // YAML writes `true` and `3` unquoted: accept the typed forms of allowed values too.
            var values: [JSONValue] = allowed.map { .string($0) }
            for a in allowed {
                if a == "true" || a == "false" { values.append(.bool(a == "true")) } else if a == "null" { values.append(.null) } else if let n = Double(a) { values.append(.number(n)) }
            }
            scalar = [("enum", .array(values))]
        } else {
            scalar = [("$ref", .string("#/definitions/scalar"))]
        }
        let steps = kind == "clean" && o.name == "steps"
        // NB: as the validator's shape check: a list also takes one value (a one-item list), and any option may be null.
        let items: [(String, JSONValue)] = o.shape == .scalarOrList ? scalar : steps ? [("$ref", .string("#/definitions/clean_step"))] : []
        switch o.shape {
        case .scalar: body += scalar
        case .list, .scalarOrList:
            body.append(("anyOf", .array([.object(scalar), .object([("type", .string("array")), ("items", .object(items))]), .object([("type", .string("null"))])])))
        case .mapping: body.append(("type", .array([.string("object"), .string("null")])))
        case .any: break
        }
        return .object(body)
    }
}

/// A small ordered JSON value for generated documents (keys keep their written order).
public indirect enum JSONValue: Sendable {
    case string(String), number(Double), bool(Bool), null
    case array([JSONValue])
    case object([(String, JSONValue)])

    public func rendered(indent: Int) -> String {
        let pad = String(repeating: "  ", count: indent + 1), close = String(repeating: "  ", count: indent)
        switch self {
        case .string(let s): return JSONText.quoted(s)
        case .number(let n): return n == n.rounded() && abs(n) < 1e15 ? String(Int64(n)) : String(n)
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .array(let items):
            if items.allSatisfy({ if case .object = $0 { false } else if case .array = $0 { false } else { true } }) {
                return "[" + items.map { $0.rendered(indent: indent) }.joined(separator: ", ") + "]"
            }
            return "[\n" + items.map { pad + $0.rendered(indent: indent + 1) }.joined(separator: ",\n") + "\n" + close + "]"
        case .object(let entries):
            if entries.isEmpty { return "{}" }
            return "{\n" + entries.map { pad + JSONText.quoted($0.0) + ": " + $0.1.rendered(indent: indent + 1) }.joined(separator: ",\n") + "\n" + close + "}"
        }
    }

}
