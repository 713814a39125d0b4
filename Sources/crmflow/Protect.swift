import ArgumentParser
import CRMFlowCore
import CRMFlowIO
import CRMFlowStages
import Foundation

/// `crmflow keygen`: a new random key for `protect` / `decrypt`.
struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a new random 256-bit key (64 hex digits) for the protect and decrypt stages.",
        discussion: "Keep it out of pipeline files and version control: export it (export CRMFLOW_KEY=...) or write it to a key file readable only by the job's user. Losing it makes encrypted values unrecoverable; changing it changes every pseudonym.")

    func run() throws {
        var g = SystemRandomNumberGenerator()
        let hex = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &g)) }.joined()
        FileHandle.standardOutput.write(hex + "\n")
    }
}

/// `crmflow decrypt IN OUT`: reverses `protect`'s encryption of some columns of a file.
struct Decrypt: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decrypt columns a protect stage encrypted (enc:v1:...) in a CSV / JSON file; rows that cannot be decrypted go to OUT.rejects.csv.",
        discussion: "Exit 0 when every row was decrypted, 65 when some were rejected (wrong key, altered value, not encrypted).")

    @Argument(help: "Input file.") var input: String
    @Argument(help: "Output file (written atomically).") var output: String
    @Option(help: "Comma-separated encrypted columns.") var columns: String
    @Option(help: "The environment variable holding the key.") var keyEnv: String?
    @Option(help: "A file holding the key.") var keyFile: String?
    @OptionGroup var readerOptions: ReaderOptions

    func run() throws {
        let key: ProtectionKey
        if let keyEnv {
            guard let text = ProcessInfo.processInfo.environment[keyEnv] else {
                throw CRMFlowError(.usage, "the environment variable \(keyEnv) is not set", hint: "export \(keyEnv)=<the key protect used>")
            }
            Secrets.register(text, name: keyEnv)
            key = try ProtectionKey(text: text)
        } else if let keyFile {
            key = try ProtectionKey(file: keyFile)
        } else {
            throw CRMFlowError(.usage, "decrypt needs --key-env NAME or --key-file PATH", hint: "keys never come from the command line itself")
        }
        var reader = readerOptions
        reader.allStrings = true
        let loaded = try reader.load(input, keepRowLines: true)
        var table = loaded.table
        let names = columns.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        var failed: [Int: String] = [:]
        for name in names {
            guard let column = table.column(named: name) else {
                throw CRMFlowError(.usage, "'\(input)' has no column '\(name)'", hint: "columns: " + table.schema.names.joined(separator: ", "))
            }
            let (clear, failures) = FieldProtection.decrypted(column, named: name, key: key)
            failed.merge(failures) { first, _ in first }
            table = table.setting(name, clear)
        }
        let keep = (0..<table.rowCount).filter { failed[$0] == nil }
        let format = FileFormat(path: output) ?? .csv
        try TableFileWriter.write(table.selecting(keep), to: output, format: format, inputs: [input])
        let lines = loaded.rowLines
        let rejects = failed.keys.sorted().map { r in
            Reject(source: input, line: lines.map { Int($0[r]) } ?? r + 1, code: "E_DECRYPT", reason: failed[r]!,
                   record: loaded.table.row(r).map { $0.isNull ? "" : $0.description }.joined(separator: ","))
        }
        let rejectsPath = output + ".rejects.csv"
        if !rejects.isEmpty { try RejectsWriter.write(rejects, to: rejectsPath, inputs: [input]) }
        FileHandle.standardError.write("\(input): decrypted \(keep.count) row(s) to \(output); rejected \(rejects.count)\(rejects.isEmpty ? "" : " (see \(rejectsPath))")\n")
        if !rejects.isEmpty { throw ExitCode(ExitStatus.badData.rawValue) }
    }
}
