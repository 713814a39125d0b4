import CRMFlowCore
import CRMFlowIO
import Foundation

/// `ingest`: reads a CSV, JSON or NDJSON file into a table.
public struct IngestStage: Stage {
    public static let spec = StageSpec(
        kind: "ingest", summary: "Read a CSV, JSON, NDJSON or Excel (.xlsx) file, or a SQLite or PostgreSQL table. Dialect, encoding, header and types are detected; each can be declared.",
        minInputs: 0, maxInputs: 0,
        options: [
            OptionSpec("path", .scalar, "File to read, relative to the directory crmflow runs in (use ${vars} for locations)."),
            OptionSpec("sqlite", .scalar, "Or a SQLite database to read, with `table` or `query`. INTEGER and REAL columns keep their type; TEXT columns are typed like CSV (or as declared)."),
            OptionSpec("postgres", .scalar, "Or a PostgreSQL connection URL (write `${env:DATABASE_URL}`: the URL and its password are never printed), with `table` or `query`; read through a cursor. Numeric, boolean, date and timestamp columns keep their type; text columns are typed like CSV (or as declared)."),
            OptionSpec("table", .scalar, "The database table read."),
            OptionSpec("query", .scalar, "Or a SELECT whose rows are read."),
            OptionSpec("format", .scalar, allowed: ["csv", "json", "ndjson", "xlsx", "ics", "mbox"], "Input format (default: from the extension: .ics is a calendar, .mbox and .eml mail)."),
            OptionSpec("incremental", .mapping, "`{ column: updated_at }`: read only the rows whose column is past the watermark — the largest value the last successful run read (kept in the pipeline's state database, out/<pipeline>/crmflow.db; a failed run does not advance it; `crmflow run --full-refresh` reads everything). Rows with no value there are read every time."),
            OptionSpec("own_domains", .list, "Calendars and mail: your company's e-mail domains, so each activity's contact is the first participant outside them, and mail has a direction (outbound, inbound, internal)."),
            OptionSpec("window", .list, "Calendars: [FIRST_DAY, LAST_DAY] within which recurring events are expanded (default: a year before the as-of date to 90 days after)."),
            OptionSpec("timezone", .scalar, "Calendars: the zone of floating times and all-day events (default: the calendar's X-WR-TIMEZONE, else UTC)."),
            OptionSpec("keep_bodies", .scalar, default: "false", "Calendars and mail: keep event descriptions and message bodies (column body); off by default, they hold personal data."),
            OptionSpec("sheet", .scalar, "Excel: the sheet read, by name or number from 1 (default: the first)."),
            OptionSpec("header_row", .scalar, "Excel: the row holding the column names (default: found — the first row near the top whose text cells span the table; title rows above it are skipped)."),
            OptionSpec("delimiter", .scalar, "CSV field delimiter: ',', ';', 'tab', '|' (default: sniffed)."),
            OptionSpec("encoding", .scalar, "utf-8, windows-1252, iso-8859-1, utf-16le or utf-16be (default: detected)."),
            OptionSpec("header", .scalar, default: "true", "false when the CSV has no header line (columns become column_1, column_2, ...)."),
            OptionSpec("ragged", .scalar, default: "reject", allowed: ["reject", "pad", "error"], "Records with too many or too few fields."),
            OptionSpec("on_invalid_encoding", .scalar, default: "error", allowed: ["error", "reject"], "Bytes invalid in the encoding."),
            OptionSpec("all_strings", .scalar, default: "false", "Skip type inference: every column is text."),
            OptionSpec("date_order", .scalar, allowed: ["dmy", "mdy"], "Day/month order for numeric dates the data cannot decide."),
            OptionSpec("columns", .mapping, "Declared columns: `name: TYPE[:FORMAT]`, or `name: {type, format, rename}`. A name may be the header as written or its alias."),
            OptionSpec("aliases", .mapping, "Header alias map: `email: [E-mail, Email Address, Mail]`. Matching ignores case, spaces, '-' and '_'."),
            OptionSpec("threads", .scalar, "Parser threads (default: all cores)."),
        ],
        example: """
        contacts:
          ingest:
            path: "${data}/salesforce/contacts.csv"
            aliases: { email: [E-mail, Email Address, Mail] }
            columns:
              created: "date:%d/%m/%Y"
              Account Name: { rename: account }
        """)

    struct Declared: Sendable {
        var name: String
        var location: SourceLocation
        var plan: ColumnPlan?
        var rename: String?
    }

    let path: String
    /// Reading a SQLite or PostgreSQL table or query instead of a file.
    let database: (table: String?, query: String?)?
    /// True when `path` is a PostgreSQL connection URL.
    let isPostgres: Bool
    /// The path as written when it holds a secret from the environment (what messages and rejects show).
    let displayPath: String
    let pathLocation: SourceLocation
    let format: FileFormat?
    var options: CSVOptions
    let declared: [Declared]
    /// Canonical name → header variants.
    let aliases: [(canonical: String, variants: [String])]
    /// Excel: the sheet (name or 1-based number) and the header row, when given.
    let sheet: String?
    let headerRow: Int?
    /// Calendars (`ics`) and mail archives (`mail`) become activities.
    let activities: String?
    let ownDomains: [String]
    let window: (Int, Int)?
    let timezone: String?
    let keepBodies: Bool
    /// `incremental: { column: NAME }`: the column and where it was written.
    let incremental: (column: String, location: SourceLocation)?

    public init?(_ config: StageConfig) {
        isPostgres = config.node("postgres") != nil
        let isDatabase = config.node("sqlite") != nil || isPostgres
        guard let pathNode = config.node("postgres") ?? config.node("sqlite") ?? config.node("path"), let path = pathNode.scalar else {
            config.log.add(.missingOption, "ingest stage '\(config.id)' needs path (a file), sqlite or postgres (a database)", at: config.kindLocation,
                           hint: "e.g. path: contacts.csv")
            return nil
        }
        self.path = path
        displayPath = pathNode.displayText
        pathLocation = pathNode.textLocation
        var ok = true
        if isDatabase {
            let table = config.string("table"), query = config.string("query")
            if (table == nil) == (query == nil) {
                config.log.add(.missingOption, "ingest from \(isPostgres ? "postgres" : "sqlite") needs table: NAME or query: \"SELECT ...\" (one of them)", at: pathNode.textLocation,
                               hint: "e.g. table: contacts")
                ok = false
            }
            database = (table, query)
        } else {
            database = nil
        }
        var format: FileFormat?
        let ext = (path as NSString).pathExtension.lowercased()
        let chosen = config.choice("format")
        activities = chosen == "ics" || (chosen == nil && ["ics", "ical", "ifb"].contains(ext)) ? "ics"
            : chosen == "mbox" || (chosen == nil && ["mbox", "mbx", "eml"].contains(ext)) ? "mail" : nil
        ownDomains = config.strings("own_domains") ?? []
        if let node = config.node("incremental") {
            if let c = node["column"]?.scalar, node.entries?.count == 1 {
                incremental = (c, node["column"]!.textLocation)
            } else {
                config.log.add(.optionShape, "incremental needs { column: NAME }: the column whose largest value is the watermark", at: node.location,
                               hint: "e.g. incremental: { column: updated_at }")
                incremental = nil
                ok = false
            }
        } else {
            incremental = nil
        }
        timezone = config.string("timezone")
        keepBodies = config.bool("keep_bodies") ?? false
        if let w = config.strings("window") {
            let days = w.compactMap { t in Array(t.utf8).withUnsafeBufferPointer { DateParsing.isoDay($0) } }
            if w.count != 2 || days.count != 2 || days[0] > days[1] {
                config.log.add(.invalidValue, "window needs [FIRST_DAY, LAST_DAY] as yyyy-mm-dd dates, the first not after the last", at: config.node("window")?.location,
                               hint: "e.g. window: [2024-01-01, 2024-12-31]")
                ok = false
                window = nil
            } else {
                window = (days[0], days[1])
            }
        } else {
            window = nil
        }
        if activities == nil, let f = chosen { format = FileFormat(userName: f) } else if config.node("format") != nil, chosen == nil { ok = false }
        if format == nil, config.node("format") == nil, !isDatabase, activities == nil {
            format = FileFormat(path: path)
            if format == nil || format == .markdown {
                config.log.add(.invalidValue, "cannot tell the format of '\(path)' from its extension", at: pathNode.textLocation, length: path.count,
                               hint: "add format: csv, json, ndjson or xlsx")
                ok = false
            }
        }
        self.format = format
        var o = CSVOptions()
        o.keepRowLines = true
        if let d = config.string("delimiter") {
            do { o.delimiter = try CSVOptions.parseDelimiter(d) } catch {
                config.log.add(.invalidValue, error.message, at: config.node("delimiter")?.textLocation, hint: error.hint)
                ok = false
            }
        }
        if let e = config.string("encoding") {
            if let enc = TextEncoding(userName: e) { o.encoding = enc } else {
                config.log.add(.invalidValue, "unknown encoding '\(e)'", at: config.node("encoding")?.textLocation, length: e.count,
                               hint: "use one of: " + TextEncoding.allCases.map(\.rawValue).joined(separator: ", "))
                ok = false
            }
        }
        if let h = config.bool("header") { o.hasHeader = h }
        sheet = config.string("sheet")
        headerRow = config.node("header_row") == nil ? nil : config.int("header_row", min: 1)
        if config.node("header_row") != nil, headerRow == nil { ok = false }
        if let r = config.choice("ragged") { o.ragged = RaggedPolicy(rawValue: r) ?? .reject }
        if let p = config.choice("on_invalid_encoding") { o.onInvalidEncoding = EncodingErrorPolicy(rawValue: p) ?? .error }
        if let a = config.bool("all_strings") { o.allStrings = a }
        if let d = config.choice("date_order") { o.dayOrder = DayOrder(rawValue: d) }
        if let t = config.int("threads", min: 1) { o.threads = t }
        var declared: [Declared] = []
        for entry in config.mapping("columns") ?? [] {
            var d = Declared(name: entry.key, location: entry.keyLocation)
            func parsePlan(_ text: String, _ node: ConfigNode) {
                do { d.plan = try ColumnPlan.parse(declaration: text) } catch {
                    config.log.add(.invalidValue, "\(error.message) for column '\(entry.key)'", at: node.textLocation, length: text.count, hint: error.hint)
                    ok = false
                }
            }
            if let s = entry.value.scalar {
                parsePlan(s, entry.value)
            } else if let fields = entry.value.entries {
                for f in fields {
                    switch f.key {
                    case "type":
                        let text = (f.value.scalar ?? "") + (entry.value["format"]?.scalar.map { ":" + $0 } ?? "")
                        parsePlan(text, f.value)
                    case "format": break
                    case "rename": d.rename = f.value.scalar
                    default:
                        config.log.add(.unknownOption, "unknown column setting '\(f.key)'", at: f.keyLocation, length: f.key.count,
                                       hint: (Suggest.nearest(f.key, among: ["type", "format", "rename"]).map { "did you mean '\($0)'? " } ?? "") + "use type, format or rename")
                        ok = false
                    }
                }
            } else {
                config.log.add(.optionShape, "column '\(entry.key)' needs a type (`date:%d/%m/%Y`) or a mapping {type, format, rename}", at: entry.value.location)
                ok = false
            }
            declared.append(d)
        }
        self.declared = declared
        var aliases: [(String, [String])] = []
        for entry in config.mapping("aliases") ?? [] {
            guard let variants = config.strings(of: entry.value, name: "aliases.\(entry.key)") else { ok = false; continue }
            aliases.append((entry.key, variants))
        }
        self.aliases = aliases
        self.options = o
        if !ok { return nil }
    }

    static func normalized(_ header: String) -> String {
        String(header.lowercased().unicodeScalars.filter { !" -_.\t".unicodeScalars.contains($0) })
    }

    /// The final name of each raw header, after aliases and renames.
    func finalNames(_ raw: [String]) -> [String] {
        raw.map { name in
            var out = name
            let key = Self.normalized(name)
            if let a = aliases.first(where: { a in Self.normalized(a.canonical) == key || a.variants.contains { Self.normalized($0) == key } }) {
                out = a.canonical
            }
            if let d = declared.first(where: { $0.name == name || $0.name == out }), let r = d.rename { out = r }
            return out
        }
    }

    /// Declared plans keyed by the file's own header names.
    func declaredPlans(raw: [String]) -> [String: ColumnPlan] {
        let finals = finalNames(raw)
        var plans: [String: ColumnPlan] = [:]
        for d in declared {
            guard let plan = d.plan else { continue }
            if let i = raw.firstIndex(of: d.name) ?? finals.firstIndex(of: d.name) ?? finals.firstIndex(of: d.rename ?? "\u{0}") {
                plans[raw[i]] = plan
            }
        }
        return plans
    }

    func unknownDeclared(raw: [String]) -> [Declared] {
        let finals = finalNames(raw)
        return declared.filter { d in !raw.contains(d.name) && !finals.contains(d.name) }
    }

    public func outputSchema(_ inputs: [KnownSchema], _ check: SchemaCheck) -> KnownSchema {
        if isPostgres {
            do {
                let names = try PostgresStore.columnNames(url: path, table: database?.table, query: database?.query)
                return ExprSchema(names: finalNames(names), types: names.map { declaredPlans(raw: names)[$0]?.type })
            } catch {
                // NB: a server that cannot be reached is a missing input (exit 66); a bad query is the pipeline's error.
                check.log.add(error.status == .inputMissing ? .inputFileMissing : .inputFileUnreadable, "cannot read from PostgreSQL '\(displayPath)': \(error.message)", at: pathLocation, length: displayPath.count,
                              hint: error.hint)
                return nil
            }
        }
        let full = path.hasPrefix("/") ? path : (check.baseDirectory as NSString).appendingPathComponent(path)
        guard FileManager.default.fileExists(atPath: full) else {
            check.log.add(.inputFileMissing, "input file '\(displayPath)' does not exist", at: pathLocation, length: displayPath.count,
                          hint: "check the path, or set it with --var (paths are relative to where crmflow runs)")
            return nil
        }
        if let database {
            do {
                let names = try SQLiteStore.columnNames(path: full, table: database.table, query: database.query)
                return ExprSchema(names: finalNames(names), types: names.map { declaredPlans(raw: names)[$0]?.type })
            } catch {
                check.log.add(.inputFileUnreadable, "cannot read '\(displayPath)': \(error.message)", at: pathLocation, length: displayPath.count, hint: error.hint)
                return nil
            }
        }
        if activities != nil {
            let types: [DataType] = [.string, .string, .timestamp, .timestamp, .integer, .string, .string, .string, .string, .integer, .string, .string,
                                     .string, .string, .string, .string, .boolean]
            let names = Activities.columns + (keepBodies ? ["body"] : [])
            return ExprSchema(names: finalNames(names), types: (types + (keepBodies ? [.string] : [])).map { Optional($0) })
        }
        if format == .xlsx {
            do {
                let names = try XLSXReader.columnNames(path: full, sheet: sheet, headerRow: headerRow)
                return ExprSchema(names: finalNames(names), types: names.map { declaredPlans(raw: names)[$0]?.type ?? (options.allStrings ? .string : nil) })
            } catch {
                check.log.add(error.status == .badPipeline ? .invalidValue : .inputFileUnreadable, "cannot read '\(displayPath)': \(error.message)",
                              at: pathLocation, length: displayPath.count, hint: error.hint)
                return nil
            }
        }
        guard format == .csv else { return nil }
        do {
            let file = try CSVFile.open(full, options: options)
            let raw = file.columnNames
            for d in unknownDeclared(raw: raw) {
                let near = Suggest.nearest(d.name, among: raw)
                check.log.add(.unknownColumn, "declared column '\(d.name)' is not in the header of '\(path)'", at: d.location, length: d.name.count,
                              hint: near.map { "did you mean '\($0)'?" } ?? "columns: " + raw.joined(separator: ", "))
            }
            let plans = declaredPlans(raw: raw)
            return ExprSchema(names: finalNames(raw), types: raw.map { plans[$0]?.type ?? (options.allStrings ? .string : nil) })
        } catch {
            check.log.add(.inputFileUnreadable, "cannot read the header of '\(displayPath)': \(error.message.replacingOccurrences(of: full, with: displayPath))", at: pathLocation, length: displayPath.count, hint: error.hint)
            return nil
        }
    }

    public func run(_ inputs: [StageData], _ context: RunContext) throws(StageFailure) -> StageResult {
        let full = isPostgres ? path : context.inputPath(path)
        var loaded: LoadedTable
        var lines: [Int32]
        var skipped: Set<String> = []
        do {
            switch format {
            case _ where database != nil:
                loaded = try readDatabase(full, progress: context.progress, since: context.watermark)
                lines = loaded.rowLines ?? []
            case _ where activities != nil:
                loaded = try readActivities(full, asOf: Int(context.environment.asOf))
                lines = loaded.rowLines ?? []
            case .json, .ndjson:
                loaded = try JSONReader.read(path: full, ndjson: format == .ndjson)
                lines = loaded.rowLines ?? (0..<loaded.table.rowCount).map { Int32($0 + 1) }
            case .xlsx:
                loaded = try readWorkbook(full)
                lines = loaded.rowLines ?? []
            default:
                let typedFile: CSVFile
                (typedFile, skipped) = try openCSV(context)
                loaded = try typedFile.load(progress: context.progress, expect: context.expect)
                lines = loaded.rowLines ?? (0..<loaded.table.rowCount).map { Int32($0 + 1) }
            }
        } catch {
            throw StageFailure(error, about: path)
        }
        let names = try uniqueFinalNames(loaded.table.schema.names)
        let schema = Schema(zip(names, loaded.table.schema.fields).map { Field(name: $0, type: $1.type) })
        var table = Table(schema: schema, columns: loaded.table.columns, rowCount: loaded.table.rowCount)
        var notes = loaded.headerNotes
        var removed = ["padded": 0]
        var watermark: Watermark?
        if let incremental {
            (table, lines, watermark, removed["at or before the watermark"]) = try sinceWatermark(table, lines: lines, incremental, context.watermark, notes: &notes)
        }
        for (name, note) in loaded.columnNotes.sorted(by: { $0.key < $1.key }) where !skipped.contains(name) { notes.append("column '\(name)': \(note)") }
        if loaded.adjustedRows > 0 { notes.append("\(loaded.adjustedRows) ragged rows were padded or truncated (ragged: pad)") }
        context.progress(table.rowCount)
        return StageResult(
            data: StageData(table: table, origins: RowOrigins(file: database == nil ? displayPath : databaseSource, lines: lines)),
            rejects: loaded.rejects.map { var r = $0; r.source = database == nil ? displayPath : databaseSource; return r },
            accounting: Accounting(rowsIn: loaded.recordsRead, rowsOut: table.rowCount, rejected: loaded.rejects.count,
                                   removed: removed),
            notes: notes, inputFiles: isPostgres ? [] : [full], watermark: watermark)
    }

    /// The source a watermark belongs to: the path (or database and table) as written.
    var watermarkSource: String { database == nil ? displayPath : databaseSource }

    /// The rows past the last run's watermark, and the new watermark (the largest value read, or the old one when no
    /// row is newer). A watermark of another source, column or type is not used: everything is read again.
    func sinceWatermark(_ table: Table, lines: [Int32], _ incremental: (column: String, location: SourceLocation), _ previous: Watermark?,
                        notes: inout [String]) throws(StageFailure) -> (Table, [Int32], Watermark?, Int) {
        guard let c = table.schema.names.firstIndex(of: incremental.column) else {
            throw StageFailure("\(incremental.location): the incremental column '\(incremental.column)' is not a column of '\(displayPath)'",
                               hint: "columns: " + table.schema.names.joined(separator: ", "), status: .badPipeline)
        }
        let column = table.columns[c]
        var since: Value?
        let sample = (0..<table.rowCount).lazy.map { column.value(at: $0) }.first { !$0.isNull }
        if let previous, previous.source == watermarkSource, previous.column == incremental.column, sample.map({ Self.order(previous.value, $0) != nil }) ?? true {
            since = previous.value
        } else if previous != nil {
            notes.append("incremental: the stored watermark is for another source, column or type; every row is read")
        }
        var keep: [Int] = []
        keep.reserveCapacity(table.rowCount)
        var high = since
        var nulls = 0
        for r in 0..<table.rowCount {
            let v = column.value(at: r)
            if v.isNull {
                nulls += 1
                keep.append(r)
                continue
            }
            if let since, let o = Self.order(v, since), o <= 0 { continue }
            keep.append(r)
            if high == nil || (Self.order(v, high!) ?? 0) > 0 { high = v }
        }
        let skipped = table.rowCount - keep.count
        if let since {
            notes.append("incremental on '\(incremental.column)': \(keep.count - nulls) rows after the watermark \(since) read, \(skipped) at or before it skipped")
        } else {
            notes.append("incremental on '\(incremental.column)': no watermark yet (first run, or --full-refresh): every row read")
        }
        if nulls > 0 { notes.append("incremental: \(nulls) rows have no '\(incremental.column)' and are read every run") }
        let kept = skipped == 0 ? table : table.selecting(keep)
        let keptLines = skipped == 0 || lines.count != table.rowCount ? lines : keep.map { lines[$0] }
        return (kept, keptLines, high.map { Watermark(source: watermarkSource, column: incremental.column, value: $0) }, skipped)
    }

    /// A watermark as an SQL literal the server casts to the column's type.
    static func sqlLiteral(_ v: Value) -> String? {
        func quoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }
        switch v {
        case .integer(let i): return String(i)
        case .double(let d) where d.isFinite: return String(d)
        case .date, .timestamp: return quoted(v.description)
        case .string(let s): return quoted(s)
        default: return nil
        }
    }

    /// The order of two values of the same type (nil when their types differ or cannot be ordered).
    static func order(_ a: Value, _ b: Value) -> Int? {
        func cmp<T: Comparable>(_ x: T, _ y: T) -> Int { x < y ? -1 : (x == y ? 0 : 1) }
        switch (a, b) {
        case (.integer(let x), .integer(let y)): return cmp(x, y)
        case (.double(let x), .double(let y)): return cmp(x, y)
        case (.integer(let x), .double(let y)): return cmp(Double(x), y)
        case (.double(let x), .integer(let y)): return cmp(x, Double(y))
        case (.date(let x), .date(let y)): return cmp(x, y)
        case (.timestamp(let x), .timestamp(let y)): return cmp(x, y)
        case (.money(let x, let cx), .money(let y, let cy)) where cx == cy: return cmp(x, y)
        case (.string(let x), .string(let y)): return cmp(x, y)
        case (_, .null), (.null, _): return 0
        default: return nil
        }
    }

    /// Opens the CSV file with the declared column types, not storing columns no later stage reads.
    func openCSV(_ context: RunContext) throws -> (CSVFile, skipped: Set<String>) {
        let full = context.inputPath(path)
        var o = options
        if o.threads == 0 { o.threads = context.threads }
        let file = try CSVFile.open(full, options: o)
        let missing = unknownDeclared(raw: file.columnNames)
        if let d = missing.first {
            throw StageFailure("\(d.location): declared column '\(d.name)' is not in the header of '\(path)'",
                               hint: "columns: " + file.columnNames.joined(separator: ", "), status: .badPipeline)
        }
        o.declared = declaredPlans(raw: file.columnNames)
        // Columns no later stage reads are not stored (declared ones are, so their values are still checked).
        if let needed = context.neededColumns {
            let finals = finalNames(file.columnNames)
            o.skipColumns = Set(file.columnNames.indices.filter { !needed.contains(finals[$0]) && o.declared[file.columnNames[$0]] == nil })
        }
        return (try CSVFile.open(full, options: o), Set(o.skipColumns.map { file.columnNames[$0] }))
    }

    /// The source name rejects of this file carry, and a way to read its original records back by line (CSV) or
    /// record number (JSON), so any later stage's rejects hold the whole record as the file had it, not only the
    /// columns the run kept. A CSV record comes back as the file's own text; a JSON record as CSV of all its fields.
    public func originalRecords(baseDirectory: String) -> (source: String, read: @Sendable (Set<Int>) -> (delimiter: UInt8, records: [Int: String]))? {
        let full = isPostgres || path.hasPrefix("/") ? path : (baseDirectory as NSString).appendingPathComponent(path)
        if database != nil {
            let stage = self
            return (databaseSource, { numbers in (44, Self.records(of: try? stage.readDatabase(full), numbered: numbers)) })
        }
        if activities != nil {
            let stage = self
            let today = Int(Date().timeIntervalSince1970 / 86_400)
            return (displayPath, { numbers in (44, Self.records(of: try? stage.readActivities(full, asOf: today), numbered: numbers)) })
        }
        if format == .xlsx {
            let stage = self
            return (displayPath, { numbers in (44, Self.records(of: try? stage.readWorkbook(full), numbered: numbers)) })
        }
        guard canStream else {
            let ndjson = format == .ndjson
            return (displayPath, { numbers in (44, Self.records(of: try? JSONReader.read(path: full, ndjson: ndjson), numbered: numbers)) })
        }
        var o = options
        o.skipColumns = []
        o.declared = [:]
        let opened = o
        return (displayPath, { lines in
            guard let file = try? CSVFile.open(full, options: opened) else { return (44, [:]) }
            return (file.dialect.delimiter, (try? file.records(atLines: lines)) ?? [:])
        })
    }

    /// Every field of the rows of a source read again whose record numbers (their `rowLines`, else 1, 2, ...) are in
    /// `numbers`, as CSV.
    static func records(of loaded: LoadedTable?, numbered numbers: Set<Int>) -> [Int: String] {
        guard let loaded else { return [:] }
        let data = StageData(table: loaded.table)
        var records: [Int: String] = [:]
        for r in 0..<loaded.table.rowCount {
            let n = loaded.rowLines.map { Int($0[r]) } ?? r + 1
            if numbers.contains(n) { records[n] = data.reject(row: r, stage: "", code: "", reason: "").record }
        }
        return records
    }

    /// The final column names, which must be distinct after aliases and renames.
    func uniqueFinalNames(_ raw: [String]) throws(StageFailure) -> [String] {
        let names = finalNames(raw)
        var seen: [String: Int] = [:]
        for (i, n) in names.enumerated() {
            if let j = seen[n] {
                throw StageFailure("columns \(j + 1) and \(i + 1) of '\(path)' both become '\(n)' after aliases and renames",
                                   hint: "give one of them another name under columns:", status: .badPipeline)
            }
            seen[n] = i
        }
        return names
    }

    /// True when the file is CSV (JSON and databases are read whole).
    public var canStream: Bool { database == nil && activities == nil && incremental == nil && format != .json && format != .ndjson && format != .xlsx }

    func readActivities(_ full: String, asOf: Int) throws(CRMFlowError) -> LoadedTable {
        if activities == "ics" {
            let w = window ?? (asOf - 365, asOf + 90)
            return try ICalendar.read(path: full, window: w.0...w.1, timezone: timezone, keepBodies: keepBodies, ownDomains: ownDomains, source: displayPath)
        }
        return try MailArchive.read(path: full, keepBodies: keepBodies, ownDomains: ownDomains, source: displayPath)
    }

    func readWorkbook(_ full: String) throws(CRMFlowError) -> LoadedTable {
        try XLSXReader.read(path: full, sheet: sheet, headerRow: headerRow, declared: { declaredPlans(raw: $0) }, allStrings: options.allStrings,
                                   source: displayPath)
    }

    /// The source name of a database's rows in rejects and lineage: `FILE#table` (or `FILE#query`); for PostgreSQL
    /// the URL as written (`${env:DATABASE_URL}#table`).
    var databaseSource: String { displayPath + "#" + (database?.table ?? "query") }

    func readDatabase(_ full: String, progress: (Int) -> Void = { _ in }, since watermark: Watermark? = nil) throws(CRMFlowError) -> LoadedTable {
        if isPostgres {
            var query = database?.query
            // An incremental PostgreSQL table is read past its watermark by the server (the rows are filtered again
            // here, so a literal the server compares differently never loses a row).
            if let incremental, let watermark, watermark.source == watermarkSource, watermark.column == incremental.column,
               let table = database?.table, let literal = Self.sqlLiteral(watermark.value),
               try PostgresStore.columnNames(url: full, table: table, query: nil).contains(incremental.column) {
                query = "SELECT * FROM \(PostgresStore.qualifiedName(table)) WHERE \(PostgresStore.quotedName(incremental.column)) > \(literal) OR \(PostgresStore.quotedName(incremental.column)) IS NULL"
            }
            return try PostgresStore.read(url: full, table: query == nil ? database?.table : nil, query: query, declared: { declaredPlans(raw: $0) },
                                          allStrings: options.allStrings, source: databaseSource, progress: progress)
        }
        let raw = try SQLiteStore.columnNames(path: full, table: database?.table, query: database?.query)
        return try SQLiteStore.read(path: full, table: database?.table, query: database?.query, declared: declaredPlans(raw: raw),
                                    allStrings: options.allStrings, source: databaseSource)
    }

    /// Reads the file chunk by chunk into `consumer` instead of into a table, so the rows are never all in memory.
    /// Returns this stage's result (an empty table; accounting, rejects and notes as usual) and the consumer's, or nil
    /// when the consumer cannot take these columns chunk by chunk (the caller then runs both stages as usual).
    /// Types come from the first MiB of the file (declared ones as declared); a later value that does not fit its
    /// column's type is a reject with its line and reason.
    public func stream<C: ChunkConsumer>(into consumer: C, _ context: RunContext, _ consumerContext: RunContext)
        throws(StageFailure) -> (StageResult, Result<StageResult, StageFailure>)? {
        let full = context.inputPath(path)
        do {
            Trace.mark("stream: start")
            let (file, skipped) = try openCSV(context)
            let names = try uniqueFinalNames(file.columnNames)
            Trace.mark("stream: opened")
            let sampled = try file.inferColumns(sampleBytes: 1 << 20)
            Trace.mark("stream: sampled")
            var byName: [String: ColumnPlan] = [:]
            for (c, name) in names.enumerated() where !skipped.contains(file.columnNames[c]) { byName[name] = sampled[c].plan }
            guard let wanted = consumer.chunkPlans(sampled: byName) else { return nil }
            let plans = names.indices.map { wanted[names[$0]] ?? (skipped.contains(file.columnNames[$0]) ? ColumnPlan(type: .string) : sampled[$0].plan) }
            let schema = Schema(zip(names, plans).map { Field(name: $0, type: $1.type) })
            var totals = consumer.emptyTotals()
            var rejects: [Reject] = []
            var read = 0, streamed = 0, adjusted = 0
            try file.stream(plans: plans, chunkBytes: options.chunkSize, process: { chunk -> (C.Partial, Int, Int, Int) in
                let t = Table(schema: Schema(zip(names, chunk.table.columns).map { Field(name: $0, type: $1.type) }), columns: chunk.table.columns,
                              rowCount: chunk.table.rowCount)
                return (consumer.partial(t), chunk.table.rowCount, chunk.recordsRead, chunk.adjustedRows)
            }, consume: { r, chunkRejects in
                try context.checkCancelled()
                consumer.add(r.0, to: &totals)
                streamed += r.1
                read += r.2
                adjusted += r.3
                rejects.append(contentsOf: chunkRejects.map { var x = $0; x.source = displayPath; return x })
                context.progress(read)
            }, reset: {
                totals = consumer.emptyTotals()
                rejects = []
                read = 0; streamed = 0; adjusted = 0
            })
            Trace.mark("stream: read")
            var notes = file.headerNotes
            for (c, name) in names.enumerated() where wanted[name] != nil {
                let p = plans[c]
                notes.append("column '\(name)': read as \(p.type.rawValue)\(p.format.map { " (\($0))" } ?? "")\(p.isDeclared ? " (declared)" : " (from the first MiB)")")
            }
            if adjusted > 0 { notes.append("\(adjusted) ragged rows were padded or truncated (ragged: pad)") }
            notes.append("streamed into the next stage chunk by chunk (the rows are not held in memory)")
            let own = StageResult(data: StageData(table: Table(emptyWith: schema)), rejects: rejects,
                                  accounting: Accounting(rowsIn: read, rowsOut: streamed, rejected: rejects.count, removed: ["padded": 0]),
                                  notes: notes, inputFiles: [full])
            let next: Result<StageResult, StageFailure>
            do { next = .success(try consumer.finish(totals, rowsIn: streamed, plans: wanted, consumerContext)) } catch { next = .failure(error) }
            Trace.mark("stream: finished")
            return (own, next)
        } catch {
            throw StageFailure(error, about: path)
        }
    }
}
