import Foundation
import Testing

/// Incremental sources: only rows past the last successful run's watermark are read; a failed run does not advance
/// it; --full-refresh reads everything.
@Suite(.serialized) struct IncrementalTests {
    @Test func watermarksAdvanceOnlyWhenARunSucceeds() throws {
        let dir = CLI.scratch("incremental")
        let out = dir + "/out"
        let csv = dir + "/contacts.csv"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "id,email,updated_at\n1,a@x.com,2024-01-01T10:00:00Z\n2,b@x.com,2024-01-02T10:00:00Z\n3,c@x.com,\n".write(toFile: csv, atomically: true, encoding: .utf8)
        func pipeline(failing: Bool) -> String {
            CLI.write("""
            pipeline: inc
            stages:
              contacts:
                ingest: { path: \(csv), incremental: { column: updated_at } }
              changed:
                emit: { input: contacts, path: \(failing ? "blocked/changed.csv" : "changed.csv") }
            """, failing ? "inc-fail.yaml" : "inc.yaml")
        }
        func changed() throws -> String { try String(contentsOfFile: out + "/changed.csv", encoding: .utf8) }
        // First run: no watermark, everything read (the row without updated_at too).
        var r = try CLI.run(["run", pipeline(failing: false), "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try changed() == "id,email,updated_at\n1,a@x.com,2024-01-01T10:00:00Z\n2,b@x.com,2024-01-02T10:00:00Z\n3,c@x.com,\n")
        // New rows arrive, one old row is re-exported unchanged: only the newer ones are read (and the undated one).
        try "id,email,updated_at\n1,a@x.com,2024-01-01T10:00:00Z\n2,b@x.com,2024-01-02T10:00:00Z\n3,c@x.com,\n4,d@x.com,2024-01-03T09:00:00Z\n2,b2@x.com,2024-01-03T11:00:00Z\n"
            .write(toFile: csv, atomically: true, encoding: .utf8)
        // A failing run (its output folder is a file) reads them but must not advance the watermark.
        try "not a folder".write(toFile: out + "/blocked", atomically: true, encoding: .utf8)
        r = try CLI.run(["run", pipeline(failing: true), "--out", out])
        #expect(r.status == 73, "\(r.stderr)")
        r = try CLI.run(["run", pipeline(failing: false), "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try changed() == "id,email,updated_at\n3,c@x.com,\n4,d@x.com,2024-01-03T09:00:00Z\n2,b2@x.com,2024-01-03T11:00:00Z\n")
        let summary = try String(contentsOfFile: out + "/run-summary.json", encoding: .utf8)
        #expect(summary.contains("2 rows after the watermark 2024-01-02T10:00:00Z read, 2 at or before it skipped"), "\(summary)")
        #expect(summary.contains("\"at or before the watermark\": 2"), "\(summary)")
        #expect(r.stderr.contains("every row accounted for"))
        // Nothing new: nothing but the undated row.
        r = try CLI.run(["run", pipeline(failing: false), "--out", out])
        #expect(try changed() == "id,email,updated_at\n3,c@x.com,\n")
        let history = try CLI.run(["history", pipeline(failing: false), "--out", out])
        #expect(history.stdout.contains("contacts: updated_at > 2024-01-03T11:00:00Z"), "\(history.stdout)")
        // --full-refresh reads every row again.
        r = try CLI.run(["run", pipeline(failing: false), "--out", out, "--full-refresh"])
        #expect(r.status == 0)
        #expect(try changed().split(separator: "\n").count == 6)
        // The watermark of another source is not used.
        let other = CLI.write("pipeline: inc\nstages:\n  contacts:\n    ingest: { path: \(csv), incremental: { column: email } }\n  changed:\n    emit: { input: contacts, path: changed.csv }\n", "inc-other.yaml")
        r = try CLI.run(["run", other, "--out", out])
        #expect(try changed().split(separator: "\n").count == 6)
    }

    /// The README's pattern: new rows linked to the golden records the nightly left in its SQLite store.
    @Test func newRowsLinkToTheGoldenRecordsInTheStore() throws {
        let out = CLI.scratch("incremental-link")
        #expect(try CLI.run(["run", "pipelines/nightly.yaml", "--as-of", "2024-12-31", "--out", out, "--quiet"]).status == 0)
        let new = CLI.write("contact_id,first_name,last_name,email,updated_at\nN1,Maria,ONeil,maria.oneil@globex.com,2025-01-02T09:00:00Z\nN2,Zed,Newman,zed@new.io,2025-01-02T10:00:00Z\n", "link-new.csv")
        let p = CLI.write("""
        pipeline: link-new
        stages:
          previous_golden:
            ingest: { sqlite: \(out)/crm.db, table: golden_customers }
          changed_contacts:
            ingest: { path: \(new), incremental: { column: updated_at } }
          linked:
            merge:
              mode: link
              input: [changed_contacts, previous_golden]
              id: contact_id
              blocking: [email, "lower(last_name)"]
              compare: [{ column: first_name, method: name }, { column: last_name, method: name }, { column: email, method: email }]
              model: rules
              rules: [{ email: exact }, { first_name: jaro_winkler >= 0.92, last_name: jaro_winkler >= 0.92 }]
          e:
            emit: { input: linked, path: linked.csv }
        """, "link-new.yaml")
        let r = try CLI.run(["run", p, "--out", out + "/link"])
        #expect(r.status == 0, "\(r.stderr)")
        let linked = try String(contentsOfFile: out + "/link/linked.csv", encoding: .utf8)
        #expect(linked.contains("N1,Maria,ONeil,maria.oneil@globex.com,2025-01-02T09:00:00Z,0035e00002,1.0"), "\(linked)")
        #expect(linked.contains("N2,Zed,Newman,zed@new.io,2025-01-02T10:00:00Z,,"), "\(linked)")
    }

    @Test func anIncrementalColumnThatIsNotThereIsThePipelinesError() throws {
        let dir = CLI.scratch("incremental-bad")
        let csv = CLI.write("id,email\n1,a@x.com\n", "inc-bad.csv")
        let p = CLI.write("pipeline: b\nstages:\n  c:\n    ingest: { path: \(csv), incremental: { column: updated } }\n", "inc-bad.yaml")
        let r = try CLI.run(["run", p, "--out", dir])
        #expect(r.status == 78, "\(r.stderr)")
        #expect(r.stderr.contains("inc-bad.yaml:4:") && r.stderr.contains("the incremental column 'updated' is not a column"), "\(r.stderr)")
        let shape = CLI.write("pipeline: b\nstages:\n  c:\n    ingest: { path: \(csv), incremental: updated }\n", "inc-shape.yaml")
        let v = try CLI.run(["validate", shape])
        #expect(v.status == 78 && v.stderr.contains("inc-shape.yaml:4:") && v.stderr.contains("incremental"), "\(v.stderr)")
    }
}

/// `--checkpoint` and `--resume`: after a failure, the stages whose inputs and options are unchanged are reused.
@Suite(.serialized) struct ResumeTests {
    @Test func aFailedRunResumesFromItsCheckpointsAndEndsWhereAFullRunWould() throws {
        let dir = CLI.scratch("resume")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let a = dir + "/a.csv", b = dir + "/b.csv"
        try "id,amount,when\n1,10.5,2024-01-02\n2,,2024-01-03\n3,7,not a date\n".write(toFile: a, atomically: true, encoding: .utf8)
        try "id,n\n1,4\n2,four\n".write(toFile: b, atomically: true, encoding: .utf8)
        let p = CLI.write("""
        pipeline: resume
        stages:
          a:
            ingest: { path: \(a), columns: { when: date } }
          a_sorted:
            sort: { input: a, by: ["amount desc"] }
          a_out:
            emit: { input: a_sorted, path: a.csv }
          b:
            ingest: { path: \(b), columns: { n: integer }, on_error: fail }
          b_out:
            emit: { input: b, path: b.csv }
        """, "resume.yaml")
        let out = dir + "/out"
        var r = try CLI.run(["run", p, "--out", out, "--checkpoint"])
        #expect(r.status == 65, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: out + "/.crmflow/checkpoints/a_sorted.ckpt"))
        #expect(!FileManager.default.fileExists(atPath: out + "/.crmflow/checkpoints/b.ckpt"))
        // The bad value is fixed; the run resumes: a and a_sorted are reused, b runs again.
        try "id,n\n1,4\n2,5\n".write(toFile: b, atomically: true, encoding: .utf8)
        r = try CLI.run(["run", p, "--out", out, "--resume"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("resumed: 2 stages reused from the failed run's checkpoints, 3 run"), "\(r.stderr)")
        let summary = try String(contentsOfFile: out + "/run-summary.json", encoding: .utf8)
        #expect(summary.contains("reused from the checkpoint of the failed run"))
        #expect(!FileManager.default.fileExists(atPath: out + "/.crmflow/checkpoints"), "a successful run removes its checkpoints")
        // The same outputs and rejects as a full run from scratch.
        let fresh = dir + "/fresh"
        #expect(try CLI.run(["run", p, "--out", fresh]).status == 0)
        for f in ["a.csv", "b.csv", "a.rejects.csv"] {
            #expect(try String(contentsOfFile: out + "/" + f, encoding: .utf8) == String(contentsOfFile: fresh + "/" + f, encoding: .utf8), "\(f)")
        }
        #expect(try String(contentsOfFile: out + "/a.rejects.csv", encoding: .utf8).contains("'not a date' is not a valid date"))
    }

    @Test func aChangedInputOrOptionIsNotReused() throws {
        let dir = CLI.scratch("resume-changed")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let a = dir + "/a.csv"
        try "id,amount\n1,10\n2,20\n".write(toFile: a, atomically: true, encoding: .utf8)
        let fixed = CLI.write("""
        pipeline: resume2
        stages:
          a:
            ingest: { path: \(a) }
          s:
            sort: { input: a, by: ["amount desc"] }
          out:
            emit: { input: s, path: s.csv }
        """, "resume2.yaml")
        let out = dir + "/out"
        // The first run fails when publishing (a file where the output's folder goes).
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try "file".write(toFile: out + "/blocked", atomically: true, encoding: .utf8)
        let failing = CLI.write("""
        pipeline: resume2
        stages:
          a:
            ingest: { path: \(a) }
          s:
            sort: { input: a, by: ["amount desc"] }
          out:
            emit: { input: s, path: blocked/s.csv }
        """, "resume2-fail.yaml")
        #expect(try CLI.run(["run", failing, "--out", out, "--checkpoint"]).status == 73)
        // The input changed: nothing is reused, and the output holds the new rows.
        try "id,amount\n1,10\n2,20\n3,30\n".write(toFile: a, atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", fixed, "--out", out, "--resume"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("resumed: 0 stages reused"), "\(r.stderr)")
        #expect(try String(contentsOfFile: out + "/s.csv", encoding: .utf8) == "id,amount\n3,30\n2,20\n1,10\n")
    }
}

/// `crmflow decide` keeps verdicts in the state database; a merge stage with `decisions: state` honours them.
@Suite(.serialized) struct DecisionTests {
    @Test func verdictsInTheStateDatabaseSplitAndJoinRecords() throws {
        let dir = CLI.scratch("decide")
        let csv = CLI.write("id,first_name,last_name,email\nA1,Jane,Smith,jane@acme.com\nA2,Jane,Smith,jane@acme.com\nB1,Bob,Stone,bob@stone.io\nB2,Robert,Stone,r.stone@stone.io\n", "decide.csv")
        let p = CLI.write("""
        pipeline: decide
        stages:
          people:
            ingest: { path: \(csv) }
          golden:
            merge:
              input: people
              id: id
              blocking: [email, "lower(last_name)"]
              compare: [{ column: first_name, method: name }, { column: last_name, method: name }, { column: email, method: email }]
              model: rules
              rules: [{ email: exact }]
              decisions: state
          lineage:
            emit: { input: golden, path: golden.csv }
        """, "decide.yaml")
        let out = dir + "/out"
        func clusters() throws -> Int { try String(contentsOfFile: out + "/golden.csv", encoding: .utf8).split(separator: "\n").count - 1 }
        #expect(try CLI.run(["run", p, "--out", out]).status == 0)
        #expect(try clusters() == 3)  // A1+A2 by e-mail, B1, B2
        let d = try CLI.run(["decide", p, "--stage", "golden", "--out", out, "--apart", "A1", "A2", "--merge", "B1", "B2", "--note", "checked by phone"])
        #expect(d.status == 0, "\(d.stderr)")
        #expect(d.stdout.contains("apart  A1  A2") && d.stdout.contains("merge  B1  B2"), "\(d.stdout)")
        #expect(try CLI.run(["run", p, "--out", out]).status == 0)
        #expect(try clusters() == 3)  // A1, A2, B1+B2
        let golden = try String(contentsOfFile: out + "/golden.csv", encoding: .utf8)
        #expect(golden.contains("B1|B2") || golden.contains(",2,"), "\(golden)")
        // A reviewed file: rows with a verdict are recorded, the others skipped.
        let reviewed = CLI.write("id_a,id_b,verdict\nA1,A2,merge\nB1,B2,\n", "reviewed.csv")
        #expect(try CLI.run(["decide", p, "--stage", "golden", "--out", out, "--from", reviewed]).stdout.contains("merge  A1  A2"))
        #expect(try CLI.run(["run", p, "--out", out]).status == 0)
        #expect(try clusters() == 2)
        #expect(try DatabaseTests.sqlite(out + "/crmflow.db", "SELECT verdict, note FROM merge_decisions WHERE id_a = 'B1'") == "merge|checked by phone\n")
        let bad = try CLI.run(["decide", p, "--stage", "people", "--out", out, "--merge", "A1", "A2"])
        #expect(bad.status != 0 && bad.stderr.contains("is not a merge stage"), "\(bad.stderr)")
    }
}

/// The state database holds the run history, the watermarks, the merge decisions and the snapshot histories.
@Suite(.serialized) struct StateDatabaseTests {
    @Test func snapshotHistoriesAreMirroredAfterEachSuccessfulRun() throws {
        let out = CLI.scratch("state-snapshots")
        for day in ["2024-12-30", "2024-12-31", "2024-12-31"] {
            #expect(try CLI.run(["run", "pipelines/nightly.yaml", "--as-of", day, "--out", out, "--quiet"]).status == 0)
        }
        // A re-run on the same day replaces that day's rows, as in the history file.
        #expect(try DatabaseTests.sqlite(out + "/crmflow.db", "SELECT snapshot_date, count(*) FROM snapshot_deal_history GROUP BY 1 ORDER BY 1") == "2024-12-30|38\n2024-12-31|38\n")
        #expect(try DatabaseTests.sqlite(out + "/crmflow.db", "SELECT count(*), min(status) FROM runs") == "3|succeeded\n")
    }
}
