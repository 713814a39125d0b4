import CRMFlowCore
import CRMFlowIO
import Foundation

/// `emit`: writes its input to a file, atomically.
public struct EmitStage: Stage {
    public static let spec = StageSpec(
        kind: "emit", summary: "Write the input to a CSV, JSON, NDJSON or Markdown file under the run's output directory (`--out`). Written to a temporary file and renamed, so a failed run leaves the previous file; never overwrites an input.",
        options: [
            OptionSpec("input", .scalar, required: true, isInput: true, "The stage written."),
            OptionSpec("path", .scalar, required: true, isOutputPath: true, "File name, relative to the output directory; a path leading outside it is refused unless the pipeline sets `allow_outside_out: true` or the run names the folder with --allow-write DIR."),
            OptionSpec("format", .scalar, allowed: ["csv", "json", "ndjson", "markdown"], "Output format (default: from the extension)."),
            OptionSpec("delimiter", .scalar, default: ",", "CSV delimiter."),
            OptionSpec("bom", .scalar, default: "false", "Start CSV with a UTF-8 byte-order mark (for Excel)."),
            OptionSpec("formula_guard", .scalar, default: "true", "Prefix text cells starting with = + - @ with ' so spreadsheets do not run them."),
            OptionSpec("header", .scalar, default: "true", "Write the CSV header line."),
        ],
        example: """
        revenue_csv:
          emit: { input: revenue_by_owner, path: revenue_by_owner.csv }
        """)

    let path: String
    let format: FileFormat
    let options: WriterOptions

    public init?(_ config: StageConfig) {
        guard let path = config.string("path") else { return nil }
        self.path = path
        var ok = true
        var format: FileFormat?
        if config.node("format") != nil {
            format = config.choice("format").flatMap { FileFormat(userName: $0) }
            if format == nil { ok = false }
        } else {
            format = FileFormat(path: path)
            if format == nil {
                config.log.add(.invalidValue, "cannot tell the output format of '\(path)' from its extension", at: config.node("path")?.textLocation,
                               length: path.count, hint: "use .csv, .json, .ndjson or .md, or add format:")
                ok = false
            }
        }
        self.format = format ?? .csv
        var o = WriterOptions()
        if let d = config.string("delimiter") {
            do { o.delimiter = try CSVOptions.parseDelimiter(d) } catch {
                config.log.add(.invalidValue, error.message, at: config.node("delimiter")?.textLocation, hint: error.hint)
                ok = false
            }
        }
        if let b = config.bool("bom") { o.bom = b }
        if let g = config.bool("formula_guard") { o.formulaGuard = g }
        if let h = config.bool("header") { o.header = h }
        options = o
        if !ok { return nil }
    }

    public func outputSchema(_ inputs: [KnownSchema], _ check: SchemaCheck) -> KnownSchema { inputs.first ?? nil }

    public func run(_ inputs: [StageData], _ context: RunContext) throws(StageFailure) -> StageResult {
        let input = inputs[0]
        let target = try context.outputPath(path)
        let dir = (target as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw StageFailure("cannot create the output directory '\(dir)'", hint: "check that its parent exists and is writable, or choose another with --out DIR",
                               status: .cannotWrite)
        }
        do {
            let writer = try TableFileWriter(path: target, encoder: TableEncoder(format: format, schema: input.table.schema, options: options),
                                              inputs: context.protectedPaths)
            do {
                try context.checkCancelled()
                // Large tables are encoded in row slices on all cores and written in order.
                let slices = input.table.rowSlices(parts: context.threads * 2)
                if context.threads > 1, slices.count > 1 {
                    let encoder = writer.encoder, table = input.table
                    let chunks = ConcurrentMap.map(slices, threads: context.threads) { encoder.rows(table.slice($0)) }
                    for (chunk, range) in zip(chunks, slices) { try writer.write(encodedRows: chunk, rowCount: range.count) }
                } else {
                    try writer.write(input.table)
                }
                try context.checkCancelled()
                try writer.commit()
            } catch let e as StageFailure {
                writer.abandon()
                throw e
            } catch let e as CRMFlowError {
                writer.abandon()
                throw e
            } catch {
                writer.abandon()
                throw StageFailure("\(error)")
            }
        } catch {
            throw StageFailure(error, about: "")
        }
        context.progress(input.table.rowCount)
        return StageResult(data: input, accounting: Accounting(rowsIn: input.table.rowCount, rowsOut: input.table.rowCount), outputs: [target])
    }
}
