import CRMFlowCore
import CRMFlowIO

/// What one step of a `clean` stage did to one column: the change report's line.
public struct CleanChange: Sendable, Hashable {
    /// 1-based position of the step in `steps:`.
    public var step: Int
    public var kind: String
    public var column: String
    /// Non-null values the step looked at.
    public var examined: Int
    public var changed: Int
    /// Values turned into null (invalid values with `on_invalid: null`).
    public var nulled: Int
    /// Rows sent to the rejects because of this step and column.
    public var rejected: Int
    /// Invalid values kept as written (`on_invalid: keep`).
    public var invalidKept: Int
    /// Rows removed as duplicates (dedupe).
    public var deduplicated: Int
    /// A few `before → after` examples (masked for personal data with `--mask-pii`).
    public var samples: [Sample]
    /// Findings, e.g. the date order detected and the evidence for it.
    public var notes: [String]

    public struct Sample: Sendable, Hashable {
        public var before: String
        public var after: String
    }

    public init(step: Int, kind: String, column: String) {
        self.step = step
        self.kind = kind
        self.column = column
        examined = 0; changed = 0; nulled = 0; rejected = 0; invalidKept = 0; deduplicated = 0
        samples = []
        notes = []
    }

    public var isEmpty: Bool { changed == 0 && nulled == 0 && rejected == 0 && invalidKept == 0 && deduplicated == 0 && notes.isEmpty }
}

/// How a step treats a value it finds invalid.
enum InvalidPolicy: String, Sendable {
    /// The row goes to the rejects with the reason.
    case reject
    /// The value becomes null; the row stays.
    case null
    /// The value is kept as written; the row stays (counted).
    case keep
}

/// What a cell transform made of one value.
enum CellStatus {
    case unchanged
    case changed
    case null
    case invalid(String)
}

/// Outputs of one cell: the main value and any extra columns (extension, key, currency, …).
struct CellWriter {
    var main: [UInt8] = []
    var extra: [[UInt8]]
    var extraSet: [Bool]
    /// What the change report shows as "after" when it is not the main value (a name split into parts).
    var sample: String?
    /// The report still wants examples (so a transform builds `sample` only then).
    var wantsSample = true
    /// Scratch space a transform reuses from row to row. (Kept here, in the writer passed `inout`, rather than in
    /// variables its closure captures: captured variables are boxed and checked for exclusive access on every use.)
    var scratch: [UInt8] = []
    var names = PersonNames.Buffers()

    init(extras: Int) {
        extra = [[UInt8]](repeating: [], count: extras)
        extraSet = [Bool](repeating: false, count: extras)
    }

    mutating func reset() {
        main.removeAll(keepingCapacity: true)
        sample = nil
        for i in extra.indices {
            extra[i].removeAll(keepingCapacity: true)
            extraSet[i] = false
        }
    }

    mutating func setMain(_ s: String) {
        main.removeAll(keepingCapacity: true)
        main.append(contentsOf: s.utf8)
    }

    mutating func setExtra(_ i: Int, _ s: String?) {
        extra[i].removeAll(keepingCapacity: true)
        guard let s else { extraSet[i] = false; return }
        extra[i].append(contentsOf: s.utf8)
        extraSet[i] = true
    }
}

/// The result of mapping one text column.
struct TextMapResult {
    var main: Column
    var extras: [Column]
    /// Rows (of the mapped table) whose value was invalid under `reject`, with the reason.
    var invalid: [(row: Int, reason: String)]
    var change: CleanChange
}

enum TextMapper {
    static let sampleLimit = 3

    /// Applies `makeBody()`'s transform to every non-null value of a text column, in row slices on `threads` threads.
    /// Unchanged values are copied; `extras` extra text columns are filled where the transform sets them (an extra
    /// of an unchanged, null or invalid value is null unless set).
    static func map(_ column: Column, extras: Int, threads: Int, policy: InvalidPolicy, dead: [Bool]? = nil, change: CleanChange,
                    mask: (@Sendable (String) -> String)?,
                    makeBody: @escaping @Sendable () -> (Int, UnsafeBufferPointer<UInt8>, inout CellWriter) -> CellStatus) -> TextMapResult {
        let text = column.type == .string ? column : column.converted(to: .string)
        guard case .string(let buffer) = text.storage else { fatalError("text column expected") }
        let slices = threads > 1 ? RowSlices.ranges(count: text.count, parts: threads * 4, minimumRows: 25_000) : [0..<text.count]
        struct Part: Sendable {
            var main: StringBuffer
            var mainValid: Bitmap
            var extras: [StringBuffer]
            var extraValid: [Bitmap]
            var invalid: [(Int, String)]
            var change: CleanChange
            /// Every value of the slice came out as it went in: the main column is the input's (nothing was built).
            var untouched = true
        }
        let parts = ConcurrentMap.map(slices, threads: threads) { range -> Part in
            let body = makeBody()
            var part = Part(main: StringBuffer(), mainValid: Bitmap(), extras: [StringBuffer](repeating: StringBuffer(), count: extras),
                            extraValid: [Bitmap](repeating: Bitmap(), count: extras), invalid: [], change: change)
            part.main.reserveCapacity(values: range.count, bytes: Int(buffer.offsets[range.upperBound] - buffer.offsets[range.lowerBound]) + 16)
            part.mainValid.reserveCapacity(range.count)
            var writer = CellWriter(extras: extras)
            buffer.bytes.withUnsafeBufferPointer { all in
                // Until a value changes, nothing is copied; the rows before the first change are copied then.
                func materialize(_ part: inout Part, upTo row: Int) {
                    part.untouched = false
                    for r in range.lowerBound..<row {
                        if text.isNull(r) { part.main.appendEmpty() } else { part.main.append(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(all)[buffer.range(r)])) }
                        part.mainValid.append(!text.isNull(r))
                    }
                }
                for row in range {
                    if dead?[row] == true {
                        // A row already rejected or removed: kept as it is (it leaves the table after this step).
                        if !part.untouched {
                            if text.isNull(row) { part.main.appendEmpty() } else { part.main.append(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(all)[buffer.range(row)])) }
                        }
                        if !part.untouched { part.mainValid.append(!text.isNull(row)) }
                        for e in 0..<extras { part.extras[e].appendEmpty(); part.extraValid[e].append(false) }
                        continue
                    }
                    if text.isNull(row) {
                        if !part.untouched {
                            part.main.appendEmpty()
                            part.mainValid.append(false)
                        }
                        for e in 0..<extras { part.extras[e].appendEmpty(); part.extraValid[e].append(false) }
                        continue
                    }
                    let cell = UnsafeBufferPointer(rebasing: all[buffer.range(row)])
                    writer.reset()
                    writer.wantsSample = part.change.samples.count < sampleLimit
                    part.change.examined += 1
                    let status = body(row, cell, &writer)
                    var outputNull = false
                    if part.untouched {
                        switch status {
                        case .unchanged: break
                        case .invalid where policy != .null: break
                        default: materialize(&part, upTo: row)
                        }
                    }
                    switch status {
                    case .unchanged:
                        if !part.untouched { part.main.append(UnsafeRawBufferPointer(cell)) }
                    case .changed:
                        writer.main.withUnsafeBytes { part.main.append($0) }
                        part.change.changed += 1
                        if part.change.samples.count < sampleLimit {
                            let before = String(decoding: cell, as: UTF8.self)
                            let after = writer.sample ?? String(decoding: writer.main, as: UTF8.self)
                            part.change.samples.append(.init(before: mask?(before) ?? before, after: mask?(after) ?? after))
                        }
                    case .null:
                        part.main.appendEmpty()
                        outputNull = true
                        part.change.nulled += 1
                    case .invalid(let reason):
                        switch policy {
                        case .reject:
                            part.invalid.append((row, reason))
                            if !part.untouched { part.main.append(UnsafeRawBufferPointer(cell)) }
                        case .null:
                            part.main.appendEmpty()
                            outputNull = true
                            part.change.nulled += 1
                            for e in 0..<extras { writer.extraSet[e] = false }
                        case .keep:
                            if !part.untouched { part.main.append(UnsafeRawBufferPointer(cell)) }
                            part.change.invalidKept += 1
                            for e in 0..<extras { writer.extraSet[e] = false }
                        }
                    }
                    if !part.untouched { part.mainValid.append(!outputNull) }
                    for e in 0..<extras {
                        if writer.extraSet[e] {
                            writer.extra[e].withUnsafeBytes { part.extras[e].append($0) }
                            part.extraValid[e].append(true)
                        } else {
                            part.extras[e].appendEmpty()
                            part.extraValid[e].append(false)
                        }
                    }
                }
            }
            return part
        }
        var change = change
        var invalid: [(row: Int, reason: String)] = []
        for p in parts {
            change.examined += p.change.examined
            change.changed += p.change.changed
            change.nulled += p.change.nulled
            change.invalidKept += p.change.invalidKept
            for s in p.change.samples where change.samples.count < sampleLimit { change.samples.append(s) }
            invalid.append(contentsOf: p.invalid.map { (row: $0.0, reason: $0.1) })
        }
        change.rejected = invalid.count
        func joined(_ buffers: [StringBuffer], _ bitmaps: [Bitmap]) -> Column {
            let columns = zip(buffers, bitmaps).map { Column(storage: .string($0), validity: $1) }
            if columns.count == 1 { return columns[0] }
            // NB: a column over 4 GiB of text fails in concatenation; a clean stage keeps sizes of its input.
            return (try? Column.concatenating(columns)) ?? columns[0]
        }
        let main: Column
        if parts.allSatisfy(\.untouched) {
            main = text
        } else {
            let built = zip(parts, slices).map { p, range -> Column in p.untouched ? text.slice(range) : Column(storage: .string(p.main), validity: p.mainValid) }
            main = built.count == 1 ? built[0] : ((try? Column.concatenating(built)) ?? built[0])
        }
        let extraColumns = (0..<extras).map { e in joined(parts.map { $0.extras[e] }, parts.map { $0.extraValid[e] }) }
        return TextMapResult(main: main, extras: extraColumns, invalid: invalid, change: change)
    }
}

