import CRMFlowCore
import CRMFlowIO

/// `truth:` — a merge measured against known answers (a labelled sample, a benchmark's ground truth). The truth
/// column is read only after the clusters are made: it changes no decision. What comes out is pairwise precision,
/// recall and F1 in the notes, and `<stage>.misses.csv`: every true pair left apart (which blocking rules paired it,
/// its comparison levels, its score and why it was not merged) and every accepted link that joined two different
/// truths, so a miss can be traced to the blocking, the model or a guard.
extension MergeRun {
    /// Largest truth group whose pairs are listed (a shared placeholder value would list millions).
    static let truthGroupLimit = 50

    struct Evaluation {
        var notes: [String]
        var misses: Table
    }

    func evaluate(_ recs: Records, _ blocks: Blocks, _ clustering: Clustering, _ scorer: Scorer, truth column: String) throws(StageFailure) -> Evaluation {
        var labels = ByteInterner(), label: [Int32] = []
        var scratch: [UInt8] = []
        for data in inputs {
            let col = try self.column(column, data)
            for r in 0..<data.table.rowCount {
                if col.isNull(r) { label.append(-1); continue }
                scratch.removeAll(keepingCapacity: true)
                Self.appendText(col, r, to: &scratch)
                label.append(scratch.isEmpty ? -1 : scratch.withUnsafeBufferPointer { labels.intern($0) })
            }
        }
        let (starts, order) = KeyCoding.rowsByCode(label, distinct: labels.count)
        var truePairs = 0, found = 0, oversized = 0
        var missed: [(Int, Int)] = []
        let root = clustering.root
        for g in 0..<labels.count {
            let lo = Int(starts[g]), hi = Int(starts[g + 1]), n = hi - lo
            truePairs += n * (n - 1) / 2
            if n > Self.truthGroupLimit { oversized += 1 }
            for x in lo..<hi {
                for y in (x + 1)..<max(hi, x + 1) {
                    let i = Int(order[x]), j = Int(order[y])
                    if root[i] == root[j] { found += 1 } else if n <= Self.truthGroupLimit { missed.append((min(i, j), max(i, j))) }
                }
            }
        }
        // Predicted pairs: per cluster, pairs of members (a record without a label counts as its own truth).
        var predicted = 0
        var clusterSize: [Int: Int] = [:]
        for r in root { clusterSize[r, default: 0] += 1 }
        for (_, n) in clusterSize { predicted += n * (n - 1) / 2 }
        let precision = predicted == 0 ? 1 : Double(found) / Double(predicted)
        let recall = truePairs == 0 ? 1 : Double(found) / Double(truePairs)
        let f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall)
        var notes = ["truth column '\(column)' (used for this measurement only): pairwise precision \(fmt(precision)), recall \(fmt(recall)), F1 \(fmt(f1)); \(truePairs) true pairs, \(predicted) predicted, \(found) found"]
        if oversized > 0 { notes.append("truth: \(oversized) truth groups with more than \(Self.truthGroupLimit) records counted but their misses not listed") }

        var rows: [[Value]] = []
        var reasons: [String: Int] = [:]
        let rules = blocks.windows.count
        for (i, j) in missed {
            var by: [String] = []
            for q in 0..<rules {
                let a = blocks.rowCodes[i * rules + q], b = blocks.rowCodes[j * rules + q]
                if a < 0 || b < 0 { continue }
                if blocks.windows[q] == 0 ? a == b : abs(Int(a) - Int(b)) < blocks.windows[q] { by.append(String(q + 1)) }
            }
            let pattern = Self.pattern(recs, i, j)
            let (probability, weight) = scorer.score(pattern, base: scorer.base(pattern), i)
            let reason: String
            if by.isEmpty { reason = "not blocked" } else if let k = stage.mustAgree.first(where: { Self.level(of: pattern, $0) == UInt8(stage.comparisons[$0].levels.count) }) {
                reason = "must_agree: \(stage.comparisons[k].column) differs"
            } else if probability < stage.possible { reason = "below possible" } else if probability < stage.threshold { reason = "below threshold" } else {
                reason = "kept apart by its cluster (must_agree across the clusters, max_cluster or a decision)"
            }
            reasons[reason, default: 0] += 1
            rows.append(missRow("missed", recs, i, j, by, probability, weight, reason, pattern))
        }
        var falseLinks = 0
        for p in clustering.accepted where label[Int(p.a)] != label[Int(p.b)] || label[Int(p.a)] < 0 {
            falseLinks += 1
            rows.append(missRow("false link", recs, Int(p.a), Int(p.b), [], p.probability, p.weight, "accepted", p.pattern))
        }
        if !missed.isEmpty {
            notes.append("truth: \(missed.count) true pairs missed: " + reasons.sorted { $0.value > $1.value }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))
        }
        if falseLinks > 0 { notes.append("truth: \(falseLinks) accepted links join records of different truths") }
        let names = ["kind", "id_a", "id_b", "blocked_by", "probability", "weight", "reason"] + stage.comparisons.flatMap { [$0.column, "\($0.column)_a", "\($0.column)_b"] }
        let types: [DataType] = [.string, .string, .string, .string, .double, .double, .string] + stage.comparisons.flatMap { _ in [DataType.string, .string, .string] }
        return Evaluation(notes: notes, misses: Table(names: names, types: types, rows: rows))
    }

    private func fmt(_ x: Double) -> String { String(Stats.rounded(x, 4)) }

    /// The comparison pattern of records i and j, computed from the features (outside the pair loops).
    static func pattern(_ recs: Records, _ i: Int, _ j: Int) -> UInt64 {
        var p: UInt64 = 0
        for (c, f) in recs.features.enumerated() { p |= UInt64(f.level(i, j)) << (8 * UInt64(c)) }
        return p
    }

    private func missRow(_ kind: String, _ recs: Records, _ i: Int, _ j: Int, _ by: [String], _ probability: Double, _ weight: Double,
                         _ reason: String, _ pattern: UInt64) -> [Value] {
        var row: [Value] = [.string(kind), .string(recs.key(i)), .string(recs.key(j)), .string(by.joined(separator: "|")),
                            .double(Stats.rounded(probability, 6)), .double(Stats.rounded(weight, 3)), .string(reason)]
        for (k, f) in recs.features.enumerated() {
            row += [.string(levelName(pattern, k)), f.text(i).map(Value.string) ?? .null, f.text(j).map(Value.string) ?? .null]
        }
        return row
    }
}
