import CRMFlowCore

/// A table read from a file, with everything the run summary needs to account for its rows.
public struct LoadedTable: Sendable {
    public var table: Table
    public var rejects: [Reject]
    /// Records read from the file (kept + rejected).
    public var recordsRead: Int
    /// Rows padded or truncated under `--ragged pad`.
    public var adjustedRows: Int
    /// Per column: how its type was decided, when worth saying.
    public var columnNotes: [String: String]
    public var dialect: CSVDialect?
    public var headerNotes: [String]
}

/// A chunk of typed rows plus the rows of that chunk that could not be used.
public struct TypedChunk: Sendable {
    public var table: Table
    /// Absolute rejects need the chunk's line base; these carry relative lines.
    var rejects: [RawReject]
    public var recordsRead: Int
    public var adjustedRows: Int
}

extension CSVFile {
    /// Column plans from whole-file evidence, honouring declared types and `--all-strings`.
    func plans(from evidence: [ColumnEvidence]?) -> [InferenceResult] {
        columnNames.enumerated().map { c, name in
            if let declared = options.declared[name] {
                var p = declared
                p.isDeclared = true
                if p.dayOrder == nil { p.dayOrder = options.dayOrder }
                return InferenceResult(plan: p, note: "declared \(p.type.rawValue)\(p.format.map { " (\($0))" } ?? "")")
            }
            guard let evidence, !options.allStrings else { return InferenceResult(plan: ColumnPlan(type: .string), note: nil) }
            return TypeInference.decide(name: name, evidence: evidence[c], dayOrder: options.dayOrder)
        }
    }

    var needsEvidence: Bool { !options.allStrings && options.declared.count < columnNames.count }

    static func evidence(of raw: RawChunk, skip: Set<Int>) -> [ColumnEvidence] {
        raw.columns.enumerated().map { c, buffer in
            var e = ColumnEvidence()
            if skip.contains(c) { return e }
            let validity = raw.validity[c]
            buffer.bytes.withUnsafeBufferPointer { all in
                for i in 0..<buffer.count {
                    if validity[i] {
                        if e.candidates == 0 {
                            e.nonNull += 1
                            continue
                        }
                        e.observe(UnsafeBufferPointer(rebasing: all[buffer.range(i)]))
                    } else {
                        e.observeNull()
                    }
                }
            }
            return e
        }
    }

    /// Converts a raw chunk to typed columns; rows with values that do not fit a declared type become rejects.
    static func typed(_ raw: RawChunk, names: [String], plans: [ColumnPlan], delimiter: UInt8) -> TypedChunk {
        var columns: [Column] = []
        var failedRows: [Int: String] = [:]
        for (c, plan) in plans.enumerated() {
            let outcome = ColumnConversion.convert(raw.columns[c], validity: raw.validity[c], plan: plan)
            columns.append(outcome.column)
            for r in outcome.failedRows where failedRows[r] == nil {
                let value = raw.columns[c].string(r)
                let what = plan.format.map { "\(plan.type.rawValue) in format \($0)" } ?? plan.type.rawValue
                failedRows[r] = "column '\(names[c])': '\(value)' is not a valid \(what)"
            }
        }
        let schema = Schema(zip(names, columns).map { Field(name: $0, type: $1.type) })
        var table = Table(schema: schema, columns: columns)
        var rejects = raw.rejects
        if !failedRows.isEmpty {
            var keep: [Int] = []
            keep.reserveCapacity(raw.rowCount - failedRows.count)
            for r in 0..<raw.rowCount {
                guard let reason = failedRows[r] else {
                    keep.append(r)
                    continue
                }
                var record: [UInt8] = []
                for c in 0..<raw.columns.count {
                    if c > 0 { record.append(delimiter) }
                    if raw.validity[c][r] { CSVQuoting.appendField(raw.columns[c].bytes[raw.columns[c].range(r)], delimiter: delimiter, to: &record, force: raw.columns[c].range(r).isEmpty) }
                }
                rejects.append(RawReject(line: Int(raw.rowLines[r]), code: "E_TYPE", reason: reason, record: String(decoding: record, as: UTF8.self)))
            }
            table = table.selecting(keep)
            rejects.sort { $0.line < $1.line }
        }
        return TypedChunk(table: table, rejects: rejects, recordsRead: raw.rowCount + raw.rejects.count, adjustedRows: raw.adjustedRows)
    }

    func absolute(_ r: RawReject, base: Int) -> Reject {
        Reject(source: path, line: base + r.line, code: r.code, reason: r.reason, record: r.record)
    }

    /// Reads the whole file once to decide column types (bounded memory).
    public func inferColumns() throws -> [InferenceResult] {
        guard needsEvidence else { return plans(from: nil) }
        var merged: [ColumnEvidence] = []
        let skip = Set(columnNames.indices.filter { options.declared[columnNames[$0]] != nil })
        var file = self
        try withChunkSize(min(options.chunkSize, 4 << 20)).readRobustly { f, sequential in
            merged = []
            file = f
            try f.readChunks(sequential: sequential, process: { raw in CSVFile.evidence(of: raw, skip: skip) }, consume: { e, _ in
                if merged.isEmpty { merged = e } else { for c in merged.indices { merged[c].merge(e[c]) } }
            })
        }
        if merged.isEmpty { merged = columnNames.map { _ in ColumnEvidence() } }
        return file.plans(from: merged)
    }

    /// Streams typed chunks in order: `process` runs concurrently (format output there), `consume` in order.
    /// `reset` is called before a re-read so the consumer can start over.
    public func stream<R: Sendable>(plans: [ColumnPlan], process: @escaping @Sendable (TypedChunk) -> R,
                                    consume: (R, [Reject]) throws -> Void, reset: () throws -> Void) throws {
        let names = columnNames
        var first = true
        // NB: smaller chunks when streaming: memory is bounded by the chunks in flight, not by the file.
        let streaming = withChunkSize(min(options.chunkSize, 4 << 20))
        try streaming.readRobustly { f, sequential in
            if !first { try reset() }
            first = false
            let delimiter = f.dialect.delimiter
            try f.readChunks(sequential: sequential, process: { raw -> (R, [RawReject]) in
                let t = CSVFile.typed(raw, names: names, plans: plans, delimiter: delimiter)
                return (process(t), t.rejects)
            }, consume: { r, base in
                try consume(r.0, r.1.map { f.absolute($0, base: base) })
            })
        }
    }

    /// Reads the whole file into a table in one pass (types decided from all chunks' evidence).
    public func load() throws -> LoadedTable {
        Trace.mark("load start")
        var chunks: [RawChunk] = []
        var bases: [Int] = []
        var file = self
        let skip = Set(columnNames.indices.filter { options.declared[columnNames[$0]] != nil })
        let wantEvidence = needsEvidence
        try readRobustly { f, sequential in
            chunks = []
            bases = []
            file = f
            try f.readChunks(sequential: sequential, process: { raw in
                var r = raw
                if wantEvidence { r.evidence = CSVFile.evidence(of: raw, skip: skip) }
                return r
            }, consume: { raw, base in
                chunks.append(raw)
                bases.append(base)
            })
        }
        Trace.mark("parsed \(chunks.count) chunk(s)")
        var merged = columnNames.map { _ in ColumnEvidence() }
        for chunk in chunks where !chunk.evidence.isEmpty { for c in merged.indices { merged[c].merge(chunk.evidence[c]) } }
        let results = file.plans(from: wantEvidence ? merged : nil)
        let plans = results.map(\.plan)
        let names = columnNames
        let delimiter = file.dialect.delimiter
        // Convert chunks concurrently, then concatenate column by column, releasing each part as it is appended.
        var typedChunks = ConcurrentMap.map(chunks, threads: threadCount) { CSVFile.typed($0, names: names, plans: plans, delimiter: delimiter) }
        chunks = []
        Trace.mark("typed columns")
        var rejects: [Reject] = []
        var read = 0, adjusted = 0
        for (k, t) in typedChunks.enumerated() {
            rejects.append(contentsOf: t.rejects.map { file.absolute($0, base: bases[k]) })
            read += t.recordsRead
            adjusted += t.adjustedRows
        }
        var parts = typedChunks.map { $0.table.columns }
        typedChunks = []
        var columns: [Column] = []
        if !parts.isEmpty {
            for c in names.indices {
                var pieces: [Column] = []
                pieces.reserveCapacity(parts.count)
                for k in parts.indices {
                    pieces.append(parts[k][c])
                    // NB: drop our reference so each chunk's buffer is freed once the concatenation has copied it.
                    parts[k][c] = Column(storage: .integer([]), validity: nil)
                }
                columns.append(try Column.concatenating(pieces))
            }
        }
        Trace.mark("concatenated")
        let schema = Schema(names.indices.map { Field(name: names[$0], type: columns.isEmpty ? plans[$0].type : columns[$0].type) })
        let table = columns.isEmpty ? Table(emptyWith: schema) : Table(schema: schema, columns: columns)
        var notes: [String: String] = [:]
        for (c, r) in results.enumerated() { if let n = r.note { notes[names[c]] = n } }
        return LoadedTable(table: table, rejects: rejects, recordsRead: read, adjustedRows: adjusted, columnNotes: notes, dialect: file.dialect,
                           headerNotes: file.headerNotes)
    }
}

/// Order-preserving parallel map on dedicated threads (see `OrderedWork` for why not the shared pool).
public enum ConcurrentMap {
    public static func map<T: Sendable, R: Sendable>(_ items: [T], threads: Int, _ body: @escaping @Sendable (T) -> R) -> [R] {
        if items.count <= 1 || threads <= 1 { return items.map(body) }
        let work = OrderedWork<R>(threads: min(threads, items.count), limit: threads * 2)
        var out: [R] = []
        out.reserveCapacity(items.count)
        // NB: consume never throws, so neither can submit or finish.
        for item in items { try? work.submit({ body(item) }, consume: { out.append($0) }) }
        try? work.finish(consume: { out.append($0) })
        return out
    }
}

import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Phase timings on stderr when CRMFLOW_TRACE is set (for benchmarking).
public enum Trace {
    static let enabled = getenv("CRMFLOW_TRACE") != nil
    static let clock = TraceClock()

    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    public static func mark(_ what: String) {
        guard enabled else { return }
        let elapsed = clock.lap(now())
        let line = what.padding(toLength: 40, withPad: " ", startingAt: 0) + String(format: " %.3f s\n", elapsed)
        _ = line.withCString { write(2, $0, strlen($0)) }
    }
}

final class TraceClock: @unchecked Sendable {
    // NB: `last` is guarded by `lock`.
    private let lock = NSLock()
    private var last = Trace.now()
    func lap(_ t: Double) -> Double {
        lock.lock()
        defer { lock.unlock() }
        let d = t - last
        last = t
        return d
    }
}
