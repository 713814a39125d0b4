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
