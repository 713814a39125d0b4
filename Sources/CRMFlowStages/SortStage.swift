import CRMFlowCore
import CRMFlowIO

/// `sort`: orders rows by one or more keys, stably.
public struct SortStage: Stage {
    public static let spec = StageSpec(
        kind: "sort", summary: "Order rows by keys, each `column [asc|desc] [nulls first|last]` (default ascending, nulls last). Stable: equal keys keep their input order. Text sorts by code point.",
        options: [
            OptionSpec("input", .scalar, required: true, isInput: true, "The stage whose rows are sorted."),
            OptionSpec("by", .scalarOrList, required: true, "Sort keys, e.g. `[\"revenue desc\", owner]`."),
        ],
        example: """
        top_owners:
          sort: { input: revenue_by_owner, by: ["revenue desc", "owner"] }
        """)

    struct Key: Sendable {
        var column: String
        var descending: Bool
        var nullsFirst: Bool
        var location: SourceLocation
    }
    let keys: [Key]

    public init?(_ config: StageConfig) {
        guard let n = config.node("by") else { return nil }
        let items = n.items ?? (n.scalar != nil ? [n] : [])
        var keys: [Key] = []
        for item in items {
            guard let text = item.scalar else { config.log.add(.optionShape, "sort keys must be text like 'amount desc'", at: item.location); return nil }
            var words = text.split(separator: " ").map(String.init)
            var key = Key(column: "", descending: false, nullsFirst: false, location: item.textLocation)
            if words.count >= 2, words[words.count - 2].lowercased() == "nulls" {
                let w = words.removeLast().lowercased()
                words.removeLast()
                guard w == "first" || w == "last" else {
                    config.log.add(.invalidValue, "write 'nulls first' or 'nulls last' in sort key '\(text)'", at: item.textLocation, length: text.count)
                    return nil
                }
                key.nullsFirst = w == "first"
            }
            if let last = words.last?.lowercased(), last == "desc" || last == "asc" {
                key.descending = last == "desc"
                words.removeLast()
            }
            key.column = words.joined(separator: " ")
            if key.column.hasPrefix("\""), key.column.hasSuffix("\""), key.column.count >= 2 { key.column = String(key.column.dropFirst().dropLast()) }
            guard !key.column.isEmpty else { config.log.add(.invalidValue, "empty sort key", at: item.location); return nil }
            keys.append(key)
        }
        guard !keys.isEmpty else { config.log.add(.missingOption, "sort stage '\(config.id)' needs at least one key in 'by'", at: n.location); return nil }
        self.keys = keys
    }

    public func outputSchema(_ inputs: [KnownSchema], _ check: SchemaCheck) -> KnownSchema {
        let schema = inputs.first ?? nil
        check.checkColumns(keys.map { ($0.column, $0.location) }, in: schema, option: "sort keys")
        return schema
    }

    public func inputColumns(forOutput needed: Set<String>?) -> [Set<String>?] {
        [needed.map { $0.union(keys.map(\.column)) }]
    }

    public func run(_ inputs: [StageData], _ context: RunContext) throws(StageFailure) -> StageResult {
        let input = inputs[0]
        var columns: [Column] = []
        for k in keys {
            guard let c = input.table.column(named: k.column) else {
                throw StageFailure("\(k.location): sort key '\(k.column)' is not a column of the input", status: .badPipeline)
            }
            columns.append(c)
        }
        let order = Self.order(columns, keys: keys, rowCount: input.table.rowCount)
        return StageResult(data: input.selecting(order), accounting: Accounting(rowsIn: input.table.rowCount, rowsOut: input.table.rowCount))
    }

    /// Row order for the keys; ties keep input order.
    static func order(_ columns: [Column], keys: [Key], rowCount: Int) -> [Int] {
        // The first key, when numeric, is packed with the row number into one sortable array, so most comparisons
        // are of plain integers; only rows tied on it are compared on the remaining keys.
        if let packed = packedFirstKey(columns[0], keys[0], rowCount: rowCount) {
            var order = packed.sorted { $0.key != $1.key ? $0.key < $1.key : $0.row < $1.row }.map { Int($0.row) }
            if columns.count > 1 {
                var start = 0
                while start < rowCount {
                    var end = start + 1
                    while end < rowCount, packed[order[end]].key == packed[order[start]].key { end += 1 }
                    if end - start > 1 {
                        let tail = Self.order(Array(columns.dropFirst()), keys: Array(keys.dropFirst()), rows: Array(order[start..<end]))
                        order.replaceSubrange(start..<end, with: tail)
                    }
                    start = end
                }
            }
            return order
        }
        return order(columns, keys: keys, rows: Array(0..<rowCount))
    }

    /// The sort key of every row as one Int64 in ascending order (descending and null placement folded in), for
    /// integer-like columns.
    static func packedFirstKey(_ c: Column, _ key: Key, rowCount: Int) -> [(key: Int64, row: Int32)]? {
        let values: [Int64]
        switch c.storage {
        case .integer(let a), .timestamp(let a): values = a
        case .date(let a): values = a.map(Int64.init)
        case .boolean(let a): values = a.map { $0 ? 1 : 0 }
        default: return nil
        }
        // Values are clamped one step inside Int64's range so the two ends stay free for nulls.
        let nullKey: Int64 = key.nullsFirst ? Int64.min : Int64.max
        var out: [(key: Int64, row: Int32)] = []
        out.reserveCapacity(rowCount)
        for r in 0..<rowCount {
            if c.isNull(r) { out.append((nullKey, Int32(r))); continue }
            let v = min(max(values[r], Int64.min + 2), Int64.max - 2)
            out.append((key.descending ? -v : v, Int32(r)))
        }
        return out
    }

    /// Orders `rows` (ascending row numbers) by the keys; ties keep their order.
    static func order(_ columns: [Column], keys: [Key], rows: [Int]) -> [Int] {
        enum Rank { case ints([Int64]), doubles([Double]), bytes(StringBuffer, prefixes: [UInt64]), values(Column) }
        // Text keys compare their first 8 bytes as one big-endian integer first (the same order as the bytes); only
        // equal prefixes compare the whole text. Prefixes are indexed by position in `rows`.
        func prefix(_ buf: StringBuffer, _ r: Int) -> UInt64 {
            buf.withBytes(r) { p in
                var v: UInt64 = 0
                for i in 0..<8 { v = v << 8 | UInt64(i < p.count ? p[i] : 0) }
                return v
            }
        }
        let ranks: [Rank] = columns.map { c in
            switch c.storage {
            case .integer(let a), .timestamp(let a): return .ints(a)
            case .date(let a): return .ints(a.map(Int64.init))
            case .boolean(let a): return .ints(a.map { $0 ? 1 : 0 })
            case .double(let a): return .doubles(a)
            case .string(let b): return .bytes(b, prefixes: rows.map { prefix(b, $0) })
            case .money: return .values(c)
            }
        }
        // NB: `rows` is always ascending (all rows, or a run tied on the first key, which the packed sort leaves in row
        // order), so breaking ties by position keeps the input order: the sort is stable.
        var positions = Array(0..<rows.count)
        positions.sort { x, y in
            let a = rows[x], b = rows[y]
            for (k, c) in columns.enumerated() {
                let na = c.isNull(a), nb = c.isNull(b)
                if na || nb {
                    if na && nb { continue }
                    return na == keys[k].nullsFirst
                }
                var cmp: Int
                switch ranks[k] {
                case .ints(let v): cmp = v[a] < v[b] ? -1 : (v[a] > v[b] ? 1 : 0)
                case .doubles(let v): cmp = v[a] < v[b] ? -1 : (v[a] > v[b] ? 1 : 0)
                case .bytes(let buf, let prefixes):
                    let pa = prefixes[x], pb = prefixes[y]
                    cmp = pa != pb ? (pa < pb ? -1 : 1) : buf.withBytes(a) { sa in buf.withBytes(b) { sb in compareBytes(sa, sb) } }
                case .values(let col): cmp = compareValues(col.value(at: a), col.value(at: b))
                }
                if keys[k].descending { cmp = -cmp }
                if cmp != 0 { return cmp < 0 }
            }
            return x < y
        }
        return positions.map { rows[$0] }
    }
}
