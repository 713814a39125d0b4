import CLibCSV
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
    /// Physical line (1-based) where each row of `table` starts, when `CSVOptions.keepRowLines` asked for it.
    public var rowLines: [Int32]? = nil
}

/// A chunk of typed rows plus the rows of that chunk that could not be used.
public struct TypedChunk: Sendable {
    public var table: Table
    /// Absolute rejects need the chunk's line base; these carry relative lines.
    var rejects: [RawReject]
    public var recordsRead: Int
    public var adjustedRows: Int
    /// The kept rows' lines relative to the chunk (only when asked for).
    var rowLines: [Int32] = []
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

    /// Columns with a declared type: no evidence is gathered for them.
    var declaredColumns: Set<Int> { Set(columnNames.indices.filter { options.declared[columnNames[$0]] != nil }) }

    static func evidence(of raw: RawChunk, skip: Set<Int>) -> [ColumnEvidence] {
        raw.columns.enumerated().map { c, buffer in
            var e = ColumnEvidence()
            if skip.contains(c) { return e }
            let validity = raw.validity[c]
            buffer.bytes.withUnsafeBufferPointer { all in
                for i in 0..<buffer.count {
                    if validity[i] {
                        if e.candidates == 0 && !e.dateLike {
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
    static func typed(_ raw: RawChunk, names: [String], plans: [ColumnPlan], delimiter: UInt8, keepLines: Bool = false) -> TypedChunk {
        let outcomes = plans.enumerated().map { c, plan in ColumnConversion.convert(raw.columns[c], validity: raw.validity[c], plan: plan) }
        let columns = outcomes.map(\.column)
        let schema = Schema(zip(names, columns).map { Field(name: $0, type: $1.type) })
        var table = Table(schema: schema, columns: columns)
        var rejects = raw.rejects
        var lines = keepLines ? raw.rowLines : []
        let failures = typeFailures(outcomes, text: raw.columns, validity: raw.validity, names: names, plans: plans, delimiter: delimiter)
        if !failures.isEmpty {
            for f in failures { rejects.append(RawReject(line: Int(raw.rowLines[f.row]), code: "E_TYPE", reason: f.reason, record: f.record)) }
            table = table.selecting(keeping: failures, of: raw.rowCount)
            rejects.sort { $0.line < $1.line }
            if keepLines {
                let failed = Set(failures.map(\.row))
                lines = lines.indices.filter { !failed.contains($0) }.map { lines[$0] }
            }
        }
        return TypedChunk(table: table, rejects: rejects, recordsRead: raw.rowCount + raw.rejects.count, adjustedRows: raw.adjustedRows,
                          rowLines: lines)
    }

    /// A row that does not fit its column's declared type: the first failing column's reason and the record as read.
    struct TypeFailure {
        var row: Int
        var reason: String
        var record: String
    }

    /// The rows that failed conversion, in row order, with their records re-encoded from the text columns.
    static func typeFailures(_ outcomes: [ColumnConversion.Outcome], text: [StringBuffer], validity: [Bitmap], names: [String],
                             plans: [ColumnPlan], delimiter: UInt8) -> [TypeFailure] {
        var reasons: [Int: String] = [:]
        for (c, outcome) in outcomes.enumerated() {
            for r in outcome.failedRows where reasons[r] == nil {
                let what = plans[c].format.map { "\(plans[c].type.rawValue) in format \($0)" } ?? plans[c].type.rawValue
                reasons[r] = "column '\(names[c])': '\(text[c].string(r))' is not a valid \(what)"
            }
        }
        return reasons.keys.sorted().map { r in
            var record: [UInt8] = []
            for c in text.indices {
                if c > 0 { record.append(delimiter) }
                if validity[c][r] { CSVQuoting.appendField(text[c].bytes[text[c].range(r)], delimiter: delimiter, to: &record, force: text[c].range(r).isEmpty) }
            }
            return TypeFailure(row: r, reason: reasons[r]!, record: String(decoding: record, as: UTF8.self))
        }
    }

    func absolute(_ r: RawReject, base: Int) -> Reject {
        Reject(source: path, line: base + r.line, code: r.code, reason: r.reason, record: r.record)
    }

    /// Column plans from the evidence of the whole file (read once, bounded memory), or of its first `sampleBytes`
    /// only, for a streaming read that must type values before the rest of the file is seen (a later value that does
    /// not fit then becomes a reject with its reason).
    public func inferColumns(sampleBytes: Int? = nil) throws -> [InferenceResult] {
        guard needsEvidence else { return plans(from: nil) }
        struct SampleTaken: Error {}
        var merged: [ColumnEvidence] = []
        let skip = declaredColumns
        var file = self
        do {
            try withChunkSize(sampleBytes ?? min(options.chunkSize, 4 << 20)).readRobustly { f, sequential in
                merged = []
                file = f
                try f.readChunks(sequential: sequential, maxChunks: sampleBytes == nil ? .max : 1, process: { raw in CSVFile.evidence(of: raw, skip: skip) }, consume: { e, _ in
                    if merged.isEmpty { merged = e } else { for c in merged.indices { merged[c].merge(e[c]) } }
                    if sampleBytes != nil { throw SampleTaken() }
                })
            }
        } catch is SampleTaken {}
        if merged.isEmpty { merged = columnNames.map { _ in ColumnEvidence() } }
        return file.plans(from: merged)
    }

    /// Streams typed chunks of about `chunkBytes`: `process` runs concurrently, `consume` in file order with the chunk's
    /// rejects (absolute lines). `reset` is called before a re-read so the consumer can start over.
    public func stream<R: Sendable>(plans: [ColumnPlan], chunkBytes: Int, process: @escaping @Sendable (TypedChunk) -> R,
                                    consume: (R, [Reject]) throws -> Void, reset: () throws -> Void) throws {
        try withChunkSize(chunkBytes).streamChunks(plans: plans, process: process, consume: consume, reset: reset)
    }

    /// Streams typed chunks in order: `process` runs concurrently (format output there), `consume` in order.
    /// `reset` is called before a re-read so the consumer can start over.
    public func stream<R: Sendable>(plans: [ColumnPlan], process: @escaping @Sendable (TypedChunk) -> R,
                                    consume: (R, [Reject]) throws -> Void, reset: () throws -> Void) throws {
        // NB: smaller chunks when streaming: memory is bounded by the chunks in flight, not by the file.
        try withChunkSize(min(options.chunkSize, 4 << 20)).streamChunks(plans: plans, process: process, consume: consume, reset: reset)
    }

    /// `stream` (chunks of at most 4 MiB) that also gathers every chunk's type evidence, as `inferColumns` does, and
    /// returns the plans the whole file's evidence gives: a caller that typed the chunks with plans from a sample knows
    /// afterwards whether they were the whole file's (then the output equals a two-pass read's).
    public func streamGatheringEvidence<R: Sendable>(plans: [ColumnPlan], process: @escaping @Sendable (TypedChunk) -> R,
                                                     consume: (R, [Reject]) throws -> Void, reset: () throws -> Void) throws -> [InferenceResult] {
        let (file, evidence) = try withChunkSize(min(options.chunkSize, 4 << 20))
            .streamChunks(plans: plans, gather: needsEvidence, process: process, consume: consume, reset: reset)
        guard needsEvidence else { return file.plans(from: nil) }
        return file.plans(from: evidence.isEmpty ? columnNames.map { _ in ColumnEvidence() } : evidence)
    }

    /// Typed chunks to `consume` in file order (`process` concurrently); with `gather`, every chunk's type evidence
    /// merged too (a re-read starts it over). Returns the file as finally read and the evidence.
    @discardableResult
    func streamChunks<R: Sendable>(plans: [ColumnPlan], gather: Bool = false, process: @escaping @Sendable (TypedChunk) -> R,
                                   consume: (R, [Reject]) throws -> Void, reset: () throws -> Void) throws -> (CSVFile, [ColumnEvidence]) {
        let names = columnNames
        let skip = declaredColumns
        var merged: [ColumnEvidence] = []
        var first = true
        var file = self
        try readRobustly { f, sequential in
            if !first { try reset() }
            first = false
            merged = []
            file = f
            let delimiter = f.dialect.delimiter
            try f.readChunks(sequential: sequential, process: { raw -> (R, [RawReject], [ColumnEvidence]) in
                let evidence = gather ? CSVFile.evidence(of: raw, skip: skip) : []
                let t = CSVFile.typed(raw, names: names, plans: plans, delimiter: delimiter)
                return (process(t), t.rejects, evidence)
            }, consume: { r, base in
                if gather { if merged.isEmpty { merged = r.2 } else { for c in merged.indices { merged[c].merge(r.2[c]) } } }
                try consume(r.0, r.1.map { f.absolute($0, base: base) })
            })
        }
        return (file, merged)
    }

    /// Reads the whole file into a table in one pass (types decided from all chunks' evidence).
    ///
    /// Chunks are parsed on worker threads while this thread appends each finished chunk's text to the table's
    /// columns (so concatenation overlaps parsing and every chunk is freed as soon as it is copied); the columns are
    /// then typed in parallel.
    /// `progress` gets the rows read so far; `expect`, the rows the whole file is expected to hold (from the bytes read
    /// so far), for a progress bar's ETA.
    public func load(progress: ((Int) -> Void)? = nil, expect: ((Int) -> Void)? = nil) throws -> LoadedTable {
        Trace.mark("load start")
        // NB: the one pass first reads a 4 MiB sample for the plans; below 32 MiB the file's text is small and reading
        // it once, text first, costs fewer instructions (a 30 MB file parses 13% more bytes the other way).
        if needsEvidence, source.size - dataStart > 8 * min(options.chunkSize, 4 << 20),
           let loaded = try loadTypedInOnePass(progress: progress, expect: expect) { return loaded }
        return try loadTextThenType(progress: progress, expect: expect)
    }

    /// `load` the other way: every column's text first, then the whole file's types, then the columns typed.
    func loadTextThenType(progress: ((Int) -> Void)?, expect: ((Int) -> Void)?) throws -> LoadedTable {
        let names = columnNames
        var text: [StringBuffer] = []
        var validity: [Bitmap] = []
        var rowLines: [Int] = []
        var rejects: [Reject] = []
        var read = 0, adjusted = 0
        var merged: [ColumnEvidence] = []
        var file = self
        let skip = Set(names.indices.filter { options.declared[names[$0]] != nil })
        let wantEvidence = needsEvidence
        let wantLines = !options.declared.isEmpty || options.keepRowLines
        try readRobustly { f, sequential in
            text = names.map { _ in StringBuffer() }
            validity = names.map { _ in Bitmap() }
            rowLines = []
            rejects = []
            read = 0
            adjusted = 0
            merged = names.map { _ in ColumnEvidence() }
            file = f
            var reserved = false
            var consumed = 0
            let dataBytes = Double(max(f.source.size - f.dataStart, 1))
            try f.readChunks(sequential: sequential, process: { raw in
                var r = raw
                if wantEvidence { r.evidence = CSVFile.evidence(of: raw, skip: skip) }
                return r
            }, consume: { raw, base in
                if !reserved, raw.rowCount > 0 {
                    // Reserve the whole table from the first chunk's shape, so appending rarely reallocates.
                    reserved = true
                    let chunkBytes = raw.columns.reduce(0) { $0 + $1.bytes.count } + raw.rowCount * max(names.count, 1)
                    let scale = min(dataBytes / Double(max(chunkBytes, 1)) * 1.05, 1e6)
                    for c in names.indices {
                        text[c].reserveCapacity(values: Int(Double(raw.rowCount) * scale), bytes: Int(Double(raw.columns[c].bytes.count) * scale))
                        validity[c].reserveCapacity(Int(Double(raw.rowCount) * scale))
                    }
                }
                for c in names.indices {
                    try text[c].append(contentsOf: raw.columns[c])
                    validity[c].append(contentsOf: raw.validity[c])
                    if !raw.evidence.isEmpty { merged[c].merge(raw.evidence[c]) }
                }
                if wantLines { rowLines.append(contentsOf: raw.rowLines.map { base + Int($0) }) }
                rejects.append(contentsOf: raw.rejects.map { f.absolute($0, base: base) })
                read += raw.rowCount + raw.rejects.count
                adjusted += raw.adjustedRows
                progress?(read)
                if let expect {
                    consumed += raw.byteCount
                    expect(max(read, Int(Double(read) * dataBytes / Double(max(consumed, 1)))))
                }
            })
        }
        Trace.mark("parsed and concatenated")
        let results = file.plans(from: wantEvidence ? merged : nil)
        let plans = results.map(\.plan)
        #if canImport(Glibc)
        // NB: hand the parsed chunks' freed heap back to the system before the typed columns are allocated.
        _ = malloc_trim(0)
        #endif
        // Columns are typed in parallel; with two cores this is faster than typing one column at a time and
        // freeing its text at once, which would lower the peak by about 5% of the file size.
        let textColumns = text
        let validities = validity
        let outcomes = ConcurrentMap.map(Array(names.indices), threads: threadCount) { c in
            ColumnConversion.convert(textColumns[c], validity: validities[c], plan: plans[c])
        }
        Trace.mark("typed columns")
        var columns = outcomes.map(\.column)
        // Rows whose values do not fit a declared type go to the rejects, with the record as read.
        let failures = CSVFile.typeFailures(outcomes, text: text, validity: validity, names: names, plans: plans, delimiter: file.dialect.delimiter)
        if !failures.isEmpty {
            for f in failures { rejects.append(Reject(source: path, line: rowLines[f.row], code: "E_TYPE", reason: f.reason, record: f.record)) }
            let table = Table(schema: Schema(zip(names, columns).map { Field(name: $0, type: $1.type) }), columns: columns)
            columns = table.selecting(keeping: failures, of: table.rowCount).columns
            rejects.sort { $0.line < $1.line }
            if options.keepRowLines {
                let failed = Set(failures.map(\.row))
                rowLines = rowLines.indices.filter { !failed.contains($0) }.map { rowLines[$0] }
            }
        }
        text = []
        validity = []
        let schema = Schema(names.indices.map { Field(name: names[$0], type: columns.isEmpty ? plans[$0].type : columns[$0].type) })
        let table = columns.isEmpty ? Table(emptyWith: schema) : Table(schema: schema, columns: columns)
        var notes: [String: String] = [:]
        for (c, r) in results.enumerated() { if let n = r.note { notes[names[c]] = n } }
        return LoadedTable(table: table, rejects: rejects, recordsRead: read, adjustedRows: adjusted, columnNotes: notes, dialect: file.dialect,
                           headerNotes: file.headerNotes, rowLines: options.keepRowLines ? rowLines.map { Int32(truncatingIfNeeded: $0) } : nil)
    }
}

extension CSVFile {
    /// `load` without holding the file's text: chunks are typed on the worker threads with the plans of the first
    /// 4 MiB while every chunk's evidence is gathered, and each typed chunk is appended to the table's columns. When the
    /// whole file's plans are those, the table is the one `load`'s text-then-type path builds; its peak memory is the
    /// table, not the table plus the text of every typed column. Nil (nothing kept) as soon as the evidence so far asks
    /// for other plans: the caller then reads the file the other way.
    func loadTypedInOnePass(progress: ((Int) -> Void)?, expect: ((Int) -> Void)?) throws -> LoadedTable? {
        struct OtherPlans: Error {}
        let sample = try inferColumns(sampleBytes: min(options.chunkSize, 4 << 20))
        let plans = sample.map(\.plan)
        let names = columnNames
        let skip = declaredColumns
        let keepLines = options.keepRowLines
        var columns: [TypedColumnAccumulator] = []
        var rowLines: [Int32] = []
        var rejects: [Reject] = []
        var read = 0, adjusted = 0
        var merged: [ColumnEvidence] = []
        var file = self
        do {
            try readRobustly { f, sequential in
                columns = []
                rowLines = []
                rejects = []
                read = 0
                adjusted = 0
                merged = []
                file = f
                var consumed = 0
                let dataBytes = Double(max(f.source.size - f.dataStart, 1))
                let delimiter = f.dialect.delimiter
                let dayOrder = f.options.dayOrder
                try f.readChunks(sequential: sequential, process: { raw -> (TypedChunk, [ColumnEvidence], Int, Int) in
                    let evidence = CSVFile.evidence(of: raw, skip: skip)
                    let textBytes = raw.columns.reduce(0) { $0 + $1.bytes.count }
                    let chunk = CSVFile.typed(raw, names: names, plans: plans, delimiter: delimiter, keepLines: keepLines)
                    return (chunk, evidence, textBytes, raw.byteCount)
                }, consume: { r, base in
                    let (chunk, evidence, textBytes, byteCount) = r
                    if merged.isEmpty { merged = evidence } else { for c in merged.indices { merged[c].merge(evidence[c]) } }
                    for c in names.indices where !skip.contains(c)
                        && TypeInference.decide(name: names[c], evidence: merged[c], dayOrder: dayOrder).plan != plans[c] {
                        throw OtherPlans()
                    }
                    if columns.isEmpty {
                        // Room for the whole table from the first chunk's shape, so appending rarely reallocates.
                        let rows = chunk.table.rowCount
                        let scale = rows > 0 ? min(dataBytes / Double(max(textBytes + rows * max(names.count, 1), 1)) * 1.05, 1e6) : 1
                        columns = try chunk.table.columns.map { column throws(TableError) in try TypedColumnAccumulator(column, reserving: scale) }
                    } else {
                        for c in names.indices { try columns[c].append(chunk.table.columns[c]) }
                    }
                    if keepLines {
                        if rowLines.isEmpty {
                            rowLines.reserveCapacity(Int(min(Double(chunk.rowLines.count) * 1.05 * dataBytes / Double(max(byteCount, 1)), 1e9)))
                        }
                        rowLines.append(contentsOf: chunk.rowLines.map { Int32(truncatingIfNeeded: base + Int($0)) })
                    }
                    rejects.append(contentsOf: chunk.rejects.map { f.absolute($0, base: base) })
                    read += chunk.recordsRead
                    adjusted += chunk.adjustedRows
                    progress?(read)
                    if let expect {
                        consumed += byteCount
                        expect(max(read, Int(Double(read) * dataBytes / Double(max(consumed, 1)))))
                    }
                })
            }
        } catch is OtherPlans {
            Trace.mark("typed in one pass: the evidence asked for other column types, reading again")
            return nil
        }
        let results = file.plans(from: merged.isEmpty ? names.map { _ in ColumnEvidence() } : merged)
        guard results.map(\.plan) == plans else { return nil }
        Trace.mark("parsed and typed")
        let schema = Schema(names.indices.map { Field(name: names[$0], type: plans[$0].type) })
        let table = columns.isEmpty ? Table(emptyWith: schema) : Table(schema: schema, columns: columns.map(\.column))
        var notes: [String: String] = [:]
        for (c, r) in results.enumerated() { if let n = r.note { notes[names[c]] = n } }
        return LoadedTable(table: table, rejects: rejects, recordsRead: read, adjustedRows: adjusted, columnNotes: notes, dialect: file.dialect,
                           headerNotes: file.headerNotes, rowLines: keepLines ? rowLines : nil)
    }
}

/// A typed column built chunk by chunk in place: each type's values live in their own stored array (so appending
/// never copies), and the `Column` (whose initialiser scans the validity) is made once at the end.
struct TypedColumnAccumulator {
    private let type: DataType
    private var validity: Bitmap
    private var text = StringBuffer()
    private var integers: [Int64] = []  // integer, timestamp, money's minor units
    private var doubles: [Double] = []
    private var booleans: [Bool] = []
    private var days: [Int32] = []
    private var currency: [UInt8] = []
    private var currencies: [String] = []

    /// Starts with `first` and room for `scale` times its rows and bytes.
    init(_ first: Column, reserving scale: Double) throws(TableError) {
        type = first.type
        let room = Int(Double(first.count) * scale)
        validity = Bitmap()
        validity.reserveCapacity(room)
        switch first.storage {
        case .string(let b): text.reserveCapacity(values: room, bytes: Int(Double(b.bytes.count) * scale))
        case .integer, .timestamp: integers.reserveCapacity(room)
        case .double: doubles.reserveCapacity(room)
        case .boolean: booleans.reserveCapacity(room)
        case .date: days.reserveCapacity(room)
        case .money:
            integers.reserveCapacity(room)
            currency.reserveCapacity(room)
        }
        try append(first)
    }

    mutating func append(_ other: Column) throws(TableError) {
        guard other.type == type else {
            throw TableError.schemaMismatch("cannot append a \(other.type.rawValue) column to a \(type.rawValue) column")
        }
        if let v = other.validity { validity.append(contentsOf: v) } else { validity.append(contentsOf: Bitmap(repeating: true, count: other.count)) }
        switch other.storage {
        case .string(let b): try text.append(contentsOf: b)
        case .integer(let a), .timestamp(let a): integers.append(contentsOf: a)
        case .double(let a): doubles.append(contentsOf: a)
        case .boolean(let a): booleans.append(contentsOf: a)
        case .date(let a): days.append(contentsOf: a)
        case .money(let a, let d, let otherCodes):
            integers.append(contentsOf: a)
            Column.appendCurrencies(d, codedBy: otherCodes, to: &currency, codedBy: &currencies)
        }
    }

    var column: Column {
        let storage: ColumnStorage
        switch type {
        case .string: storage = .string(text)
        case .integer: storage = .integer(integers)
        case .timestamp: storage = .timestamp(integers)
        case .double: storage = .double(doubles)
        case .boolean: storage = .boolean(booleans)
        case .date: storage = .date(days)
        case .money: storage = .money(minor: integers, currency: currency, currencies: currencies)
        }
        return Column(storage: storage, validity: validity)
    }
}

extension Table {
    /// The rows not named in `failures` (sorted by row), in order.
    func selecting(keeping failures: [CSVFile.TypeFailure], of rowCount: Int) -> Table {
        var keep: [Int] = []
        keep.reserveCapacity(rowCount - failures.count)
        var next = 0
        for r in 0..<rowCount {
            if next < failures.count, failures[next].row == r {
                next += 1
                continue
            }
            keep.append(r)
        }
        return selecting(keep)
    }
}

/// Order-preserving parallel map on dedicated threads (see `OrderedWork` for why not the shared pool).
public enum ConcurrentMap {
    public static func map<T: Sendable, R: Sendable>(_ items: [T], threads: Int, _ body: @escaping @Sendable (T) -> R) -> [R] {
        if items.count <= 1 || threads <= 1 { return items.map(body) }
        // Every item may be in flight: all results are kept anyway, and a window of a few items let one long item at
        // the head (a high-cardinality column, the costliest comparison) hold back the items behind it.
        let work = OrderedWork<R>(threads: min(threads, items.count), limit: items.count)
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
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        let (elapsed, spent) = clock.lap(now(), cpu: cpu)
        let line = what.padding(toLength: 40, withPad: " ", startingAt: 0) + String(format: " %.3f s wall %.3f s CPU\n", elapsed, spent)
        _ = line.withCString { write(2, $0, strlen($0)) }
    }
}

final class TraceClock: @unchecked Sendable {
    // NB: `last` is guarded by `lock`.
    private let lock = NSLock()
    private var last = Trace.now()
    private var lastCPU = 0.0
    /// The wall and CPU (user plus system, the whole process) seconds since the previous mark.
    func lap(_ t: Double, cpu: Double) -> (wall: Double, cpu: Double) {
        lock.lock()
        defer { lock.unlock() }
        let d = (t - last, cpu - lastCPU)
        last = t
        lastCPU = cpu
        return d
    }
}
