import Foundation
import Testing
@testable import CRMFlowCore
@testable import CRMFlowIO
@testable import CRMFlowPipeline
@testable import CRMFlowStages

/// A table big enough that evaluating an expression over it takes a noticeable time.
private let wide: Table = {
    var names = StringBuffer()
    for i in 0..<200_000 { names.append("Name \(i % 977)") }
    return Table(schema: Schema([Field(name: "name", type: .string)]), columns: [Column(storage: .string(names), validity: nil)])
}()

private let twoBranches = """
  src:
    ingest: { path: src.csv }
  a:
    derive: { input: src, columns: { x: "lower(name) || upper(name)" } }
  b:
    derive: { input: src, columns: { y: "upper(name) || lower(name)" } }
  c:
    union: { input: [a, b] }

"""

private func report(_ r: RunReport, _ id: String) -> StageReport { r.stages.first { $0.id == id }! }

/// Cancels the run as soon as a chosen stage starts.
private final class CancelOnStart: RunObserver, @unchecked Sendable {
    let stage: String
    var runner: Runner?
    init(stage: String) { self.stage = stage }
    func stageStarted(_ id: String, kind: String) { if id == stage { runner?.cancel() } }
    func stageProgress(_ id: String, rows: Int) {}
    func stageFinished(_ report: StageReport) {}
}

@Suite struct RunnerTests {
    @Test func independentStagesOverlapAndDependentsWait() throws {
        // NB: other test suites run at the same time and can keep Dispatch's worker threads busy, so the overlap is
        // measured up to three times; one overlapping run shows the runner starts independent stages together.
        var overlapped = false
        for _ in 0..<3 where !overlapped {
            let (r, _) = try runStages(twoBranches, given: ["src": wide], jobs: 2, keep: [])
            #expect(r.exitStatus == 0)
            let a = report(r, "a"), b = report(r, "b"), c = report(r, "c")
            overlapped = a.startedAt < b.endedAt && b.startedAt < a.endedAt
            #expect(c.startedAt >= max(a.endedAt, b.endedAt), "c waited for both inputs")
        }
        #expect(overlapped, "a and b ran at the same time")
    }

    @Test func oneJobRunsStagesOneAtATime() throws {
        let (r, _) = try runStages(twoBranches, given: ["src": wide], jobs: 1, keep: [])
        let a = report(r, "a"), b = report(r, "b")
        #expect(a.endedAt <= b.startedAt || b.endedAt <= a.startedAt)
    }

    static let failing = """
      src:
        ingest: { path: src.csv }
      bad:
        derive: { input: src, columns: { n: "cast(name as integer)" }, on_error: fail }
      after_bad:
        limit: { input: bad, rows: 1 }
      good:
        filter: { input: src, where: "name like 'Name 1%'" }
      good_out:
        emit: { input: good, path: good.csv }

    """

    @Test func aFailedStageStopsItsDependentsAndOtherBranchesFinish() throws {
        let dir = Paths.scratch("iso")
        let small = table([["name": "Name 1"], ["name": "x"]], columns: ["name"])
        let (r, _) = try runStages(Self.failing, given: ["src": small], jobs: 2, keep: [], outputDirectory: dir)
        // on_error: fail on rows that cannot be read is bad input data (65).
        #expect(r.exitStatus == 65)
        #expect(report(r, "bad").status.label == "FAILED")
        #expect(report(r, "after_bad").status == .skipped("input 'bad' did not succeed"))
        #expect(report(r, "good_out").status == .succeeded)
        // The other branch finished, but a failed run replaces no output: what it wrote is set aside.
        #expect(!FileManager.default.fileExists(atPath: dir + "/good.csv"))
        #expect(FileManager.default.fileExists(atPath: dir + "/.crmflow/failed/good.csv"))
        #expect(RunSummary.table(r).contains("FAILED bad: 2 rows could not be processed (on_error: fail)"))
    }

    @Test func failFastStopsEverything() throws {
        let dir = Paths.scratch("ff")
        let small = table([["name": "Name 1"]], columns: ["name"])
        let (r, _) = try runStages(Self.failing, given: ["src": small], jobs: 1, keep: [], outputDirectory: dir, failFast: true)
        #expect(r.exitStatus == 65)
        #expect(report(r, "good_out").status == .cancelled)
        #expect(!FileManager.default.fileExists(atPath: dir + "/good.csv"))
    }

    @Test func cancellationStopsCleanlyAndWritesNothing() throws {
        let (p, d) = load("pipeline: t\nstages:\n" + twoBranches + "  out:\n    emit: { input: c, path: c.csv }\n", checkSchemas: false)
        #expect(d.isEmpty)
        let dir = Paths.scratch("cancel")
        var o = Runner.Options()
        o.jobs = 1
        o.outputDirectory = dir
        o.given = ["src": StageData(table: wide)]
        let observer = CancelOnStart(stage: "b")
        let runner = Runner(pipeline: try #require(p), options: o, observer: observer)
        observer.runner = runner
        let r = runner.run()
        #expect(r.wasCancelled)
        #expect(r.exitStatus == 130)
        #expect(report(r, "b").status == .cancelled)
        #expect(report(r, "out").status == .cancelled)
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        #expect(files.isEmpty, "no output and no temporary file: \(files)")
    }

    @Test func outputsAreByteIdenticalForOneAndEightJobs() throws {
        let pipeline = try loadFile("pipelines/nightly.yaml")
        var outputs: [[String: Data]] = []
        for jobs in [1, 8] {
            let ro = runnerOptions(out: Paths.scratch("jobs\(jobs)"), jobs: jobs)
            let r = Runner(pipeline: pipeline, options: ro).run()
            #expect(r.exitStatus == 0)
            #expect(r.accountingProblems.isEmpty)
            let files = try FileManager.default.contentsOfDirectory(atPath: ro.outputDirectory).sorted()
            var contents: [String: Data] = [:]
            for f in files {
                // The report's section files are one folder down.
                if let inner = try? FileManager.default.contentsOfDirectory(atPath: ro.outputDirectory + "/" + f) {
                    for g in inner { contents[f + "/" + g] = FileManager.default.contents(atPath: ro.outputDirectory + "/" + f + "/" + g) }
                } else {
                    contents[f] = FileManager.default.contents(atPath: ro.outputDirectory + "/" + f)
                }
            }
            outputs.append(contents)
        }
        #expect(outputs[0].keys.sorted() == ["account_segments.profile.csv", "calendar.rejects.csv", "contacts_clean.lineage.csv", "contacts_clean.rejects.csv", "crm.db", "customers.csv", "deal_scores.coefficients.csv",
                                             "deal_scores.quality.csv", "deals.ndjson", "funnel.csv", "golden_customers.csv", "golden_customers.lineage.csv", "golden_customers.review.csv", "history/deals.csv", "kpis.csv", "leads_clean.rejects.csv", "mail.rejects.csv", "opportunities.rejects.csv",
                                             "report.html", "report.md", "report.xlsx"] + ["account_segments", "coverage_by_quarter", "csat_by_quarter", "deal_changes", "funnel", "kpis", "open_deals_by_score", "pipeline_forecast", "revenue_forecast", "revenue_report", "revenue_trend", "stage_report"].flatMap { ["report/\($0).csv", "report/\($0).json"] }.sorted()
                                            + ["revenue_by_owner_month.csv", "sf_contacts.rejects.csv", "stage_counts.csv", "trade_show_leads.csv", "win_rate.md"])
        #expect(outputs[0] == outputs[1])
    }

    @Test func slicedParallelEvaluationEqualsOneSlice() throws {
        // 150 000 rows: derive and filter split them across threads; every 9 973rd row fails its cast.
        var text = StringBuffer()
        for i in 0..<150_000 { text.append(i % 9_973 == 0 ? "x\(i)" : "\(i)") }
        let t = Table(schema: Schema([Field(name: "v", type: .string)]), columns: [Column(storage: .string(text), validity: nil)])
        let yaml = """
          src:
            ingest: { path: a.csv }
          d:
            derive: { input: src, columns: { n: "cast(v as integer)", m: "n % 7" } }
          f:
            filter: { input: d, where: "m = 3 or v like '%99'" }
          w:
            derive: { input: src, columns: { a: "cast(v as integer)", v: "upper(v) || '!'", b: "length(v)", c: "a % 10" } }

        """
        var results: [[String: Table]] = []
        var rejects: [[Int?]] = []
        // 1 thread: one slice; 2 threads: w's first wave (a, v) fills both cores, so whole columns run side by side;
        // 4 threads: row slices.
        for threads in [1, 2, 4] {
            let (p, _) = load("pipeline: t\nstages:\n" + yaml, checkSchemas: false)
            var o = Runner.Options()
            o.threadsPerStage = threads
            o.given = ["src": StageData(table: t)]
            o.outputDirectory = Paths.scratch("slices")
            let runner = Runner(pipeline: try #require(p), options: o)
            runner.keep = ["d", "f", "w"]
            let r = runner.run()
            #expect(r.exitStatus == 0)
            rejects.append(r.stages.map { $0.accounting?.rejected })
            results.append(runner.kept.mapValues(\.table))
        }
        for other in 1...2 {
            #expect(results[0]["d"] == results[other]["d"])
            #expect(results[0]["f"] == results[other]["f"])
            #expect(results[0]["w"] == results[other]["w"])
            #expect(rejects[0] == rejects[other])
        }
        #expect(results[0]["w"]?.schema.names == ["v", "a", "b", "c"])
        #expect(rendered(results[0]["w"]).prefix(2) == [["1!", "1", "2", "1"], ["2!", "2", "2", "2"]], "row 0 (x0) is rejected by the cast")
        #expect(rejects[0][1] == 16)
    }

    /// The planner decides from the pipeline alone, before any data is read: the stages to run for a target, their
    /// levels, who reads what, and which ingest streams into its one reader.
    @Test func thePlannerDecidesWithoutData() throws {
        let nightly = try loadFile("pipelines/nightly.yaml")
        let all = Planner(pipeline: nightly)
        #expect(all.stages.count == 69)
        #expect(all.levels.first?.map(\.id).contains("sf_contacts") == true && all.levels.flatMap { $0 }.count == 69)
        #expect(all.consumers["deals"] == nightly.consumers(of: "deals").count && all.consumers["deals"]! > 4 && all.consumers["emit_deals"] == 0)
        // Only what the report needs, and nothing the given stage would have needed.
        let report = Planner(pipeline: nightly, given: ["deals"], targets: ["funnel"])
        #expect(report.stages.map(\.id) == ["deals", "funnel"])
        let forecast = Planner(pipeline: nightly, targets: ["revenue_forecast"])
        #expect(forecast.stages.map(\.id).last == "revenue_forecast" && forecast.stages.contains { $0.id == "opportunities" })
        #expect(!forecast.stages.contains { $0.id == "golden_customers" })
        // The RFM benchmark pipeline's ingest streams straight into its segment stage.
        let (loaded, _) = load(try String(contentsOfFile: Paths.packageRoot.appendingPathComponent("Benchmarks/rfm/rfm.yaml").path, encoding: .utf8), checkSchemas: false)
        let rfm = try #require(loaded)
        #expect(Planner(pipeline: rfm).streamedInto.values.contains { id in rfm.stage(id)?.kind == "segment" }, "\(Planner(pipeline: rfm).streamedInto)")
        // Stages of a level never read each other.
        for level in all.levels {
            let ids = Set(level.map(\.id))
            #expect(level.allSatisfy { s in s.inputs.allSatisfy { !ids.contains($0) } })
        }
    }

    @Test func columnsNoLaterStageReadsAreDroppedEarly() throws {
        let yaml = """
        pipeline: t
        stages:
          src:
            ingest: { path: a.csv }
          f:
            filter: { input: src, where: "a > 1" }
          d:
            derive: { input: f, columns: { e: "lower(b)" } }
          g:
            aggregate: { input: d, group_by: [e], aggregates: { total: sum(c) } }
          s:
            sort: { input: src, by: [z] }
          out:
            emit: { input: s, path: s.csv }
        """
        let (p, d) = load(yaml, checkSchemas: false)
        #expect(d.isEmpty)
        let runner = Runner(pipeline: try #require(p), options: Runner.Options())
        let needed = runner.neededColumns(p!.stages)
        #expect(needed["d"] == ["e", "c"])
        #expect(needed["f"] == ["b", "c"])
        #expect(needed["src"] == nil, "src feeds the emit through the sort, which needs every column")
        #expect(needed["s"] == nil)
        #expect(Runner.pruned(StageData(table: table([["a": "1", "b": "x"]], columns: ["a", "b"])), to: ["b"]).table.schema.names == ["b"])
    }

    @Test func unreadColumnsAreNotStoredYetRejectedRecordsStayWhole() throws {
        let csv = Paths.scratch("skip.csv")
        try "id,name,notes,amount\n1,Ann,\"long, quoted\",10\n2,Bob,x\n3,Cy,\"multi\nline\",30\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let yaml = "  src:\n    ingest: { path: \"\(csv)\" }\n  total:\n    aggregate: { input: src, aggregates: { n: count(*), s: sum(amount) } }\n"
        let dir = Paths.scratch("skip-out")
        let (report, outputs) = try runStages(yaml, keep: ["total"], outputDirectory: dir)
        #expect(rendered(outputs["total"]) == [["2", "40"]])
        let src = try #require(report.stages.first { $0.id == "src" })
        #expect(src.accounting == Accounting(rowsIn: 3, rowsOut: 2, rejected: 1))
        #expect(src.notes.allSatisfy { !$0.contains("notes") && !$0.contains("name") }, "\(src.notes)")
        let rejects = try String(contentsOfFile: try #require(src.rejectsFile), encoding: .utf8)
        #expect(rejects.contains(",3,src,E_TOO_FEW_FIELDS,\"expected 4 field(s), found 3\",\"2,Bob,x\""))
    }

    @Test func everyRowIsAccountedForAcrossRandomPipelines() throws {
        // Property: for random tables through every row-changing stage, in + added == out + rejected + removed.
        var rng = SplitMix64(seed: 2024)
        for trial in 0..<20 {
            let n = Int(rng.next() % 200)
            var rows: [[String: String?]] = []
            for i in 0..<n {
                let k = rng.next() % 7
                rows.append(["k": k == 0 ? nil : "k\(k)", "v": rng.next() % 5 == 0 ? "oops" : "\(i % 13)"])
            }
            let t = table(rows, columns: ["k", "v"])
            let rights = table((0..<Int(rng.next() % 8)).map { ["k": "k\($0)", "w": "\($0)"] }, columns: ["k", "w"])
            let yaml = """
              src:
                ingest: { path: a.csv }
              lookup:
                ingest: { path: b.csv }
              f:
                filter: { input: src, where: "k is not null" }
              d:
                derive: { input: f, columns: { n: "cast(v as integer)" } }
              j:
                join: { left: d, right: lookup, on: [k], type: \(["inner", "left", "anti"][trial % 3]) }
              s:
                sample: { input: j, fraction: 0.5, seed: \(trial) }
              a:
                aggregate: { input: s, group_by: [k], aggregates: { n: count(*) } }
              l:
                limit: { input: j, rows: \(trial) }

            """
            let (r, _) = try runStages(yaml, given: ["src": t, "lookup": rights], keep: [])
            #expect(r.exitStatus == 0, "trial \(trial)")
            #expect(r.accountingProblems.isEmpty, "trial \(trial): \(r.accountingProblems)")
            for s in r.stages { #expect(s.accounting?.balances == true, "trial \(trial) stage \(s.id)") }
        }
    }
}

@Suite struct ExamplePipelineTests {
    @Test(arguments: ["pipelines/nightly.yaml", "pipelines/legacy-migration.yaml"])
    func examplePipelineTestsPass(_ file: String) throws {
        let log = DiagnosticLog()
        let pipeline = try loadFile(file, log: log)
        let cases = pipeline.testCases
        #expect(log.isEmpty)
        #expect(!cases.isEmpty)
        for outcome in PipelineTestRunner.run(pipeline, cases: cases, options: runnerOptions()) {
            #expect(outcome.passed, "\(outcome.name): \(outcome.failures)")
        }
    }

    @Test func failingExpectationsAreReportedPerColumn() throws {
        let yaml = """
        pipeline: t
        stages:
          src:
            ingest: { path: a.csv }
          f:
            filter: { input: src, where: "n > 1" }
        tests:
          - name: wrong on purpose
            given:
              src: [{ n: "1" }, { n: "2" }, { n: "3" }]
            expect:
              f:
                - { n: "2" }
                - { n: "4" }
        """
        let (p, d) = load(yaml, checkSchemas: false)
        #expect(d.isEmpty)
        let outcomes = PipelineTestRunner.run(try #require(p), cases: p!.testCases, options: Runner.Options())
        #expect(outcomes.map(\.failures) == [["f row 2: n: expected '4', got '3'"]])
    }

    @Test func stageReferenceInTheRepoIsCurrent() throws {
        let path = Paths.packageRoot.appendingPathComponent("docs/stages.md")
        let current = StageReference.markdown()
        if ProcessInfo.processInfo.environment["CRMFLOW_RECORD_GOLDEN"] != nil {
            try current.write(to: path, atomically: true, encoding: .utf8)
            Issue.record("docs/stages.md regenerated; review the diff and run again")
            return
        }
        #expect(try String(contentsOf: path, encoding: .utf8) == current, "docs/stages.md is stale: run `make docs`")
    }

    @Test func planGraphsAreGolden() throws {
        var o = PipelineLoader.Options()
        o.checkSchemas = false
        let log = DiagnosticLog()
        let p = try #require(try PipelineLoader.load(path: Paths.packageRoot.appendingPathComponent("pipelines/legacy-migration.yaml").path, options: o, log: log))
        var p2 = p
        p2.path = "pipelines/legacy-migration.yaml"
        let text = PlanRenderer.text(p2) + "\n" + PlanRenderer.dot(p2) + "\n" + PlanRenderer.mermaid(p2)
        let golden = Paths.fixture("plan-legacy-migration.txt")
        if ProcessInfo.processInfo.environment["CRMFLOW_RECORD_GOLDEN"] != nil {
            try text.write(to: golden, atomically: true, encoding: .utf8)
            Issue.record("golden re-recorded; review and run again")
            return
        }
        #expect(try String(contentsOf: golden, encoding: .utf8) == text)
    }
}
