import CRMFlowCore
import CRMFlowIO

/// The relational operator a stage compiles to, for engines other than crmflow's own (Spark SQL today).
///
/// A stage SQL can express becomes one of the relational operators; every other stage is `swift`: it runs as
/// crmflow's own code. The local runner does not use this: it runs the stages themselves.
public enum LogicalOp: Sendable {
    /// A delimited text file with a header, read with crmflow's header aliases, renames and declared types.
    case scan(LogicalScan)
    /// `select`: input columns, in order, under their output names.
    case project(keep: [String]?, drop: [String], rename: [(from: String, to: String)])
    /// `derive`: columns computed in order; a name already present is replaced in place, a new one appended.
    case derive([(name: String, expr: ExprText)])
    case filter(ExprText)
    /// Equi-join; `type` is inner, left or anti; right columns whose names collide get `suffix`, and a right key
    /// named as its left key is dropped.
    case join(keys: [(left: String, right: String)], type: String, suffix: String)
    /// Group-by and aggregate expressions; `hasFill`: the stage fills missing periods (not expressed in SQL).
    case aggregate(groupBy: [String], aggregates: [(name: String, expr: ExprText)], hasFill: Bool)
    /// Stacks the inputs by column name; `sourceColumn` names each row's input.
    case union(sourceColumn: String?)
    case sort([(column: String, descending: Bool, nullsFirst: Bool)])
    case limit(rows: Int, offset: Int)
    /// Writes a file (CSV, JSON, NDJSON, Markdown or Excel) with crmflow's writers; `database`: a table instead.
    case write(path: String, database: Bool)
    /// A stage only crmflow's own code runs.
    case swift(reason: String)
}

/// What an `ingest` of a CSV file needs to be read by another engine.
public struct LogicalScan: Sendable {
    let stage: IngestStage
    /// The path as written in the pipeline (relative paths are relative to where crmflow runs).
    public var path: String { stage.path }
    public var options: CSVOptions { stage.options }

    /// The final name of each header of the file, after aliases and renames.
    public func finalNames(raw: [String]) -> [String] { stage.finalNames(raw) }
    /// Declared plans by the file's own header names.
    public func declaredPlans(raw: [String]) -> [String: ColumnPlan] { stage.declaredPlans(raw: raw) }
    /// Declared columns the header lacks: their names and where they are written.
    public func missingDeclared(raw: [String]) -> [(String, SourceLocation)] { stage.unknownDeclared(raw: raw).map { ($0.name, $0.location) } }
}

extension LogicalOp {
    /// The operator `stage` compiles to.
    public static func of(_ stage: any Stage) -> LogicalOp {
        switch stage {
        case let s as IngestStage:
            if s.database != nil { return .swift(reason: "reads a database") }
            if s.activities != nil { return .swift(reason: "reads a calendar or mail archive") }
            if s.incremental != nil { return .swift(reason: "incremental reads keep a watermark") }
            if s.options.ragged == .error { return .swift(reason: "ragged: error stops at the first bad record") }
            let ext = NSStringPath(s.path).pathExtension.lowercased()
            if let f = s.format, f != .csv { return .swift(reason: "reads \(f) (only CSV is read by the engine)") }
            if s.format == nil, ["json", "ndjson", "jsonl", "xlsx"].contains(ext) { return .swift(reason: "reads .\(ext) (only CSV is read by the engine)") }
            if s.options.encoding != nil && s.options.encoding != .utf8 { return .swift(reason: "reads a non-UTF-8 file") }
            return .scan(LogicalScan(stage: s))
        case let s as SelectStage:
            return .project(keep: s.keep?.map(\.0), drop: s.drop.map(\.0), rename: s.rename.map { ($0.0, $0.1) })
        case let s as DeriveStage:
            return .derive(s.columns.map { ($0.name, $0.expr) })
        case let s as FilterStage:
            return .filter(s.condition)
        case let s as JoinStage:
            return .join(keys: s.keys.map { ($0.left, $0.right) }, type: s.type, suffix: s.suffix)
        case let s as AggregateStage:
            return .aggregate(groupBy: s.groupBy.map(\.0), aggregates: s.aggregates, hasFill: s.fill != nil)
        case let s as UnionStage:
            return .union(sourceColumn: s.sourceColumn)
        case let s as SortStage:
            return .sort(s.keys.map { ($0.column, $0.descending, $0.nullsFirst) })
        case let s as LimitStage:
            return .limit(rows: s.rows, offset: s.offset)
        case let s as EmitStage:
            return .write(path: s.path, database: s.database != nil)
        default:
            return .swift(reason: "\(type(of: stage).spec.kind) is crmflow's own code")
        }
    }
}

/// The extension of a path, without Foundation's bridging in callers.
struct NSStringPath {
    let path: String
    init(_ path: String) { self.path = path }
    var pathExtension: String {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "" }
        return String(name[name.index(after: dot)...])
    }
}

