import CLibPQ
import CRMFlowCore
import Foundation

/// PostgreSQL as a source and a sink, through libpq (PostgreSQL's own client library, Debian's libpq-dev).
///
/// Sources are read through a server-side cursor, `fetchRows` rows at a time, so no result is held whole by the
/// client library; sinks are loaded with `COPY ... FROM STDIN` in one transaction: `replace` loads a staging table and
/// renames it over the target, `append` copies into the target, `upsert` copies into a temporary table and merges it
/// with `INSERT ... ON CONFLICT (key) DO UPDATE`. A failure anywhere rolls the transaction back: the database is as
/// it was.
public enum PostgresStore {
    public typealias Mode = SQLiteStore.Mode

    /// Rows per cursor fetch.
    public static let fetchRows = 20_000

    /// `schema.table` or `table`, each part quoted.
    static func qualified(_ name: String) -> String {
        name.split(separator: ".", maxSplits: 1).map { SQLiteStore.quoted(String($0)) }.joined(separator: ".")
    }

    public static func qualifiedName(_ name: String) -> String { qualified(name) }
    public static func quotedName(_ name: String) -> String { SQLiteStore.quoted(name) }

    /// The password of a `postgresql://user:password@host/db` URL or a `password=...` key/value connection string,
    /// registered as a secret so that no message shows it, whatever libpq puts in its errors.
    static func registerPassword(_ url: String) {
        var password: String?
        if let u = URLComponents(string: url), u.scheme == "postgresql" || u.scheme == "postgres" {
            password = u.password
        } else if let r = url.range(of: "password=") {
            password = String(url[r.upperBound...].prefix { $0 != " " }).trimmingCharacters(in: CharacterSet(charactersIn: "'"))
        }
        if let password, !password.isEmpty { Secrets.register(password, name: "PostgreSQL password") }
    }

    /// One connection. Not shared between threads: a stage opens its own.
    final class Connection {
        let raw: OpaquePointer
        let failureStatus: ExitStatus

        init(_ url: String, failureStatus: ExitStatus) throws(CRMFlowError) {
            registerPassword(url)
            self.failureStatus = failureStatus
            guard let c = PQconnectdb(url) else { throw CRMFlowError(failureStatus, "PostgreSQL: out of memory while connecting") }
            guard PQstatus(c) == CONNECTION_OK else {
                let message = Secrets.redact(String(cString: PQerrorMessage(c)).trimmingCharacters(in: .whitespacesAndNewlines))
                PQfinish(c)
                throw CRMFlowError(failureStatus, "PostgreSQL: cannot connect: \(message)",
                                   hint: "check the connection URL (postgresql://USER@HOST:PORT/DATABASE, the password from the environment or ~/.pgpass) and that the server is running")
            }
            raw = c
            try execute("SET client_min_messages = warning; SET client_encoding = 'UTF8'; SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC'; SET extra_float_digits = 3")
        }

        deinit { PQfinish(raw) }

        var lastError: String { Secrets.redact(String(cString: PQerrorMessage(raw)).trimmingCharacters(in: .whitespacesAndNewlines)) }

        func failure(_ what: String, _ result: OpaquePointer?) -> CRMFlowError {
            var message = result.map { String(cString: PQresultErrorMessage($0)) } ?? ""
            if message.isEmpty { message = lastError }
            message = Secrets.redact(message.trimmingCharacters(in: .whitespacesAndNewlines))
            var hint: String?
            if message.contains("no unique or exclusion constraint matching the ON CONFLICT") {
                hint = "an upsert needs a primary key or unique index on the key columns: CREATE UNIQUE INDEX ... ON table (key)"
            } else if message.contains("cannot affect row a second time") {
                hint = "the rows written hold the same key twice: remove the duplicates first (merge, or aggregate by the key)"
            }
            let sqlState = result.flatMap { r in PQresultErrorField(r, Int32(UInt8(ascii: "C"))).map { String(cString: $0) } } ?? ""
            // Class 42 is a syntax error or an unknown table or column: the pipeline's fault, not the data's.
            let status: ExitStatus = sqlState.hasPrefix("42") ? .badPipeline : failureStatus
            return CRMFlowError(status, "PostgreSQL: \(what): \(message)", hint: hint)
        }

        /// Runs statements that return no rows.
        func execute(_ sql: String, _ what: String = "cannot run a statement") throws(CRMFlowError) {
            let r = PQexec(raw, sql)
            defer { PQclear(r) }
            let status = PQresultStatus(r)
            guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else { throw failure(what, r) }
        }

        /// Runs a query and hands its result to `body` (cleared afterwards).
        func query<R>(_ sql: String, _ what: String, _ body: (OpaquePointer) throws(CRMFlowError) -> R) throws(CRMFlowError) -> R {
            guard let r = PQexec(raw, sql) else { throw failure(what, nil) }
            defer { PQclear(r) }
            guard PQresultStatus(r) == PGRES_TUPLES_OK else { throw failure(what, r) }
            return try body(r)
        }

        /// The names and type OIDs of a query's columns, without running it.
        func describe(_ sql: String, _ what: String) throws(CRMFlowError) -> [(name: String, type: UInt32)] {
            let p = PQprepare(raw, "", sql, 0, nil)
            defer { PQclear(p) }
            guard PQresultStatus(p) == PGRES_COMMAND_OK else { throw failure(what, p) }
            let d = PQdescribePrepared(raw, "")
            defer { PQclear(d) }
            guard PQresultStatus(d) == PGRES_COMMAND_OK, let d else { throw failure(what, d) }
            return (0..<PQnfields(d)).map { (String(cString: PQfname(d, $0)), UInt32(PQftype(d, $0))) }
        }

        /// `COPY ... FROM STDIN`, sending `chunks` in order.
        func copyIn(_ sql: String, _ what: String, chunks: (_ send: ([UInt8]) throws(CRMFlowError) -> Void) throws(CRMFlowError) -> Void) throws(CRMFlowError) {
            let r = PQexec(raw, sql)
            guard PQresultStatus(r) == PGRES_COPY_IN else {
                defer { PQclear(r) }
                throw failure(what, r)
            }
            PQclear(r)
            var sendFailure: CRMFlowError?
            do {
                try chunks { (bytes: [UInt8]) throws(CRMFlowError) in
                    var offset = 0
                    while offset < bytes.count {
                        let n = min(bytes.count - offset, 1 << 20)
                        let ok = bytes.withUnsafeBufferPointer { b in
                            b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b.count) { PQputCopyData(raw, $0 + offset, Int32(n)) }
                        }
                        guard ok == 1 else { throw failure(what, nil) }
                        offset += n
                    }
                }
            } catch {
                sendFailure = error
            }
            guard PQputCopyEnd(raw, sendFailure == nil ? nil : "crmflow stopped the copy") == 1 else { throw sendFailure ?? failure(what, nil) }
            var copyFailure: CRMFlowError?
            while let result = PQgetResult(raw) {
                if PQresultStatus(result) != PGRES_COMMAND_OK, copyFailure == nil { copyFailure = failure(what, result) }
                PQclear(result)
            }
            if let e = sendFailure ?? copyFailure { throw e }
        }
    }

    // MARK: reading

    /// The type a PostgreSQL column keeps (nil: text, typed by inference as CSV is).
    static func nativePlan(_ oid: UInt32) -> ColumnPlan? {
        switch oid {
        case 16: return ColumnPlan(type: .boolean)
        case 20, 21, 23, 26: return ColumnPlan(type: .integer)
        case 700, 701: return ColumnPlan(type: .double)
        case 1082: return ColumnPlan(type: .date)
        case 1114, 1184: return ColumnPlan(type: .timestamp)
        default: return nil
        }
    }

    static func selectSQL(table: String?, query: String?) -> String { query ?? "SELECT * FROM \(qualified(table ?? ""))" }

    /// The column names of a table or query, without reading its rows.
    public static func columnNames(url: String, table: String?, query: String?) throws(CRMFlowError) -> [String] {
        let connection = try Connection(url, failureStatus: .inputMissing)
        return try connection.describe(selectSQL(table: table, query: query), query == nil ? "cannot read table '\(table ?? "")'" : "cannot run the query").map(\.name)
    }

    /// Reads a table or the rows of a query through a cursor. Integer, floating-point, numeric, boolean, date and
    /// timestamp columns keep their type; text columns are typed like CSV (or as declared), and a value that does not
    /// fit a declared type sends its row to the rejects (source `postgres#table`, line = row number).
    /// `declared` gives the declared plans for the result's column names.
    public static func read(url: String, table: String?, query: String?, declared: ([String]) -> [String: ColumnPlan] = { _ in [:] }, allStrings: Bool = false,
                            source: String, progress: (Int) -> Void = { _ in }) throws(CRMFlowError) -> LoadedTable {
        let connection = try Connection(url, failureStatus: .inputMissing)
        let what = query == nil ? "cannot read table '\(table ?? "")'" : "cannot run the query"
        let sql = selectSQL(table: table, query: query)
        let described = try connection.describe(sql, what)
        let declared = declared(described.map(\.name))
        try connection.execute("BEGIN READ ONLY", what)
        try connection.execute("DECLARE crmflow_source NO SCROLL CURSOR FOR " + sql, what)
        var cells = described.map { column in
            var c = TextCells()
            c.infers = nativePlan(column.type) == nil && !allStrings
            return c
        }
        var rowCount = 0
        while true {
            let fetched = try connection.query("FETCH FORWARD \(fetchRows) FROM crmflow_source", what) { r in
                let n = Int(PQntuples(r))
                for c in 0..<described.count {
                    let isBoolean = described[c].type == 16
                    for row in 0..<n {
                        if PQgetisnull(r, Int32(row), Int32(c)) == 1 {
                            cells[c].appendNull()
                        } else if isBoolean {
                            cells[c].append(PQgetvalue(r, Int32(row), Int32(c)).pointee == CChar(UInt8(ascii: "t")) ? "true" : "false")
                        } else {
                            let value = PQgetvalue(r, Int32(row), Int32(c))!
                            let length = Int(PQgetlength(r, Int32(row), Int32(c)))
                            value.withMemoryRebound(to: UInt8.self, capacity: length) { cells[c].append(UnsafeBufferPointer(start: $0, count: length)) }
                        }
                    }
                }
                return n
            }
            rowCount += fetched
            progress(rowCount)
            if fetched < fetchRows { break }
        }
        try connection.execute("CLOSE crmflow_source; COMMIT", what)
        var columns: [CRMFlowCore.Column] = []
        var notes: [String: String] = [:]
        var failed: [Int: String] = [:]
        for (c, column) in described.enumerated() {
            let (typed, note, failures) = cells[c].typed(name: column.name, native: nativePlan(column.type), declared: declared[column.name], allStrings: allStrings)
            columns.append(typed)
            if let note { notes[column.name] = note }
            for (r, reason) in failures where failed[r] == nil { failed[r] = reason }
        }
        return DatabaseRows.loaded(names: described.map(\.name), columns: columns, notes: notes, failed: failed, rowCount: rowCount, source: source) { r in
            cells.map { $0.text(r) }
        }
    }

    // MARK: writing

    static func sqlType(_ column: CRMFlowCore.Column) -> String {
        switch column.storage {
        case .integer: return "bigint"
        case .double: return "double precision"
        case .boolean: return "boolean"
        case .date: return "date"
        case .timestamp: return "timestamp"
        case .money(_, _, let codes): return codes.count > 1 ? "text" : "numeric"
        default: return "text"
        }
    }

    /// Writes `table` to the PostgreSQL table `name` in one transaction (see the type's comment for each mode).
    /// `threads` encode the COPY data in parallel slices. Returns the rows written.
    @discardableResult
    public static func write(_ table: CRMFlowCore.Table, url: String, table name: String, mode: Mode, key: [String] = [], threads: Int = 1,
                             cancelled: () -> Bool = { false }) throws(CRMFlowError) -> Int {
        let columns = table.schema.names
        for k in key where !columns.contains(k) {
            throw CRMFlowError(.badPipeline, "upsert key '\(k)' is not a column of the rows written", hint: "columns: " + columns.joined(separator: ", "))
        }
        if mode == .upsert, key.isEmpty { throw CRMFlowError(.badPipeline, "mode upsert needs key: [columns]") }
        let connection = try Connection(url, failureStatus: .cannotWrite)
        let what = "cannot write table '\(name)'"
        let target = qualified(name)
        let parts = name.split(separator: ".", maxSplits: 1).map(String.init)
        let bare = parts.last ?? name
        let schemaPrefix = parts.count == 2 ? SQLiteStore.quoted(parts[0]) + "." : ""
        let definition = zip(columns, table.columns).map { "\(SQLiteStore.quoted($0)) \(sqlType($1))" }.joined(separator: ", ")
        let columnList = "(" + columns.map(SQLiteStore.quoted).joined(separator: ", ") + ")"
        var o = WriterOptions()
        o.header = false
        o.formulaGuard = false
        let encoder = TableEncoder(format: .csv, schema: table.schema, options: o)
        func copy(into relation: String) throws(CRMFlowError) {
            try connection.copyIn("COPY \(relation) \(columnList) FROM STDIN WITH (FORMAT csv)", what) { (send: ([UInt8]) throws(CRMFlowError) -> Void) throws(CRMFlowError) in
                let slices = table.rowSlices(parts: max(1, threads) * 4)
                // Slices are encoded in parallel, a few at a time, and sent in order.
                var next = 0
                while next < slices.count {
                    if cancelled() { throw CRMFlowError(.stageFailed, "cancelled") }
                    let batch = Array(slices[next..<min(slices.count, next + max(1, threads))])
                    let encoded = ConcurrentMap.map(batch, threads: max(1, threads)) { encoder.rows(table.slice($0)) }
                    for chunk in encoded { try send(chunk) }
                    next += batch.count
                }
            }
        }
        try connection.execute("BEGIN", what)
        do throws(CRMFlowError) {
            switch mode {
            case .replace:
                let staging = schemaPrefix + SQLiteStore.quoted(bare + "__crmflow_new")
                try connection.execute("DROP TABLE IF EXISTS \(staging); CREATE TABLE \(staging) (\(definition))", what)
                try copy(into: staging)
                try connection.execute("DROP TABLE IF EXISTS \(target); ALTER TABLE \(staging) RENAME TO \(SQLiteStore.quoted(bare))", what)
            case .append, .upsert:
                let keyClause = mode == .upsert ? ", PRIMARY KEY (" + key.map(SQLiteStore.quoted).joined(separator: ", ") + ")" : ""
                try connection.execute("CREATE TABLE IF NOT EXISTS \(target) (\(definition)\(keyClause))", what)
                let existing = try connection.describe("SELECT * FROM \(target)", what).map(\.name)
                for c in columns where !existing.contains(c) {
                    throw CRMFlowError(.badData, "PostgreSQL: table '\(name)' has no column '\(c)'", hint: "add it (ALTER TABLE), or write with mode: replace")
                }
                if mode == .append {
                    try copy(into: target)
                } else {
                    // NB: the staging table takes the target's column types, so COPY converts each value as the target would.
                    try connection.execute("CREATE TEMPORARY TABLE crmflow_upsert ON COMMIT DROP AS SELECT \(columnList.dropFirst().dropLast()) FROM \(target) WITH NO DATA", what)
                    try copy(into: "crmflow_upsert")
                    let updates = columns.filter { !key.contains($0) }.map { "\(SQLiteStore.quoted($0)) = EXCLUDED.\(SQLiteStore.quoted($0))" }
                    try connection.execute("INSERT INTO \(target) \(columnList) SELECT \(columnList.dropFirst().dropLast()) FROM crmflow_upsert ON CONFLICT ("
                        + key.map(SQLiteStore.quoted).joined(separator: ", ") + ") DO " + (updates.isEmpty ? "NOTHING" : "UPDATE SET " + updates.joined(separator: ", ")), what)
                }
            }
            try connection.execute("COMMIT", what)
        } catch {
            try? connection.execute("ROLLBACK")
            throw error
        }
        return table.rowCount
    }
}
