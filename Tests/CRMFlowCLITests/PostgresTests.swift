import Foundation
import Testing

/// PostgreSQL sources and sinks against a real server: `make test` (scripts/with-postgres.sh) starts one from Debian's
/// packages on 127.0.0.1 and passes its URL in CRMFLOW_TEST_POSTGRES_URL. psql, PostgreSQL's own shell, is the
/// independent reader and writer. Without a server the tests are skipped, unless CRMFLOW_REQUIRE_POSTGRES=1 (CI).
@Suite(.serialized) struct PostgresTests {
    static let url = ProcessInfo.processInfo.environment["CRMFLOW_TEST_POSTGRES_URL"]
    static var hasServer: Bool { url != nil }

    /// The server's password, which must never appear in anything crmflow prints or writes.
    static var password: String { URLComponents(string: url ?? "")?.password ?? "no-password" }

    @discardableResult
    static func psql(_ sql: String, url: String? = PostgresTests.url) throws -> String {
        try CLI.tool("/usr/bin/psql", [url ?? "", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql]).out
    }

    static var env: [String: String] { ["DATABASE_URL": url ?? ""] }

    /// Every file under `dir`, as text.
    static func everything(under dir: String) -> String {
        var all = ""
        if let files = FileManager.default.enumerator(atPath: dir) {
            for case let f as String in files { all += (try? String(contentsOfFile: dir + "/" + f, encoding: .utf8)) ?? "" }
        }
        return all
    }

    @Test func ciHasAServer() {
        if ProcessInfo.processInfo.environment["CRMFLOW_REQUIRE_POSTGRES"] == "1" {
            #expect(Self.hasServer, "CRMFLOW_REQUIRE_POSTGRES=1 but no CRMFLOW_TEST_POSTGRES_URL: run the tests with scripts/with-postgres.sh (make test)")
        }
    }

    @Test(.enabled(if: hasServer)) func copyLoadsEveryTypeAndReadsItBackThroughACursor() throws {
        let dir = CLI.scratch("pg-roundtrip")
        try Self.psql("DROP TABLE IF EXISTS pg_contacts")
        let csv = CLI.write("id,name,note,score,won,created,seen_at,amount\n"
            + "1,\"Smith, Bob\",\"He said \"\"hi\"\"\",1.5,true,2024-01-05,2024-01-05T10:30:00Z,1200.50\n"
            + "2,María Ñúñez,,2.25,false,2024-02-07,2024-02-07T08:00:00Z,0.10\n"
            + "3,\"Multi\nline\",\"  \",,true,2024-03-01,,99\n", "pg-contacts.csv")
        let load = CLI.write("""
        pipeline: pg-load
        stages:
          c:
            ingest: { path: \(csv), columns: { amount: money } }
          e:
            emit: { input: c, postgres: "${env:DATABASE_URL}", table: pg_contacts }
          f:
            emit: { input: c, path: original.csv }
        """, "pg-load.yaml")
        let r = try CLI.run(["run", load, "--out", dir + "/load"], environment: Self.env)
        #expect(r.status == 0, "\(r.stderr)")
        // psql reads what COPY loaded: typed columns, quotes, commas, newlines, unicode, null vs empty text.
        #expect(try Self.psql("SELECT column_name || ':' || data_type FROM information_schema.columns WHERE table_name = 'pg_contacts' ORDER BY ordinal_position")
            == "id:text\nname:text\nnote:text\nscore:double precision\nwon:boolean\ncreated:date\nseen_at:timestamp without time zone\namount:numeric\n")
        #expect(try Self.psql("SELECT id, name, coalesce(note, '<null>'), won, created, amount FROM pg_contacts ORDER BY id")
            == "1|Smith, Bob|He said \"hi\"|t|2024-01-05|1200.50\n2|María Ñúñez|<null>|f|2024-02-07|0.10\n3|Multi\nline|  |t|2024-03-01|99.00\n")
        #expect(try Self.psql("SELECT count(*) FROM pg_tables WHERE tablename LIKE '%crmflow%'") == "0\n")

        // Read back (table and query), more rows than one cursor fetch, and the same CSV comes out.
        try Self.psql("DROP TABLE IF EXISTS pg_many; CREATE TABLE pg_many AS SELECT g AS n, 'row ' || g AS label FROM generate_series(1, 45001) g")
        let read = CLI.write("""
        pipeline: pg-read
        stages:
          c:
            ingest: { postgres: "${env:DATABASE_URL}", table: pg_contacts, columns: { amount: money } }
          many:
            ingest: { postgres: "${env:DATABASE_URL}", query: "SELECT n, label FROM pg_many ORDER BY n" }
          total:
            aggregate: { input: many, aggregates: { rows: "count(*)", sum_n: "sum(n)" } }
          e:
            emit: { input: c, path: back.csv }
          t:
            emit: { input: total, path: total.csv }
        """, "pg-read.yaml")
        let b = try CLI.run(["run", read, "--out", dir + "/read"], environment: Self.env)
        #expect(b.status == 0, "\(b.stderr)")
        #expect(try String(contentsOfFile: dir + "/read/back.csv", encoding: .utf8) == String(contentsOfFile: dir + "/load/original.csv", encoding: .utf8))
        #expect(try String(contentsOfFile: dir + "/read/total.csv", encoding: .utf8) == "rows,sum_n\n45001,\(45001 * 45002 / 2)\n")
        #expect(!b.stderr.contains(Self.password) && !r.stderr.contains(Self.password))
        #expect(!Self.everything(under: dir).contains(Self.password))
    }

    @Test(.enabled(if: hasServer)) func upsertAndAppendChangeRowsAndAFailedWriteLeavesTheTableAsItWas() throws {
        let dir = CLI.scratch("pg-modes")
        try Self.psql("DROP VIEW IF EXISTS pg_keep_view; DROP TABLE IF EXISTS pg_accounts; CREATE TABLE pg_accounts (id bigint PRIMARY KEY, name text, tier text); INSERT INTO pg_accounts VALUES (1, 'Acme', 'gold'), (2, 'Globex', 'silver')")
        func run(_ csv: String, mode: String, table: String = "pg_accounts", status: Int32 = 0) throws -> CLI.Result {
            let file = CLI.write(csv, "pg-\(mode).csv")
            let p = CLI.write("""
            pipeline: pg-\(mode)
            stages:
              a:
                ingest: { path: \(file) }
              e:
                emit: { input: a, postgres: "${env:DATABASE_URL}", table: \(table), mode: \(mode), key: [id] }
            """, "pg-\(mode).yaml")
            let r = try CLI.run(["run", p, "--out", dir + "/" + mode], environment: Self.env)
            #expect(r.status == status, "\(r.stderr)")
            return r
        }
        _ = try run("id,name,tier\n2,Globex Corp,gold\n3,Initech,bronze\n", mode: "upsert")
        #expect(try Self.psql("SELECT id, name, tier FROM pg_accounts ORDER BY id") == "1|Acme|gold\n2|Globex Corp|gold\n3|Initech|bronze\n")
        _ = try run("id,name,tier\n4,Umbrella,gold\n", mode: "append")
        #expect(try Self.psql("SELECT count(*) FROM pg_accounts") == "4\n")

        // A key written twice, a value the column cannot take, and a replace blocked by a view: each rolls back.
        let dup = try run("id,name,tier\n5,A,x\n5,B,y\n", mode: "upsert", status: 73)
        #expect(dup.stderr.contains("same key twice"), "\(dup.stderr)")
        let bad = try run("id,name,tier\n6,Ok,x\nseven,Bad,y\n", mode: "append", status: 73)
        #expect(bad.stderr.contains("invalid input syntax for type bigint"), "\(bad.stderr)")
        try Self.psql("CREATE VIEW pg_keep_view AS SELECT * FROM pg_accounts")
        let blocked = try run("id,name,tier\n9,Only,z\n", mode: "replace", status: 73)
        #expect(blocked.stderr.contains("depend"), "\(blocked.stderr)")
        #expect(try Self.psql("SELECT id, name, tier FROM pg_accounts ORDER BY id") == "1|Acme|gold\n2|Globex Corp|gold\n3|Initech|bronze\n4|Umbrella|gold\n")
        #expect(try Self.psql("SELECT count(*) FROM pg_tables WHERE tablename LIKE '%crmflow%'") == "0\n")
        try Self.psql("DROP VIEW pg_keep_view")
        _ = try run("id,name,tier\n9,Only,z\n", mode: "replace")
        #expect(try Self.psql("SELECT id, name, tier FROM pg_accounts") == "9|Only|z\n")
    }

    @Test(.enabled(if: hasServer)) func declaredTypesRejectRowsWithTheirRowNumberAndErrorsNeverShowThePassword() throws {
        let dir = CLI.scratch("pg-rejects")
        try Self.psql("DROP TABLE IF EXISTS pg_leads; CREATE TABLE pg_leads (id int, email text, signed text); INSERT INTO pg_leads VALUES (1, 'a@x.com', '2024-01-02'), (2, 'b@x.com', 'soon'), (3, 'c@x.com', NULL)")
        let p = CLI.write("""
        pipeline: pg-rejects
        stages:
          l:
            ingest: { postgres: "${env:DATABASE_URL}", query: "SELECT * FROM pg_leads ORDER BY id", columns: { signed: date } }
          e:
            emit: { input: l, path: leads.csv }
        """, "pg-rejects.yaml")
        let r = try CLI.run(["run", p, "--out", dir + "/out"], environment: Self.env)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try String(contentsOfFile: dir + "/out/leads.csv", encoding: .utf8) == "id,email,signed\n1,a@x.com,2024-01-02\n3,c@x.com,\n")
        let rejects = try String(contentsOfFile: dir + "/out/l.rejects.csv", encoding: .utf8)
        #expect(rejects.contains("${env:DATABASE_URL}#query,2,l,E_TYPE,column 'signed': 'soon' is not a valid date,\"2,b@x.com,soon\""), "\(rejects)")

        // An unknown table is the pipeline's error (78) at validation, with file:line:column; a wrong password and
        // a closed port are connection errors. None of them prints the URL's password.
        let bad = CLI.write("pipeline: b\nstages:\n  c:\n    ingest: { postgres: \"${env:DATABASE_URL}\", table: pg_no_such }\n", "pg-bad.yaml")
        let v = try CLI.run(["validate", bad], environment: Self.env)
        #expect(v.status == 78)
        #expect(v.stderr.contains("pg-bad.yaml:4:26") && v.stderr.contains("relation \"pg_no_such\" does not exist"), "\(v.stderr)")
        var wrong = URLComponents(string: Self.url!)!
        wrong.password = Self.password + "x"
        let w = try CLI.run(["run", p, "--out", dir + "/wrong"], environment: ["DATABASE_URL": wrong.string!])
        #expect(w.status == 66)
        #expect(w.stderr.contains("password authentication failed"), "\(w.stderr)")
        wrong.password = Self.password
        wrong.port = 1
        let closed = try CLI.run(["validate", p], environment: ["DATABASE_URL": wrong.string!])
        #expect(closed.status == 66)
        #expect(closed.stderr.contains("cannot connect"), "\(closed.stderr)")
        for out in [r.stderr, r.stdout, v.stderr, w.stderr, w.stdout, closed.stderr, closed.stdout, Self.everything(under: dir)] {
            #expect(!out.contains(Self.password))
            #expect(!out.contains(Self.password + "x"))
        }
    }

    @Test(.enabled(if: hasServer)) func theNightlyGoldenCustomersReachPostgreSQLThroughItsSQLiteStore() throws {
        let out = CLI.scratch("pg-nightly")
        try Self.psql("DROP TABLE IF EXISTS golden_customers")
        let nightly = try CLI.run(["run", "pipelines/nightly.yaml", "--as-of", "2024-12-31", "--out", out, "--quiet"])
        #expect(nightly.status == 0, "\(nightly.stderr)")
        for _ in 0..<2 {
            // Twice: the upsert leaves one row per golden customer.
            let r = try CLI.run(["run", "pipelines/golden-to-postgres.yaml", "--var", "store=\(out)/crm.db", "--out", out + "/pg"], environment: Self.env)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(!r.stderr.contains(Self.password))
        }
        let golden = try String(contentsOfFile: out + "/golden_customers.csv", encoding: .utf8)
        let rows = golden.split(separator: "\n").count - 1
        #expect(try Self.psql("SELECT count(*), count(DISTINCT cluster_id) FROM golden_customers") == "\(rows)|\(rows)\n")
        #expect(try Self.psql("SELECT email FROM golden_customers WHERE email = 'maria.oneil@globex.com'") == "maria.oneil@globex.com\n")
    }

    @Test(.enabled(if: hasServer)) func anIncrementalTableIsReadPastItsWatermarkByTheServer() throws {
        let dir = CLI.scratch("pg-incremental")
        try Self.psql("DROP TABLE IF EXISTS pg_changes; CREATE TABLE pg_changes (id int, email text, updated_at timestamptz); INSERT INTO pg_changes VALUES (1, 'a@x.com', '2024-01-01 10:00+00'), (2, 'b@x.com', '2024-01-02 10:00+00'), (3, 'c@x.com', NULL)")
        let p = CLI.write("""
        pipeline: pg-inc
        stages:
          changes:
            ingest: { postgres: "${env:DATABASE_URL}", table: pg_changes, incremental: { column: updated_at } }
          e:
            emit: { input: changes, path: changes.csv }
        """, "pg-inc.yaml")
        var r = try CLI.run(["run", p, "--out", dir], environment: Self.env)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try String(contentsOfFile: dir + "/changes.csv", encoding: .utf8).split(separator: "\n").count == 4)
        try Self.psql("INSERT INTO pg_changes VALUES (4, 'd@x.com', '2024-01-03 09:00+00'); UPDATE pg_changes SET email = 'b2@x.com', updated_at = '2024-01-03 11:00+00' WHERE id = 2")
        r = try CLI.run(["run", p, "--out", dir], environment: Self.env)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try String(contentsOfFile: dir + "/changes.csv", encoding: .utf8) == "id,email,updated_at\n3,c@x.com,\n4,d@x.com,2024-01-03T09:00:00Z\n2,b2@x.com,2024-01-03T11:00:00Z\n"
                || String(contentsOfFile: dir + "/changes.csv", encoding: .utf8) == "id,email,updated_at\n4,d@x.com,2024-01-03T09:00:00Z\n2,b2@x.com,2024-01-03T11:00:00Z\n3,c@x.com,\n")
        // The server filtered: the rows at or before the watermark never came over.
        let summary = try String(contentsOfFile: dir + "/run-summary.json", encoding: .utf8)
        #expect(summary.contains("2 rows after the watermark 2024-01-02T10:00:00Z read, 0 at or before it skipped"), "\(summary)")
    }
}
