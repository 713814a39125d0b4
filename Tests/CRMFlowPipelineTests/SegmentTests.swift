import Foundation
import Testing
@testable import CRMFlowCore
@testable import CRMFlowIO
@testable import CRMFlowPipeline
@testable import CRMFlowStages

private func segment(_ body: String, _ input: Table, threads: Int = 2) throws -> (Table, StageReport) {
    let yaml = "  src:\n    ingest: { path: src.csv }\n  s:\n    segment:\n      input: src\n" + body
    let (report, outputs) = try runStages(yaml, given: ["src": input], jobs: threads, keep: ["s"], outputDirectory: Paths.scratch("segment"))
    let r = try #require(report.stages.first { $0.id == "s" })
    guard case .succeeded = r.status else { throw TestFailure("s: \(r.status)") }
    #expect(report.accountingProblems.isEmpty)
    return (try #require(outputs["s"]), r)
}

@Suite struct SegmentTests {
    /// Hand-checked, and the same as pandas: qcut(rank(method='first'), 5) over customers sorted by id, as of 2024-12-31.
    @Test func rfmScoresAndSegmentsMatchPandasQcutOfFirstRanks() throws {
        let rows: [(String, String, String)] = [
            ("C01", "2024-12-30", "100"), ("C02", "2024-12-01", "50"), ("C02", "2024-12-20", "70"), ("C03", "2024-06-01", "500"),
            ("C04", "2024-11-15", "20"), ("C05", "2024-12-28", "300"), ("C05", "2024-12-29", "300"), ("C05", "2024-12-30", "300"),
            ("C06", "2024-01-10", "10"), ("C07", "2024-10-01", "80"), ("C08", "2024-12-15", "60"), ("C08", "2024-09-15", "40"),
            ("C09", "2024-12-30", "15"), ("C10", "2024-03-03", "900"), ("C11", "2024-12-10", "45"), ("C12", "2024-07-07", "35"),
        ]
        // Rows in another order than the ids: the tie rule must not depend on input order.
        let input = table(rows.reversed().map { ["customer_id": $0.0, "date": $0.1, "amount": $0.2] }, columns: ["customer_id", "date", "amount"])
        let (t, r) = try segment("      method: rfm\n", input)
        let expected = [
            "C01 1 1 5 1 3 New Customers", "C02 11 2 4 5 4 Loyal Customers", "C03 213 1 1 1 5 Hibernating", "C04 46 1 3 1 1 About To Sleep",
            "C05 1 3 5 5 5 Champions", "C06 356 1 1 2 1 Hibernating", "C07 91 1 2 2 3 Hibernating", "C08 16 2 4 5 4 Loyal Customers",
            "C09 1 1 5 3 1 Potential Loyalists", "C10 303 1 1 3 5 At Risk", "C11 21 1 3 4 2 Loyal Customers", "C12 177 1 2 4 2 At Risk",
        ]
        #expect(rendered(t).map { [$0[0], $0[1], $0[2], $0[4], $0[5], $0[6], $0[8]].joined(separator: " ") } == expected)
        #expect(r.notes.first == "Hibernating: 3 customers, 20.9% of revenue, average recency 220 days, frequency 1")
        let profile = try String(contentsOfFile: try #require(r.outputs.first), encoding: .utf8)
        #expect(profile.hasPrefix("segment,customers,revenue_share,avg_recency,avg_frequency,avg_monetary\nHibernating,3,0.2088,220.0,1.0,196.67\n"))
    }

    @Test func quintilesOfFirstRanks() {
        // 10 equal values: ranks 1…10 in order; edges 1, 2.8, 4.6, 6.4, 8.2, 10.
        #expect(SegmentStage.quintileScores([Double](repeating: 1, count: 10), reversed: false) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
        #expect(SegmentStage.quintileScores([5, 4, 3, 2, 1], reversed: true) == [1, 2, 3, 4, 5])
        #expect(SegmentStage.segmentName(r: 5, f: 5) == "Champions" && SegmentStage.segmentName(r: 2, f: 5) == "Cannot Lose Them")
    }

    static func blobs(_ n: Int) -> Table {
        var rows: [[String: String?]] = []
        var rng = SplitMix64(seed: 3)
        let centres: [(Double, Double, String)] = [(0, 0, "DE"), (50, 50, "US"), (100, 0, "FR")]
        for i in 0..<n {
            let c = centres[i % 3]
            let jitter = { Double(rng.next() % 1000) / 100 - 5 }
            rows.append(["id": "\(i)", "revenue": String(c.0 + jitter()), "orders": String(c.1 + jitter()), "country": c.2])
        }
        return table(rows, columns: ["id", "revenue", "orders", "country"])
    }

    @Test func kmeansFindsSeparableClustersAndPicksKBySilhouette() throws {
        let (t, r) = try segment("      method: kmeans\n      features: [revenue, orders, country]\n", Self.blobs(90))
        let labels = (0..<t.rowCount).map { t.column(named: "segment")!.value(at: $0).description }
        // Three clusters, each exactly one of the generating centres.
        #expect(Set(labels).count == 3)
        for i in 0..<90 { #expect(labels[i] == labels[i % 3]) }
        #expect(r.notes.first?.hasPrefix("k = 3 by silhouette") == true)
        let profile = try String(contentsOfFile: try #require(r.outputs.first), encoding: .utf8)
        #expect(profile.hasPrefix("segment,size,revenue,orders,country\n"))
        #expect(profile.contains(",30,") && profile.contains("DE (100.0%)") && profile.contains("US (100.0%)"))
    }

    @Test func kmeansIsDeterministicForASeedAndAcrossThreads() throws {
        let data = Self.blobs(30_000)
        let body = "      method: kmeans\n      features: [revenue, orders]\n      k: 4\n      seed: 7\n"
        let (a, _) = try segment(body, data, threads: 1)
        let (b, _) = try segment(body, data, threads: 4)
        #expect(rendered(a) == rendered(b))
    }

    @Test func rulesGiveTheFirstMatchingLabel() throws {
        let input = table([["revenue": "150000"], ["revenue": "20000"], ["revenue": "50"], ["revenue": nil]], columns: ["revenue"])
        let body = """
              method: rules
              rules:
                - { when: "revenue >= 100000", label: Enterprise }
                - { when: "revenue >= 10000", label: Mid-market }
              default: SMB

        """
        let (t, r) = try segment(body, input)
        #expect(rendered(t).map { $0[1] } == ["Enterprise", "Mid-market", "SMB", "SMB"])
        #expect(r.notes == ["Enterprise: 1 rows", "Mid-market: 1 rows", "SMB: 2 rows"])
    }
}
