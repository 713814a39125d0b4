import CRMFlowCore
import CRMFlowIO
import Foundation

/// `snapshot`: appends today's rows (dated with the run's as-of date) to a history file, so later runs can see change.
public struct SnapshotStage: Stage {
    public static let spec = StageSpec(
        kind: "snapshot",
        summary: "Append the input, dated with the run's as-of date, to a history CSV file (rewritten atomically; a re-run on the same date replaces that date's rows, so nightly jobs can be repeated). Outputs the whole history, for `pipeline_changes` (pushed, pulled, new, removed deals) and for time in stage (the first snapshot a deal was seen in each stage).",
        options: [
            OptionSpec("input", .scalar, required: true, isInput: true, "The table to keep a history of (e.g. deals)."),
            OptionSpec("path", .scalar, required: true, isOutputPath: true, "The history file, relative to the output directory (kept inside it, like every output)."),
            OptionSpec("columns", .list, "The columns kept (default: all)."),
            OptionSpec("date_column", .scalar, default: "snapshot_date", "The column holding each row's snapshot date."),
        ],
        example: """
        deal_history:
          snapshot: { input: deals, path: history/deals.csv, columns: [opportunity_id, stage, amount_usd, close_date, owner] }
        """)

    let path: String
    let columns: [String]?
    let dateColumn: String
    let location: SourceLocation

    public init?(_ config: StageConfig) {
        path = config.string("path") ?? ""
        columns = config.strings("columns")
        dateColumn = config.string("date_column") ?? "snapshot_date"
        location = config.location
    }

    public func outputSchema(_ inputs: [KnownSchema], _ check: SchemaCheck) -> KnownSchema {
        guard let schema = inputs.first ?? nil else { return nil }
        if let columns { check.checkColumns(columns.map { ($0, location) }, in: schema, option: "snapshot columns") }
        let names = columns ?? schema.names
        return ExprSchema(names: names + [dateColumn], types: names.map { n in schema.index(of: n).flatMap { schema.types[$0] } } + [.date])
    }

    public func inputColumns(forOutput needed: Set<String>?) -> [Set<String>?] { [columns.map(Set.init)] }

    public func run(_ inputs: [StageData], _ context: RunContext) throws(StageFailure) -> StageResult {
        var table = inputs[0].table
        if let columns {
            for c in columns where table.schema.index(of: c) == nil {
                throw StageFailure("\(location): snapshot column '\(c)' is not a column of the input", hint: "columns: " + table.schema.names.joined(separator: ", "), status: .badPipeline)
            }
            table = table.selectingColumns(columns)
        }
        let today = context.environment.asOf
        table = table.setting(dateColumn, Column(storage: .date([Int32](repeating: today, count: table.rowCount)), validity: nil))
        let target = try context.outputPath(path)
        let previous = try context.publishedPath(path)
        var kept = 0
        var parts = [StageData(table: table)]
        if FileManager.default.fileExists(atPath: previous) {
            var options = CSVOptions()
            options.declared[dateColumn] = ColumnPlan(type: .date)
            let old = try loadReference(previous, options: options)
            guard let dates = old.column(named: dateColumn) else {
                throw StageFailure("history file '\(previous)' has no '\(dateColumn)' column", hint: "is it another file? move it away or set date_column", status: .badData)
            }
            // Earlier dates are kept; today's rows (from an earlier run today) are replaced.
            let keep = (0..<old.rowCount).filter { dates.value(at: $0).asDays.map { $0 != today } ?? false }
            kept = keep.count
            parts.insert(StageData(table: old.selecting(keep)), at: 0)
        }
        let (history, _) = try UnionStage.stack(parts, names: ["history", "today"], sourceColumn: nil, stageID: context.stageID)
        do {
            try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try TableFileWriter.write(history.table, to: target, format: .csv, inputs: context.protectedPaths)
        } catch let e as CRMFlowError {
            throw StageFailure(e)
        } catch {
            throw StageFailure("cannot write the history '\(target)'", status: .cannotWrite)
        }
        let dates = Set((0..<history.table.rowCount).compactMap { r -> Int32? in
            if case .date(let d) = history.table.column(named: dateColumn)?.value(at: r) { return d }; return nil
        })
        let n = inputs[0].table.rowCount
        return StageResult(data: StageData(table: history.table), accounting: Accounting(rowsIn: n, rowsOut: history.table.rowCount, added: ["earlier snapshot rows": kept]),
                           notes: ["\(n) rows dated \(Value.date(today).description) added to \(path); the history holds \(dates.count) snapshot\(dates.count == 1 ? "" : "s")"],
                           outputs: [target])
    }
}
