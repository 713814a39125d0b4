import CRMFlowCore
import CRMFlowIO
import CRMFlowPipeline
import CRMFlowStages
import Foundation

/// Runs the Spark part of a compiled pipeline and turns what Spark wrote into stage results for the runner.
///
/// Spark computes every Spark stage's view; it writes the stages crmflow reads (as CSV), each ingest's rejects and one
/// table of row counts into the staging folder. crmflow reads those back: the counts become each stage's row
/// accounting, the rejects its rejects, the materialised rows its output. The runner then runs the crmflow stages
/// (emit among them) as in a local run, so output files, rejects files and the run summary are written by the same
/// code, atomically.
public enum SparkEngine {
    public static func compute(_ pipeline: Pipeline, plan: SparkPlan, session: SparkSession) throws(SparkError) -> [String: StageResult] {
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: plan.staging, withIntermediateDirectories: true)
        } catch {
            throw SparkError("cannot create the staging folder '\(plan.staging)'")
        }
        var statements = plan.statements.map(\.sql)
        for m in plan.materialized { statements.append(SparkCompiler.write("SELECT * FROM \(SparkCompiler.quoteName(m.stage))", to: m.folder)) }
        for t in plan.sideTables { statements.append(SparkCompiler.write(t.view, to: plan.staging + "/" + t.stage + "." + t.suffix)) }
        for (stage, notes) in plan.noteViews.sorted(by: { $0.key < $1.key }) {
            statements.append(SparkCompiler.write("SELECT * FROM (\(notes)) ORDER BY ord", to: plan.staging + "/" + stage + ".notes"))
        }
        for (stage, changes) in plan.changeViews.sorted(by: { $0.key < $1.key }) {
            statements.append(SparkCompiler.write("SELECT * FROM (\(changes)) ORDER BY pass", to: plan.staging + "/" + stage + ".changes"))
        }
        for stage in plan.rejectViews.keys.sorted() {
            statements.append(SparkCompiler.write("SELECT * FROM \(SparkCompiler.quoteName(stage + "__rejects"))", to: plan.staging + "/" + stage + ".rejects"))
        }
        if !plan.countsSQL.isEmpty { statements.append(SparkCompiler.write(plan.countsSQL, to: plan.staging + "/_counts")) }
        // A merge's or a dedupe's partitions are sized by its records: the statements before it run first, then its count.
        // NB: in the order the statements need them.
        let sized = plan.sizedBy.compactMap { stage, keys in
            statements.firstIndex { $0.contains(SparkMerge.partitionsPlaceholder(stage)) }.map { (stage, keys, $0) }
        }.sorted { $0.2 < $1.2 }
        for (stage, keys, _) in sized {
            let placeholder = SparkMerge.partitionsPlaceholder(stage)
            guard let first = statements.firstIndex(where: { $0.contains(placeholder) }) else { continue }
            let folder = plan.staging + "/_records_" + stage.utf8.map { String($0, radix: 16) }.joined()
            try session.execute(Array(statements[..<first]) + [SparkCompiler.write("SELECT count(*) FROM \(keys)", to: folder)])
            let n = try readParts(folder, schema: ExprSchema(names: ["n"], types: [.integer]))
            let records = n.rowCount == 1 ? Int(n.columns[0].value(at: 0).description) ?? 0 : 0
            statements = SparkMerge.resolve(Array(statements[first...]), stage: stage, records: records, perPartition: plan.recordsPerPartition)
        }
        try session.execute(statements)

        // Row counts by stage and kind.
        var counts: [String: [String: Int]] = [:]
        if !plan.countsSQL.isEmpty {
            let table = try readParts(plan.staging + "/_counts", schema: ExprSchema(names: ["stage", "kind", "n"], types: [.string, .string, .integer]))
            for r in 0..<table.rowCount {
                let stage = table.columns[0].value(at: r).description, kind = table.columns[1].value(at: r).description
                counts[stage, default: [:]][kind] = Int(table.columns[2].value(at: r).description) ?? 0
            }
        }
        var results: [String: StageResult] = [:]
        for decl in pipeline.stages where plan.runsOnSpark(decl.id) {
            guard let schema = plan.schemas[decl.id] else { continue }
            let c = counts[decl.id] ?? [:]
            let inputRows = decl.inputs.map { counts[$0]?["rows"] ?? 0 }
            var rows = c["rows"] ?? 0
            if SparkCompiler.rowsFollowInput(decl, plan) { rows = inputRows.reduce(0, +) }
            var data: StageData
            if let m = plan.materialized.first(where: { $0.stage == decl.id }) {
                let table = try readParts(m.folder, schema: m.schema)
                if c["rows"] != nil || SparkCompiler.rowsFollowInput(decl, plan), table.rowCount != rows {
                    throw SparkError("stage '\(decl.id)': Spark wrote \(table.rowCount) rows but counted \(rows)")
                }
                rows = table.rowCount
                data = StageData(table: table, origins: nil)
            } else {
                data = StageData(table: Table(schema: Schema(zip(schema.names, schema.types).map { Field(name: $0, type: $1 ?? .string) }),
                                              columns: schema.types.map { ColumnBuilder($0 ?? .string, capacity: 0).finish() }, rowCount: 0), origins: nil)
            }
            var rejects: [Reject] = []
            if plan.rejectViews[decl.id] != nil {
                let t = try readParts(plan.staging + "/" + decl.id + ".rejects", schema: ExprSchema(names: ["reason", "record", "code"], types: [.string, .string, .string]))
                // NB: rows inside Spark carry no file line; a worker stage's rejects name the stage, as a local
                // stage's do for rows that came from no file.
                let source = (decl.stage.flatMap { LogicalScanPath.of($0) }) ?? "stage \(decl.id)"
                for r in 0..<t.rowCount {
                    rejects.append(Reject(source: source, line: 0, code: t.columns[2].value(at: r).description, reason: t.columns[0].value(at: r).description,
                                          record: t.columns[1].value(at: r).description))
                }
            }
            // Spark does not know the lines its records came from: the driver finds them in the file (one pass, only
            // when there are rejects), so rejects carry their line and the file's own record text as in a local run.
            if !rejects.isEmpty, case .scan(let scan)? = decl.stage.map(LogicalOp.of), let full = plan.scanPaths[decl.id] {
                let file = try? CSVFile.open(full, options: scan.options)
                let columns = file?.columnNames.count ?? 0
                let (delimiter, quote) = (file?.dialect.delimiter ?? 44, file?.dialect.quote ?? 34)
                var fields: [[String]] = []
                for k in rejects.indices {
                    guard rejects[k].reason == SparkPlan.raggedMarker else {
                        fields.append(CSVFile.parseFields(Array(rejects[k].record.utf8), delimiter: 44, quote: 34))
                        continue
                    }
                    // The record as the file holds it: its fields counted as a local read counts them.
                    var text = Array(rejects[k].record.utf8)
                    while let last = text.last, last == 10 || last == 13 { text.removeLast() }
                    let f = CSVFile.parseFields(text, delimiter: delimiter, quote: quote)
                    fields.append(f)
                    rejects[k].code = f.count < columns ? "E_TOO_FEW_FIELDS" : "E_TOO_MANY_FIELDS"
                    rejects[k].reason = "expected \(columns) field(s), found \(f.count)"
                }
                if let file, let lines = try? file.lines(ofRecords: fields) {
                    for k in rejects.indices { rejects[k].line = lines[k] }
                    rejects.sort { $0.line < $1.line }
                }
            }
            let accounting = Self.accounting(decl, rows: rows, rejected: rejects.count, inputRows: inputRows, counts: c)
            counts[decl.id, default: [:]]["rows"] = rows
            var result = StageResult(data: data, rejects: rejects, accounting: accounting, notes: ["ran on Spark"])
            if plan.placement[decl.id] == .partitioned, decl.kind == "merge" {
                result.notes.append("merged per blocking partition: \(c["pairs"] ?? 0) candidate pairs in \(c["partitions"] ?? 0) partitions, each learning its own model; "
                    + "\(c["edges"] ?? 0) records in clusters of more than one record")
            }
            if plan.noteViews[decl.id] != nil {
                let t = try readParts(plan.staging + "/" + decl.id + ".notes", schema: ExprSchema(names: ["ord", "note"], types: [.integer, .string]))
                result.notes += PartitionNotes.combine((0..<t.rowCount).map { t.columns[1].value(at: $0).description })
            }
            if plan.changeViews[decl.id] != nil {
                let t = try readParts(plan.staging + "/" + decl.id + ".changes", schema: ExprSchema(names: ["pass", "change"], types: [.integer, .string]))
                result.changes = CleanPartitioned.combine((0..<t.rowCount).compactMap { CleanPartitioned.decode(t.columns[1].value(at: $0).description) })
            }
            for t in plan.sideTables where t.stage == decl.id {
                result.pendingSideTables.append(PendingSideTable(suffix: t.suffix, table: try readParts(plan.staging + "/" + t.stage + "." + t.suffix, schema: t.schema),
                                                                 personalFrom: t.personalFrom))
            }
            if let path = plan.scanPaths[decl.id] { result.inputFiles = [path] }
            results[decl.id] = result
        }
        try? fm.removeItem(atPath: plan.staging)
        return results
    }

    /// A stage's accounting from Spark's counts, in the same terms a local run uses.
    static func accounting(_ decl: StageDeclaration, rows: Int, rejected: Int, inputRows: [Int], counts: [String: Int]) -> Accounting {
        let first = inputRows.first ?? 0
        if decl.kind == "merge" { return Accounting(rowsIn: first, rowsOut: rows, removed: ["merged": first - rows]) }
        if decl.kind == "forecast" { return Accounting(rowsIn: first, rowsOut: rows, removed: ["aggregated": first], added: ["period row": rows]) }
        if decl.kind == "clean" { return Accounting(rowsIn: first, rowsOut: rows, rejected: rejected, removed: ["deduplicated": first - rows - rejected]) }
        switch decl.stage.map(LogicalOp.of) {
        case .scan?:
            return Accounting(rowsIn: rows + rejected, rowsOut: rows, rejected: rejected)
        case .filter?:
            return Accounting(rowsIn: first, rowsOut: rows, rejected: rejected, removed: ["filtered": first - rows - rejected])
        case .join(_, let type, _)?:
            let unmatched = counts["unmatched"] ?? 0
            switch type {
            case "anti": return Accounting(rowsIn: first, rowsOut: rows, removed: ["matched": first - rows])
            case "left": return Accounting(rowsIn: first, rowsOut: rows, added: ["join fan-out": rows - first])
            default: return Accounting(rowsIn: first, rowsOut: rows, removed: ["unmatched": unmatched], added: ["join fan-out": rows - (first - unmatched)])
            }
        case .aggregate?:
            return Accounting(rowsIn: first, rowsOut: rows, removed: ["aggregated": max(0, first - rows)], added: ["aggregated": max(0, rows - first)])
        case .limit?:
            return Accounting(rowsIn: first, rowsOut: rows, removed: ["limited": first - rows])
        case .union?:
            return Accounting(rowsIn: inputRows.reduce(0, +), rowsOut: rows)
        default:
            return Accounting(rowsIn: first, rowsOut: rows, rejected: rejected)
        }
    }

    /// The CSV part files Spark wrote into `folder` (no header), in name order, read as one table with crmflow's types.
    static func readParts(_ folder: String, schema: ExprSchema) throws(SparkError) -> Table {
        let fm = FileManager.default
        let parts = ((try? fm.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasPrefix("part-") }.sorted()
        var bytes = Array(schema.names.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }.joined(separator: ",").utf8)
        bytes.append(10)
        for p in parts {
            guard let d = fm.contents(atPath: folder + "/" + p) else { throw SparkError("cannot read '\(folder)/\(p)', which Spark wrote") }
            bytes.append(contentsOf: d)
            if let last = bytes.last, last != 10 { bytes.append(10) }
        }
        let file = folder + ".csv"
        guard fm.createFile(atPath: file, contents: Data(bytes)) else { throw SparkError("cannot write '\(file)'") }
        defer { try? fm.removeItem(atPath: file) }
        var o = CSVOptions()
        o.delimiter = UInt8(ascii: ",")
        o.hasHeader = true
        o.encoding = .utf8
        for (n, t) in zip(schema.names, schema.types) { o.declared[n] = Self.plan(for: t ?? .string) }
        do {
            return try CSVFile.open(file, options: o).load().table
        } catch {
            throw SparkError("cannot read back what Spark wrote in '\(folder)': \(error)")
        }
    }

    /// How crmflow reads back a column Spark wrote.
    static func plan(for type: DataType) -> ColumnPlan {
        switch type {
        case .date: return ColumnPlan(type: .date, format: "%Y-%m-%d", isDeclared: true)
        default: return ColumnPlan(type: type, isDeclared: true)
        }
    }
}

/// The input path an ingest reads, for its rejects' source.
enum LogicalScanPath {
    static func of(_ stage: any Stage) -> String? {
        if case .scan(let scan) = LogicalOp.of(stage) { return scan.path }
        return nil
    }
}
