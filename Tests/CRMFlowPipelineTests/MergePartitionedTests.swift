import Foundation
import Testing
@testable import CRMFlowCore
@testable import CRMFlowIO
@testable import CRMFlowPipeline
@testable import CRMFlowStages

/// The merge's passes for a distributed engine (`MergePartitioned`), run here as Spark runs them: records spread by
/// (rule, key) over partitions, each partition comparing the blocks it owns, the edges joined, survivorship per
/// cluster. Whatever the number of partitions, every candidate pair is compared exactly once and every record ends in
/// exactly one golden record.
@Suite struct MergePartitionedTests {
    static let records = 3_000

    static func setUp() throws -> (MergeStage, Table, RunContext) {
        let csv = Paths.scratch("partitioned-customers.csv")
        try CustomerSetGenerator.csv(CustomerSetGenerator.generate(records: records, duplicates: 300, seed: 11)).write(toFile: csv, atomically: true, encoding: .utf8)
        let (p, diags) = load("""
        pipeline: partitioned
        stages:
          people: { ingest: { path: \(csv) } }
          customers:
            merge:
              input: people
              id: crm_id
              source: system
              blocking: [email_address, phone_number, "soundex(family_name) || zip", "given_name || dob", "zip || dob"]
              max_block: 40
              compare:
                - { column: given_name, method: name, swap_with: family_name }
                - { column: family_name, method: name, tf: true }
                - { column: email_address, method: email }
                - { column: phone_number, method: phone }
                - { column: zip, method: exact }
                - { column: dob, method: date }
              must_agree: [given_name]
        """)
        let stage = try #require(p?.stage("customers")?.stage as? MergeStage, "\(diags)")
        let table = try CSVFile.open(csv, options: CSVOptions()).load().table
        let context = RunContext(stageID: "customers", outputDirectory: Paths.scratch("partitioned-out"), baseDirectory: Paths.packageRoot.path,
                                 environment: asOf, threads: 2)
        return (stage, table, context)
    }

    /// The passes with `partitions` partitions: candidate pairs compared, golden rows, lineage, each record's cluster.
    static func distributed(_ stage: MergeStage, _ table: Table, _ context: RunContext, partitions: Int) throws
        -> (pairs: Int, golden: Table, lineage: Table, labels: [String]) {
        let n = table.rowCount, rules = MergePartitioned.ruleCount(stage), maxBlock = MergePartitioned.maxBlock(stage)
        let (ids, keys) = try MergePartitioned.keys(stage, table, context)
        var size: [[String: Int]] = Array(repeating: [:], count: rules)
        for r in 0..<rules { for k in keys[r] { if let k { size[r][k, default: 0] += 1 } } }
        var oversized = [[Int]](repeating: [], count: n)
        // Partition p: its records and the blocks it owns (what DISTRIBUTE BY rule, key sends it).
        var members = [Set<Int>](repeating: [], count: partitions), owned = [[Set<String>]](repeating: Array(repeating: [], count: rules), count: partitions)
        for r in 0..<rules {
            for i in 0..<n {
                guard let k = keys[r][i], let s = size[r][k] else { continue }
                if s > maxBlock { oversized[i].append(r); continue }
                guard s >= 2 else { continue }
                var h = Hasher()
                h.combine(r)
                h.combine(k)
                let p = Int(UInt(bitPattern: h.finalize()) % UInt(partitions))
                members[p].insert(i)
                owned[p][r].insert(k)
            }
        }
        var pairs = 0
        var edges: [(id: String, root: String, best: Double)] = []
        for p in 0..<partitions where !members[p].isEmpty {
            let rows = members[p].sorted()
            let keyColumns = (0..<rules).map { r in Column.make(.string, rows.map { keys[r][$0].map(Value.string) ?? .null }) }
            let part = Table(schema: table.schema, columns: table.columns.map { $0.selecting(rows) }, rowCount: rows.count)
            let result = try MergePartitioned.partition(stage, records: part, keys: keyColumns, owned: owned[p], oversized: rows.map { oversized[$0] },
                                                        totalRecords: n, context)
            pairs += result.pairs
            edges += result.edges
        }
        var label = ids, best = [Double](repeating: .nan, count: n)
        let index = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
        for c in MergePartitioned.components(edges) {
            let i = try #require(index[c.id])
            label[i] = c.label
            best[i] = c.best
        }
        let g = try MergePartitioned.golden(stage, records: table, labels: label, best: best, context)
        return (pairs, g.golden, g.lineage, label)
    }

    /// Pairwise F1 of clusters (a label per record) against the truth column.
    static func f1(_ labels: [String], truth: Column) -> Double {
        func pairs(_ groups: [String: Int]) -> Int { groups.values.reduce(0) { $0 + $1 * ($1 - 1) / 2 } }
        var predicted: [String: Int] = [:], actual: [String: Int] = [:], both: [String: Int] = [:]
        for (i, l) in labels.enumerated() {
            let t = truth.value(at: i).description
            predicted[l, default: 0] += 1
            actual[t, default: 0] += 1
            both[l + "\u{1}" + t, default: 0] += 1
        }
        let tp = Double(pairs(both)), p = tp / Double(max(1, pairs(predicted))), r = tp / Double(max(1, pairs(actual)))
        return p + r == 0 ? 0 : 2 * p * r / (p + r)
    }

    /// `loss`: how much F1 per-partition models may lose against the whole table's. Each partition learns from its
    /// own pairs and records: one partition nearly matches the local merge; 3,000 records cut into 16 partitions of
    /// about 190 each learn poorly (why partitions hold 250,000 records by default).
    @Test(arguments: [(1, 0.02), (3, 0.08), (16, 0.15)])
    func everyPairIsComparedOnceAndEveryRecordEndsInOneGoldenRecord(partitions: Int, loss: Double) throws {
        let (stage, table, context) = try Self.setUp()
        let local = try MergeRun(stage: stage, inputs: [StageData(table: table)], context: context).resolve()
        let d = try Self.distributed(stage, table, context, partitions: partitions)
        // The blocks arrive whole and a pair an earlier rule blocks is left to that rule's partition: the local pairs.
        #expect(d.pairs == local.pairCount, "\(partitions) partitions")
        #expect(d.lineage.rowCount == table.rowCount)
        #expect(Set(d.labels).count == d.golden.rowCount)
        let records = d.golden.columns[d.golden.schema.index(of: "records")!]
        #expect((0..<d.golden.rowCount).reduce(0) { $0 + Int(records.value(at: $1).description)! } == table.rowCount)
        // Lineage ids are every input record's, once, in input order.
        let ids = d.lineage.columns[2]
        #expect((0..<table.rowCount).allSatisfy { ids.value(at: $0).description == local.recs.key($0) })
        // The merge's quality holds: per-partition models against the whole-table model.
        let truth = table.columns[table.schema.index(of: "person")!]
        let localLabels = (0..<table.rowCount).map { local.recs.key(local.clustering.root[$0]) }
        let (mine, theirs) = (Self.f1(d.labels, truth: truth), Self.f1(localLabels, truth: truth))
        #expect(theirs > 0.9 && mine > theirs - loss, "F1 \(mine) on \(partitions) partitions, local \(theirs)")
    }

    @Test func componentsJoinClustersThatShareARecordAndLabelThemByTheSmallestID() {
        let c = MergePartitioned.components([("b", "a", 0.99), ("a", "a", 0.99), ("c", "b", .nan), ("x", "y", 0.97), ("y", "y", 0.96)])
        let label = Dictionary(uniqueKeysWithValues: c.map { ($0.id, $0.label) })
        #expect(label == ["a": "a", "b": "a", "c": "a", "x": "x", "y": "x"])
        #expect(c.first { $0.id == "c" }!.best.isNaN)
        #expect(c.first { $0.id == "y" }!.best == 0.96)
    }
}

/// A clean stage's passes for a distributed engine (`CleanPartitioned`), run here as Spark runs them: the steps before
/// the dedupe over the input cut into chunks, the dedupe and what follows over rows spread by the dedupe key; the rows
/// put back in input order are the local run's, and the change counts add up to the local ones.
@Suite struct CleanPartitionedTests {
    @Test(arguments: [1, 4, 9])
    func passesOverPartitionsGiveTheLocalRowsAndCounts(partitions: Int) throws {
        let csv = Paths.scratch("clean-partitioned.csv")
        try CustomerSetGenerator.csv(CustomerSetGenerator.generate(records: 1_500, duplicates: 200, seed: 4)).write(toFile: csv, atomically: true, encoding: .utf8)
        let (p, diags) = load("""
        pipeline: clean-partitioned
        stages:
          people: { ingest: { path: \(csv) } }
          people_clean:
            clean:
              input: people
              on_invalid: null
              steps:
                - trim: all
                - case: { columns: [given_name, family_name], to: title }
                - email: { column: email_address, fix_typos: true, canonical: email_key, on_invalid: reject }
                - phone: { column: phone_number, default_region: US }
                - dedupe: { keys: [email_key], keep: "latest(modified)", id: crm_id }
                - validate: { has_a_name: "given_name is not null or family_name is not null" }
        """)
        let stage = try #require(p?.stage("people_clean")?.stage as? CleanStage, "\(diags)")
        #expect(CleanPartitioned.problem(stage) == nil)
        let passes = CleanPartitioned.passes(stage)
        #expect(passes.map(\.steps) == [0..<4, 4..<6] && passes.map(\.distributed) == [false, true])
        let table = try CSVFile.open(csv, options: CSVOptions()).load().table
        let context = RunContext(stageID: "people_clean", outputDirectory: Paths.scratch("clean-partitioned-out"), baseDirectory: Paths.packageRoot.path,
                                 environment: asOf, threads: 1)
        let local = try stage.run([StageData(table: table)], context)

        // Pass 1: row by row, the input in chunks; each output row keeps its input place.
        var rows: [(place: Int, table: Table, row: Int)] = [], changes: [CleanChange] = [], rejected = 0
        let chunk = (table.rowCount + partitions - 1) / partitions
        for start in stride(from: 0, to: table.rowCount, by: chunk) {
            let idx = Array(start..<min(table.rowCount, start + chunk))
            let part = Table(schema: table.schema, columns: table.columns.map { $0.selecting(idx) }, rowCount: idx.count)
            let (r, kept, _) = try CleanPartitioned.run(stage, steps: passes[0].steps, part, context)
            for (k, i) in kept.enumerated() { rows.append((idx[i], r.data.table, k)) }
            changes += r.changes
            rejected += r.rejects.count
        }
        // Pass 2: rows spread by the dedupe key, each partition in input order.
        let keyOf: (Table, Int) -> String = { t, r in t.column(named: "email_key")!.value(at: r).description }
        var spread = [[(place: Int, table: Table, row: Int)]](repeating: [], count: partitions)
        for x in rows { spread[abs(keyOf(x.table, x.row).hashValue) % partitions].append(x) }
        var out: [(place: Int, values: [String])] = []
        for part in spread where !part.isEmpty {
            let sorted = part.sorted { $0.place < $1.place }
            let schema = sorted[0].table.schema
            let columns = schema.fields.indices.map { c in Column.make(schema.fields[c].type, sorted.map { $0.table.columns[c].value(at: $0.row) }) }
            let (r, kept, lineage) = try CleanPartitioned.run(stage, steps: passes[1].steps, Table(schema: schema, columns: columns, rowCount: sorted.count), context)
            #expect(lineage != nil)
            for (k, i) in kept.enumerated() { out.append((sorted[i].place, r.data.table.columns.map { $0.value(at: k).description })) }
            changes += r.changes
            rejected += r.rejects.count
        }
        out.sort { $0.place < $1.place }
        let expected = (0..<local.data.table.rowCount).map { r in local.data.table.columns.map { $0.value(at: r).description } }
        #expect(out.map(\.values) == expected, "\(partitions) partitions")
        #expect(rejected == local.rejects.count)
        let combined = CleanPartitioned.combine(changes).map { [$0.step, $0.examined, $0.changed, $0.nulled, $0.rejected, $0.deduplicated] }
        #expect(combined == local.changes.map { [$0.step, $0.examined, $0.changed, $0.nulled, $0.rejected, $0.deduplicated] })
        // The change report travels as JSON between the partitions and the driver.
        for c in local.changes { #expect(CleanPartitioned.decode(CleanPartitioned.encode(c)) == c) }
    }

    @Test func stepsThatNeedTheWholeColumnKeepTheStageOnTheDriver() throws {
        let (p, diags) = load("""
        pipeline: clean-whole
        stages:
          a: { ingest: { path: sample-data/events/trade_show_leads.csv, columns: { Met On: { type: string } } } }
          b: { clean: { input: a, steps: [ { date: Met On } ] } }
          c: { clean: { input: a, steps: [ { trim: all }, { dedupe: { keys: [Email] } }, { dedupe: { keys: [Phone] } } ] } }
        """, checkSchemas: false)
        let b = try #require(p?.stage("b")?.stage as? CleanStage, "\(diags)"), c = try #require(p?.stage("c")?.stage as? CleanStage)
        #expect(CleanPartitioned.problem(b) == "step 1 (date) detects the day and month order from the whole column")
        #expect(CleanPartitioned.problem(c) == "it has more than one dedupe step")
    }
}
