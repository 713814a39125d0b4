import CRMFlowCore
import CRMFlowIO
import Foundation

/// A `clean` stage run in pieces, for a distributed engine (Spark: `crmflow worker` in its executors).
///
/// The steps before a `dedupe` depend on each row alone and run row by row, in any partition. A `dedupe` needs every
/// row with the same key in one place: from it on, the steps run in a second pass whose rows are distributed by the
/// dedupe keys (the steps after it depend on each row alone again). Every output row carries the input place of the
/// row it came from, so the engine can put the rows back in the input's order.
public enum CleanPartitioned {
    /// Why this clean stage cannot run in pieces (nil: it can).
    public static func problem(_ stage: CleanStage) -> String? {
        if stage.inputNames.count != 1 { return "it stacks several inputs" }
        var dedupes = 0
        for step in stage.steps {
            switch step.kind {
            case .date(let format, let order, _, _) where format == nil && order == nil:
                return "step \(step.number) (\(step.name)) detects the day and month order from the whole column"
            case .dedupe: dedupes += 1
            default: break
            }
        }
        if dedupes > 1 { return "it has more than one dedupe step" }
        return nil
    }

    /// The passes: each a range of steps, and for a pass that starts with a dedupe, true.
    public static func passes(_ stage: CleanStage) -> [(steps: Range<Int>, distributed: Bool)] {
        guard let d = stage.steps.firstIndex(where: { if case .dedupe = $0.kind { return true }; return false }) else {
            return [(0..<stage.steps.count, false)]
        }
        return (d > 0 ? [(0..<d, false)] : []) + [(d..<stage.steps.count, true)]
    }

    /// The stage with only `steps`.
    public static func restricted(_ stage: CleanStage, to steps: Range<Int>) -> CleanStage {
        var c = stage
        c.steps = Array(stage.steps[steps])
        return c
    }

    /// The columns a pass starting with a dedupe distributes its rows by (the dedupe's keys in `schema`).
    public static func dedupeColumns(_ stage: CleanStage, first step: Int, schema: ExprSchema) -> [String] {
        var out: [String] = []
        for s in stage.steps[step].columns {
            switch s {
            case .all: out += schema.names
            case .type(let t): out += zip(schema.names, schema.types).filter { $0.1 == t }.map(\.0)
            case .column(let n, _): out.append(n)
            }
        }
        var seen = Set<String>()
        return out.filter { seen.insert($0).inserted }
    }

    /// One pass over one partition's rows: the result, which input row each output row is, the dedupe lineage.
    public static func run(_ stage: CleanStage, steps: Range<Int>, _ table: Table, _ context: RunContext) throws(StageFailure)
        -> (result: StageResult, kept: [Int], lineage: Table?) {
        try restricted(stage, to: steps).runTracking([StageData(table: table)], context, writeLineage: false)
    }

    /// Changes of several partitions as one run reports them: counts summed per step and column, samples in the order
    /// given (up to the report's limit), notes combined (`PartitionNotes`), in step order.
    public static func combine(_ changes: [CleanChange]) -> [CleanChange] {
        var out: [CleanChange] = [], index: [String: Int] = [:]
        for c in changes {
            let key = "\(c.step)\u{1}\(c.kind)\u{1}\(c.column)"
            guard let i = index[key] else {
                index[key] = out.count
                out.append(c)
                continue
            }
            out[i].examined += c.examined
            out[i].changed += c.changed
            out[i].nulled += c.nulled
            out[i].rejected += c.rejected
            out[i].invalidKept += c.invalidKept
            out[i].deduplicated += c.deduplicated
            for s in c.samples where out[i].samples.count < TextMapper.sampleLimit && !out[i].samples.contains(s) { out[i].samples.append(s) }
            out[i].notes += c.notes
        }
        for i in out.indices { out[i].notes = PartitionNotes.combine(out[i].notes) }
        // Stable: the columns of a step keep the order the partitions gave them.
        return out.enumerated().sorted { ($0.element.step, $0.offset) < ($1.element.step, $1.offset) }.map(\.element)
    }

    /// A change as one JSON text (between partitions and the driver).
    public static func encode(_ c: CleanChange) -> String {
        let object: [String: Any] = ["step": c.step, "kind": c.kind, "column": c.column, "examined": c.examined, "changed": c.changed, "nulled": c.nulled,
                                     "rejected": c.rejected, "invalid_kept": c.invalidKept, "deduplicated": c.deduplicated,
                                     "samples": c.samples.map { [$0.before, $0.after] }, "notes": c.notes]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    public static func decode(_ text: String) -> CleanChange? {
        guard let o = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any],
              let step = o["step"] as? Int, let kind = o["kind"] as? String, let column = o["column"] as? String else { return nil }
        var c = CleanChange(step: step, kind: kind, column: column)
        c.examined = o["examined"] as? Int ?? 0
        c.changed = o["changed"] as? Int ?? 0
        c.nulled = o["nulled"] as? Int ?? 0
        c.rejected = o["rejected"] as? Int ?? 0
        c.invalidKept = o["invalid_kept"] as? Int ?? 0
        c.deduplicated = o["deduplicated"] as? Int ?? 0
        c.samples = (o["samples"] as? [[String]] ?? []).compactMap { $0.count == 2 ? CleanChange.Sample(before: $0[0], after: $0[1]) : nil }
        c.notes = o["notes"] as? [String] ?? []
        return c
    }
}

extension CleanStage {
    /// The number of steps.
    public var stepCount: Int { steps.count }
}
