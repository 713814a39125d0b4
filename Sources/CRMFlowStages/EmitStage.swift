import CRMFlowCore
import CRMFlowIO
import Foundation

/// `emit`: writes its input to a file, atomically.
public struct EmitStage: Stage {
    public static let spec = StageSpec(
        kind: "emit", summary: "Write the input to a CSV, JSON, NDJSON or Markdown file under the run's output directory (`--out`). Written to a temporary file and renamed, so a failed run leaves the previous file; never overwrites an input.",
        options: [
            OptionSpec("input", .scalar, required: true, isInput: true, "The stage written."),
            OptionSpec("path", .scalar, isOutputPath: true, "File name, relative to the output directory; a path leading outside it is refused unless the pipeline sets `allow_outside_out: true` or the run names the folder with --allow-write DIR."),
            OptionSpec("sqlite", .scalar, isOutputPath: true, "Or a SQLite database (relative to the output directory like `path`, created when missing) to write the rows to, in one transaction when the stage runs; needs `table`."),
            OptionSpec("postgres", .scalar, "Or a PostgreSQL connection URL (write `${env:DATABASE_URL}`: never printed) to load the rows into with COPY, in one transaction when the stage runs (replace: a staging table renamed over the target); needs `table` (`schema.table` allowed)."),
            OptionSpec("table", .scalar, "The database table written."),
            OptionSpec("mode", .scalar, default: "replace", allowed: SQLiteStore.Mode.allCases.map(\.rawValue), "replace (the table becomes these rows), append, or upsert (rows whose key exists are updated)."),
            OptionSpec("key", .list, "The key columns of an upsert."),
            OptionSpec("format", .scalar, allowed: ["csv", "json", "ndjson", "markdown", "xlsx"], "Output format (default: from the extension). xlsx: an Excel workbook with typed cells, a bold frozen header row and a filter."),
            OptionSpec("sheet", .scalar, "xlsx: the sheet's name (default: the file's name)."),
            OptionSpec("delimiter", .scalar, default: ",", "CSV delimiter."),
            OptionSpec("bom", .scalar, default: "false", "Start CSV with a UTF-8 byte-order mark (for Excel)."),
            OptionSpec("formula_guard", .scalar, default: "true", "Prefix text cells starting with = + - @ with ' so spreadsheets do not run them."),
            OptionSpec("header", .scalar, default: "true", "Write the CSV header line."),
        ],
        example: """
        revenue_csv:
          emit: { input: revenue_by_owner, path: revenue_by_owner.csv }
        customers_db:
          emit: { input: golden_customers, sqlite: crm.db, table: customers, mode: upsert, key: [customer_id] }
        customers_pg:
          emit: { input: golden_customers, postgres: "${env:DATABASE_URL}", table: crm.customers, mode: replace }
        """)

    let path: String
    let format: FileFormat
    let options: WriterOptions
    /// Writing to a SQLite table instead of a file.
    let database: (table: String, mode: SQLiteStore.Mode, key: [String])?
    let sheet: String?
    /// True when `path` is a PostgreSQL connection URL.
    let isPostgres: Bool

    public init?(_ config: StageConfig) {
        isPostgres = config.node("postgres") != nil
        sheet = config.string("sheet")
        if let db = config.string("postgres") ?? config.string("sqlite") {
            guard let table = config.string("table") else {
                config.log.add(.missingOption, "emit to \(isPostgres ? "postgres" : "sqlite") needs table: NAME", at: (config.node("postgres") ?? config.node("sqlite"))?.textLocation,
                               hint: "e.g. table: customers")
                return nil
            }
            let mode = config.choice("mode").flatMap { SQLiteStore.Mode(rawValue: $0) } ?? .replace
            let key = config.strings("key") ?? []
            if mode == .upsert, key.isEmpty {
                config.log.add(.missingOption, "mode upsert needs key: [columns]", at: config.node("mode")?.textLocation, hint: "e.g. key: [customer_id]")
                return nil
            }
            path = db
            format = .csv
            options = WriterOptions()
            database = (table, mode, key)
            return
        }
        database = nil
        guard let path = config.string("path") else {
            config.log.add(.missingOption, "emit stage '\(config.id)' needs path (a file), sqlite or postgres (a database)", at: config.kindLocation,
                           hint: "e.g. path: customers.csv")
            return nil
        }
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
                               length: path.count, hint: "use .csv, .json, .ndjson, .md or .xlsx, or add format:")
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
        if let database, isPostgres {
            let written: Int
            do {
                written = try PostgresStore.write(input.table, url: path, table: database.table, mode: database.mode, key: database.key,
                                                  threads: context.threads, cancelled: { (try? context.checkCancelled()) == nil })
            } catch {
                throw StageFailure(error)
            }
            return StageResult(data: input, accounting: Accounting(rowsIn: input.table.rowCount, rowsOut: input.table.rowCount),
                               notes: ["\(written) rows written to PostgreSQL table '\(database.table)' (\(database.mode.rawValue))"])
        }
        if let database {
            // NB: a database is changed in place, in one transaction, when this stage runs (not when the run is
            // published): a failure inside leaves it as it was.
            let target = try context.publishedPath(path)
            do {
                try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try SQLiteStore.write(input.table, path: target, table: database.table, mode: database.mode, key: database.key)
            } catch let e as CRMFlowError {
                throw StageFailure(e)
            } catch {
                throw StageFailure("cannot create the folder of '\(path)'", status: .cannotWrite)
            }
            return StageResult(data: input, accounting: Accounting(rowsIn: input.table.rowCount, rowsOut: input.table.rowCount),
                               notes: ["\(input.table.rowCount) rows written to table '\(database.table)' (\(database.mode.rawValue))"], outputs: [target])
        }
        let target = try context.outputPath(path)
        let dir = (target as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw StageFailure("cannot create the output directory '\(dir)'", hint: "check that its parent exists and is writable, or choose another with --out DIR",
                               status: .cannotWrite)
        }
        if format == .xlsx {
            do {
                try context.checkCancelled()
                let name = sheet ?? ((path as NSString).lastPathComponent as NSString).deletingPathExtension
                try XLSXWriter.write([(name, input.table)], to: target, inputs: context.protectedPaths)
            } catch {
                throw StageFailure(error, about: "")
            }
            context.progress(input.table.rowCount)
            return StageResult(data: input, accounting: Accounting(rowsIn: input.table.rowCount, rowsOut: input.table.rowCount), outputs: [target])
        }
        do {
            let writer = try TableFileWriter(path: target, encoder: TableEncoder(format: format, schema: input.table.schema, options: options),
                                              inputs: context.protectedPaths)
            do {
                try context.checkCancelled()
                // Large tables are encoded in row slices on all cores and written in order, a few slices at a time
                // (a wave per core, read in place): the whole table encoded at once, from copied slices, held two
                // more copies of it in fresh memory.
                let slices = input.table.rowSlices(parts: max(context.threads * 2, input.table.rowCount / 32_768), minimumRows: 16_384)
                if context.threads > 1, slices.count > 1 {
                    let encoder = writer.encoder, table = input.table
                    let wave = context.threads * 2
                    for first in stride(from: 0, to: slices.count, by: wave) {
                        let ranges = Array(slices[first..<min(slices.count, first + wave)])
                        let chunks = ConcurrentMap.map(ranges, threads: context.threads) { range -> [UInt8] in
                            var out: [UInt8] = []
                            encoder.rows(table, range, into: &out)
                            return out
                        }
                        for (chunk, range) in zip(chunks, ranges) { try writer.write(encodedRows: chunk, rowCount: range.count) }
                        try context.checkCancelled()
                    }
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
