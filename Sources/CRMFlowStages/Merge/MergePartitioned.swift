import CRMFlowCore
import CRMFlowIO

/// A dedupe merge run in pieces, for a distributed engine (Spark: `crmflow worker` in its executors).
///
/// 1. **Keys** (row by row): each record's id (`source:id`) and its folded key under every blocking rule.
/// 2. **Partitions**: the engine sends each record once per rule it has a key for, distributed by (rule, key), so every
///    block arrives whole in one partition (blocks larger than `max_block` are not sent; the records remember them).
///    A partition compares only the blocks it owns, each pair once (a pair an earlier rule blocks is left to that
///    rule's partition, which holds both records too), learns its own model from its pairs (EM) and random pairs of
///    its records (u), clusters with the usual guards and answers each multi-record cluster as edges.
/// 3. **Components**: the edges of all partitions joined (union–find): a record two partitions put in different
///    clusters joins them. The cap and must_agree checks are not applied again across partitions.
/// 4. **Golden**: each final cluster's records, in input order, to survivorship: the golden row and the lineage.
public enum MergePartitioned {
    /// Why this merge cannot run in pieces (nil: it can).
    public static func problem(_ stage: MergeStage) -> String? {
        if stage.mode != "dedupe" { return "mode: link compares two inputs as a whole" }
        if stage.windows.contains(where: { $0 > 0 }) { return "a sorted-neighbourhood blocking rule needs every record in one order" }
        if stage.decisions != nil { return "decisions are read from this machine's files" }
        if stage.truth != nil { return "truth (the evaluation) needs every record in one place" }
        return nil
    }

    public static func ruleCount(_ stage: MergeStage) -> Int { stage.blocking.count }
    public static func maxBlock(_ stage: MergeStage) -> Int { stage.maxBlock }
    /// Columns of the review file after the pair's ids: probability, weight, reason, then one level per comparison.
    public static func reviewSchema(_ stage: MergeStage) -> (names: [String], types: [DataType]) {
        (["id_a", "id_b", "probability", "weight", "reason"] + stage.comparisons.map(\.column),
         [.string, .string, .double, .double, .string] + stage.comparisons.map { _ in .string })
    }
    public static let lineageSchema: (names: [String], types: [DataType]) = (["file", "line", "id", "cluster_id", "match_probability"], [.string, .integer, .string, .string, .double])

    /// Pass 1: per record its id and, per rule, its folded key (nil: none).
    public static func keys(_ stage: MergeStage, _ records: Table, _ context: RunContext) throws(StageFailure) -> (ids: [String], keys: [[String?]]) {
        let run = MergeRun(stage: stage, inputs: [StageData(table: records)], context: context)
        let recs = try run.recordKeys()
        var keys: [[String?]] = []
        var scratch: [UInt8] = []
        for rule in stage.blocking {
            let column = try stage.compile(rule, records, option: "blocking", stage: context.stageID).evaluate(records, env: context.environment).column
            let buffer: StringBuffer? = if case .string(let b) = column.storage { b } else { nil }
            keys.append((0..<records.rowCount).map { r in
                MergeRun.foldKey(column, buffer, r, into: &scratch) ? String(decoding: scratch, as: UTF8.self) : nil
            })
        }
        return ((0..<recs.count).map(recs.key), keys)
    }

    /// What one partition answers.
    public struct PartitionResult: Sendable {
        /// Every record of a cluster with more than one record: its id, its cluster's first record's id, its best
        /// accepted pair probability (nan: none).
        public var edges: [(id: String, root: String, best: Double)]
        public var review: Table
        public var pairs: Int
    }

    /// Pass 2: one partition's records (each once), their keys per rule, the blocks it owns, each record's rules
    /// whose block is too large, and the number of records in all partitions.
    public static func partition(_ stage: MergeStage, records: Table, keys: [Column], owned: [Set<String>], oversized: [[Int]], totalRecords: Int,
                                 _ context: RunContext) throws(StageFailure) -> PartitionResult {
        var run = MergeRun(stage: stage, inputs: [StageData(table: records)], context: context)
        run.partition = .init(keys: keys, owned: owned, oversized: oversized, totalRecords: max(totalRecords, records.rowCount))
        let resolved = try run.resolve()
        let recs = resolved.recs, c = resolved.clustering
        var size = [Int](repeating: 0, count: recs.count)
        for r in c.root { size[r] += 1 }
        var edges: [(id: String, root: String, best: Double)] = []
        for i in 0..<recs.count where size[c.root[i]] > 1 { edges.append((recs.key(i), recs.key(c.root[i]), c.best[i])) }
        return PartitionResult(edges: edges, review: run.review(recs, c), pairs: resolved.pairCount)
    }

    /// Joins edges into clusters: per record id, its cluster's label (the smallest id) and its best probability.
    public static func components(_ edges: [(id: String, root: String, best: Double)]) -> [(id: String, label: String, best: Double)] {
        var index: [String: Int] = [:], names: [String] = [], parent: [Int] = [], best: [Double] = []
        func node(_ s: String) -> Int {
            if let i = index[s] { return i }
            index[s] = names.count
            names.append(s)
            parent.append(parent.count)
            best.append(.nan)
            return names.count - 1
        }
        func find(_ x: Int) -> Int {
            var x = x
            while parent[x] != x { parent[x] = parent[parent[x]]; x = parent[x] }
            return x
        }
        for e in edges {
            let a = node(e.id), b = node(e.root)
            if !e.best.isNaN { best[a] = best[a].isNaN ? e.best : max(best[a], e.best) }
            let ra = find(a), rb = find(b)
            if ra != rb {
                // The smaller id (byte-wise) is the root, so the label does not depend on the edges' order.
                if names[ra].utf8.lexicographicallyPrecedes(names[rb].utf8) { parent[rb] = ra } else { parent[ra] = rb }
            }
        }
        return names.indices.map { (names[$0], names[find($0)], best[$0]) }
    }

    /// Pass 4: records of whole clusters in input order, each with its cluster label (a record alone: its own id) and
    /// best probability; the golden rows (in order of each cluster's first record), each golden row's first record,
    /// and the lineage (in record order).
    public static func golden(_ stage: MergeStage, records: Table, labels: [String], best: [Double], _ context: RunContext) throws(StageFailure)
        -> (golden: Table, first: [Int], lineage: Table) {
        let run = MergeRun(stage: stage, inputs: [StageData(table: records)], context: context)
        let recs = try run.recordKeys()
        var rootOf: [String: Int] = [:]
        let root = labels.enumerated().map { i, l in
            if let r = rootOf[l] { return r }
            rootOf[l] = i
            return i
        }
        let c = MergeRun.Clustering(root: root, best: best, review: [], vetoed: [], notes: [], accepted: [])
        let groups = run.clusters(recs, c)
        let golden = try run.golden(recs, c, groups).table
        let first = (0..<groups.count).map { Int(groups.members($0).first!) }
        return (golden, first, run.lineage(recs, c, groups))
    }
}
