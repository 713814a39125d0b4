import CRMFlowCore

/// The text cells of one result column read from a database (SQLite TEXT, every PostgreSQL value), typed afterwards
/// the way CSV columns are: by the declared type, else the database's own type when it has one, else inference.
struct TextCells {
    var buffer = StringBuffer()
    var validity = Bitmap()
    var evidence = ColumnEvidence()
    /// False for a column whose type the database gives: no evidence is gathered for inference.
    var infers = true

    var count: Int { validity.count }

    mutating func append(_ p: UnsafeBufferPointer<UInt8>) {
        buffer.append(UnsafeRawBufferPointer(p))
        validity.append(true)
        if infers { evidence.observe(p) }
    }

    mutating func append(_ s: String) {
        var s = s
        s.withUTF8 { append($0) }
    }

    mutating func appendNull() {
        buffer.appendEmpty()
        validity.append(false)
        if infers { evidence.observeNull() }
    }

    /// The cell as text ("" for null), for a reject's record.
    func text(_ r: Int) -> String { validity.isSet(r) ? buffer.string(r) : "" }

    /// The typed column, the note on how its type was decided, and the rows whose value does not fit the type.
    func typed(name: String, native: ColumnPlan?, declared: ColumnPlan?, allStrings: Bool) -> (CRMFlowCore.Column, String?, [(Int, String)]) {
        let plan: ColumnPlan
        var note: String?
        if let declared {
            plan = declared
        } else if allStrings {
            plan = ColumnPlan(type: .string)
        } else if let native {
            plan = native
        } else {
            let decided = TypeInference.decide(name: name, evidence: evidence)
            plan = decided.plan
            note = decided.note
        }
        let outcome = ColumnConversion.convert(buffer, validity: validity, plan: plan)
        let what = plan.format.map { "\(plan.type.rawValue) in format \($0)" } ?? plan.type.rawValue
        let failures = outcome.failedRows.map { r in (r, "column '\(name)': '\(buffer.string(r))' is not a valid \(what)") }
        return (outcome.column, note, failures)
    }
}

enum DatabaseRows {
    /// A source's rows as a loaded table: rows with a value that does not fit its column's type are rejects (line =
    /// row number, the record = every field as text), the others kept with their row numbers.
    static func loaded(names: [String], columns: [CRMFlowCore.Column], notes: [String: String], failed: [Int: String], rowCount: Int,
                       source: String, lines: [Int]? = nil, record: (Int) -> [String]) -> LoadedTable {
        var table = CRMFlowCore.Table(schema: Schema(zip(names, columns).map { Field(name: $0, type: $1.type) }), columns: columns, rowCount: rowCount)
        var rejects: [Reject] = []
        if !failed.isEmpty {
            for r in failed.keys.sorted() {
                var out: [UInt8] = []
                for (k, f) in record(r).enumerated() {
                    if k > 0 { out.append(44) }
                    CSVQuoting.appendField(Array(f.utf8)[...], delimiter: 44, to: &out)
                }
                rejects.append(Reject(source: source, line: lines?[r] ?? r + 1, code: "E_TYPE", reason: failed[r]!, record: String(decoding: out, as: UTF8.self)))
            }
            table = table.selecting((0..<rowCount).filter { failed[$0] == nil })
        }
        let kept = (0..<rowCount).filter { failed[$0] == nil }
        return LoadedTable(table: table, rejects: rejects, recordsRead: rowCount, adjustedRows: 0, columnNotes: notes, dialect: nil, headerNotes: [],
                           rowLines: kept.map { Int32(truncatingIfNeeded: lines?[$0] ?? $0 + 1) })
    }
}
