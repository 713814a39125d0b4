import Foundation
import Testing

/// Runs the built `crmflow` binary, as a user would.
enum CLI {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var binary: URL {
        // The test bundle sits in the same build folder as the executable.
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [here, here.deletingLastPathComponent()] {
            let b = candidate.appendingPathComponent("crmflow")
            if FileManager.default.isExecutableFile(atPath: b.path) { return b }
        }
        return packageRoot.appendingPathComponent(".build/debug/crmflow")
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        let p = Process()
        p.executableURL = binary
        p.arguments = arguments
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        p.currentDirectoryURL = packageRoot
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// Runs another program (an independent reader: sqlite3, psql, python3) with stdout and stderr together.
    static func tool(_ path: String, _ arguments: [String]) throws -> (status: Int32, out: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func scratch(_ name: String) -> String {
        let dir = NSTemporaryDirectory() + "crmflow-cli-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir + "/" + UUID().uuidString + "-" + name
    }

    static func write(_ text: String, _ name: String) -> String {
        let p = scratch(name)
        _ = FileManager.default.createFile(atPath: p, contents: Data(text.utf8))
        return p
    }
}

struct ExitCase: CustomTestStringConvertible, Sendable {
    var name: String
    var arguments: [String]
    var status: Int32
    var stderrContains: String
    var testDescription: String { name }
}

@Suite(.serialized) struct CLITests {
    static let exitCases: [ExitCase] = [
        ExitCase(name: "unknown option is a usage error", arguments: ["convert", "a.csv", "b.json", "--frobnicate"], status: 2, stderrContains: "Unknown option"),
        ExitCase(name: "missing input", arguments: ["convert", "/nonexistent/in.csv", "/tmp/out.json"], status: 66, stderrContains: "cannot open '/nonexistent/in.csv'"),
        ExitCase(name: "unknown output extension", arguments: ["convert", "sample-data/salesforce/contacts.csv", "/tmp/out.xyz"], status: 2, stderrContains: "--to"),
        ExitCase(name: "unwritable output", arguments: ["convert", "sample-data/salesforce/contacts.csv", "/nonexistent-dir/out.json"], status: 73, stderrContains: "does not exist"),
        ExitCase(name: "overwriting the input", arguments: ["convert", "sample-data/salesforce/contacts.csv", "sample-data/salesforce/contacts.csv"], status: 73, stderrContains: "refusing to overwrite"),
        ExitCase(name: "bad --type column", arguments: ["convert", "sample-data/salesforce/contacts.csv", "/tmp/x.json", "--type", "Emial=string"], status: 2, stderrContains: "did you mean 'Email'"),
        ExitCase(name: "unknown type", arguments: ["convert", "sample-data/salesforce/contacts.csv", "/tmp/x.json", "--type", "Email=strnig"], status: 2, stderrContains: "unknown type 'strnig'"),
    ]

    @Test(arguments: exitCases)
    func exitCodes(_ c: ExitCase) throws {
        let r = try CLI.run(c.arguments)
        #expect(r.status == c.status, "\(r.stderr)")
        #expect(r.stderr.contains(c.stderrContains), "\(r.stderr)")
    }

    @Test func helpIsExit0OnStdout() throws {
        let r = try CLI.run(["convert", "--help"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("USAGE: crmflow convert"))
    }

    @Test func invalidJSONIsExit65WithPosition() throws {
        let input = CLI.write("[1,\n 2,]", "bad.json")
        let r = try CLI.run(["convert", input, CLI.scratch("out.csv")])
        #expect(r.status == 65)
        #expect(r.stderr.contains("bad.json:2:4: unexpected character ']'"), "\(r.stderr)")
    }

    @Test func convertWritesRowsAndRejectsAndAccountsForEveryRow() throws {
        let out = CLI.scratch("contacts.ndjson")
        let r = try CLI.run(["convert", "sample-data/salesforce/contacts.csv", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("read 10 record(s); wrote 9 row(s)"))
        #expect(r.stderr.contains("rejected 1"))
        let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 9)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]
        #expect(first?["Mailing Zip"] as? String == "02139", "ZIP codes stay text")
        #expect(first?["Created Date"] as? String == "2023-03-12")
        #expect(first?["Annual Revenue"] as? Double == 1_200_000)
        let rejects = try String(contentsOfFile: out + ".rejects.csv", encoding: .utf8)
        #expect(rejects.contains("contacts.csv,11,E_TOO_FEW_FIELDS,\"expected 10 field(s), found 8\""))
        #expect(!FileManager.default.fileExists(atPath: out + ".tmp"))
    }

    @Test func formulaInjectionIsGuardedInCSVOutput() throws {
        let out = CLI.scratch("contacts.csv")
        let r = try CLI.run(["convert", "sample-data/salesforce/contacts.csv", out])
        #expect(r.status == 0)
        let text = try String(contentsOfFile: out, encoding: .utf8)
        #expect(text.contains("'=cmd|' /C calc'!A0"))
        let unsafe = CLI.scratch("unsafe.csv")
        _ = try CLI.run(["convert", "sample-data/salesforce/contacts.csv", unsafe, "--no-formula-guard"])
        #expect(try String(contentsOfFile: unsafe, encoding: .utf8).contains(",=cmd|' /C calc'!A0,"))
    }

    @Test func legacyWindows1252SpreadsheetExport() throws {
        let out = CLI.scratch("legacy.csv")
        let r = try CLI.run(["convert", "sample-data/legacy/customers_1252.csv", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("windows-1252, semicolon-delimited"))
        let text = try String(contentsOfFile: out, encoding: .utf8)
        #expect(text.hasPrefix("Kundennr,Name,Ort,PLZ,Kunde seit,Umsatz\n00017,Müller & Söhne,Köln,50667,2019-04-03,\"12500,00\"\n"))
    }

    @Test func profileMatchesGolden() throws {
        let r = try CLI.run(["profile", "sample-data/salesforce/contacts.csv"])
        #expect(r.status == 0)
        let golden = CLI.packageRoot.appendingPathComponent("Tests/Fixtures/profile-salesforce-contacts.txt")
        if ProcessInfo.processInfo.environment["CRMFLOW_RECORD_GOLDEN"] != nil {
            try r.stdout.write(to: golden, atomically: true, encoding: .utf8)
            Issue.record("golden re-recorded at \(golden.path); review the diff and run again")
            return
        }
        let expected = try String(contentsOf: golden, encoding: .utf8)
        #expect(r.stdout == expected)
    }

    @Test func profileJSONIsValidAndComplete() throws {
        let r = try CLI.run(["profile", "sample-data/hubspot/deals.json", "--json"])
        #expect(r.status == 0)
        let o = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(o["rows"] as? Int == 4)
        let columns = try #require(o["columns"] as? [[String: Any]])
        #expect(columns.map { $0["name"] as? String } == ["id", "properties.dealname", "properties.dealstage", "properties.amount", "properties.closedate", "owner.name", "owner.email", "tags"])
        #expect(columns[3]["type"] as? String == "double")
        #expect(columns[3]["nulls"] as? Int == 1)
    }

    /// `convert` types the chunks with the first 4 MiB's plans while it gathers the whole file's evidence: where they
    /// agree that one pass is the output; where a value past the sample widens a column (an integer column whose
    /// last value is text), the file is converted again with the whole file's types, as two passes would have.
    @Test func convertTypesWithTheWholeFilesEvidenceInOnePassOrTwo() throws {
        func file(lastCode: String) -> String {
            var text = "units,quantity,amount,note\n"
            for i in 1...130_000 { text += "\(i),\(i % 97),\(i % 1000).25,\"row \(i), quoted\"\n" }
            text += "130001,\(lastCode),1.50,last\n"
            let path = CLI.scratch("wide-\(lastCode).csv")
            FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
            return path
        }
        for (lastCode, typed) in [("42", true), ("X-42", false)] {
            let input = file(lastCode: lastCode), out = CLI.scratch("out.ndjson")
            #expect(try Data(contentsOf: URL(fileURLWithPath: input)).count > 4 << 20)
            let r = try CLI.run(["convert", input, out, "--threads", "2"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stderr.contains("read 130001 record(s); wrote 130001 row(s) to \(out); rejected 0"), "\(r.stderr)")
            #expect(r.stderr.contains("converted a second time") == !typed, "\(r.stderr)")
            let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
            #expect(lines.count == 130_001)
            #expect(lines.first == (typed ? #"{"units":1,"quantity":1,"amount":1.25,"note":"row 1, quoted"}"# : #"{"units":1,"quantity":"1","amount":1.25,"note":"row 1, quoted"}"#))
            #expect(lines.last == (typed ? #"{"units":130001,"quantity":42,"amount":1.5,"note":"last"}"# : #"{"units":130001,"quantity":"X-42","amount":1.5,"note":"last"}"#))
        }
    }

    @Test func generateIsDeterministic() throws {
        let a = CLI.scratch("a.csv"), b = CLI.scratch("b.csv")
        _ = try CLI.run(["generate", "contacts", "--rows", "500", "--seed", "7", "--out", a])
        _ = try CLI.run(["generate", "contacts", "--rows", "500", "--seed", "7", "--out", b])
        #expect(try Data(contentsOf: URL(fileURLWithPath: a)) == Data(contentsOf: URL(fileURLWithPath: b)))
        let r = try CLI.run(["convert", a, CLI.scratch("a.ndjson"), "--threads", "1"])
        #expect(r.stderr.contains("read 500 record(s); wrote 500 row(s)"), "\(r.stderr)")
    }
}
