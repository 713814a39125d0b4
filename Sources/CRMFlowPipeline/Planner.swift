import CRMFlowCore
import CRMFlowStages

/// What a run does, decided before any data is read: a value, testable without data.
///
/// - `stages`: the stages to run, in the pipeline's topological order (all, or the targets and what they read, stopping
///   at stages whose output is given);
/// - `levels`: those stages by DAG level (a stage's level is one more than its deepest input); stages of one level are
///   independent and may run at once;
/// - `needed`: for each stage, the output columns some later stage reads (no entry: all of them), so the runner drops
///   the others as soon as the stage finishes;
/// - `consumers`: how many stages read each output, so it is freed after its last reader;
/// - `streamedInto`: an ingest whose one reader takes it chunk by chunk, never building the table.
public struct Planner: Sendable {
    public let stages: [StageDeclaration]
    public let needed: [String: Set<String>]
    public let consumers: [String: Int]
    public let streamedInto: [String: String]

    /// - Parameters: `given`: stages whose output is supplied (pipeline tests, reused checkpoints); `targets`: only
    ///   these and what they read (nil: every stage); `keep`: outputs the caller keeps whole.
    public init(pipeline: Pipeline, given: Set<String> = [], targets: Set<String>? = nil, keep: Set<String> = []) {
        let stages = Self.selected(pipeline, given: given, targets: targets)
        self.stages = stages
        needed = Self.neededColumns(stages, given: given, keep: keep)
        var consumers: [String: Int] = [:]
        for s in stages { consumers[s.id] = stages.filter { $0.inputs.contains(s.id) }.count }
        self.consumers = consumers
        var streamed: [String: String] = [:]
        for s in stages where !given.contains(s.id) && s.inputs.count == 1 && (s.stage as? any ChunkConsumer)?.streamsChunks == true {
            let source = s.inputs[0]
            guard let decl = stages.first(where: { $0.id == source }), !given.contains(source), !keep.contains(source),
                  consumers[source] == 1, let ingest = decl.stage as? IngestStage, ingest.canStream else { continue }
            streamed[source] = s.id
        }
        streamedInto = streamed
    }

    public var levels: [[StageDeclaration]] {
        var level: [String: Int] = [:]
        let ids = Set(stages.map(\.id))
        for s in stages { level[s.id] = (s.inputs.filter(ids.contains).compactMap { level[$0] }.max() ?? -1) + 1 }
        let top = level.values.max() ?? -1
        return top < 0 ? [] : (0...top).map { l in stages.filter { level[$0.id] == l } }
    }

    static func selected(_ pipeline: Pipeline, given: Set<String>, targets: Set<String>?) -> [StageDeclaration] {
        guard let targets else { return pipeline.stages }
        var needed = Set<String>()
        func add(_ id: String) {
            guard !needed.contains(id) else { return }
            needed.insert(id)
            if given.contains(id) { return }
            pipeline.stage(id)?.inputs.forEach(add)
        }
        targets.forEach(add)
        return pipeline.stages.filter { needed.contains($0.id) }
    }

    /// For each stage, the output columns some later stage reads (nil: all of them).
    static func neededColumns(_ stages: [StageDeclaration], given: Set<String>, keep: Set<String>) -> [String: Set<String>] {
        var needed: [String: Set<String>] = [:]
        for s in stages.reversed() {
            let consumers = stages.filter { $0.inputs.contains(s.id) }
            if consumers.isEmpty || keep.contains(s.id) { continue }
            var union: Set<String> = []
            var all = false
            for c in consumers {
                guard let stage = c.stage, !given.contains(c.id) else { all = true; break }
                let wanted = stage.inputColumns(forOutput: needed[c.id])
                for (k, input) in c.inputs.enumerated() where input == s.id {
                    guard k < wanted.count, let w = wanted[k] else { all = true; break }
                    union.formUnion(w)
                }
                if all { break }
            }
            if !all { needed[s.id] = union }
        }
        return needed
    }

    /// The data with only the `wanted` columns (at least one, so the row count stays with the table).
    public static func pruned(_ data: StageData, to wanted: Set<String>) -> StageData {
        let t = data.table
        var keepIndices = t.schema.fields.indices.filter { wanted.contains(t.schema.fields[$0].name) }
        if keepIndices.count == t.schema.count { return data }
        if keepIndices.isEmpty, !t.columns.isEmpty { keepIndices = [0] }
        let table = Table(schema: Schema(keepIndices.map { t.schema.fields[$0] }), columns: keepIndices.map { t.columns[$0] }, rowCount: t.rowCount)
        return StageData(table: table, origins: data.origins)
    }
}
