import Foundation
import Testing

/// `crmflow init`: a folder of exports to a running pipeline in one command.
@Suite(.serialized) struct InitTests {
    static func folder() throws -> String {
        let dir = CLI.scratch("exports")
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/crm", withIntermediateDirectories: true)
        let root = CLI.packageRoot.path + "/sample-data/"
        for (from, to) in [("salesforce/contacts.csv", "crm/Salesforce Contacts.csv"), ("hubspot/contacts.json", "hubspot.json"),
                           ("legacy/contacts_legacy.xlsx", "legacy.xlsx"), ("surveys/surveys.db", "surveys.db"),
                           ("activities/calendar.ics", "calendar.ics"), ("legacy/customers_1252.csv", "kunden.csv")] {
            try fm.copyItem(atPath: root + from, toPath: dir + "/" + to)
        }
        _ = fm.createFile(atPath: dir + "/notes.pdf", contents: Data("%PDF-1.4".utf8))
        _ = fm.createFile(atPath: dir + "/.hidden.csv", contents: Data("a,b\n1,2\n".utf8))
        return dir
    }

    @Test func aFolderOfExportsBecomesARunningPipeline() throws {
        let dir = try Self.folder()
        let file = CLI.scratch("starter.yaml")
        let r = try CLI.run(["init", dir, "-o", file, "--name", "my-exports"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("wrote \(file): "), "\(r.stdout)")
        let text = try String(contentsOfFile: file, encoding: .utf8)
        // One source per file (a stage per SQLite table), hidden files left alone, the PDF named as not read.
        for expected in ["crm_salesforce_contacts:\n    ingest: { path: \"${data}/crm/Salesforce Contacts.csv\" }",
                         "hubspot:\n    ingest: { path: \"${data}/hubspot.json\" }", "legacy:\n    ingest: { path: \"${data}/legacy.xlsx\" }",
                         "surveys_responses:\n    ingest: { sqlite: \"${data}/surveys.db\", table: responses }",
                         "calendar:\n    ingest: { path: \"${data}/calendar.ics\", own_domains: [] }",
                         "# Not read (no reader for them): notes.pdf", "- email: { column: Email, fix_typos: true, canonical: email_key }",
                         "- dedupe: { keys: [email_key], keep: first }", "emit_crm_salesforce_contacts:\n    emit: { input: crm_salesforce_contacts_clean, path: crm_salesforce_contacts.csv }",
                         "# kunden.csv: 5 rows, 6 columns; windows-1252, semicolon-separated"] {
            #expect(text.contains(expected), "missing: \(expected)\n\(text)")
        }
        #expect(!text.contains("hidden"))
        // It validates and runs; every row of every source is accounted for.
        let out = CLI.scratch("starter-out")
        let run = try CLI.run(["run", file, "--out", out])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("every row accounted for"), "\(run.stderr)")
        for output in ["crm_salesforce_contacts.csv", "hubspot.csv", "legacy.csv", "surveys_responses.csv", "calendar.csv", "kunden.csv"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + output), "\(output)")
        }
        // The Windows-1252 file is read as such: its umlauts arrive intact.
        let kunden = try String(contentsOfFile: out + "/kunden.csv", encoding: .utf8)
        #expect(kunden.contains("ü") || kunden.contains("ö") || kunden.contains("ä"), "\(kunden)")
    }

    @Test func itRefusesToOverwriteAndNamesAnEmptyFolder() throws {
        let dir = try Self.folder()
        let file = CLI.write("keep me\n", "exists.yaml")
        let again = try CLI.run(["init", dir, "-o", file])
        #expect(again.status == 2 && again.stderr.contains("exists"), "\(again.stderr)")
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "keep me\n")
        let forced = try CLI.run(["init", dir, "-o", file, "--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        let empty = CLI.scratch("empty")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: empty + "/readme.pdf", contents: Data())
        let none = try CLI.run(["init", empty, "-o", CLI.scratch("none.yaml")])
        #expect(none.status == 66 && none.stderr.contains("no CSV, JSON, Excel"), "\(none.stderr)")
        let missing = try CLI.run(["init", "/nonexistent/folder"])
        #expect(missing.status == 66 && missing.stderr.contains("is not a folder"))
    }
}
