import Foundation
import Testing
@testable import CRMFlowCore
@testable import CRMFlowStages

/// Numbers written one way per kind of measure, and axes whose labels never collide (no data, no runner).
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
