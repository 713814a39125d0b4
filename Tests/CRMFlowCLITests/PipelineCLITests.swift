import Foundation
import Testing

/// The pipeline commands end to end: the built binary on pipelines/ and sample-data/.
@Suite(.serialized) struct PipelineCLITests {
    @Test func runTheNightlyPipelineWritesOutputsRejectsAndAManifest() throws {
        let out = CLI.scratch("nightly")
        let summary = out + "/summary.json"
        let r = try CLI.run(["run", "pipelines/nightly.yaml", "--as-of", "2024-12-31", "--out", out, "--summary", summary, "--jobs", "4"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("nightly-consolidation: 69 stages in"))
        #expect(r.stderr.contains("every row accounted for"))
        // Plain log lines when stderr is not a terminal.
        #expect(r.stderr.contains("crmflow: opportunities (ingest) ok: 40 in, 38 out, 2 rejected"))
        let revenue = try String(contentsOfFile: out + "/revenue_by_owner_month.csv", encoding: .utf8)
        #expect(revenue.hasPrefix("owner,close_month,deals,revenue_usd,avg_deal_usd\nDana Lee,2024-04-01,1,42506.31,42506.31\n"))
        let rejects = try String(contentsOfFile: out + "/opportunities.rejects.csv", encoding: .utf8)
        #expect(rejects.contains("sample-data/salesforce/opportunities.csv,23,opportunities,E_TYPE,column 'Amount': 'n/a' is not a valid money"))
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: summary))) as? [String: Any]
        #expect(manifest?["status"] as? String == "succeeded")
        #expect((manifest?["pipeline_sha256"] as? String)?.count == 64)
        let inputs = manifest?["inputs"] as? [[String: Any]] ?? []
        #expect(inputs.count == 11)
        #expect(inputs.allSatisfy { ($0["sha256"] as? String)?.count == 64 && ($0["bytes"] as? Int ?? 0) > 0 })
        let stages = manifest?["stages"] as? [[String: Any]] ?? []
        #expect(stages.count == 69)
        #expect(stages.allSatisfy { $0["balanced"] as? Bool == true })
        // The clean stages' change reports: in the summary on stderr and in the manifest.
        #expect(r.stderr.contains("changes made by contacts_clean (clean):"))
        #expect(r.stderr.contains("\"+1 555 010 1234\" → \"+15550101234\""))
        let clean = try #require(stages.first { $0["id"] as? String == "contacts_clean" })
        let changes = clean["changes"] as? [[String: Any]] ?? []
        let email = try #require(changes.first { $0["kind"] as? String == "email" })
        #expect(email["rejected"] as? Int == 2)
        #expect((email["samples"] as? [[String: String]])?.first?["after"] == "maria.oneil@globex.com")
        #expect((clean["removed"] as? [String: Int])?["deduplicated"] == 8)
        let customers = try String(contentsOfFile: out + "/customers.csv", encoding: .utf8)
        #expect(customers.contains("507,Ann,Lee,ann.lee@gmail.com,+15550101234,\"Lee & Partners, LLC\",2024-06-01T14:00:00Z,US,hs_contacts_std,annlee@gmail.com,12,lee and partners"))
        let lineage = try String(contentsOfFile: out + "/contacts_clean.lineage.csv", encoding: .utf8)
        #expect(lineage.contains("sample-data/salesforce/contacts.csv,2,0035e00001,sample-data/hubspot/contacts.json,3,503,exact duplicate on email_key"))
    }

    @Test func failOnKPIExits3WhenAKPIIsOffTrack() throws {
        let ok = try CLI.run(["run", "pipelines/nightly.yaml", "--as-of", "2024-12-31", "--out", CLI.scratch("kpi-ok"), "--fail-on-kpi", "off-track"])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stderr.contains("KPIs of kpis, current period:\n  revenue_usd  2024-10-01  ON TRACK  $190,597 against $150,000\n  win_rate     2024-10-01  ON TRACK  55.6% against 50.0%"), "\(ok.stderr)")
        // --quiet keeps silence on success.
        let quiet = try CLI.run(["run", "pipelines/nightly.yaml", "--as-of", "2024-12-31", "--out", CLI.scratch("kpi-quiet"), "--fail-on-kpi", "off-track", "--quiet"])
        #expect(quiet.status == 0 && quiet.stderr.isEmpty && quiet.stdout.isEmpty, "\(quiet.stderr)")
        // Early in the year the current quarter has no won deals: off track.
        let bad = try CLI.run(["run", "pipelines/nightly.yaml", "--as-of", "2024-03-31", "--out", CLI.scratch("kpi-bad"), "--fail-on-kpi", "off-track", "--quiet"])
        #expect(bad.status == 3)
        #expect(bad.stderr.contains("crmflow: KPI off track: revenue_usd in the period from 2024-01-01 is $0 against a target of $150,000 (stage kpis)"))
        let usage = try CLI.run(["run", "pipelines/nightly.yaml", "--fail-on-kpi", "red"])
        #expect(usage.status == 2)
    }

    @Test func maskPIIHidesPersonalDataInTheChangeReport() throws {
        let r = try CLI.run(["run", "pipelines/nightly.yaml", "--as-of", "2024-12-31", "--out", CLI.scratch("masked"), "--mask-pii"])
        #expect(r.status == 0, "\(r.stderr)")
        let report = r.stderr.components(separatedBy: "changes made by contacts_clean (clean):").last ?? ""
        #expect(report.contains("email"))
        #expect(!report.contains("maria.oneil@globex.com") && !report.contains("+15550101234"))
        #expect(report.contains("m•••@g•••.com"))
    }

    @Test func profileSuggestsACleanStage() throws {
        let r = try CLI.run(["profile", "sample-data/events/trade_show_leads.csv"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("suggested clean stage (paste under stages:, then adjust):"))
        for step in ["- trim: all", "- name: { column: Full Name }", "- email: { column: E-Mail, fix_typos: true, canonical: e_mail_key }",
                     "- phone: { column: Phone, default_region: US, region_column: Country }", "- country: Country",
                     "- money: { column: Budget, default_currency: USD }", "- dedupe: { keys: [e_mail_key], keep: first }"] {
            #expect(r.stdout.contains(step), "\(step)")
        }
        // The suggested block is a valid clean stage.
        let yaml = "pipeline: s\nstages:\n  trade_show_leads:\n    ingest: { path: sample-data/events/trade_show_leads.csv }\n"
            + r.stdout.components(separatedBy: "then adjust):\n\n").last!
        let p = CLI.write(yaml, "suggested.yaml")
        let v = try CLI.run(["validate", p])
        #expect(v.status == 0, "\(v.stderr)")
    }

    @Test func validateReportsEveryProblemAndExits78() throws {
        let bad = CLI.write("""
        pipeline: bad
        stages:
          a:
            ingest: { path: sample-data/salesforce/contacts.csv }
          b:
            filter: { input: a, where: "Emial = 'x'" }
          c:
            sort: { input: b, by: [Email], nulls: last }
        """, "bad.yaml")
        let r = try CLI.run(["validate", bad])
        #expect(r.status == 78)
        #expect(r.stderr.contains("bad.yaml:6:33: error[CF402]: unknown column 'Emial'"))
        #expect(r.stderr.contains("bad.yaml:8:36: error[CF210]: unknown option 'nulls' for sort stage 'c'"))
        #expect(r.stderr.contains("2 problems in"))
        let run = try CLI.run(["run", bad])
        #expect(run.status == 78)
    }

    @Test func validateTheExamples() throws {
        for file in ["pipelines/nightly.yaml", "pipelines/legacy-migration.yaml"] {
            let r = try CLI.run(["validate", file])
            #expect(r.status == 0, "\(r.stderr)")
        }
    }

    @Test func failedStageExitsWithItsClassAndNamesTheFailure() throws {
        let p = CLI.write("""
        pipeline: partial
        stages:
          a:
            ingest: { path: sample-data/salesforce/contacts.csv }
          bad:
            derive: { input: a, columns: { n: "cast(\\"First Name\\" as integer)" }, on_error: fail }
          good:
            emit: { input: a, path: good.csv }
        """, "partial.yaml")
        let out = CLI.scratch("partial")
        let r = try CLI.run(["run", p, "--out", out])
        #expect(r.status == 65, "rows that cannot be processed are bad input data")
        #expect(r.stderr.contains("FAILED bad: 9 rows could not be processed (on_error: fail)"))
        #expect(!FileManager.default.fileExists(atPath: out + "/good.csv"), "a failed run replaces no output")
        #expect(FileManager.default.fileExists(atPath: out + "/.crmflow/failed/good.csv"))
        #expect(r.stderr.contains("no output was replaced; what it wrote (rejects included) is in \(out)/.crmflow/failed"))
    }

    @Test func dryRunPlanAndStages() throws {
        let dry = try CLI.run(["run", "pipelines/legacy-migration.yaml", "--dry-run", "--out", CLI.scratch("dry")])
        #expect(dry.status == 0)
        #expect(dry.stdout.contains("level 2 (run concurrently):"))
        #expect(dry.stdout.contains("dry run"))
        let dot = try CLI.run(["plan", "pipelines/nightly.yaml", "--format", "dot"])
        #expect(dot.stdout.contains("\"opps_staged\" -> \"opps_priced\";"))
        let mermaid = try CLI.run(["plan", "pipelines/nightly.yaml", "--format", "mermaid"])
        #expect(mermaid.stdout.hasPrefix("flowchart LR\n"))
        let stages = try CLI.run(["stages"])
        #expect(stages.stdout.split(separator: "\n").count == 25)
        let join = try CLI.run(["stages", "join"])
        #expect(join.stdout.contains("type [default inner]: Join type. One of: inner, left, anti."))
        let typo = try CLI.run(["stages", "jion"])
        #expect(typo.status == 2)
        #expect(typo.stderr.contains("did you mean 'join'?"))
        let md = try CLI.run(["stages", "--markdown"])
        #expect(md.stdout == (try String(contentsOfFile: CLI.packageRoot.appendingPathComponent("docs/stages.md").path, encoding: .utf8)))
    }

    @Test func pipelineTestsOfTheExamplesPass() throws {
        for file in ["pipelines/nightly.yaml", "pipelines/legacy-migration.yaml"] {
            let r = try CLI.run(["test", file, "--as-of", "2024-12-31"])
            #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
            #expect(r.stdout.contains("passed, 0 failed"))
        }
    }

    @Test func varsOverrideAndAsOfMustBeADate() throws {
        let r = try CLI.run(["validate", "pipelines/nightly.yaml", "--var", "data=/nonexistent"])
        #expect(r.status == 66, "only inputs are missing: exit 66, not 78")
        #expect(r.stderr.contains("input file '/nonexistent/salesforce/contacts.csv' does not exist"))
        let d = try CLI.run(["run", "pipelines/nightly.yaml", "--as-of", "31/12/2024"])
        #expect(d.status == 2)
        #expect(d.stderr.contains("write YYYY-MM-DD"))
    }
}

/// Ctrl-C on a running pipeline: the binary stops, exits 130 and leaves no output behind.
@Suite(.serialized) struct InterruptTests {
    @Test func sigintStopsCleanlyWithoutPartialOutput() throws {
        let data = CLI.scratch("contacts.csv")
        #expect(try CLI.run(["generate", "contacts", "--rows", "150000", "--seed", "3", "--out", data]).status == 0)
        let out = CLI.scratch("interrupted")
        let pipeline = CLI.write("""
        pipeline: interrupted
        stages:
          src:
            ingest: { path: "\(data)", all_strings: true }
          slow:
            derive:
              input: src
              columns:
                a: "regexp_replace(lower(email) || upper(email), '[aeiou]', '', 'g')"
                b: "regexp_replace(upper(email) || lower(email), '[^a-z]', '-', 'g')"
                c: "concat_ws('/', a, b, email, a, b)"
          out:
            emit: { input: slow, path: slow.csv }
        """, "interrupted.yaml")
        let p = Process()
        p.executableURL = CLI.binary
        p.arguments = ["run", pipeline, "--out", out, "--jobs", "1"]
        p.currentDirectoryURL = CLI.packageRoot
        let err = Pipe()
        p.standardError = err
        p.standardOutput = Pipe()
        let sawSlowStart = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        let collected = Collected()
        // NB: a plain thread doing blocking reads; Foundation's readabilityHandler has crashed the test process here.
        let fd = err.fileHandleForReading.fileDescriptor
        let reader = Thread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            var signalled = false
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                if collected.append(Data(buffer[0..<n])).contains("slow (derive) started"), !signalled {
                    signalled = true
                    sawSlowStart.signal()
                }
            }
            finished.signal()
        }
        try p.run()
        reader.start()
        #expect(sawSlowStart.wait(timeout: .now() + 60) == .success)
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        _ = finished.wait(timeout: .now() + 10)
        #expect(p.terminationStatus == 130, "\(collected.text)")
        #expect(collected.text.contains("cancelled (interrupted); no partial outputs were written"))
        let left = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
        #expect(left.isEmpty, "nothing written: \(left)")
    }
}

final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func append(_ d: Data) -> String {
        lock.lock()
        defer { lock.unlock() }
        data.append(d)
        return String(decoding: data, as: UTF8.self)
    }
    var text: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: data, as: UTF8.self)
    }
}
