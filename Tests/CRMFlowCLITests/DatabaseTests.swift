import Foundation
import Testing

/// SQLite sources and sinks, and the run history, against real SQLite files made with the sqlite3 C library.
@Suite(.serialized) struct DatabaseTests {
    /// Runs SQL with Debian's sqlite3 shell (an independent writer and reader of the files crmflow handles).
    @discardableResult
    static func sqlite(_ db: String, _ sql: String) throws -> String {
        try CLI.tool("/usr/bin/sqlite3", [db, sql]).out
    }

    static var hasShell: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3") }

    static func seeded(_ dir: String) throws -> String {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let db = dir + "/crm.db"
        try Self.sqlite(db, """
        CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT, created TEXT, score REAL, note TEXT);
        INSERT INTO contacts VALUES (1, 'a@x.com', '2024-01-05', 1.5, 'hi'), (2, 'b@x.com', '2024-02-07', NULL, NULL),
          (3, 'c@x.com', 'not a date', 2.25, 'x'), (4, 'd@x.com', '2024-03-01', 4, 'y');
        """)
        return db
    }

    @Test(.enabled(if: hasShell)) func ingestReadsTablesAndQueriesWithTypesAndRejects() throws {
        let dir = CLI.scratch("sqlite-in")
        let db = try Self.seeded(dir)
        let p = CLI.write("""
        pipeline: sq
        stages:
          c:
            ingest: { sqlite: \(db), table: contacts, columns: { created: date } }
          recent:
            filter: { input: c, where: "created >= date '2024-02-01' and score > 0" }
          q:
            ingest: { sqlite: \(db), query: "SELECT id, email FROM contacts WHERE id > 2" }
          e:
            emit: { input: recent, path: recent.csv }
          f:
            emit: { input: q, path: q.csv }
        """, "sq.yaml")
        let r = try CLI.run(["run", p, "--out", dir + "/out"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try String(contentsOfFile: dir + "/out/recent.csv", encoding: .utf8) == "id,email,created,score,note\n4,d@x.com,2024-03-01,4.0,y\n")
        #expect(try String(contentsOfFile: dir + "/out/q.csv", encoding: .utf8) == "id,email\n3,c@x.com\n4,d@x.com\n")
        let rejects = try String(contentsOfFile: dir + "/out/c.rejects.csv", encoding: .utf8)
        #expect(rejects.contains("\(db)#contacts,3,c,E_TYPE,column 'created': 'not a date' is not a valid date,\"3,c@x.com,not a date,2.25,x\""), "\(rejects)")
        #expect(r.stderr.contains("every row accounted for"))
        let bad = CLI.write("pipeline: b\nstages:\n  c:\n    ingest: { sqlite: \(db), table: contacs }\n", "b.yaml")
        let v = try CLI.run(["validate", bad])
        #expect(v.status == 78)
        #expect(v.stderr.contains("no such table: contacs"), "\(v.stderr)")
    }

    @Test(.enabled(if: hasShell)) func emitReplacesAppendsAndUpsertsInOneTransaction() throws {
        let dir = CLI.scratch("sqlite-out")
        let db = try Self.seeded(dir)
        func pipeline(_ mode: String, _ query: String) -> String {
            CLI.write("""
            pipeline: out
            stages:
              c:
                ingest: { sqlite: \(db), query: "\(query)" }
              e:
                emit: { input: c, sqlite: crm-out.db, table: customers, mode: \(mode), key: [id] }
            """, "out-\(mode).yaml")
        }
        let out = dir + "/out"
        let target = out + "/crm-out.db"
        #expect(try CLI.run(["run", pipeline("replace", "SELECT id, email FROM contacts WHERE id <= 2"), "--out", out, "--quiet"]).status == 0)
        #expect(try Self.sqlite(target, "SELECT id, email FROM customers ORDER BY id") == "1|a@x.com\n2|b@x.com\n")
        #expect(try CLI.run(["run", pipeline("append", "SELECT id + 10 AS id, email FROM contacts WHERE id = 3"), "--out", out, "--quiet"]).status == 0)
        #expect(try Self.sqlite(target, "SELECT count(*) FROM customers") == "3\n")
        #expect(try CLI.run(["run", pipeline("upsert", "SELECT id, upper(email) AS email FROM contacts WHERE id IN (2, 4)"), "--out", out, "--quiet"]).status == 0)
        #expect(try Self.sqlite(target, "SELECT id, email FROM customers ORDER BY id") == "1|a@x.com\n2|B@X.COM\n4|D@X.COM\n13|c@x.com\n")
        // An append the table cannot take fails, and the table is exactly as it was.
        let before = try Self.sqlite(target, "SELECT * FROM customers ORDER BY id")
        let wider = CLI.write("""
        pipeline: out
        stages:
          c:
            ingest: { sqlite: \(db), table: contacts }
          e:
            emit: { input: c, sqlite: crm-out.db, table: customers, mode: append }
        """, "wider.yaml")
        let failed = try CLI.run(["run", wider, "--out", out])
        #expect(failed.status == 65, "\(failed.stderr)")
        #expect(failed.stderr.contains("table 'customers' has no column 'created'"))
        #expect(try Self.sqlite(target, "SELECT * FROM customers ORDER BY id") == before)
        // A replace keeps no half-built table behind.
        #expect(try !Self.sqlite(target, ".tables").contains("__crmflow_new"))
        let escape = CLI.write("pipeline: x\nstages:\n  c:\n    ingest: { sqlite: \(db), table: contacts }\n  e:\n    emit: { input: c, sqlite: ../elsewhere.db, table: t }\n", "x.yaml")
        #expect(try CLI.run(["run", escape, "--out", out]).status == 78)
    }

    @Test func historyListsEveryRunNewestFirst() throws {
        let dir = CLI.scratch("history")
        let source = dir + ".csv"
        try "id,n\n1,2\n2,x\n".write(toFile: source, atomically: true, encoding: .utf8)
        let p = CLI.write("pipeline: h\nvars: { budget: \"5\" }\nstages:\n  c:\n    ingest: { path: \(source), columns: { n: integer }, max_rejects: \"${budget}\" }\n  e:\n    emit: { input: c, path: c.csv }\n", "h.yaml")
        #expect(try CLI.run(["run", p, "--out", dir, "--quiet"]).status == 0)
        #expect(try CLI.run(["run", p, "--out", dir, "--quiet", "--var", "budget=0"]).status == 65)
        let h = try CLI.run(["history", p, "--out", dir])
        #expect(h.status == 0, "\(h.stderr)")
        let lines = h.stdout.split(separator: "\n")
        #expect(lines.count == 5, "\(h.stdout)")
        #expect(lines[2].contains("failed") && lines[2].contains(" 65 "))
        #expect(lines[3].contains("succeeded") && lines[3].contains(" 0 "))
        #expect(lines[4] == "2 runs of h in \(dir)/crmflow.db")
        #expect(try CLI.run(["history", p, "--out", dir + "-none"]).status == 66)
    }
}
