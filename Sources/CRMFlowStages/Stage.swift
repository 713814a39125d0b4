import CRMFlowCore
import CRMFlowIO
import Foundation

/// How an option's value is written in YAML.
public enum OptionShape: String, Sendable {
    case scalar = "value"
    case list = "list"
    case mapping = "mapping"
    /// One value or a list of values.
    case scalarOrList = "value or list"
    case any = "any"
}

/// One option of a stage kind: the single source of the validator, `crmflow stages` and the generated reference.
public struct OptionSpec: Sendable {
    public var name: String
    public var shape: OptionShape
    public var isRequired: Bool
    public var defaultValue: String?
    public var allowed: [String]?
    /// The option names other stages (the graph's edges).
    public var isInput: Bool
    /// The option is a file the stage writes: it must stay inside the output directory.
    public var isOutputPath: Bool
    public var summary: String

    public init(_ name: String, _ shape: OptionShape, required: Bool = false, default defaultValue: String? = nil, allowed: [String]? = nil,
                isInput: Bool = false, isOutputPath: Bool = false, _ summary: String) {
        self.name = name
        self.shape = shape
        self.isRequired = required
        self.defaultValue = defaultValue
        self.allowed = allowed
        self.isInput = isInput
        self.isOutputPath = isOutputPath
        self.summary = summary
    }
}

/// A stage kind written as data: its name, what it does, every option and an example.
public struct StageSpec: Sendable {
    public var kind: String
    public var summary: String
    public var options: [OptionSpec]
    public var example: String
    /// Inputs accepted: 0 for sources, otherwise the minimum (several means union by name where the stage allows it).
    public var minInputs: Int
    public var maxInputs: Int

    public init(kind: String, summary: String, minInputs: Int = 1, maxInputs: Int = 1, options: [OptionSpec], example: String) {
        self.kind = kind
        self.summary = summary
        self.minInputs = minInputs
        self.maxInputs = maxInputs
        self.options = options + StageSpec.common
        self.example = example
    }

    /// Options every stage accepts.
    public static let common: [OptionSpec] = [
        OptionSpec("on_error", .scalar, default: "reject", allowed: ["reject", "drop", "fail"],
                   "What happens to a row the stage cannot process: reject (to <stage>.rejects.csv with the reason), drop (counted, not kept) or fail the stage."),
        OptionSpec("max_rejects", .scalar, "Error budget: the stage fails when more rows are rejected, as a count (`100`) or a share of its input (`2%`)."),
        OptionSpec("description", .scalar, "Free text for people reading the pipeline."),
    ]

    public func option(_ name: String) -> OptionSpec? { options.first { $0.name == name } }
}

/// An expression written in a pipeline file, parsed, with where its text starts.
public struct ExprText: Sendable {
    public var text: String
    public var node: ExprNode
    public var location: SourceLocation

    public init(text: String, node: ExprNode, location: SourceLocation) {
        self.text = text
        self.node = node
        self.location = location
    }

    /// The file position of a span of the expression (exact for single-line expressions).
    public func location(of span: ExprSpan) -> SourceLocation {
        let prefix = Array(text.utf8.prefix(span.start))
        var l = location
        if let nl = prefix.lastIndex(of: 10) {
            l.line += prefix.filter { $0 == 10 }.count
            l.column = String(decoding: prefix[(nl + 1)...], as: UTF8.self).count + 1
        } else {
            l.column += String(decoding: prefix, as: UTF8.self).count
        }
        return l
    }

    public func length(of span: ExprSpan) -> Int {
        let bytes = Array(text.utf8)
        let end = min(span.end, bytes.count), start = min(span.start, end)
        return max(1, String(decoding: bytes[start..<end], as: UTF8.self).count)
    }
}

extension DiagnosticLog {
    /// Reports an expression error at its exact position in the file.
    public func add(_ error: ExprError, in expr: ExprText) {
        let code: DiagnosticCode
        switch error.code {
        case "E_SYNTAX": code = .expressionSyntax
        case "E_COLUMN": code = .unknownColumn
        case "E_FUNCTION": code = .unknownFunction
        default: code = .expressionType
        }
        add(code, error.message, at: expr.location(of: error.span), length: expr.length(of: error.span), hint: error.hint)
    }
}

/// A stage's options as written, with typed accessors that report problems instead of failing.
public struct StageConfig: Sendable {
    public let id: String
    public let kind: String
    /// Where the stage's id is written.
    public let location: SourceLocation
    /// Where the kind key is written.
    public let kindLocation: SourceLocation
    public let options: [ConfigEntry]
    public let log: DiagnosticLog

    public init(id: String, kind: String, location: SourceLocation, kindLocation: SourceLocation, options: [ConfigEntry], log: DiagnosticLog) {
        self.id = id
        self.kind = kind
        self.location = location
        self.kindLocation = kindLocation
        self.options = options
        self.log = log
    }

    public func node(_ name: String) -> ConfigNode? { options.first { $0.key == name }?.value }
    public func entry(_ name: String) -> ConfigEntry? { options.first { $0.key == name } }

    func shapeError(_ name: String, _ node: ConfigNode, expected: String) {
        log.add(.optionShape, "option '\(name)' of \(kind) stage '\(id)' expects \(expected) but found \(node.shapeName)", at: node.location,
                hint: "see `crmflow stages \(kind)` for the option's form")
    }

    /// A scalar option.
    public func string(_ name: String) -> String? {
        guard let n = node(name) else { return nil }
        if n.isNull { return nil }
        guard let s = n.scalar else { shapeError(name, n, expected: "a value"); return nil }
        return s
    }

    /// A value or a list of values.
    public func strings(_ name: String) -> [String]? {
        guard let n = node(name) else { return nil }
        return strings(of: n, name: name)
    }

    public func strings(of n: ConfigNode, name: String) -> [String]? {
        if let s = n.scalar { return [s] }
        if n.isNull { return [] }
        guard let items = n.items else { shapeError(name, n, expected: "a value or a list"); return nil }
        var out: [String] = []
        for item in items {
            guard let s = item.scalar else { shapeError(name, item, expected: "a value in the list"); return nil }
            out.append(s)
        }
        return out
    }

    public func int(_ name: String, min: Int = Int.min) -> Int? {
        guard let s = string(name) else { return nil }
        guard let v = Int(s.trimmingCharacters(in: .whitespaces)), v >= min else {
            log.add(.invalidValue, "option '\(name)' must be a whole number\(min > Int.min ? " of at least \(min)" : ""), got '\(s)'", at: node(name)?.location)
            return nil
        }
        return v
    }

    public func number(_ name: String) -> Double? {
        guard let s = string(name) else { return nil }
        guard let v = Double(s.trimmingCharacters(in: .whitespaces)) else {
            log.add(.invalidValue, "option '\(name)' must be a number, got '\(s)'", at: node(name)?.location)
            return nil
        }
        return v
    }

    public func bool(_ name: String) -> Bool? {
        guard let s = string(name) else { return nil }
        switch s.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            log.add(.invalidValue, "option '\(name)' must be true or false, got '\(s)'", at: node(name)?.location)
            return nil
        }
    }

    /// A scalar that must be one of `allowed` (the spec's list when not given).
    public func choice(_ name: String, _ allowed: [String]? = nil) -> String? {
        guard let s = string(name) else { return nil }
        let allowed = allowed ?? StageRegistry.spec(kind)?.option(name)?.allowed ?? []
        guard allowed.contains(s) else {
            let near = Suggest.nearest(s, among: allowed)
            log.add(.invalidValue, "'\(s)' is not a valid \(name)", at: node(name)?.textLocation, length: s.count,
                    hint: (near.map { "did you mean '\($0)'? " } ?? "") + "use one of: " + allowed.joined(separator: ", "))
            return nil
        }
        return s
    }

    /// A mapping option's entries.
    public func mapping(_ name: String) -> [ConfigEntry]? {
        guard let n = node(name) else { return nil }
        if n.isNull { return [] }
        guard let e = n.entries else { shapeError(name, n, expected: "a mapping"); return nil }
        return e
    }

    /// An expression option, parsed; syntax errors are reported at their position.
    public func expression(_ name: String) -> ExprText? {
        guard let n = node(name) else { return nil }
        return expression(n, option: name)
    }

    public func expression(_ n: ConfigNode, option name: String) -> ExprText? {
        guard let text = n.scalar else { shapeError(name, n, expected: "an expression"); return nil }
        let located = ExprText(text: text, node: .literal(.null, ExprSpan(0, 0)), location: n.textLocation)
        do {
            let node = try ExprParser.parse(text)
            return ExprText(text: text, node: node, location: n.textLocation)
        } catch {
            log.add(error, in: located)
            return nil
        }
    }

    /// Input stage ids named by the input options, in spec order.
    public var inputs: [String] {
        guard let spec = StageRegistry.spec(kind) else { return [] }
        return spec.options.filter(\.isInput).flatMap { o -> [String] in
            guard let n = node(o.name) else { return [] }
            if let s = n.scalar { return [s] }
            return n.items?.compactMap(\.scalar) ?? []
        }
    }

    /// The location of the text naming `input` (for "unknown input" messages).
    public func location(ofInput input: String) -> SourceLocation? {
        guard let spec = StageRegistry.spec(kind) else { return nil }
        for o in spec.options where o.isInput {
            guard let n = node(o.name) else { continue }
            if n.scalar == input { return n.textLocation }
            if let item = n.items?.first(where: { $0.scalar == input }) { return item.textLocation }
        }
        return nil
    }
}

/// How an error policy treats rows a stage cannot process.
public enum ErrorPolicy: String, Sendable {
    case reject, drop, fail
}

/// Where rows came from: the source file and physical line (record number for JSON) of each row.
public struct RowOrigins: Sendable {
    public var sources: [String]
    public var source: [UInt16]
    public var line: [Int32]

    public init(sources: [String], source: [UInt16], line: [Int32]) {
        self.sources = sources
        self.source = source
        self.line = line
    }

    public init(file: String, lines: [Int32]) {
        sources = [file]
        source = [UInt16](repeating: 0, count: lines.count)
        line = lines
    }

    public func selecting(_ rows: [Int]) -> RowOrigins {
        RowOrigins(sources: sources, source: rows.map { source[$0] }, line: rows.map { line[$0] })
    }

    public static func concatenating(_ parts: [RowOrigins?], counts: [Int]) -> RowOrigins? {
        guard parts.contains(where: { $0 != nil }) else { return nil }
        var out = RowOrigins(sources: [], source: [], line: [])
        for (p, n) in zip(parts, counts) {
            guard let p else {
                out.source.append(contentsOf: [UInt16](repeating: UInt16.max, count: n))
                out.line.append(contentsOf: [Int32](repeating: 0, count: n))
                continue
            }
            let base = out.sources.count
            out.sources.append(contentsOf: p.sources)
            out.source.append(contentsOf: p.source.map { $0 == UInt16.max ? $0 : UInt16(truncatingIfNeeded: base + Int($0)) })
            out.line.append(contentsOf: p.line)
        }
        return out
    }

    public func describe(_ row: Int) -> (source: String, line: Int) {
        let s = Int(source[row])
        return (s < sources.count ? sources[s] : "", Int(line[row]))
    }
}

/// A table flowing between stages, with where its rows came from when known.
public struct StageData: Sendable {
    public var table: Table
    public var origins: RowOrigins?
    public init(table: Table, origins: RowOrigins? = nil) {
        self.table = table
        self.origins = origins
    }

    /// The rows at `indices`, origins kept; columns are gathered on `threads` threads.
    public func selecting(_ indices: [Int], threads: Int = 1) -> StageData {
        StageData(table: table.selecting(indices, threads: threads), origins: origins?.selecting(indices))
    }

    /// A reject for row `row`: its origin when known, and the row as CSV.
    public func reject(row: Int, stage: String, code: String, reason: String) -> Reject {
        let (source, line) = origins?.describe(row) ?? ("stage \(stage)", row + 1)
        var record: [UInt8] = []
        for (c, column) in table.columns.enumerated() {
            if c > 0 { record.append(44) }
            let v = column.value(at: row)
            if !v.isNull { CSVQuoting.appendField(Array(v.description.utf8)[...], delimiter: 44, to: &record, force: false) }
        }
        return Reject(source: source, line: line, code: code, reason: reason, record: String(decoding: record, as: UTF8.self))
    }
}

/// Row accounting of one stage: `rowsIn + added == rowsOut + rejected + sum(removed)`.
public struct Accounting: Sendable, Hashable {
    public var rowsIn: Int
    public var rowsOut: Int
    public var rejected: Int
    /// Rows that left on purpose, by reason (`filtered`, `limited`, `aggregated`, `unmatched`, `dropped`).
    public var removed: [String: Int]
    /// Rows created, by reason (`join fan-out`).
    public var added: [String: Int]

    public init(rowsIn: Int, rowsOut: Int, rejected: Int = 0, removed: [String: Int] = [:], added: [String: Int] = [:]) {
        self.rowsIn = rowsIn
        self.rowsOut = rowsOut
        self.rejected = rejected
        self.removed = removed.filter { $0.value != 0 }
        self.added = added.filter { $0.value != 0 }
    }

    public var balances: Bool {
        rowsIn + added.values.reduce(0, +) == rowsOut + rejected + removed.values.reduce(0, +)
    }
}

extension Table {
    /// The rows at `indices`, gathering columns in parallel when there are many rows.
    public func selecting(_ indices: [Int], threads: Int) -> Table {
        guard threads > 1, indices.count >= 100_000, columns.count > 1 else { return selecting(indices) }
        let source = columns
        let gathered = ConcurrentMap.map(Array(source.indices), threads: threads) { source[$0].selecting(indices) }
        return Table(schema: schema, columns: gathered, rowCount: indices.count)
    }
}

/// A side file (`<stage>.<suffix>.csv`) still to be written.
public struct PendingSideTable: Sendable {
    public var suffix: String
    public var table: Table
    public var personalFrom: Int?
    public init(suffix: String, table: Table, personalFrom: Int? = nil) {
        self.suffix = suffix
        self.table = table
        self.personalFrom = personalFrom
    }
}

/// What a stage produced.
public struct StageResult: Sendable {
    public var data: StageData
    public var rejects: [Reject]
    public var accounting: Accounting
    /// Things the user should know (inference notes, many-to-many joins).
    public var notes: [String]
    /// Files the stage wrote.
    public var outputs: [String]
    /// Input files read (for the run manifest).
    public var inputFiles: [String]
    /// What a `clean` stage changed, per step and column.
    public var changes: [CleanChange]
    /// A `kpi` stage's KPIs in the current period.
    public var kpis: [KPIState]
    /// A `merge` stage's explanation of one record's decisions (`crmflow explain`).
    public var explanation: [String] = []
    /// An incremental ingest's new watermark, stored when the run succeeds.
    public var watermark: Watermark? = nil
    /// Side files computed elsewhere (a merge on Spark: its lineage and review), written when the runner takes the result.
    public var pendingSideTables: [PendingSideTable] = []

    public init(data: StageData, rejects: [Reject] = [], accounting: Accounting, notes: [String] = [], outputs: [String] = [], inputFiles: [String] = [],
                changes: [CleanChange] = [], kpis: [KPIState] = [], watermark: Watermark? = nil) {
        self.watermark = watermark
        self.data = data
        self.rejects = rejects
        self.accounting = accounting
        self.notes = notes
        self.outputs = outputs
        self.inputFiles = inputFiles
        self.changes = changes
        self.kpis = kpis
    }
}

/// Why a stage failed at run time.
public struct StageFailure: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var hint: String?
    public var status: ExitStatus
    public init(_ message: String, hint: String? = nil, status: ExitStatus = .stageFailed) {
        self.message = message
        self.hint = hint
        self.status = status
    }
    public init(_ error: CRMFlowError) {
        message = (error.location.map { "\($0): " } ?? "") + error.message
        hint = error.hint
        status = error.status
    }
    public var description: String { message + (hint.map { " (\($0))" } ?? "") }

    /// Any error as a stage failure: a located crmflow error keeps its location, hint and status, a stage failure
    /// passes through, anything else is said after `subject` (the file or path concerned).
    public init(_ error: any Error, about subject: String) {
        switch error {
        case let e as StageFailure: self = e
        case let e as CRMFlowError: self.init(e)
        default: self.init(subject.isEmpty ? "\(error)" : "\(subject): \(error)")
        }
    }
}

/// What a running stage may use: paths, the as-of date, threads, cancellation and progress.
public struct RunContext: Sendable {
    public var stageID: String
    /// Directory outputs go to.
    public var outputDirectory: String
    /// Where this run may write, and where it writes before the run is published.
    public var outputs: OutputSpace
    /// Directory relative input paths are read from.
    public var baseDirectory: String
    public var environment: EvalEnvironment
    public var threads: Int
    public var isCancelled: @Sendable () -> Bool
    /// Reports rows processed so far (for the live progress line).
    public var progress: @Sendable (Int) -> Void
    /// Reports the rows a stage expects to process in all (a source's estimate from its size), for the bar's ETA.
    public var expect: @Sendable (Int) -> Void = { _ in }
    /// Paths the pipeline reads, so an emit never overwrites one.
    public var protectedPaths: [String]
    /// The output columns later stages read (nil: all); a source may skip reading the others.
    public var neededColumns: Set<String>? = nil
    /// Mask personal data (e-mails, phones, names) in examples shown in summaries.
    public var maskPII = false
    /// `crmflow explain --id`: the record whose matching decisions a `merge` stage should explain.
    public var explainID: String? = nil
    /// An incremental ingest's watermark from the last successful run (nil: read everything).
    public var watermark: Watermark? = nil
    /// The pipeline's name (its state database keys rows by it).
    public var pipelineName = ""
    /// The pipeline's state database: run history, watermarks, merge decisions (`<out>/crmflow.db`).
    public var stateDatabase: String { outputDirectory + "/" + RunHistory.fileName }

    public init(stageID: String, outputDirectory: String, baseDirectory: String, environment: EvalEnvironment, threads: Int,
                isCancelled: @escaping @Sendable () -> Bool = { false }, progress: @escaping @Sendable (Int) -> Void = { _ in },
                protectedPaths: [String] = []) {
        self.stageID = stageID
        self.outputDirectory = outputDirectory
        outputs = OutputSpace(directory: outputDirectory, baseDirectory: baseDirectory)
        self.baseDirectory = baseDirectory
        self.environment = environment
        self.threads = threads
        self.isCancelled = isCancelled
        self.progress = progress
        self.protectedPaths = protectedPaths
    }

    public func inputPath(_ path: String) -> String {
        path.hasPrefix("/") ? path : (baseDirectory as NSString).appendingPathComponent(path)
    }

    /// Where to write the output `path` (relative to the output directory): its staging place while the run is not
    /// published. A path that leaves the output directory is refused unless the pipeline allows it.
    public func outputPath(_ path: String) throws(StageFailure) -> String {
        do { return try outputs.writePath(path) } catch { throw StageFailure(error) }
    }

    /// Where the published (previous) version of the output `path` is, e.g. a history file a stage appends to.
    public func publishedPath(_ path: String) throws(StageFailure) -> String {
        do { return try outputs.target(path) } catch { throw StageFailure(error) }
    }

    public func checkCancelled() throws(StageFailure) {
        if isCancelled() { throw StageFailure("cancelled", status: .stageFailed) }
    }
}

/// What validation knows of a stage's output: column names, and types where known. Nil: nothing known.
public typealias KnownSchema = ExprSchema?

/// Checks expressions against known schemas while validating, reporting into the log.
public struct SchemaCheck: Sendable {
    public let log: DiagnosticLog
    public let environment: EvalEnvironment
    /// Reads headers of input files (validation reads nothing else).
    public let baseDirectory: String

    public init(log: DiagnosticLog, environment: EvalEnvironment, baseDirectory: String) {
        self.log = log
        self.environment = environment
        self.baseDirectory = baseDirectory
    }

    /// Checks `expr` against `schema`; returns its type when known. Unknown schema: nothing to check.
    @discardableResult
    public func check(_ expr: ExprText?, _ schema: KnownSchema) -> DataType? {
        guard let expr, let schema else { return nil }
        do {
            return try ExprCompiler.check(expr.node, text: expr.text, schema: schema).type
        } catch {
            log.add(error, in: expr)
            return nil
        }
    }

    /// Reports names not in the schema, at the node where each is written.
    public func checkColumns(_ names: [(String, SourceLocation?)], in schema: KnownSchema, option: String) {
        guard let schema else { return }
        for (name, loc) in names where schema.index(of: name) == nil {
            let near = Suggest.nearest(name, among: schema.names)
            log.add(.unknownColumn, "unknown column '\(name)' in \(option)", at: loc, length: name.count,
                    hint: near.map { "did you mean '\($0)'?" } ?? "available: " + schema.names.prefix(12).joined(separator: ", "))
        }
    }
}

/// A stage kind. One file per kind: spec, stored configuration, build (validate options, no data), check, run.
public protocol Stage: Sendable {
    static var spec: StageSpec { get }
    /// Reads the options; reports problems to `config.log` and returns nil when the stage cannot be built.
    init?(_ config: StageConfig)
    /// The output schema as far as it can be known before data is read; reports column and expression problems.
    func outputSchema(_ inputs: [KnownSchema], _ check: SchemaCheck) -> KnownSchema
    /// Runs the stage on its inputs' outputs, in input order.
    func run(_ inputs: [StageData], _ context: RunContext) throws(StageFailure) -> StageResult
    /// The columns of each input the stage reads to produce `needed` columns of its output (nil, or no entry for that
    /// input: every column).
    /// The runner uses this to drop columns no later stage reads as soon as they are produced.
    func inputColumns(forOutput needed: Set<String>?) -> [Set<String>?]
}

extension Stage {
    /// Every column of every input (the safe default: an input with no entry is read whole).
    public func inputColumns(forOutput needed: Set<String>?) -> [Set<String>?] { [] }
}

extension Stage {
    /// Retypes columns that hold no value at all when the stage's expressions only type-check that way.
    ///
    /// A column of an empty export (or one that is empty in every row) has no evidence of its type and is read as
    /// text; a nightly file that happens to be empty tonight must not break `amount * 2` or `sum(amount)`. Such a
    /// column, still all null, is given the first type among double, integer, money, date, timestamp and boolean
    /// with which every expression checks.
    public func adaptingEmptyColumns(_ nodes: [ExprNode], _ table: Table, compiles: (Schema) -> Bool) -> Table {
        if compiles(table.schema) { return table }
        let referenced = Set(nodes.flatMap(\.referencedColumns))
        let empties = table.schema.fields.indices.filter {
            referenced.contains(table.schema.fields[$0].name) && table.schema.fields[$0].type == .string && table.columns[$0].nullCount == table.rowCount
        }
        guard !empties.isEmpty else { return table }
        // Fewest retyped columns first: one column at a time, then pairs, then triples.
        let candidates: [DataType] = [.double, .integer, .money, .date, .timestamp, .boolean]
        func subsets(_ size: Int, from start: Int) -> [[Int]] {
            guard size > 0 else { return [[]] }
            guard start < empties.count else { return [] }
            return (start..<empties.count).flatMap { i in subsets(size - 1, from: i + 1).map { [empties[i]] + $0 } }
        }
        func assignments(_ n: Int) -> [[DataType]] {
            n == 0 ? [[]] : assignments(n - 1).flatMap { rest in candidates.map { rest + [$0] } }
        }
        for size in 1...min(3, empties.count) {
            for columnsToRetype in subsets(size, from: 0) {
                for types in assignments(size) {
                    var fields = table.schema.fields
                    var columns = table.columns
                    for (i, t) in zip(columnsToRetype, types) {
                        fields[i].type = t
                        columns[i] = Column.nulls(t, count: table.rowCount)
                    }
                    if compiles(Schema(fields)) { return Table(schema: Schema(fields), columns: columns, rowCount: table.rowCount) }
                }
            }
        }
        return table
    }

    /// Compiles an expression against a concrete table at run time.
    public func compile(_ expr: ExprText, _ table: Table, option: String, stage: String) throws(StageFailure) -> CompiledExpr {
        do {
            return try ExprCompiler.compile(expr.node, text: expr.text, schema: table.schema)
        } catch {
            throw StageFailure("\(expr.location(of: error.span)): in \(option) of stage '\(stage)': \(error.message)", hint: error.hint, status: .badPipeline)
        }
    }
}

extension Stage {
    /// The column `name` of `table`, or a failure that says where the pipeline names it and what the input has.
    func requireColumn(_ name: String, in table: Table, for what: String, at location: SourceLocation?) throws(StageFailure) -> Column {
        guard let c = table.column(named: name) else {
            let near = Suggest.nearest(name, among: table.schema.names)
            throw StageFailure("\(location.map { "\($0): " } ?? "")\(what) column '\(name)' is not a column of the input",
                               hint: near.map { "did you mean '\($0)'?" } ?? "columns: " + table.schema.names.joined(separator: ", "), status: .badPipeline)
        }
        return c
    }

    /// `table` with its text masked: columns from `personalFrom` on as personal values, e-mail addresses in the others.
    static func masked(_ table: Table, personalFrom: Int) -> Table {
        var columns: [Column] = []
        for (c, column) in table.columns.enumerated() {
            guard column.type == .string else {
                columns.append(column)
                continue
            }
            let personal = c >= personalFrom
            var values: [Value] = []
            values.reserveCapacity(table.rowCount)
            for r in 0..<table.rowCount {
                if case .string(let s) = column.value(at: r) { values.append(.string(personal ? PIIMask.value(s) : PIIMask.text(s))) } else { values.append(.null) }
            }
            columns.append(Column.make(.string, values))
        }
        return Table(schema: table.schema, columns: columns, rowCount: table.rowCount)
    }

    /// Writes `<out>/<stage>.<suffix>.csv` atomically (lineage, profiles, model files) and returns its path. With
    /// `maskPII`, the columns from `personalFrom` on are masked as personal data, and e-mail addresses everywhere.
    public func writeSideTable(_ table: Table, suffix: String, _ context: RunContext, personalFrom: Int? = nil) throws(StageFailure) -> String {
        let path = try context.outputPath("\(context.stageID).\(suffix).csv")
        let table = context.maskPII ? Self.masked(table, personalFrom: personalFrom ?? Int.max) : table
        do {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        } catch {
            throw StageFailure("cannot create the output directory for '\(path)'", hint: "check that its parent exists and is writable, or choose another with --out DIR",
                               status: .cannotWrite)
        }
        do { try TableFileWriter.write(table, to: path, format: .csv, inputs: context.protectedPaths) } catch { throw StageFailure(error) }
        return path
    }

    /// A small reference CSV (rates, quotas, a history) read whole.
    func loadReference(_ path: String, options: CSVOptions = CSVOptions()) throws(StageFailure) -> Table {
        do {
            return try CSVFile.open(path, options: options).load().table
        } catch {
            throw StageFailure(error, about: path)
        }
    }

    /// The rows for which a condition holds (null counts as false).
    func conditionRows(_ expr: ExprText, _ table: Table, _ context: RunContext, option: String) throws(StageFailure) -> [Bool] {
        let compiled = try compile(expr, table, option: option, stage: context.stageID)
        let result = compiled.evaluate(table, env: context.environment)
        guard case .boolean(let b) = result.column.storage else {
            throw StageFailure("\(expr.location): \(option) must be true or false, but it gives \(result.column.type.rawValue)", status: .badPipeline)
        }
        return (0..<table.rowCount).map { !result.column.isNull($0) && b[$0] }
    }
}

/// A stage that can read its one input chunk by chunk while an `ingest` reads a CSV file, so that input is never
/// held in memory whole. The runner streams an ingest into such a stage when the ingest has no other reader.
public protocol ChunkConsumer: Stage {
    /// What one chunk contributes; computed on worker threads, chunks in any order.
    associatedtype Partial: Sendable
    /// The running total of the partials, added in file order on one thread.
    associatedtype Totals
    /// False when this configuration needs the whole table (checked before the file is opened).
    var streamsChunks: Bool { get }
    /// The plans to read the input's columns with, given the plans inferred from the start of the file (by column
    /// name); nil when this configuration needs the whole table (the ingest then runs as usual).
    func chunkPlans(sampled: [String: ColumnPlan]) -> [String: ColumnPlan]?
    func partial(_ chunk: Table) -> Partial
    func emptyTotals() -> Totals
    func add(_ partial: Partial, to totals: inout Totals)
    /// The stage's result from the totals of `rowsIn` streamed rows.
    /// `plans` are the ones the chunks were read with (by column name).
    func finish(_ totals: Totals, rowsIn: Int, plans: [String: ColumnPlan], _ context: RunContext) throws(StageFailure) -> StageResult
}
