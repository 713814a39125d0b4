import CRMFlowCore
import Foundation
import GRDB

/// SQLite as a source and a sink (GRDB over the system SQLite).
public enum SQLiteStore {
    /// How `emit` writes a table.
    public enum Mode: String, Sendable, CaseIterable {
        /// The table becomes exactly the rows written (built beside it, then swapped in, in one transaction).
        case replace
        /// Rows are added to the table (created when missing).
        case append
        /// Rows whose key exists replace that row, the others are added (`INSERT ... ON CONFLICT DO UPDATE`).
        case upsert
    }

    /// The database at `path`, opened read-only (a source is never changed by reading it).
    static func readOnly(_ path: String) throws -> DatabaseQueue {
        var config = Configuration()
        config.readonly = true
        return try DatabaseQueue(path: path, configuration: config)
    }

    static func quoted(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    static func failure(_ error: any Error, _ path: String, _ what: String) -> CRMFlowError {
        if let e = error as? CRMFlowError { return e }
        if let e = error as? DatabaseError {
            let message = e.message ?? "\(e.resultCode)"
            let status: ExitStatus = e.resultCode == .SQLITE_CANTOPEN ? .inputMissing : (e.resultCode == .SQLITE_ERROR ? .badPipeline : .badData)
            return CRMFlowError(status, "SQLite: \(what): \(message)", at: path)
        }
        return CRMFlowError(.badData, "SQLite: \(what): \(error)", at: path)
    }

    /// The column names of a table or query, without reading its rows.
    public static func columnNames(path: String, table: String?, query: String?) throws(CRMFlowError) -> [String] {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CRMFlowError(.inputMissing, "the SQLite database '\(path)' does not exist", hint: "check the path (relative to where crmflow runs)")
        }
        do {
            let queue = try SQLiteStore.readOnly(path)
            return try queue.read { db in try db.makeStatement(sql: query ?? "SELECT * FROM \(quoted(table ?? ""))").columnNames }
        } catch {
            throw failure(error, path, query == nil ? "cannot read table '\(table ?? "")'" : "cannot run the query")
        }
    }

    /// Reads a table (`table`) or the rows of a query (`query`). INTEGER and REAL columns keep their type; TEXT columns
    /// get the same type inference as CSV (dates, timestamps, booleans, numbers), or their declared type, and a value
    /// that does not fit a declared type sends its row to the rejects (source `FILE#table`, line = row number).
    public static func read(path: String, table: String?, query: String?, declared: [String: ColumnPlan] = [:], allStrings: Bool = false,
                            source: String) throws(CRMFlowError) -> LoadedTable {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CRMFlowError(.inputMissing, "the SQLite database '\(path)' does not exist", hint: "check the path (relative to where crmflow runs)")
        }
        let sql = query ?? "SELECT * FROM \(quoted(table ?? ""))"
        var names: [String] = []
        var cells: [[DatabaseValue]] = []
        do {
            let queue = try SQLiteStore.readOnly(path)
            (names, cells) = try queue.read { db -> ([String], [[DatabaseValue]]) in
                let statement = try db.makeStatement(sql: sql)
                let names = statement.columnNames
                var columns = [[DatabaseValue]](repeating: [], count: names.count)
                let rows = try Row.fetchCursor(statement)
                while let row = try rows.next() {
                    for c in 0..<names.count { columns[c].append(row[c] as DatabaseValue) }
                }
                return (names, columns)
            }
        } catch {
            throw failure(error, path, query == nil ? "cannot read table '\(table ?? "")'" : "cannot run the query")
        }
        let rowCount = cells.first?.count ?? 0
        var columns: [CRMFlowCore.Column] = []
        var notes: [String: String] = [:]
        var failed: [Int: String] = [:]
        for (c, values) in cells.enumerated() {
            let (column, note, failures) = typed(values, name: names[c], declared: declared[names[c]], allStrings: allStrings)
            columns.append(column)
            if let note { notes[names[c]] = note }
            for (r, reason) in failures where failed[r] == nil { failed[r] = reason }
        }
        return DatabaseRows.loaded(names: names, columns: columns, notes: notes, failed: failed, rowCount: rowCount, source: source) { r in
            cells.map { text($0[r]) ?? "" }
        }
    }

    static func text(_ v: DatabaseValue) -> String? {
        switch v.storage {
        case .null: return nil
        case .int64(let i): return String(i)
        case .double(let d): return String(d)
        case .string(let s): return s
        case .blob(let b): return b.base64EncodedString()
        }
    }

    /// One result column as a typed column: numbers as numbers, text through inference (or its declared type).
    static func typed(_ values: [DatabaseValue], name: String, declared: ColumnPlan?, allStrings: Bool) -> (CRMFlowCore.Column, String?, [(Int, String)]) {
        var ints = true, numbers = true
        for v in values {
            switch v.storage {
            case .null: continue
            case .int64: continue
            case .double: ints = false
            default: ints = false; numbers = false
            }
        }
        if declared == nil, !allStrings, numbers {
            if ints {
                return (CRMFlowCore.Column.make(.integer, values.map { if case .int64(let i) = $0.storage { return .integer(i) }; return .null }), nil, [])
            }
            return (CRMFlowCore.Column.make(.double, values.map { v in
                switch v.storage {
                case .int64(let i): return .double(Double(i))
                case .double(let d): return .double(d)
                default: return .null
                }
            }), nil, [])
        }
        var cells = TextCells()
        for v in values {
            if let s = text(v) { cells.append(s) } else { cells.appendNull() }
        }
        return cells.typed(name: name, native: nil, declared: declared, allStrings: allStrings)
    }

    // MARK: writing

    static func sqlType(_ t: DataType) -> String {
        switch t {
        case .integer, .boolean: return "INTEGER"
        case .double: return "REAL"
        case .string, .date, .timestamp, .money: return "TEXT"
        }
    }

    /// A cell as SQLite stores it: numbers as numbers, booleans as 0 / 1, dates and timestamps as ISO 8601 text, money
    /// as its exact decimal text (with the currency when the column mixes currencies), like the CSV writer.
    static func databaseValue(_ v: Value, mixedCurrencies: Bool) -> DatabaseValue {
        switch v {
        case .null: return .null
        case .integer(let i): return i.databaseValue
        case .double(let d): return d.databaseValue
        case .boolean(let b): return (b ? 1 : 0).databaseValue
        case .string(let s): return s.databaseValue
        case .money(let minor, let currency):
            var out: [UInt8] = []
            Money.appendAmount(minor, to: &out)
            let amount = String(decoding: out, as: UTF8.self)
            return (mixedCurrencies && !currency.isEmpty ? amount + " " + currency : amount).databaseValue
        default: return v.description.databaseValue
        }
    }

    /// Writes `table` to `name` in the database at `path` (created when missing) in one transaction: a failure leaves
    /// the database as it was. Returns the rows written.
    @discardableResult
    public static func write(_ table: CRMFlowCore.Table, path: String, table name: String, mode: Mode, key: [String] = []) throws(CRMFlowError) -> Int {
        let columns = table.schema.names
        for k in key where !columns.contains(k) {
            throw CRMFlowError(.badPipeline, "upsert key '\(k)' is not a column of the rows written", at: path, hint: "columns: " + columns.joined(separator: ", "))
        }
        if mode == .upsert, key.isEmpty {
            throw CRMFlowError(.badPipeline, "mode upsert needs key: [columns]", at: path)
        }
        let mixed = table.columns.map { (c: CRMFlowCore.Column) -> Bool in if case .money(_, _, let codes) = c.storage { return codes.count > 1 }; return false }
        let target = quoted(name)
        let staging = quoted(name + "__crmflow_new")
        let definition = zip(columns, table.schema.fields).map { "\(quoted($0)) \(sqlType($1.type))" }.joined(separator: ", ")
        do {
            let queue = try DatabaseQueue(path: path)
            try queue.write { db in
                let into: String
                switch mode {
                case .replace:
                    try db.execute(sql: "DROP TABLE IF EXISTS \(staging)")
                    try db.execute(sql: "CREATE TABLE \(staging) (\(definition))")
                    into = staging
                case .append, .upsert:
                    let keyClause = mode == .upsert ? ", PRIMARY KEY (" + key.map(quoted).joined(separator: ", ") + ")" : ""
                    try db.execute(sql: "CREATE TABLE IF NOT EXISTS \(target) (\(definition)\(keyClause))")
                    let existing = Set(try db.columns(in: name).map(\.name))
                    for c in columns where !existing.contains(c) {
                        throw CRMFlowError(.badData, "table '\(name)' has no column '\(c)'", at: path,
                                           hint: "add it (ALTER TABLE), or write with mode: replace")
                    }
                    if mode == .upsert {
                        // NB: ON CONFLICT needs a unique index on the key; a table created elsewhere may lack one.
                        try db.execute(sql: "CREATE UNIQUE INDEX IF NOT EXISTS \(quoted(name + "__crmflow_key")) ON \(target) (" + key.map(quoted).joined(separator: ", ") + ")")
                    }
                    into = target
                }
                var sql = "INSERT INTO \(into) (" + columns.map(quoted).joined(separator: ", ") + ") VALUES (" + columns.map { _ in "?" }.joined(separator: ", ") + ")"
                if mode == .upsert {
                    let updates = columns.filter { !key.contains($0) }.map { "\(quoted($0)) = excluded.\(quoted($0))" }
                    sql += " ON CONFLICT (" + key.map(quoted).joined(separator: ", ") + ") DO " + (updates.isEmpty ? "NOTHING" : "UPDATE SET " + updates.joined(separator: ", "))
                }
                let statement = try db.makeStatement(sql: sql)
                var values = [DatabaseValue](repeating: .null, count: columns.count)
                for r in 0..<table.rowCount {
                    for c in 0..<columns.count { values[c] = databaseValue(table.columns[c].value(at: r), mixedCurrencies: mixed[c]) }
                    try statement.execute(arguments: StatementArguments(values))
                }
                if mode == .replace {
                    try db.execute(sql: "DROP TABLE IF EXISTS \(target)")
                    try db.execute(sql: "ALTER TABLE \(staging) RENAME TO \(target)")
                }
            }
        } catch {
            throw failure(error, path, "cannot write table '\(name)'")
        }
        return table.rowCount
    }
}

/// One run of a pipeline, as kept in its state database (`out/<pipeline>/crmflow.db`, table `runs`).
public struct RunRecord: Sendable, Equatable {
    public var runID: String
    public var pipeline: String
    public var pipelineSHA256: String
    /// UTC, ISO 8601.
    public var startedAt: String
    public var seconds: Double
    public var status: String
    public var exitCode: Int
    public var asOf: String
    public var stages: Int
    public var failedStages: Int
    public var rowsRead: Int
    public var rejected: Int
    public var outputs: Int

    public init(runID: String, pipeline: String, pipelineSHA256: String, startedAt: String, seconds: Double, status: String, exitCode: Int,
                asOf: String, stages: Int, failedStages: Int, rowsRead: Int, rejected: Int, outputs: Int) {
        self.runID = runID
        self.pipeline = pipeline
        self.pipelineSHA256 = pipelineSHA256
        self.startedAt = startedAt
        self.seconds = seconds
        self.status = status
        self.exitCode = exitCode
        self.asOf = asOf
        self.stages = stages
        self.failedStages = failedStages
        self.rowsRead = rowsRead
        self.rejected = rejected
        self.outputs = outputs
    }
}

/// The run history of a pipeline in its state database: one row per run, appended when the run ends.
public enum RunHistory {
    public static let fileName = "crmflow.db"

    static let schema = """
        CREATE TABLE IF NOT EXISTS runs (
          run_id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, pipeline_sha256 TEXT NOT NULL, started_at TEXT NOT NULL,
          seconds REAL NOT NULL, status TEXT NOT NULL, exit_code INTEGER NOT NULL, as_of TEXT NOT NULL, stages INTEGER NOT NULL,
          failed_stages INTEGER NOT NULL, rows_read INTEGER NOT NULL, rejected INTEGER NOT NULL, outputs INTEGER NOT NULL)
        """

    public static func append(_ run: RunRecord, to path: String) throws(CRMFlowError) {
        try StateDatabase.write(path, schema: schema, what: "the run") { db in
            try db.execute(sql: "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", arguments: [
                run.runID, run.pipeline, run.pipelineSHA256, run.startedAt, run.seconds, run.status, run.exitCode, run.asOf, run.stages,
                run.failedStages, run.rowsRead, run.rejected, run.outputs,
            ])
        }
    }

    /// The runs recorded in `path`, newest first.
    public static func runs(in path: String, limit: Int = 50) throws(CRMFlowError) -> [RunRecord] {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CRMFlowError(.inputMissing, "no run history at '\(path)'", hint: "crmflow run records each run there; pass --out when the pipeline ran with one")
        }
        do {
            let queue = try SQLiteStore.readOnly(path)
            return try queue.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM runs ORDER BY rowid DESC LIMIT ?", arguments: [limit]).map { r in
                    RunRecord(runID: r["run_id"], pipeline: r["pipeline"], pipelineSHA256: r["pipeline_sha256"], startedAt: r["started_at"],
                              seconds: r["seconds"], status: r["status"], exitCode: r["exit_code"], asOf: r["as_of"], stages: r["stages"],
                              failedStages: r["failed_stages"], rowsRead: r["rows_read"], rejected: r["rejected"], outputs: r["outputs"])
                }
            }
        } catch {
            throw CRMFlowError(.badData, "cannot read the run history '\(path)': \(error)")
        }
    }
}

/// The high-water mark of an incremental source: the largest value of its `incremental` column read by the last
/// successful run. Kept in the pipeline's state database (table `watermarks`), advanced only when a run succeeds.
public struct Watermark: Sendable, Equatable {
    /// The source as written in the pipeline (path, or database and table): a watermark of another source is ignored.
    public var source: String
    public var column: String
    public var value: Value

    public init(source: String, column: String, value: Value) {
        self.source = source
        self.column = column
        self.value = value
    }

    /// The value as stored: its type, and an exact text (days for dates, µs for timestamps, minor units for money).
    public var encoded: (type: String, text: String) {
        switch value {
        case .integer(let i): return ("integer", String(i))
        case .double(let d): return ("double", String(d.bitPattern))
        case .date(let d): return ("date", String(d))
        case .timestamp(let t): return ("timestamp", String(t))
        case .money(let m, let c): return ("money", "\(m) \(c)")
        case .boolean(let b): return ("boolean", b ? "1" : "0")
        case .string(let s): return ("string", s)
        case .null: return ("null", "")
        }
    }

    public static func decoded(type: String, text: String) -> Value? {
        switch type {
        case "integer": return Int64(text).map { .integer($0) }
        case "double": return UInt64(text).map { .double(Double(bitPattern: $0)) }
        case "date": return Int32(text).map { .date($0) }
        case "timestamp": return Int64(text).map { .timestamp($0) }
        case "money":
            let parts = text.split(separator: " ", maxSplits: 1).map(String.init)
            return Int64(parts.first ?? "").map { .money($0, parts.count > 1 ? parts[1] : "") }
        case "boolean": return .boolean(text == "1")
        case "string": return .string(text)
        default: return nil
        }
    }
}

/// The watermarks of a pipeline's incremental sources, in its state database beside the run history.
public enum Watermarks {
    static let schema = """
        CREATE TABLE IF NOT EXISTS watermarks (
          pipeline TEXT NOT NULL, stage TEXT NOT NULL, source TEXT NOT NULL, column_name TEXT NOT NULL, type TEXT NOT NULL,
          value TEXT NOT NULL, shown TEXT NOT NULL, run_id TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (pipeline, stage))
        """

    /// The watermarks by stage id (none when the database or its table does not exist yet).
    public static func load(from path: String, pipeline: String) throws(CRMFlowError) -> [String: Watermark] {
        try StateDatabase.read(path, table: "watermarks", empty: [:], what: "the watermarks", hint: "run with --full-refresh to read every source whole") { db in
            var out: [String: Watermark] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT stage, source, column_name, type, value FROM watermarks WHERE pipeline = ?", arguments: [pipeline]) {
                if let v = Watermark.decoded(type: r["type"], text: r["value"]) {
                    out[r["stage"]] = Watermark(source: r["source"], column: r["column_name"], value: v)
                }
            }
            return out
        }
    }

    /// Stores the watermarks of a successful run, in one transaction.
    public static func save(_ marks: [String: Watermark], to path: String, pipeline: String, runID: String, at time: String) throws(CRMFlowError) {
        guard !marks.isEmpty else { return }
        try StateDatabase.write(path, schema: schema, what: "the watermarks") { db in
            for (stage, m) in marks.sorted(by: { $0.key < $1.key }) {
                let e = m.encoded
                try db.execute(sql: "INSERT OR REPLACE INTO watermarks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", arguments: [
                    pipeline, stage, m.source, m.column, e.type, e.text, m.value.description, runID, time,
                ])
            }
        }
    }

    /// Every stored watermark as (stage, source, column, value as shown, run id, updated at).
    public static func list(in path: String, pipeline: String) throws(CRMFlowError) -> [[String]] {
        try StateDatabase.read(path, table: "watermarks", empty: [], what: "the watermarks") { db in
            try Row.fetchAll(db, sql: "SELECT stage, source, column_name, shown, run_id, updated_at FROM watermarks WHERE pipeline = ? ORDER BY stage",
                             arguments: [pipeline]).map { r in [r["stage"], r["source"], r["column_name"], r["shown"], r["run_id"], r["updated_at"]] }
        }
    }
}

/// Verdicts on record pairs, kept in the state database (table `merge_decisions`) by `crmflow decide` and read by
/// a merge stage with `decisions: state`.
public enum MergeDecisions {
    static let schema = """
        CREATE TABLE IF NOT EXISTS merge_decisions (
          pipeline TEXT NOT NULL, stage TEXT NOT NULL, id_a TEXT NOT NULL, id_b TEXT NOT NULL, verdict TEXT NOT NULL CHECK (verdict IN ('merge', 'apart')),
          decided_at TEXT NOT NULL, note TEXT, PRIMARY KEY (pipeline, stage, id_a, id_b))
        """

    /// Records verdicts (a pair is stored once, in id order; a later verdict on it replaces the earlier one).
    public static func record(_ verdicts: [(a: String, b: String, verdict: String)], pipeline: String, stage: String, at time: String, note: String?,
                              in path: String) throws(CRMFlowError) {
        for v in verdicts where v.verdict != "merge" && v.verdict != "apart" {
            throw CRMFlowError(.usage, "verdict '\(v.verdict)' for \(v.a) and \(v.b) is neither merge nor apart")
        }
        try StateDatabase.write(path, schema: schema, what: "the decisions") { db in
            for v in verdicts {
                let (a, b) = v.a <= v.b ? (v.a, v.b) : (v.b, v.a)
                try db.execute(sql: "INSERT OR REPLACE INTO merge_decisions VALUES (?, ?, ?, ?, ?, ?, ?)", arguments: [pipeline, stage, a, b, v.verdict, time, note])
            }
        }
    }

    /// The verdicts for one merge stage (none when the database or table does not exist yet).
    public static func load(from path: String, pipeline: String, stage: String) throws(CRMFlowError) -> [(a: String, b: String, verdict: String)] {
        try StateDatabase.read(path, table: "merge_decisions", empty: [], what: "the merge decisions") { db in
            try Row.fetchAll(db, sql: "SELECT id_a, id_b, verdict FROM merge_decisions WHERE pipeline = ? AND stage = ? ORDER BY id_a, id_b",
                             arguments: [pipeline, stage]).map { r in (r["id_a"], r["id_b"], r["verdict"]) }
        }
    }
}

/// The pipeline's state database (`out/<pipeline>/crmflow.db`): run history, watermarks, merge decisions, snapshot
/// histories. Each table is created on its first write; reading one that does not exist yet gives `empty`.
enum StateDatabase {
    static func write(_ path: String, schema: String, what: String, _ body: (Database) throws -> Void) throws(CRMFlowError) {
        do {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let queue = try DatabaseQueue(path: path)
            try queue.write { db in
                try db.execute(sql: schema)
                try body(db)
            }
        } catch {
            throw CRMFlowError(.cannotWrite, "cannot record \(what) in '\(path)': \(error)", hint: "check that the output directory is writable")
        }
    }

    static func read<T>(_ path: String, table: String, empty: T, what: String, hint: String? = nil, _ body: (Database) throws -> T) throws(CRMFlowError) -> T {
        guard FileManager.default.fileExists(atPath: path) else { return empty }
        do {
            let queue = try SQLiteStore.readOnly(path)
            return try queue.read { db in try db.tableExists(table) ? body(db) : empty }
        } catch {
            throw CRMFlowError(.badData, "cannot read \(what) in '\(path)': \(error)", hint: hint)
        }
    }
}
