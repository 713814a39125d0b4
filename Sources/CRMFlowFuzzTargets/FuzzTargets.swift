import CRMFlowCore
import CRMFlowIO
import CRMFlowPipeline
import CRMFlowStages
import Foundation
import Synchronization

/// What each libFuzzer target does with one input (`make fuzz`), kept in a library so that every input that once
/// crashed is replayed by the tests (`Tests/Fixtures/fuzz/<target>/`). Each body must never crash, hang or trap,
/// whatever the bytes; errors are expected and ignored.
public enum FuzzTargets {
    public static let names = ["csv", "json", "pipeline", "expression", "xml", "ics", "mail"]

    public static func run(_ target: String, _ bytes: [UInt8]) {
        switch target {
        case "csv": csv(bytes)
        case "json": json(bytes)
        case "pipeline": pipeline(bytes)
        case "expression": expression(bytes)
        case "xml": xml(bytes)
        case "ics": ics(bytes)
        case "mail": mail(bytes)
        default: break
        }
    }

    private static let calls = Atomic<Int>(0)

    /// A scratch file of its own for each call (the tests replay inputs in parallel), for the readers, which read from
    /// paths; removed by `body`'s caller.
    static func withScratch(_ bytes: [UInt8], _ suffix: String, _ body: (String) -> Void) {
        let n = calls.wrappingAdd(1, ordering: .relaxed).newValue
        let path = NSTemporaryDirectory() + "crmflow-fuzz-\(getpid())-\(n).\(suffix)"
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        defer { unlink(path) }
        body(path)
    }

    /// The CSV reader: whole-file and chunked reads (1 KiB chunks on two threads) must agree exactly, and every
    /// record must be kept or rejected; the rejects' records are read back from the file.
    public static func csv(_ bytes: [UInt8]) {
        withScratch(bytes, "csv", csv(path:))
    }

    static func csv(path: String) {
        var whole = CSVOptions()
        whole.threads = 1
        whole.keepRowLines = true
        var chunked = whole
        chunked.threads = 2
        chunked.chunkSize = 1024
        let a = try? CSVFile.open(path, options: whole).load()
        let b = try? CSVFile.open(path, options: chunked).load()
        switch (a, b) {
        case (nil, nil): return
        case let (a?, b?):
            if a.table != b.table || a.rejects != b.rejects || a.recordsRead != b.recordsRead {
                fatalError("chunked read differs from the whole-file read: \(a.table.rowCount) vs \(b.table.rowCount) rows, \(a.rejects.count) vs \(b.rejects.count) rejects")
            }
            if a.recordsRead != a.table.rowCount + a.rejects.count {
                fatalError("row accounting: \(a.recordsRead) read, \(a.table.rowCount) kept, \(a.rejects.count) rejected")
            }
            if !a.rejects.isEmpty, let file = try? CSVFile.open(path, options: whole) {
                _ = try? file.records(atLines: Set(a.rejects.map(\.line)))
            }
        default:
            fatalError("one read failed and the other did not")
        }
    }

    public static func json(_ bytes: [UInt8]) {
        withScratch(bytes, "json") { path in
            _ = try? JSONReader.read(path: path, ndjson: false)
            _ = try? JSONReader.read(path: path, ndjson: true)
        }
    }

    /// The pipeline loader: any text gives a pipeline or diagnostics with locations, never a crash.
    public static func pipeline(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        var o = PipelineLoader.Options()
        o.checkSchemas = false
        o.environment = ["CRMFLOW_KEY": String(repeating: "0", count: 64)]
        let log = DiagnosticLog()
        if let p = PipelineLoader.load(text: text, path: "fuzz.yaml", options: o, log: log) {
            _ = PlanRenderer.text(p)
        } else {
            _ = DiagnosticRenderer.render(log.all, sources: ["fuzz.yaml": text])
        }
    }

    static let table = Table(
        names: ["name", "amount", "n", "closed", "is_won"], types: [.string, .money, .integer, .date, .boolean],
        rows: [[.string("Ann"), .money(12_345, "USD"), .integer(3), .date(19_000), .boolean(true)],
               [.null, .money(-50, "USD"), .integer(0), .null, .boolean(false)],
               [.string(""), .null, .null, .date(20_000), .null]])

    /// The expression language: parse, type-check and evaluate on a small table with nulls.
    public static func expression(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let compiled = try? ExprCompiler.compile(text, schema: table.schema) else { return }
        _ = compiled.evaluate(table, env: EvalEnvironment(asOf: 20_088))
    }

    /// The Excel reader's XML layer: the bytes as a worksheet, as shared strings and as styles (the zip container is
    /// ZIPFoundation's); cells must come back in rows, and cell references as written.
    public static func xml(_ bytes: [UInt8]) {
        XLSXReader.readParts(bytes)
    }

    /// The calendar reader: any text gives activities and rejects, never a crash; every event is accounted for.
    public static func ics(_ bytes: [UInt8]) {
        withScratch(bytes, "ics") { path in
            guard let loaded = try? ICalendar.read(path: path, window: 19_000...19_400, timezone: nil, keepBodies: true, ownDomains: ["us.com"], source: "fuzz.ics")
            else { return }
            if loaded.recordsRead != loaded.table.rowCount + loaded.rejects.count { fatalError("calendar accounting") }
        }
    }

    /// The mail reader (mbox and .eml).
    public static func mail(_ bytes: [UInt8]) {
        withScratch(bytes, "mbox") { path in
            guard let loaded = try? MailArchive.read(path: path, keepBodies: true, ownDomains: ["us.com"], source: "fuzz.mbox") else { return }
            if loaded.recordsRead != loaded.table.rowCount + loaded.rejects.count { fatalError("mail accounting") }
        }
    }
}
