import ArgumentParser
import CRMFlowCore
import CRMFlowIO
import CRMFlowPipeline
import Foundation

/// `crmflow verify MANIFEST`: every output a run recorded still has the size and SHA-256 the manifest says.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every output of a run against its manifest (out/<pipeline>/run-summary.json): size and SHA-256.",
        discussion: "Exit 0 when every file matches, 65 when one is missing or differs, 66 when the manifest is missing. Paths written as ${env:NAME} are read from the environment.")

    @Argument(help: "The run manifest, e.g. out/nightly-consolidation/run-summary.json.")
    var manifest: String

    @Flag(help: "Check the run's input files too.")
    var inputs = false

    struct Entry {
        var path: String
        var bytes: Int
        var sha256: String
    }

    func run() throws {
        guard let data = FileManager.default.contents(atPath: manifest) else {
            throw CRMFlowError(.inputMissing, "cannot read the manifest '\(manifest)'", hint: "crmflow run writes it to <out>/run-summary.json")
        }
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let outputs = root["outputs"] as? [[String: Any]] else {
            throw CRMFlowError(.badData, "'\(manifest)' is not a crmflow run manifest", hint: "it has no \"outputs\" list")
        }
        let base = root["working_directory"] as? String ?? FileManager.default.currentDirectoryPath
        var entries: [(String, Entry)] = outputs.map { ("output", Self.entry($0)) }
        if inputs { entries += (root["inputs"] as? [[String: Any]] ?? []).map { ("input", Self.entry($0)) } }
        var problems = 0
        for (kind, e) in entries {
            let path = Self.resolved(e.path, base: base)
            guard let actual = RunSummary.fingerprint(path) else {
                FileHandle.standardError.write("MISSING \(kind) \(e.path)\n")
                problems += 1
                continue
            }
            if actual.bytes != e.bytes || actual.sha256 != e.sha256 {
                FileHandle.standardError.write("CHANGED \(kind) \(e.path): \(actual.bytes) bytes, sha256 \(actual.sha256); the manifest says \(e.bytes) bytes, \(e.sha256)\n")
                problems += 1
            }
        }
        let status = root["status"] as? String ?? "?"
        if problems > 0 {
            FileHandle.standardError.write("\(manifest): \(problems) of \(entries.count) files do not match (run \(status))\n")
            throw ExitCode(ExitStatus.badData.rawValue)
        }
        FileHandle.standardOutput.write("\(manifest): all \(entries.count) files match (run \(status))\n")
    }

    static func entry(_ o: [String: Any]) -> Entry {
        Entry(path: o["path"] as? String ?? "", bytes: (o["bytes"] as? NSNumber)?.intValue ?? -1, sha256: o["sha256"] as? String ?? "")
    }

    /// The manifest's path with `${env:NAME}` read from the environment, relative paths against the run's directory.
    static func resolved(_ path: String, base: String) -> String {
        var p = path
        let env = ProcessInfo.processInfo.environment
        while let open = p.range(of: "${env:"), let close = p[open.upperBound...].firstIndex(of: "}") {
            let name = String(p[open.upperBound..<close])
            p.replaceSubrange(open.lowerBound...close, with: env[name] ?? "")
        }
        return p.hasPrefix("/") ? p : base + "/" + p
    }
}
