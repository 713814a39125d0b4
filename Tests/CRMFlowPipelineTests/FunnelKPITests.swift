import Foundation
import Testing
@testable import CRMFlowCore
@testable import CRMFlowIO
@testable import CRMFlowPipeline
@testable import CRMFlowStages

private func run(_ yaml: String, given: [String: Table], keep id: String) throws -> (Table, StageReport) {
    let (report, outputs) = try runStages(yaml, given: given, keep: [id], outputDirectory: Paths.scratch("funnel"))
    let r = try #require(report.stages.first { $0.id == id })
    guard case .succeeded = r.status else { throw TestFailure("\(id): \(r.status)") }
    #expect(report.accountingProblems.isEmpty)
    return (try #require(outputs[id]), r)
}

private func col(_ t: Table, _ name: String) -> [String] {
    guard let c = t.column(named: name) else { return ["no column \(name)"] }
    return (0..<t.rowCount).map { c.isNull($0) ? "null" : c.value(at: $0).description }
}

@Suite struct FunnelTests {
    /// Hand-checked: 9 deals, any-stage counting from current stages (no history).
    static let deals = table([
        ["id": "1", "stage": "Lead", "owner": "ann", "amount": "100", "lost_at": nil, "created": "2024-01-01", "closed": nil],
        ["id": "2", "stage": "Qualified", "owner": "ann", "amount": "200", "lost_at": nil, "created": "2024-01-05", "closed": nil],
        ["id": "3", "stage": "Proposal", "owner": "bob", "amount": "300", "lost_at": nil, "created": "2024-02-01", "closed": nil],
        ["id": "4", "stage": "Won", "owner": "bob", "amount": "1000", "lost_at": nil, "created": "2024-01-01", "closed": "2024-01-31"],
        ["id": "5", "stage": "won", "owner": "ann", "amount": "3000", "lost_at": nil, "created": "2024-01-10", "closed": "2024-03-10"],
        ["id": "6", "stage": "Lost", "owner": "bob", "amount": "500", "lost_at": "Proposal", "created": "2024-02-01", "closed": "2024-02-20"],
        ["id": "7", "stage": "Lost", "owner": "ann", "amount": "50", "lost_at": nil, "created": "2024-02-03", "closed": "2024-02-04"],
        ["id": "8", "stage": "Qualified", "owner": "bob", "amount": "400", "lost_at": nil, "created": "2024-02-09", "closed": nil],
        ["id": "9", "stage": "Mystery", "owner": "ann", "amount": "1", "lost_at": nil, "created": "2024-02-09", "closed": nil],
    ], columns: ["id", "stage", "owner", "amount", "lost_at", "created", "closed"])

    static let source = "  deals:\n    ingest: { path: deals.csv }\n  history:\n    ingest: { path: history.csv }\n"

    @Test func anyStageCountingFromCurrentStages() throws {
        let yaml = Self.source + """
          f:
            funnel: { input: deals, stages: [Lead, Qualified, Proposal], won: Won, lost: Lost, lost_stage: lost_at, amount: amount, created: created, closed: closed }

        """
        let (t, r) = try run(yaml, given: ["deals": Self.deals], keep: "f")
        #expect(col(t, "stage") == ["Lead", "Qualified", "Proposal"])
        #expect(col(t, "deals") == ["8", "6", "4"])
        #expect(col(t, "conversion") == ["null", "0.75", "0.6667"])
        #expect(col(t, "overall_conversion") == ["1.0", "0.75", "0.5"])
        #expect(col(t, "drop_off") == ["0", "2", "2"])
        #expect(col(t, "bottleneck") == ["null", "null", "largest drop"])
        #expect(col(t, "win_rate") == ["0.5", "0.5", "0.5"])
        #expect(col(t, "open") == ["4", "4", "4"])
        // Won deals: 1000 in 30 days and 3000 in 60 days → average 2000, median cycle 45 days.
        #expect(col(t, "avg_deal_size")[0] == "2000.0" && col(t, "median_cycle_days")[0] == "45.0")
        // Open pipeline 100 + 200 + 300 + 400 = 1000; velocity 1000 × 0.5 ÷ 45 per day.
        #expect(col(t, "open_pipeline")[0] == "1000.0" && col(t, "velocity_per_day")[0] == "11.11")
        #expect(r.notes.contains("1 deal in stage 'Mystery' outside the funnel's stages are not counted"))
        #expect(r.notes.contains { $0.hasPrefix("funnel: win rate = won ÷ (won + lost) = 2 ÷ (2 + 2) = 50.0%; largest drop: Qualified → Proposal") })
    }

    @Test func strictAndAnyStageCountingWithAHistory() throws {
        let deals = table([["id": "A", "stage": "Won"], ["id": "B", "stage": "Proposal"], ["id": "C", "stage": "Qualified"]], columns: ["id", "stage"])
        let history = table([
            ["id": "A", "stage": "Lead", "entered_at": "2024-01-01"], ["id": "A", "stage": "Qualified", "entered_at": "2024-01-11"],
            ["id": "A", "stage": "Proposal", "entered_at": "2024-01-21"], ["id": "A", "stage": "Won", "entered_at": "2024-02-01"],
            ["id": "B", "stage": "Lead", "entered_at": "2024-01-01"], ["id": "B", "stage": "Proposal", "entered_at": "2024-01-05"],
            ["id": "C", "stage": "Qualified", "entered_at": "2024-01-03"],
        ], columns: ["id", "stage", "entered_at"])
        let yaml = Self.source + """
          f:
            funnel: { input: deals, history: history, id: id, stages: [Lead, Qualified, Proposal], won: Won }

        """
        let (t, _) = try run(yaml, given: ["deals": deals, "history": history], keep: "f")
        #expect(col(t, "deals") == ["3", "3", "2"])
        #expect(col(t, "deals_strict") == ["2", "1", "1"])
        #expect(col(t, "conversion") == ["null", "1.0", "0.6667"])
        #expect(col(t, "conversion_strict") == ["null", "0.5", "1.0"])
        #expect(col(t, "median_days") == ["7.0", "10.0", "11.0"])
        #expect(col(t, "mean_days") == ["7.0", "10.0", "11.0"])
        #expect(col(t, "bottleneck") == ["null", "null", "largest drop, longest dwell"])
    }

    @Test func perOwnerAndCohort() throws {
        let yaml = Self.source + """
          f:
            funnel: { input: deals, stages: [Lead, Qualified, Proposal], won: Won, lost: Lost, by: owner, created: created, cohort: month }

        """
        let (t, _) = try run(yaml, given: ["deals": Self.deals], keep: "f")
        #expect(t.schema.names.prefix(3) == ["owner", "cohort", "stage"])
        let firsts = (0..<t.rowCount).filter { col(t, "stage")[$0] == "Lead" }.map { "\(col(t, "owner")[$0]) \(col(t, "cohort")[$0]) \(col(t, "deals")[$0])" }
        #expect(firsts == ["ann 2024-01-01 3", "bob 2024-02-01 3", "bob 2024-01-01 1", "ann 2024-02-01 1"])
    }
}

@Suite struct KPITests {
    static let sales = table([
        ["day": "2023-01-15", "amount": "100", "won": "true"], ["day": "2023-02-10", "amount": "50", "won": "true"],
        ["day": "2024-01-03", "amount": "120", "won": "true"], ["day": "2024-01-20", "amount": "10", "won": "false"],
        ["day": "2024-02-05", "amount": "95", "won": "true"], ["day": "2024-03-30", "amount": "60", "won": "true"],
        ["day": nil, "amount": "999", "won": "true"],
    ], columns: ["day", "amount", "won"])

    static let yaml = "  sales:\n    ingest: { path: sales.csv }\n" + """
      k:
        kpi:
          input: sales
          date: day
          period: month
          metrics:
            revenue: { value: "coalesce(sum(if(won, amount, 0)), 0)", target: 100, at_risk: 90% }
            deals: { value: "sum(amount)" }
            lost: { value: "count_if(not won)", target: 1, direction: lower }

    """

    @Test func statusChangesAndYearOverYear() throws {
        let (t, r) = try run(Self.yaml, given: ["sales": Self.sales], keep: "k")
        let revenue = (0..<t.rowCount).filter { col(t, "kpi")[$0] == "revenue" }
        // Every month from the first to the last: 15 months; months without rows have no data.
        #expect(revenue.count == 15)
        func row(_ period: String) -> [String] {
            let i = revenue.first { col(t, "period")[$0] == period }!
            return ["value", "attainment", "status", "previous", "change", "year_ago", "yoy_change"].map { col(t, $0)[i] }
        }
        #expect(row("2023-01-01") == ["100.0", "1.0", "on track", "null", "null", "null", "null"])
        #expect(row("2023-02-01") == ["50.0", "0.5", "off track", "100.0", "-0.5", "null", "null"])
        #expect(row("2023-03-01") == ["0.0", "0.0", "off track", "50.0", "-1.0", "null", "null"])
        #expect(row("2024-01-01") == ["120.0", "1.2", "on track", "0.0", "null", "100.0", "0.2"])
        #expect(row("2024-02-01") == ["95.0", "0.95", "at risk", "120.0", "-0.2083", "50.0", "0.9"])
        // Lower is better: 1 lost deal against a target of 1 is on track; 0 is better still.
        let lost = (0..<t.rowCount).filter { col(t, "kpi")[$0] == "lost" && col(t, "period")[$0] == "2024-01-01" }
        #expect(col(t, "status")[lost[0]] == "on track")
        // The current period is the last one up to the as-of date (2024-12-31 in the tests): March 2024.
        #expect(r.kpis.map { "\($0.kpi) \($0.period) \($0.status)" } == ["revenue 2024-03-01 off track", "deals 2024-03-01 no target", "lost 2024-03-01 on track"])
        // A sum over a month without rows is null (as in SQL): no data.
        let empty = (0..<t.rowCount).first { col(t, "kpi")[$0] == "deals" && col(t, "period")[$0] == "2023-03-01" }!
        #expect(col(t, "value")[empty] == "null" && col(t, "status")[empty] == "no data")
        #expect(r.notes.contains("1 rows have no day and are in no period"))
    }

    @Test func statusThresholds() {
        #expect(KPIStage.status(value: 100, target: 100, higherIsBetter: true, onTrack: 1, atRisk: 0.9).status == "on track")
        #expect(KPIStage.status(value: 90, target: 100, higherIsBetter: true, onTrack: 1, atRisk: 0.9).status == "at risk")
        #expect(KPIStage.status(value: 89.9, target: 100, higherIsBetter: true, onTrack: 1, atRisk: 0.9).status == "off track")
        #expect(KPIStage.status(value: 50, target: 45, higherIsBetter: false, onTrack: 1, atRisk: 0.8).status == "at risk")
        #expect(KPIStage.status(value: 60, target: 45, higherIsBetter: false, onTrack: 1, atRisk: 0.8).status == "off track")
        #expect(KPIStage.status(value: nil, target: 45, higherIsBetter: false, onTrack: 1, atRisk: 0.8).status == "no data")
    }

    @Test func weeksStartOnMonday() {
        // 2024-01-03 is a Wednesday; its week starts Monday 2024-01-01.
        let wed = Int32(CivilDate.days(year: 2024, month: 1, day: 3))
        #expect(Value.date(DateMath.truncate(wed, .week)).description == "2024-01-01")
        #expect(Value.date(DateMath.truncate(wed, .quarter)).description == "2024-01-01")
        #expect(Value.date(DateMath.next(DateMath.truncate(wed, .quarter), .quarter)).description == "2024-04-01")
        #expect(Value.date(DateMath.addMonths(Int32(CivilDate.days(year: 2024, month: 2, day: 29)), -12)).description == "2023-02-28")
    }
}

@Suite(.serialized) struct ReportTests {
    /// The nightly example's report in every format, against golden files (re-record with CRMFLOW_RECORD_GOLDEN=1).
    @Test func nightlyReportMatchesGoldenFiles() throws {
        let pipeline = try loadFile("pipelines/nightly.yaml")
        let ro = runnerOptions(out: Paths.scratch("report"))
        let r = Runner(pipeline: pipeline, options: ro).run()
        #expect(r.exitStatus == 0)
        let record = ProcessInfo.processInfo.environment["CRMFLOW_RECORD_GOLDEN"] != nil
        for file in ["report.html", "report.md", "report/funnel.csv", "report/kpis.json", "report/revenue_trend.csv"] {
            let produced = try String(contentsOfFile: ro.outputDirectory + "/" + file, encoding: .utf8)
            let golden = Paths.fixture("report/" + file.replacingOccurrences(of: "/", with: "-"))
            if record {
                try FileManager.default.createDirectory(at: golden.deletingLastPathComponent(), withIntermediateDirectories: true)
                try produced.write(to: golden, atomically: true, encoding: .utf8)
                Issue.record("golden re-recorded at \(golden.path); review the diff and run again")
                continue
            }
            #expect(produced == (try String(contentsOf: golden, encoding: .utf8)), "\(file) differs from \(golden.path)")
        }
        let html = try String(contentsOfFile: ro.outputDirectory + "/report.html", encoding: .utf8)
        // Self-contained: no scripts, no external files; every chart is inline SVG with labels.
        #expect(!html.contains("<script") && !html.contains("http://") && !html.contains("https://") && !html.contains("src="))
        #expect(html.components(separatedBy: "<svg ").count - 1 == 8)
        #expect(html.contains("<title>prediction interval</title>"))
        #expect(html.contains("<div class=\"tile on-track\"><div class=\"name\">revenue_usd · from 2024-10-01</div><div class=\"value\">$190,597</div>"))
        #expect(html.contains("<nav aria-label=\"Contents\">"))
    }

    @Test func axisTicksAreRoundNumbers() {
        #expect(ReportHTML.ticks(190_597) == [0, 50_000, 100_000, 150_000, 200_000])
        #expect(ReportHTML.ticks(0.57) == [0, 0.2, 0.4, 0.6000000000000001])
        #expect(ReportHTML.ticks(7) == [0, 2, 4, 6, 8])
        #expect(Measure.number.short(1_250_000) == "1.3M" && Measure.number.short(45_000) == "45k" && Measure.number.short(950) == "950")
        #expect(Measure.money("USD").short(150_000) == "$150k" && Measure.money("EUR").short(-2_000_000) == "-€2M" && Measure.rate.short(0.25) == "25%")
    }

    @Test func headingsAnchorsAndEscaping() {
        #expect(ReportStage.anchor("Won revenue by month (USD)") == "won-revenue-by-month-usd")
        #expect(ReportHTML.escape("<a & \"b\">") == "&lt;a &amp; &quot;b&quot;&gt;")
    }

    @Test func sectionsChooseTheirChartFromTheColumns() throws {
        let stage = try #require(ReportStage(StageConfig(id: "r", kind: "report", location: SourceLocation(file: "t", line: 1, column: 1),
                                                         kindLocation: SourceLocation(file: "t", line: 1, column: 1), options: [
                                                            ConfigEntry(key: "inputs", keyLocation: SourceLocation(file: "t", line: 1, column: 1),
                                                                        value: ConfigNode(content: .sequence([ConfigNode(content: .scalar("a"), location: SourceLocation(file: "t", line: 1, column: 1))]),
                                                                                          location: SourceLocation(file: "t", line: 1, column: 1))),
                                                         ], log: DiagnosticLog())))
        let monthly = table([["month": "2024-01-01", "revenue": "10.5"], ["month": "2024-02-01", "revenue": "12.25"]], columns: ["month", "revenue"])
        #expect(stage.section("a", monthly).kind == "line")
        let byOwner = table([["owner": "ann", "revenue": "10.5"], ["owner": "bob", "revenue": "3"]], columns: ["owner", "revenue"])
        let bar = stage.section("a", byOwner)
        #expect(bar.kind == "bar" && bar.x == "owner" && bar.y == "revenue")
        let text = table([["note": "x"]], columns: ["note"])
        #expect(stage.section("a", text).kind == "table")
    }
}

@Suite struct TrendTests {
    @Test func npsAndCSATOnAHandCheckedTable() throws {
        // NPS: 10, 9 promoters; 8, 7 passives; 6, 0 detractors; 11 and null not counted → (2 − 2) / 6 = 0.
        // CSAT: 5, 4, 4 satisfied of 5, 4, 4, 3, 1 (0 not counted) → 3 / 5 = 0.6.
        let answers = table([
            ["nps": "10", "csat": "5"], ["nps": "9", "csat": "4"], ["nps": "8", "csat": "4"], ["nps": "7", "csat": "3"],
            ["nps": "6", "csat": "1"], ["nps": "0", "csat": "0"], ["nps": "11", "csat": nil], ["nps": nil, "csat": nil],
        ], columns: ["nps", "csat"])
        let yaml = "  s:\n    ingest: { path: s.csv }\n  a:\n    aggregate: { input: s, aggregates: { nps: nps(nps), csat: csat(csat), promoters_only: \"nps(if(nps >= 9, nps, null))\" } }\n"
        let (t, _) = try run(yaml, given: ["s": answers], keep: "a")
        #expect(rendered(t) == [["0.0", "0.6", "100.0"]])
    }

    @Test func studentTAndIncompleteBetaAgainstTables() {
        // I_0.5(2, 3) = 11/16; two-sided p of t = 2.228 with 10 df is 0.05, of 2.776 with 4 df 0.05, of 0 is 1.
        #expect(abs(TrendStage.incompleteBeta(0.5, a: 2, b: 3) - 0.6875) < 1e-10)
        #expect(abs(TrendStage.studentTwoSidedP(2.228, df: 10) - 0.05) < 0.0005)
        #expect(abs(TrendStage.studentTwoSidedP(2.776, df: 4) - 0.05) < 0.0005)
        #expect(abs(TrendStage.studentTwoSidedP(0, df: 7) - 1) < 1e-12)
    }

    @Test func slopeSignificanceAndAnomaliesOnConstructedSeries() {
        let rising: [Double] = (0..<12).map { i -> Double in
            let noise: Double = i % 2 == 0 ? 0.5 : -0.5
            return 10 + 2 * Double(i) + noise
        }
        let fit = TrendStage.linearTrend(rising)
        #expect(abs(fit.slope - 2) < 0.1 && fit.p! < 0.001)
        let flat = [100.0, 103, 97, 102, 98, 101, 99, 104, 96, 100, 102, 98]
        #expect(TrendStage.linearTrend(flat).p! > 0.5)
        let spiky = [100.0, 102, 98, 101, 99, 100, 250, 101, 100, 99, 102, 98]
        let z = TrendStage.robustZ(spiky)
        #expect(z.enumerated().filter { abs($0.element ?? 0) > 3.5 }.map(\.offset) == [6])
    }

    @Test func growthMovingAverageAndFlagsPerPeriod() throws {
        var rows: [[String: String?]] = []
        for (i, v) in [100, 110, 121, 100, 500, 100, 100, 100, 100, 100, 100, 100, 200, 220].enumerated() {
            let m = i % 12 + 1, y = 2023 + i / 12
            rows.append(["month": String(format: "%04d-%02d-01", y, m), "revenue": "\(v)"])
        }
        let yaml = "  s:\n    ingest: { path: s.csv }\n  t:\n    trend: { input: s, x: month, y: revenue, window: 3 }\n"
        let (t, r) = try run(yaml, given: ["s": table(rows, columns: ["month", "revenue"])], keep: "t")
        #expect(col(t, "pop_growth").prefix(3) == ["null", "0.1", "0.1"])
        #expect(col(t, "moving_avg").prefix(3) == ["null", "null", "110.3333"])
        // January and February 2024 against a year earlier: 200 vs 100, 220 vs 110.
        #expect(col(t, "yoy_growth").suffix(2) == ["1.0", "1.0"])
        #expect(col(t, "anomaly").enumerated().filter { $0.element == "true" }.map(\.offset) == [4])
        #expect(r.notes.contains { $0.hasPrefix("anomalies: 2023-05-01 (robust z") })
        #expect(r.notes.contains { $0.hasPrefix("trend of revenue:") && $0.contains("not significant at 5%") })
    }
}

@Suite struct SnapshotTests {
    static let yaml = "  deals:\n    ingest: { path: deals.csv }\n" + """
      history:
        snapshot: { input: deals, path: history/deals.csv, columns: [id, stage, amount, close] }
      changes:
        pipeline_changes: { input: history, id: id, close: close, stage: stage, amount: amount }

    """

    static func night(_ day: Int32, _ deals: Table, _ dir: String) throws -> (history: Table, changes: Table, notes: [String]) {
        let (p, diagnostics) = load("pipeline: t\nstages:\n" + yaml, checkSchemas: false)
        guard let p else { throw TestFailure("\(diagnostics)") }
        var o = Runner.Options()
        o.environment = EvalEnvironment(asOf: day)
        o.outputDirectory = dir
        o.given = ["deals": StageData(table: deals)]
        let runner = Runner(pipeline: p, options: o)
        runner.keep = ["history", "changes"]
        let report = runner.run()
        #expect(report.exitStatus == 0 && report.accountingProblems.isEmpty)
        return (runner.kept["history"]!.table, runner.kept["changes"]!.table, report.stages.first { $0.id == "changes" }!.notes)
    }

    @Test func nightlySnapshotsShowPushedPulledNewAndRemovedDeals() throws {
        let dir = Paths.scratch("snapshots")
        let monday = table([
            ["id": "D-001", "stage": "Qualification", "amount": "1000", "close": "2024-12-15", "owner": "ann"],
            ["id": "D-002", "stage": "Proposal", "amount": "2000", "close": "2024-12-20", "owner": "bob"],
            ["id": "D-003", "stage": "Negotiation", "amount": "3000", "close": "2024-12-31", "owner": "ann"],
        ], columns: ["id", "stage", "amount", "close", "owner"])
        let first = try Self.night(20_070, monday, dir)  // 2024-12-13
        #expect(first.history.rowCount == 3 && first.changes.rowCount == 0)
        #expect(first.notes == ["only 1 snapshot in the history; changes need two"])
        // A re-run on the same day replaces that day's rows.
        _ = try Self.night(20_070, monday, dir)
        let tuesday = table([
            ["id": "D-001", "stage": "Proposal", "amount": "1000", "close": "2025-01-15", "owner": "ann"],
            ["id": "D-003", "stage": "Negotiation", "amount": "3500", "close": "2024-12-20", "owner": "ann"],
            ["id": "D-004", "stage": "Prospecting", "amount": "500", "close": "2025-02-01", "owner": "bob"],
        ], columns: ["id", "stage", "amount", "close", "owner"])
        let second = try Self.night(20_071, tuesday, dir)
        #expect(second.history.rowCount == 6)
        #expect(rendered(second.changes).map { $0.prefix(4).joined(separator: " ") } == [
            "D-001 pushed 2024-12-15 2025-01-15", "D-001 moved stage Qualification Proposal",
            "D-003 pulled 2024-12-31 2024-12-20", "D-003 amount changed 3000 3500",
            "D-004 new null Prospecting", "D-002 removed Proposal null",
        ])
        #expect(second.notes == ["since 2024-12-13: 1 new, 1 removed, 1 pushed, 1 pulled, 1 moved stage, 1 amount changed"])
        let file = try String(contentsOfFile: dir + "/history/deals.csv", encoding: .utf8)
        #expect(file.hasPrefix("id,stage,amount,close,snapshot_date\nD-001,Qualification,1000,2024-12-15,2024-12-13\n"))
        #expect(file.components(separatedBy: "\n").count == 8)
    }
}

@Suite struct ReportChartTests {
    @Test func forecastIntervalsAreDrawnAsABand() throws {
        let forecast = table([
            ["month": "2025-01-01", "revenue": "100", "lo_95": "80", "hi_95": "120"],
            ["month": "2025-02-01", "revenue": "110", "lo_95": "85", "hi_95": "135"],
            ["month": "2025-03-01", "revenue": "120", "lo_95": "88", "hi_95": "152"],
        ], columns: ["month", "revenue", "lo_95", "hi_95"])
        let sec = ReportStage.Section(id: "f", title: "Forecast", kind: "line", table: forecast, x: "month", y: "revenue")
        let svg = ReportHTML.lineChart(sec)
        #expect(svg.contains("<polygon class=\"band\"") && svg.contains("<title>prediction interval</title>"))
        #expect(svg.contains("<polyline"))
    }

    @Test func timeInStageFromNightlySnapshots() throws {
        // Three nights of snapshots: D-1 moves Lead → Qualified → Proposal, one night in each.
        var rows: [[String: String?]] = []
        for (night, stage) in [("2024-12-01", "Lead"), ("2024-12-04", "Qualified"), ("2024-12-09", "Proposal")] {
            rows.append(["opportunity_id": "D-1", "stage": stage, "snapshot_date": night])
            rows.append(["opportunity_id": "D-2", "stage": "Lead", "snapshot_date": night])
        }
        let history = table(rows, columns: ["opportunity_id", "stage", "snapshot_date"])
        let deals = table([["opportunity_id": "D-1", "stage": "Proposal"], ["opportunity_id": "D-2", "stage": "Lead"]], columns: ["opportunity_id", "stage"])
        let yaml = "  deals:\n    ingest: { path: deals.csv }\n  snaps:\n    ingest: { path: snaps.csv }\n" + """
          entries:
            aggregate: { input: snaps, group_by: [opportunity_id, stage], aggregates: { entered_at: min(snapshot_date) } }
          f:
            funnel: { input: deals, history: entries, id: opportunity_id, stages: [Lead, Qualified, Proposal], won: Won }

        """
        let (t, _) = try run(yaml, given: ["deals": deals, "snaps": history], keep: "f")
        #expect(col(t, "deals_strict") == ["2", "1", "1"])
        #expect(col(t, "median_days") == ["3.0", "5.0", "null"])
    }
}
