import Foundation
import Testing

/// `--engine spark` against a real Spark Connect server: `make test` (scripts/with-spark.sh) starts one from PyPI's
/// pyspark on 127.0.0.1 and passes its address in CRMFLOW_TEST_SPARK. The same pipeline runs on crmflow's engine and on
/// Spark, and the output files must be the same. Without a server these are skipped, unless CRMFLOW_REQUIRE_SPARK=1 (CI).
@Suite(.serialized) struct SparkTests {
    static let url = ProcessInfo.processInfo.environment["CRMFLOW_TEST_SPARK"]
    static var hasServer: Bool { url != nil }

    @Test func ciHasASparkServer() {
        if ProcessInfo.processInfo.environment["CRMFLOW_REQUIRE_SPARK"] == "1" {
            #expect(Self.hasServer, "CRMFLOW_REQUIRE_SPARK=1 but no CRMFLOW_TEST_SPARK: run the tests with scripts/with-spark.sh (make test)")
        }
    }

    static func files(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { !$0.hasPrefix(".") && $0 != "run-summary.json" && $0 != "crmflow.db" }.sorted()
    }

    static func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "<missing \(path)>" }

    /// Each stage's rows in, out and rejected from a run manifest.
    static func accounting(_ dir: String) throws -> [String: [Int]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/run-summary.json"))
        let json = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        var out: [String: [Int]] = [:]
        for case let s as [String: Any] in json?["stages"] as? [Any] ?? [] {
            guard let id = s["id"] as? String else { continue }
            out[id] = ["rows_in", "rows_out", "rejected"].map { s[$0] as? Int ?? -1 }
        }
        return out
    }

    @Test(.enabled(if: hasServer)) func revenuePipelineGivesTheLocalRunsFilesByteForByte() throws {
        let local = CLI.scratch("revenue-local"), spark = CLI.scratch("revenue-spark")
        let a = try CLI.run(["run", "pipelines/revenue.yaml", "--as-of", "2024-12-31", "--out", local, "--quiet"])
        #expect(a.status == 0, "\(a.stderr)")
        let b = try CLI.run(["run", "pipelines/revenue.yaml", "--as-of", "2024-12-31", "--out", spark, "--quiet", "--engine", "spark", "--spark", Self.url ?? ""])
        #expect(b.status == 0, "\(b.stderr)")
        let names = Self.files(local)
        #expect(names == ["opportunities.rejects.csv", "pipeline_by_stage.csv", "revenue_by_owner_month.csv", "top_open_deals.md", "win_rate.json"] || names.count >= 4, "\(names)")
        #expect(Self.files(spark) == names)
        for n in names where !n.hasSuffix(".rejects.csv") {
            #expect(Self.text(spark + "/" + n) == Self.text(local + "/" + n), "\(n) differs")
        }
        // Every stage accounts for the same rows on both engines, rejects included.
        let la = try Self.accounting(local), sa = try Self.accounting(spark)
        #expect(la.count == sa.count)
        for (id, rows) in la { #expect(sa[id] == rows, "stage \(id): local \(rows), spark \(sa[id] ?? [])") }
    }

    @Test(.enabled(if: hasServer)) func rowsSparkCannotTypeAreRejectsWithTheirReason() throws {
        let dir = CLI.scratch("spark-rejects")
        let csv = CLI.write("id,amount,closed\nA1,100.50,2024-01-02\nA2,lots,2024-01-03\nA3,\"1,200.00\",not a date\nA4,,2024-02-01\n", "spark-deals.csv")
        let yaml = CLI.write("""
        pipeline: spark-rejects
        stages:
          deals:
            ingest: { path: \(csv), columns: { amount: money, closed: "date:%Y-%m-%d" } }
          total:
            aggregate: { input: deals, aggregates: { n: count(*), total: sum(amount) } }
          out:
            emit: { input: total, path: total.csv }
        """, "spark-rejects.yaml")
        let r = try CLI.run(["run", yaml, "--out", dir, "--quiet", "--engine", "spark", "--spark", Self.url ?? ""])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(Self.text(dir + "/total.csv") == "n,total\n2,100.50\n")
        let rejects = Self.text(dir + "/deals.rejects.csv")
        #expect(rejects.contains("column 'amount': 'lots' is not a valid money"), "\(rejects)")
        #expect(rejects.contains("column 'closed': 'not a date' is not a valid date"), "\(rejects)")
        #expect(try Self.accounting(dir)["deals"] == [4, 2, 2])
    }

    /// A derive Spark SQL cannot express (money in several notations, currency()) runs row by row in `crmflow worker`
    /// processes that Spark starts in its executors; its rows and rejects are the local run's.
    @Test(.enabled(if: hasServer)) func aStageSQLCannotExpressRunsInTheWorkerInsideSpark() throws {
        let csv = CLI.write("id,amount,owner\nD1,\"1.234,50 €\",ann\nD2,USD 99.5,bob\nD3,lots,ann\nD4,\"£12,000\",bob\nD5,\"Multi\nline\tEUR 7\",ann\n", "worker-deals.csv")
        let yaml = CLI.write("""
        pipeline: spark-worker
        stages:
          deals:
            ingest: { path: \(csv), all_strings: true }
          priced:
            derive: { input: deals, columns: { money: "cast(amount as money)", currency: "currency(money)", owner: "upper(owner)" } }
          by_currency:
            aggregate: { input: priced, group_by: [currency], aggregates: { n: count(*), total: "sum(cast(money as double))" } }
          sorted:
            sort: { input: by_currency, by: [currency] }
          out:
            emit: { input: sorted, path: by_currency.csv }
        """, "spark-worker.yaml")
        let plan = try CLI.run(["plan", yaml, "--engine", "spark"])
        #expect(plan.stdout.contains("-- priced (derive): Spark, through crmflow worker in the executors"), "\(plan.stdout)")
        #expect(plan.stdout.contains("SELECT TRANSFORM(to_json(array(CAST(`id` AS STRING), CAST(`amount` AS STRING), CAST(`owner` AS STRING)))) USING"))
        let local = CLI.scratch("worker-local"), spark = CLI.scratch("worker-spark")
        let a = try CLI.run(["run", yaml, "--out", local, "--quiet"])
        #expect(a.status == 0, "\(a.stderr)")
        let b = try CLI.run(["run", yaml, "--out", spark, "--quiet", "--engine", "spark", "--spark", Self.url ?? ""])
        #expect(b.status == 0, "\(b.stderr)")
        #expect(Self.text(spark + "/by_currency.csv") == Self.text(local + "/by_currency.csv"))
        #expect(Self.text(local + "/by_currency.csv").hasPrefix("currency,n,total\n"), "\(Self.text(local + "/by_currency.csv"))")
        let la = try Self.accounting(local), sa = try Self.accounting(spark)
        #expect(sa["priced"] == la["priced"], "local \(la["priced"] ?? []), spark \(sa["priced"] ?? [])")
        #expect((la["priced"] ?? [])[2] >= 1, "the amount 'lots' is a reject")
        #expect(Self.text(spark + "/priced.rejects.csv").contains("lots"))
    }

    /// A cast of text rejects rows whose text does not convert; Spark's CAST would give null, so the stage runs in
    /// the worker (the derive) — and where the worker cannot run it (an aggregate), in crmflow, saying why.
    @Test func castsOfTextRunWhereRowsCanBeRejected() throws {
        let csv = CLI.write("id,n\nA,1\nB,x\n", "spark-cast.csv")
        let yaml = CLI.write("""
        pipeline: spark-cast
        stages:
          rows:
            ingest: { path: \(csv), all_strings: true }
          typed:
            derive: { input: rows, columns: { n2: "cast(n as integer) * 2" } }
          total:
            aggregate: { input: typed, aggregates: { s: sum(n2) } }
          ids:
            aggregate: { input: rows, aggregates: { t: "sum(cast(id as integer))" } }
          out:
            emit: { input: total, path: t.csv }
          out_ids:
            emit: { input: ids, path: ids.csv }
        """, "spark-cast.yaml")
        let r = try CLI.run(["plan", yaml, "--engine", "spark"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("-- typed (derive): Spark, through crmflow worker in the executors"), "\(r.stdout)")
        #expect(r.stdout.contains("-- total (aggregate): Spark"), "\(r.stdout)")
        #expect(r.stdout.contains("-- ids (aggregate): crmflow — \(yaml):10:53: cast of text to integer rejects rows"), "\(r.stdout)")
    }

    /// Runs `yaml` locally, then on Spark once per entry of `partitionRecords` (nil: the default partitions); each run
    /// must succeed. The output directories, local first.
    static func runLocallyAndOnSpark(_ yaml: String, _ name: String, partitionRecords: [String?], extra: [String] = []) throws -> [String] {
        let local = CLI.scratch(name + "-local")
        let a = try CLI.run(["run", yaml, "--out", local, "--quiet"] + extra)
        #expect(a.status == 0, "\(a.stderr)")
        var dirs = [local]
        for (k, records) in partitionRecords.enumerated() {
            let dir = CLI.scratch("\(name)-spark-\(k)")
            let r = try CLI.run(["run", yaml, "--out", dir, "--quiet"] + extra + ["--engine", "spark", "--spark", url ?? ""]
                                + (records.map { ["--spark-partition-records", $0] } ?? []))
            #expect(r.status == 0, "\(r.stderr)")
            dirs.append(dir)
        }
        return dirs
    }

    /// One stage's entry in a run manifest.
    static func stageSummary(_ dir: String, _ id: String) throws -> [String: Any] {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/run-summary.json"))) as? [String: Any]
        return (json?["stages"] as? [[String: Any]])?.first { $0["id"] as? String == id } ?? [:]
    }

    /// Fields of one CSV record (quotes doubled inside quoted fields; no line ends inside fields).
    static func fields(_ line: Substring) -> [String] {
        var out: [String] = [], cell = "", quoted = false, chars = Array(line), i = 0
        while i < chars.count {
            let c = chars[i]
            if quoted {
                if c == "\"" { if i + 1 < chars.count, chars[i + 1] == "\"" { cell.append("\""); i += 1 } else { quoted = false } } else { cell.append(c) }
            } else if c == "\"" { quoted = true } else if c == "," { out.append(cell); cell = "" } else { cell.append(c) }
            i += 1
        }
        return out + [cell]
    }

    /// Pairwise F1 of a merge's lineage file against the input's `person` column (ids `system:crm_id`).
    static func f1(lineage: String, input: String) -> Double {
        func rows(_ path: String) -> [[String]] { text(path).split(separator: "\n").dropFirst().map(fields) }
        var truth: [String: String] = [:]
        for r in rows(input) { truth[r[1] + ":" + r[0]] = r[12] }
        var predicted: [String: Int] = [:], actual: [String: Int] = [:], both: [String: Int] = [:]
        for r in rows(lineage) {
            let t = truth[r[2]] ?? "?"
            predicted[r[3], default: 0] += 1
            both[r[3] + "|" + t, default: 0] += 1
        }
        for t in truth.values { actual[t, default: 0] += 1 }
        func pairs(_ g: [String: Int]) -> Double { Double(g.values.reduce(0) { $0 + $1 * ($1 - 1) / 2 }) }
        let tp = pairs(both), p = tp / max(1, pairs(predicted)), r = tp / max(1, pairs(actual))
        return p + r == 0 ? 0 : 2 * p * r / (p + r)
    }

    /// A dedupe merge whose input is on Spark runs there per blocking partition (crmflow worker in the executors, the
    /// partitions' cluster edges joined, survivorship per cluster): every record in one golden record and in the
    /// lineage, the rows accounted for as locally, and the merge as good as the local one.
    @Test(.enabled(if: hasServer)) func aMergeRunsOnSparkPerBlockingPartition() throws {
        let input = CLI.scratch("spark-merge-customers.csv")
        let g = try CLI.run(["generate", "customers", "--rows", "3000", "--seed", "5", "--out", input])
        #expect(g.status == 0, "\(g.stderr)")
        let yaml = CLI.write("""
        pipeline: spark-merge
        stages:
          people: { ingest: { path: \(input) } }
          customers:
            merge:
              input: people
              id: crm_id
              source: system
              blocking: [email_address, phone_number, "soundex(family_name) || zip", "given_name || dob", "zip || dob"]
              compare:
                - { column: given_name, method: name, swap_with: family_name }
                - { column: family_name, method: name, tf: true }
                - { column: email_address, method: email }
                - { column: phone_number, method: phone }
                - { column: zip, method: exact }
                - { column: dob, method: date }
              must_agree: [given_name]
              source_priority: [salesforce, hubspot, erp, webshop]
          out:
            emit: { input: customers, path: golden.csv }
        """, "spark-merge.yaml")
        let plan = try CLI.run(["plan", yaml, "--engine", "spark"])
        #expect(plan.stdout.contains("-- customers (merge): Spark, merged per blocking partition by crmflow worker"), "\(plan.stdout)")
        #expect(plan.stdout.contains("\\'--merge\\' \\'partition\\'"), "\(plan.stdout)")
        let dirs = try Self.runLocallyAndOnSpark(yaml, "merge", partitionRecords: [nil, "1000"])
        let (local, one, three) = (dirs[0], dirs[1], dirs[2])
        #expect(Self.files(one) == Self.files(local), "\(Self.files(one))")
        let localF1 = Self.f1(lineage: local + "/customers.lineage.csv", input: input)
        for (dir, loss) in [(one, 0.02), (three, 0.08)] {
            let acc = try Self.accounting(dir)
            #expect(acc["customers"]?[0] == 3000 && acc["people"] == [3000, 3000, 0], "\(acc)")
            // Every record in the lineage once; the golden rows are the distinct clusters.
            let lineage = Self.text(dir + "/customers.lineage.csv").split(separator: "\n").dropFirst().map(Self.fields)
            #expect(lineage.count == 3000 && Set(lineage.map { $0[2] }).count == 3000)
            let golden = Self.text(dir + "/golden.csv").split(separator: "\n").count - 1
            #expect(golden == Set(lineage.map { $0[3] }).count && acc["customers"]?[1] == golden)
            let f1 = Self.f1(lineage: dir + "/customers.lineage.csv", input: input)
            #expect(localF1 > 0.9 && f1 > localF1 - loss, "F1 \(f1) on Spark (\(dir)), local \(localF1)")
        }
        let notes = Self.text(three + "/run-summary.json")
        #expect(notes.contains("in 3 partitions"), "\(notes)")
    }

    /// A clean stage whose input is on Spark runs there: its row-local steps row by row, its dedupe and what follows
    /// over rows distributed by the dedupe keys. The cleaned rows are the local run's byte for byte, in the same order,
    /// with the same rejects, change counts and dedupe lineage ids, on one partition or four.
    @Test(.enabled(if: hasServer)) func aCleanStageRunsOnSparkWithItsDedupeOverRowsDistributedByKey() throws {
        let input = CLI.scratch("spark-clean-people.csv")
        let g = try CLI.run(["generate", "customers", "--rows", "2000", "--seed", "3", "--out", input])
        #expect(g.status == 0, "\(g.stderr)")
        let yaml = CLI.write("""
        pipeline: spark-clean
        stages:
          people: { ingest: { path: \(input) } }
          people_clean:
            clean:
              input: people
              on_invalid: null
              steps:
                - trim: all
                - case: { columns: [given_name, family_name], to: title }
                - email: { column: email_address, fix_typos: true, canonical: email_key, on_invalid: reject }
                - phone: { column: phone_number, default_region: US }
                - require: [email_address]
                - dedupe: { keys: [email_key], keep: "latest(modified)", id: crm_id }
                - validate: { has_a_name: "given_name is not null or family_name is not null" }
          out:
            emit: { input: people_clean, path: people_clean.csv }
        """, "spark-clean.yaml")
        let plan = try CLI.run(["plan", yaml, "--engine", "spark"])
        #expect(plan.stdout.contains("-- people_clean (clean): Spark, through crmflow worker in the executors"), "\(plan.stdout)")
        #expect(plan.stdout.contains("\\'--clean-steps\\' \\'5:7\\'"), "\(plan.stdout)")
        let dirs = try Self.runLocallyAndOnSpark(yaml, "clean", partitionRecords: [nil, "500"])
        let (local, one, four) = (dirs[0], dirs[1], dirs[2])
        func column(_ path: String, _ k: Int) -> [String] { Self.text(path).split(separator: "\n").dropFirst().map { Self.fields($0)[k] } }
        func changes(_ dir: String) throws -> [String] {
            (try Self.stageSummary(dir, "people_clean")["changes"] as? [[String: Any]] ?? []).map { c in
                ["step", "column", "examined", "changed", "nulled", "rejected", "deduplicated"].map { "\(c[$0] ?? "-")" }.joined(separator: " ")
            }
        }
        for dir in [one, four] {
            #expect(Self.text(dir + "/people_clean.csv") == Self.text(local + "/people_clean.csv"), "\(dir)")
            let (accounting, localAccounting) = (try Self.accounting(dir), try Self.accounting(local))
            #expect(accounting == localAccounting)
            let (mine, theirs) = (try changes(dir), try changes(local))
            #expect(mine == theirs && !theirs.isEmpty, "\(mine)")
            #expect(column(dir + "/people_clean.rejects.csv", 4).sorted() == column(local + "/people_clean.rejects.csv", 4).sorted())
            #expect(column(dir + "/people_clean.lineage.csv", 2) == column(local + "/people_clean.lineage.csv", 2))
            #expect(column(dir + "/people_clean.lineage.csv", 5) == column(local + "/people_clean.lineage.csv", 5))
        }
    }

    /// Series forecasts run per group in the worker over rows distributed by the groups, points and rotting scores
    /// row by row: the report files, the accounting and the notes are the local run's.
    @Test(.enabled(if: hasServer)) func forecastsPerGroupAndScoresRunOnSparkInTheWorker() throws {
        var csv = "id,owner,stage,amount,close_date,created\n"
        let owners = ["Ann Lee", "Bob Stone", "Cara Diaz", "Dev Rao"], stages = ["Won", "Lost", "Open"]
        for i in 0..<2_000 {
            let y = 2022 + i % 3, m = 1 + (i * 7) % 12, d = 1 + (i * 13) % 28
            let amount = i % 97 == 0 ? "" : String(format: "%.2f", Double((i * 7919) % 90_000) + 500.25)
            csv += "D\(i),\(owners[(i * 5) % 4]),\(stages[(i * 11) % 3]),\(amount),\(y)-\(String(format: "%02d", m))-\(String(format: "%02d", d)),\(y)-\(String(format: "%02d", m))-01\n"
        }
        let input = CLI.write(csv, "spark-forecast-deals.csv")
        let yaml = CLI.write("""
        pipeline: spark-forecast
        stages:
          deals:
            ingest: { path: \(input), columns: { amount: money, close_date: "date:%Y-%m-%d", created: "date:%Y-%m-%d" } }
          by_owner:
            forecast: { input: deals, date: close_date, value: amount, period: month, horizon: 3, method: auto, by: [owner] }
          total:
            forecast: { input: deals, date: close_date, value: amount, period: quarter, horizon: 2, method: ets }
          scored:
            score:
              input: deals
              method: points
              rules:
                - { name: big, when: "amount > 50000", add: 30 }
                - { name: open, when: "stage = 'Open'", add: 20 }
          rot:
            score: { input: deals, method: rotting, stage: stage, since: created, limits: { Open: 400 } }
          points_by_stage:
            aggregate: { input: scored, group_by: [stage], aggregates: { n: count(*), points: sum(points) } }
          rotting:
            aggregate: { input: rot, group_by: [stage], aggregates: { n: count(*), rotten: count_if(rotting), days: sum(days_in_stage) } }
          s1: { sort: { input: points_by_stage, by: [stage] } }
          s2: { sort: { input: rotting, by: [stage] } }
          o1: { emit: { input: by_owner, path: by_owner.csv } }
          o2: { emit: { input: total, path: total.csv } }
          o3: { emit: { input: s1, path: points.csv } }
          o4: { emit: { input: s2, path: rotting.csv } }
        """, "spark-forecast.yaml")
        let plan = try CLI.run(["plan", yaml, "--engine", "spark"])
        #expect(plan.stdout.contains("-- by_owner (forecast): Spark, through crmflow worker in the executors (rows distributed by the forecast's groups)"), "\(plan.stdout)")
        #expect(plan.stdout.contains("-- scored (score): Spark, through crmflow worker in the executors"))
        let dirs = try Self.runLocallyAndOnSpark(yaml, "forecast", partitionRecords: ["500"], extra: ["--as-of", "2024-12-31"])
        let (local, spark) = (dirs[0], dirs[1])
        for n in ["by_owner.csv", "total.csv", "points.csv", "rotting.csv"] {
            #expect(Self.text(spark + "/" + n) == Self.text(local + "/" + n), "\(n) differs")
        }
        #expect(Self.text(local + "/by_owner.csv").split(separator: "\n").count > 100)
        let (la, sa) = (try Self.accounting(local), try Self.accounting(spark))
        #expect(la == sa)
        func notes(_ dir: String, _ id: String) throws -> [String] {
            (try Self.stageSummary(dir, id)["notes"] as? [String] ?? []).filter { $0 != "ran on Spark" }
        }
        for id in ["by_owner", "total", "scored", "rot"] {
            let (mine, theirs) = (try notes(spark, id), try notes(local, id))
            #expect(mine == theirs && !theirs.isEmpty, "\(id): \(mine) vs \(theirs)")
        }
    }

    @Test func aServerThatIsNotThereIsAClearError() throws {
        let dir = CLI.scratch("spark-down")
        let r = try CLI.run(["run", "pipelines/revenue.yaml", "--out", dir, "--quiet", "--engine", "spark", "--spark", "sc://127.0.0.1:1"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("sc://127.0.0.1:1"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/revenue_by_owner_month.csv"))
    }

    @Test func planPrintsWhereEachStageRunsAndTheSQL() throws {
        let r = try CLI.run(["plan", "pipelines/revenue.yaml", "--engine", "spark"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("-- deals (derive): Spark"))
        #expect(r.stdout.contains("-- emit_revenue (emit): crmflow — outputs are written by crmflow"))
        // A sort only an emit reads runs in crmflow: Spark would hand every row over anyway.
        #expect(r.stdout.contains("-- revenue_report (sort): crmflow — only stages that run in crmflow read it"))
        #expect(r.stdout.contains("CREATE OR REPLACE TEMPORARY VIEW `opportunities__raw` (`c0` STRING, `c1` STRING"))
        #expect(r.stdout.contains("LEFT OUTER JOIN `fx_rates` r ON l.`Currency` = r.`currency`"))
        #expect(r.stdout.contains("INSERT OVERWRITE DIRECTORY"))
    }

    @Test func aFunctionSparkLacksIsNamedWhereItIsWrittenAndItsStageRunsInCrmflow() throws {
        let csv = CLI.write("a,b\nx,y\n", "spark-fn.csv")
        let yaml = CLI.write("""
        pipeline: spark-fn
        stages:
          names:
            ingest: { path: \(csv) }
          scored:
            derive: { input: names, columns: { s: "round(jaro_winkler(a, b), 2)" } }
          totals:
            aggregate: { input: scored, aggregates: { n: count(*), best: "max(jaro_winkler(a, b))" } }
          out:
            emit: { input: totals, path: s.csv }
        """, "spark-fn.yaml")
        let r = try CLI.run(["plan", yaml, "--engine", "spark"])
        #expect(r.status == 0, "\(r.stderr)")
        // An aggregate cannot run row by row in the worker, so it names the call. Line 8: the expression starts at
        // column 67 (after its quote), jaro_winkler four characters in. The derive before it would run in the worker,
        // but only a crmflow stage reads it, so it runs in crmflow too.
        #expect(r.stdout.contains("-- totals (aggregate): crmflow — \(yaml):8:71: jaro_winkler() has no equivalent in Spark SQL"), "\(r.stdout)")
        #expect(r.stdout.contains("-- scored (derive): crmflow — only stages that run in crmflow read it"), "\(r.stdout)")
    }
}
