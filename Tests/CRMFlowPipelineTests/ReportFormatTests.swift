import Foundation
import Testing
@testable import CRMFlowCore
@testable import CRMFlowIO
@testable import CRMFlowPipeline
@testable import CRMFlowStages

/// Period series without holes, forecasts without negative bands, numbers written one way per kind, axes whose labels
/// never collide, and the progress line.
@Suite struct PeriodFillTests {
    static let won = table([
        ["owner": "ann", "month": "2024-01-01", "amount": "100", "score": "4"],
        ["owner": "ann", "month": "2024-04-01", "amount": "300", "score": "2"],
        ["owner": "bob", "month": "2024-02-01", "amount": "50", "score": "5"],
        ["owner": "bob", "month": "2024-02-01", "amount": "70", "score": "3"],
    ], columns: ["owner", "month", "amount", "score"])

    static func aggregate(_ options: String) throws -> (Table, StageReport) {
        let yaml = """
          won:
            ingest: { path: won.csv }
          agg:
            aggregate:
              input: won
        \(options)
              aggregates:
                deals: count(*)
                revenue: round(sum(amount), 2)
                doubled: sum(amount) * 2
                avg_score: avg(score)
                best: max(amount)
                share: count_if(amount > 60) / count(*)

        """
        let (report, outputs) = try runStages(yaml, given: ["won": won], keep: ["agg"])
        #expect(report.accountingProblems.isEmpty)
        let r = try #require(report.stages.first { $0.id == "agg" })
        guard case .succeeded = r.status else { throw TestFailure("agg: \(r.status)") }
        return (try #require(outputs["agg"]), r)
    }

    @Test func missingMonthsAreZeroForTotalsAndNullForEverythingElse() throws {
        let (t, r) = try Self.aggregate("      group_by: [month]\n      fill: { column: month, every: month }")
        // Groups first (in order of appearance), then the filled months.
        #expect(rendered(t) == [
            ["2024-01-01", "1", "100", "200", "4.0", "100", "1.0"],
            ["2024-04-01", "1", "300", "600", "2.0", "300", "1.0"],
            ["2024-02-01", "2", "120", "240", "4.0", "70", "0.5"],
            ["2024-03-01", "0", "0", "0", "null", "null", "null"],
        ])
        #expect(r.accounting?.added["filled period"] == 1)
        #expect(r.accounting?.removed["aggregated"] == 1)
    }

    @Test func throughTheAsOfPeriod() throws {
        // The tests' as-of date is 2024-12-31: every month through December.
        let (t, r) = try Self.aggregate("      group_by: [month]\n      fill: { column: month, every: month, to: as_of }")
        #expect(Set(rendered(t).map { $0[0] }) == Set((1...12).map { String(format: "2024-%02d-01", $0) }))
        #expect(r.accounting?.added["filled period"] == 9)
    }

    @Test func aPeriodColumnThatIsNotAPeriodStartIsAClearError() throws {
        do {
            _ = try Self.aggregate("      group_by: [month]\n      fill: { column: month, every: quarter }")
            Issue.record("expected a failure")
        } catch let e as TestFailure {
            #expect(e.description.contains("holds 2024-02-01, which is not the start of a quarter"), "\(e)")
        }
    }

    @Test func perOwnerThroughTheAsOfMonth() throws {
        let (t, _) = try Self.aggregate("      group_by: [owner, month]\n      fill: { column: month, every: month, to: 2024-05-15 }")
        let rows = rendered(t).map { [$0[0], $0[1], $0[2]] }
        // ann: Jan, Apr sold; Feb, Mar, May filled. bob: Feb sold; Jan, Mar, Apr, May filled.
        #expect(rows.count == 10)
        for owner in ["ann", "bob"] {
            let months = rows.filter { $0[0] == owner }.map { $0[1] }.sorted()
            #expect(months == ["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01", "2024-05-01"], "\(owner): \(months)")
        }
        #expect(rows.contains(["bob", "2024-05-01", "0"]) && rows.contains(["ann", "2024-02-01", "0"]))
    }

    @Test func fillOptionsAreValidatedAtTheirPosition() {
        let (_, diagnostics) = load("""
        pipeline: t
        stages:
          won:
            ingest: { path: won.csv }
          agg:
            aggregate:
              input: won
              group_by: [month]
              fill: { column: owner, every: fortnight }
              aggregates: { n: count(*) }
        """, checkSchemas: false)
        let text = diagnostics.map(\.message)
        #expect(text.contains { $0.contains("fill.column 'owner' is not one of the group_by columns") }, "\(text)")
        #expect(text.contains { $0.contains("fill.every must be day, week, month, quarter or year") }, "\(text)")
        #expect(diagnostics.allSatisfy { $0.location?.line == 9 })
    }

    @Test(arguments: [
        ("sum(x)", true), ("count(*)", true), ("round(sum(x), 2)", true), ("coalesce(sum(x), 0)", true), ("sum(a) - sum(b)", true),
        ("sum(x) * 2", true), ("sum(x) / 100", true), ("avg(x)", false), ("count_if(w) / count(*)", false), ("max(x)", false),
        ("sum(x) / count(*)", false), ("median(x)", false),
    ])
    func totalsAreTheAggregatesThatAreZeroOverNoRows(_ text: String, _ additive: Bool) throws {
        #expect(AggregateStage.isAdditive(try ExprParser.parse(text)) == additive, "\(text)")
    }
}

@Suite struct NonNegativeForecastTests {
    @Test func aRevenueForecastNeverGoesBelowZeroAndSaysItWasTruncated() throws {
        // A volatile, non-negative monthly series: the normal interval of any method reaches below zero.
        let months = (0..<12).map { String(format: "2024-%02d-15", $0 + 1) }
        let amounts = ["100", "5", "120", "2", "90", "1", "150", "3", "80", "0", "130", "4"]
        let won = table(zip(months, amounts).map { ["closed": $0, "amount": $1] }, columns: ["closed", "amount"])
        let yaml = """
          won:
            ingest: { path: won.csv }
          f:
            forecast: { input: won, date: closed, value: amount, period: month, horizon: 3, method: moving_average }
          g:
            forecast: { input: won, date: closed, value: amount, period: month, horizon: 3, method: moving_average, non_negative: "false" }

        """
        let (report, outputs) = try runStages(yaml, given: ["won": won], keep: ["f", "g"])
        let f = try #require(outputs["f"]), g = try #require(outputs["g"])
        let forecastRows = (0..<f.rowCount).filter { f.column(named: "kind")!.value(at: $0) == .string("forecast") }
        #expect(forecastRows.count == 3)
        for name in ["value", "lo_80", "hi_80", "lo_95", "hi_95"] {
            for r in forecastRows { #expect((f.column(named: name)!.value(at: r).asDouble ?? -1) >= 0, "\(name) row \(r)") }
        }
        // Without truncation the same interval is negative: the truncation is what made it non-negative.
        #expect((g.column(named: "lo_95")!.value(at: forecastRows[0]).asDouble ?? 0) < 0)
        let notes = report.stages.first { $0.id == "f" }?.notes ?? []
        #expect(notes.contains { $0.contains("truncated at 0") }, "\(notes)")
    }
}

@Suite struct NumberFormatTests {
    @Test(arguments: [
        // name, type, value, shown
        ("revenue_usd", DataType.double, Value.double(190_597.4), "$190,597"),
        ("revenue_usd", .double, .double(57_200.76), "$57,201"),
        ("avg_deal_usd", .double, .double(950.5), "$950.50"),
        ("avg_deal_usd", .double, .double(950), "$950"),
        ("pipeline_eur", .double, .double(-1250), "-€1,250"),
        ("amount", .money, .money(1_234_50, "GBP"), "£1,235"),
        ("amount", .money, .money(12_50, "CHF"), "CHF 12.50"),
        ("deals", .integer, .integer(1234), "1,234"),
        ("deals_won", .double, .double(5), "5"),
        ("responses", .double, .double(12), "12"),
        ("win_rate", .double, .double(0.5556), "55.6%"),
        ("conversion", .double, .double(0.684), "68.4%"),
        ("drop_off", .integer, .integer(12), "12"),
        ("stage_order", .integer, .integer(3), "3"),
        ("year", .integer, .integer(2024), "2024"),
        ("robust_z", .double, .double(-0.193), "-0.193"),
        ("coverage", .double, .double(2.345), "2.35"),
        ("anything", .double, .double(.nan), "–"),
        ("revenue_usd", .double, .null, "–"),
    ])
    func oneRulePerKindOfMeasure(_ name: String, _ type: DataType, _ value: Value, _ shown: String) {
        #expect(Formats().measure(name, type).format(value) == shown, "\(name) \(value)")
    }

    @Test func theReportCurrencyAndSectionFormatsApply() {
        let f = Formats(byColumn: ["weighted": .money("")], currency: "USD")
        #expect(f.measure("weighted", .double).format(.double(104_102)) == "$104,102")
        #expect(f.measure("revenue", .double).format(.double(99.5)) == "$99.50")
        #expect(f.measure("revenue_eur", .double).format(.double(10)) == "€10")
        #expect(Measure(written: "money EUR") == .money("EUR") && Measure(written: "percent") == .rate && Measure(written: "bogus") == nil)
    }
}

@Suite struct ChartAxisTests {
    @Test func periodsAreNamedForPeople() {
        let d = { (y: Int, m: Int) in Int32(CivilDate.days(year: y, month: m, day: 1)) }
        #expect(ReportHTML.periodUnit([d(2025, 1), d(2025, 2), d(2025, 4)]) == .month)
        #expect(ReportHTML.periodUnit([d(2024, 1), d(2024, 4), d(2024, 10)]) == .quarter)
        #expect(ReportHTML.periodUnit([d(2023, 1), d(2024, 1)]) == .year)
        #expect(ReportHTML.periodUnit([d(2024, 1) + 14]) == nil)
        #expect(ReportHTML.periodLabel(d(2025, 2), .month) == "Feb 2025")
        #expect(ReportHTML.periodLabel(d(2024, 10), .quarter) == "Q4 2024")
    }

    /// Whatever the number of periods and the room, the labels kept are at least their width apart (property test
    /// over sizes the report meets, from a handful of months to ten years of weeks).
    @Test func thinnedLabelsNeverCollide() {
        for count in [1, 2, 5, 9, 12, 13, 24, 36, 61, 120, 520] {
            for plot in [200.0, 536, 900] {
                let labels = (0..<count).map { ReportHTML.periodLabel(Int32(CivilDate.days(year: 2020 + $0 / 12, month: $0 % 12 + 1, day: 1)), .month) }
                let spacing = count > 1 ? plot / Double(count - 1) : plot
                let shown = ReportHTML.thinned(labels, spacing: spacing, size: 11)
                #expect(shown.first == 0)
                let widest = labels.map { ReportHTML.textWidth($0, size: 11) }.max() ?? 0
                for (a, b) in zip(shown, shown.dropFirst()) {
                    #expect(Double(b - a) * spacing >= widest + 8, "\(count) labels over \(plot) px: \(a) and \(b)")
                }
            }
        }
    }

    @Test func labelInkMeetsWCAGAAOnEveryFunnelShade() {
        for r in 0...100 {
            let fill = ReportHTML.shade(Double(r) / 100 * 0.55)
            #expect(ReportHTML.contrast(fill, ReportHTML.ink(on: fill)) >= 4.5, "\(fill)")
        }
        #expect(abs(ReportHTML.contrast("#ffffff", "#000000") - 21) < 0.01)
        // The old funnel's light bar under white text: the check the browser test makes fails it.
        #expect(ReportHTML.contrast(ReportHTML.mix("#1f77b4", "#ffffff", 0.6), "#ffffff") < 4.5)
    }
}

@Suite struct ProgressLineTests {
    @Test func aKnownTotalGivesABarRateAndETA() {
        let line = ConsoleObserver.progress(id: "contacts", elapsed: 2, rows: 600_000, expected: 1_000_000, bar: true)
        #expect(line == "contacts [████████████░░░░░░░░] 60% 600k of ~1.0M rows, 300k rows/s, ETA 2 s")
        let plain = ConsoleObserver.progress(id: "contacts", elapsed: 2, rows: 600_000, expected: 1_000_000, bar: false)
        #expect(plain == "contacts 60% 600k of ~1.0M rows, 300k rows/s, ETA 2 s")
    }

    @Test func anUnknownTotalGivesTimeAndRate() {
        #expect(ConsoleObserver.progress(id: "merge", elapsed: 75, rows: 0, expected: nil, bar: true) == "merge 1 min 15 s")
        #expect(ConsoleObserver.progress(id: "merge", elapsed: 3.2, rows: 12_000, expected: nil, bar: true) == "merge 4 s, 12k rows, 3750 rows/s")
        #expect(ConsoleObserver.progress(id: "merge", elapsed: 3.2, rows: 0, expected: 1_000_000, bar: true) == "merge 4 s, 1.0M rows in")
    }
}
