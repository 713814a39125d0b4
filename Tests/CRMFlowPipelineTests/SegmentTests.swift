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

    /// Integer ids kept as text (as identifier columns are) rank as numbers: 1, 2, …, 10, 100, not 1, 10, 100, 2.
    /// Checked against pandas itself (`rank(method='first')` over rows sorted by the integer id, then qcut) on 120
    /// customers with heavy ties; skipped without python3 and pandas unless CRMFLOW_REQUIRE_PANDAS=1 (CI).
    @Test func tiesBreakInNumericIdOrderAsPandasDoes() throws {
        var rows: [[String: String?]] = []
        var csv = "customer_id,date,amount\n"
        for id in 1...120 {
            // Few distinct values: most customers tie on frequency and monetary, many on recency.
            let purchases = 1 + id % 3
            for k in 0..<purchases {
                let date = String(format: "2024-%02d-%02d", 1 + (id * 7 + k) % 12, 1 + id % 5)
                let amount = String(100 * (1 + id % 4))
                rows.append(["customer_id": String(id), "date": date, "amount": amount])
                csv += "\(id),\(date),\(amount)\n"
            }
        }
        let input = table(rows.reversed(), columns: ["customer_id", "date", "amount"])
        let (t, _) = try segment("      method: rfm\n", input)
        #expect(t.schema.fields[0].type == .string)
        let ids = rendered(t).map { $0[0] }
        #expect(Array(ids.prefix(12)) == (1...12).map(String.init), "numeric order, not 1, 10, 100, 101, …")
        let ours = Dictionary(uniqueKeysWithValues: rendered(t).map { ($0[0], "\($0[4])\($0[5])\($0[6])") })
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = ["python3", "-c", "import pandas"]
        probe.standardError = FileHandle.nullDevice
        try probe.run()
        probe.waitUntilExit()
        guard probe.terminationStatus == 0 else {
            if ProcessInfo.processInfo.environment["CRMFLOW_REQUIRE_PANDAS"] == "1" { Issue.record("CRMFLOW_REQUIRE_PANDAS=1 but pandas is missing") }
            return
        }
        let data = Paths.scratch("rfm-ties.csv")
        try csv.write(toFile: data, atomically: true, encoding: .utf8)
        let script = """
        import sys, pandas as pd
        tx = pd.read_csv(sys.argv[1], parse_dates=["date"])
        as_of = pd.Timestamp("2024-12-31")
        g = tx.groupby("customer_id").agg(last=("date", "max"), frequency=("date", "size"), monetary=("amount", "sum")).sort_index()
        g["recency"] = (as_of - g["last"]).dt.days
        q = lambda s: pd.qcut(s.rank(method="first"), 5, labels=[1, 2, 3, 4, 5]).astype(int)
        g["R"] = 6 - q(g["recency"]); g["F"] = q(g["frequency"]); g["M"] = q(g["monetary"])
        for i, r in g.iterrows(): print(f"{i},{r.R}{r.F}{r.M}")
        """
        let run = Process()
        run.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        run.arguments = ["python3", "-c", script, data]
        let out = Pipe()
        run.standardOutput = out
        try run.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        run.waitUntilExit()
        #expect(run.terminationStatus == 0)
        let theirs = Dictionary(uniqueKeysWithValues: text.split(separator: "\n").map { line -> (String, String) in
            let parts = line.split(separator: ","); return (String(parts[0]), String(parts[1]))
        })
        #expect(theirs.count == 120)
        let differing = theirs.keys.filter { ours[$0] != theirs[$0] }.sorted { Int($0)! < Int($1)! }
        #expect(differing.isEmpty, "RFM differs from pandas for ids \(differing.prefix(10).map { "\($0): ours \(ours[$0] ?? "-") pandas \(theirs[$0]!)" })")
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

/// RFM straight from a CSV file: the ingest streams chunks into the segment stage (nothing held but the customers).
@Suite struct StreamingRFMTests {
    /// Seeded transactions: `customers` ids, dates in 2023-2024, amounts with cents; `bad` maps a row index to a line
    /// text that replaces it.
    static func writeTransactions(rows: Int, customers: Int, seed: UInt64, bad: [Int: String] = [:]) throws -> String {
        var rng = SplitMix64(seed: seed)
        func pad(_ v: Int, _ w: Int) -> String { String(repeating: "0", count: max(0, w - String(v).count)) + String(v) }
        var text = "customer_id,date,amount\n"
        for i in 0..<rows {
            if let b = bad[i] { text += b + "\n"; continue }
            let c = Int(rng.next() % UInt64(customers))
            let day = 19_358 + Int(rng.next() % 731)
            let d = CivilDate.components(days: day)
            let cents = 500 + Int(rng.next() % 50_000)
            text += "C\(pad(c, 5)),\(pad(d.year, 4))-\(pad(d.month, 2))-\(pad(d.day, 2)),\(cents / 100).\(pad(cents % 100, 2))\n"
        }
        let path = Paths.scratch("transactions.csv")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func pipeline(_ path: String) -> String {
        "  tx:\n    ingest: { path: \"\(path)\" }\n  rfm:\n    segment: { input: tx, method: rfm }\n"
    }

    @Test func streamedRFMEqualsTheWholeTableRunAcrossManySmallChunks() throws {
        let path = try Self.writeTransactions(rows: 40_000, customers: 3_000, seed: 7)
        // Whole table: keeping the ingest's output turns streaming off.
        let (_, whole) = try runStages(Self.pipeline(path), keep: ["tx", "rfm"])
        let (p, _) = load("pipeline: t\nstages:\n" + Self.pipeline(path), checkSchemas: false)
        var ingest = try #require(p?.stage("tx")?.stage as? IngestStage)
        let segment = try #require(p?.stage("rfm")?.stage as? SegmentStage)
        ingest.options.chunkSize = 16 << 10  // about 50 chunks
        let context = RunContext(stageID: "tx", outputDirectory: Paths.scratch("stream"), baseDirectory: Paths.packageRoot.path, environment: asOf, threads: 3)
        let (own, next) = try #require(try ingest.stream(into: segment, context, context))
        let streamed = try next.get()
        #expect(rendered(streamed.data.table) == rendered(whole["rfm"]))
        #expect(streamed.data.table.rowCount == 3_000)
        #expect(own.accounting.rowsIn == 40_000 && own.accounting.rowsOut == 40_000 && own.accounting.balances)
        #expect(own.notes.contains { $0.contains("streamed") })
    }

    @Test func theRunnerStreamsAndBadRowsPastTheSampleAreRejectsWithTheirLines() throws {
        // Rows past the first MiB that do not fit the sampled types: an impossible date, a word for an amount, and a
        // ragged row; each is a reject with its physical line, and the rest are scored.
        let bad = [60_000: "C00001,2024-02-30,10.00", 60_001: "C00002,2024-03-01,n/a", 60_002: "C00003,2024-03-01"]
        let path = try Self.writeTransactions(rows: 60_010, customers: 500, seed: 11, bad: bad)
        let out = Paths.scratch("stream-run")
        let (report, outputs) = try runStages(Self.pipeline(path), keep: ["rfm"], outputDirectory: out)
        #expect(report.accountingProblems.isEmpty)
        let tx = try #require(report.stages.first { $0.id == "tx" }), rfm = try #require(report.stages.first { $0.id == "rfm" })
        guard case .succeeded = rfm.status else { Issue.record("rfm: \(rfm.status)"); return }
        #expect(tx.notes.contains { $0.contains("streamed") })
        #expect(tx.accounting?.rowsIn == 60_010 && tx.accounting?.rejected == 3 && tx.accounting?.rowsOut == 60_007)
        #expect(rfm.accounting?.rowsIn == 60_007)
        let rejects = try String(contentsOfFile: try #require(tx.rejectsFile), encoding: .utf8).split(separator: "\n").dropFirst()
        #expect(rejects.map { $0.split(separator: ",")[1] } == ["60002", "60003", "60004"])
        #expect(rejects.first?.contains("2024-02-30") == true)
        #expect(try #require(outputs["rfm"]).rowCount == 500)
    }
}
