import CRMFlowCore
import CRMFlowIO
import CRMFlowStages
import Crypto
import Foundation

/// Run checkpoints (`crmflow run --checkpoint`, `--resume`): each stage that finishes keeps its rows, rejects,
/// accounting and notes in `<out>/.crmflow/checkpoints/<stage>.ckpt` under a key made of everything its output
/// depends on — its kind and options (variables and the as-of date resolved), the files it names (by SHA-256 of their
/// bytes), its watermark, the columns later stages read, and the keys of its inputs. `--resume` after a failure reuses
/// every checkpoint whose key still matches and reruns the rest; a successful run removes them.
///
/// Not kept, so always rerun: stages that write files (emit, report, snapshot, ...: their files must be in the new
/// run's publication) and stages reading PostgreSQL (the server's rows cannot be fingerprinted). An ingest streamed into
/// the stage after it holds no rows of its own: its checkpoint (rejects, accounting) is reused only with that stage's.
enum Checkpoints {
    static let magic = "crmflow checkpoint 1"

    static func directory(of outputDirectory: String) -> String { outputDirectory + "/" + OutputPublisher.stateFolder + "/checkpoints" }

    static func isReusable(_ decl: StageDeclaration, _ result: StageResult) -> Bool {
        result.outputs.isEmpty && !decl.config.options.contains { $0.key == "postgres" }
    }

    /// False for an ingest streamed into the next stage: its checkpoint keeps its rejects and accounting, not rows, so
    /// it stands in for the stage only when no stage that runs reads it.
    static func holdsRows(_ result: StageResult) -> Bool { result.data.table.rowCount == result.accounting.rowsOut }

    static func canonical(_ node: ConfigNode) -> String {
        switch node.content {
        case .scalar(let s): return "s" + String(s.utf8.count) + ":" + s
        case .null: return "~"
        case .sequence(let items): return "[" + items.map(canonical).joined(separator: ",") + "]"
        case .mapping(let entries): return "{" + entries.map { "k" + String($0.key.utf8.count) + ":" + $0.key + "=" + canonical($0.value) }.joined(separator: ",") + "}"
        }
    }

    /// Every scalar of the stage's options that names an existing file (inputs, quota tables, databases).
    static func files(_ node: ConfigNode, base: String, into out: inout [String]) {
        switch node.content {
        case .scalar(let s):
            guard !s.isEmpty, s.count < 4096 else { return }
            let path = s.hasPrefix("/") ? s : (base as NSString).appendingPathComponent(s)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue { out.append(path) }
        case .sequence(let items): for i in items { files(i, base: base, into: &out) }
        case .mapping(let entries): for e in entries { files(e.value, base: base, into: &out) }
        case .null: break
        }
    }

    /// The key of each stage (see the type's comment).
    static func keys(_ stages: [StageDeclaration], needed: [String: Set<String>], asOf: Int32, baseDirectory: String,
                     watermarks: [String: Watermark]) -> [String: String] {
        var keys: [String: String] = [:]
        var hashes: [String: String] = [:]
        func key(_ decl: StageDeclaration, depth: Int) -> String {
            if let k = keys[decl.id] { return k }
            var text = "\(magic)|\(decl.id)|\(decl.kind)|as-of \(asOf)|"
            for e in decl.config.options { text += e.key + "=" + canonical(e.value) + ";" }
            var paths: [String] = []
            for e in decl.config.options { files(e.value, base: baseDirectory, into: &paths) }
            for p in paths.sorted() {
                if hashes[p] == nil { hashes[p] = RunSummary.fingerprint(p, remembered: true).map { "\($0.bytes):\($0.sha256)" } ?? "unreadable" }
                text += "file \(p) \(hashes[p]!);"
            }
            if let w = watermarks[decl.id] { text += "watermark \(w.source) \(w.column) \(w.value);" }
            text += "needed " + (needed[decl.id].map { $0.sorted().joined(separator: ",") } ?? "*") + ";"
            for input in decl.inputs {
                if depth < 10_000, let d = stages.first(where: { $0.id == input }) { text += "input " + key(d, depth: depth + 1) + ";" } else { text += "input \(input) ?;" }
            }
            let k = SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
            keys[decl.id] = k
            return k
        }
        for s in stages { _ = key(s, depth: 0) }
        return keys
    }

    static func write(_ result: StageResult, stage: String, key: String, in directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var w = ByteWriter()
        w.string(magic)
        w.string(key)
        let a = result.accounting
        w.int(a.rowsIn); w.int(a.rowsOut); w.int(a.rejected)
        w.strings(a.removed.keys.sorted()); for k in a.removed.keys.sorted() { w.int(a.removed[k]!) }
        w.strings(a.added.keys.sorted()); for k in a.added.keys.sorted() { w.int(a.added[k]!) }
        w.strings(result.notes)
        if let m = result.watermark {
            w.int(1); w.string(m.source); w.string(m.column); w.string(m.encoded.type); w.string(m.encoded.text)
        } else {
            w.int(0)
        }
        w.int(result.rejects.count)
        for r in result.rejects { w.string(r.source); w.int(r.line); w.string(r.code); w.string(r.reason); w.string(r.record) }
        if let o = result.data.origins {
            w.int(1); w.strings(o.sources); w.raw(o.source); w.raw(o.line)
        } else {
            w.int(0)
        }
        w.table(result.data.table)
        let out = try AtomicOutput(path: directory + "/" + fileName(stage))
        try out.write(w.bytes)
        try out.commit()
    }

    static func fileName(_ stage: String) -> String {
        // NB: stage ids are identifiers, but a file name must never climb out of the folder.
        String(stage.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" ? $0 : "_" }) + ".ckpt"
    }

    /// The checkpoint of `stage` when its key is `key`; nil when there is none, it is another key's, or unreadable.
    static func read(stage: String, key: String, in directory: String) -> StageResult? {
        guard let data = FileManager.default.contents(atPath: directory + "/" + fileName(stage)) else { return nil }
        var r = ByteReader([UInt8](data))
        do {
            guard try r.string() == magic, try r.string() == key else { return nil }
            let rowsIn = try r.int(), rowsOut = try r.int(), rejected = try r.int()
            var removed: [String: Int] = [:], added: [String: Int] = [:]
            for k in try r.strings() { removed[k] = try r.int() }
            for k in try r.strings() { added[k] = try r.int() }
            let notes = try r.strings()
            var watermark: Watermark?
            if try r.int() == 1 {
                let source = try r.string(), column = try r.string(), type = try r.string(), text = try r.string()
                guard let v = Watermark.decoded(type: type, text: text) else { return nil }
                watermark = Watermark(source: source, column: column, value: v)
            }
            var rejects: [Reject] = []
            for _ in 0..<(try r.count(40)) {
                rejects.append(Reject(source: try r.string(), line: try r.int(), code: try r.string(), reason: try r.string(), record: try r.string()))
            }
            var origins: RowOrigins?
            if try r.int() == 1 { origins = RowOrigins(sources: try r.strings(), source: try r.raw(UInt16.self), line: try r.raw(Int32.self)) }
            let table = try r.table()
            if let origins, origins.line.count != table.rowCount || origins.source.contains(where: { Int($0) >= origins.sources.count }) { return nil }
            return StageResult(data: StageData(table: table, origins: origins), rejects: rejects,
                               accounting: Accounting(rowsIn: rowsIn, rowsOut: rowsOut, rejected: rejected, removed: removed, added: added),
                               notes: notes + ["reused from the checkpoint of the failed run (--resume): its inputs and options are unchanged"],
                               watermark: watermark)
        } catch {
            return nil
        }
    }
}
