import CRMFlowCore
import CRMFlowIO

/// `join`: matches rows of `left` with rows of `right` on equal keys.
public struct JoinStage: Stage {
    public static let spec = StageSpec(
        kind: "join", summary: "Match rows of left and right on equal key columns (null keys never match). inner keeps matched left rows, left keeps every left row, anti keeps the left rows without a match. Row accounting is relative to the left input; a left row matching several right rows is counted as fan-out, and many-to-many keys are reported.",
        minInputs: 2, maxInputs: 2,
        options: [
            OptionSpec("left", .scalar, required: true, isInput: true, "The stage whose rows drive the join."),
            OptionSpec("right", .scalar, required: true, isInput: true, "The stage looked up."),
            OptionSpec("on", .any, required: true, "Key columns with the same name on both sides (`[email]`), `left_column: right_column` pairs, or `{ left: [a, b], right: [c, d] }` (keys paired in order)."),
            OptionSpec("type", .scalar, default: "inner", allowed: ["inner", "left", "anti"], "Join type."),
            OptionSpec("suffix", .scalar, default: "_right", "Appended to right column names that clash with left ones."),
        ],
        example: """
        deals_with_owner:
          join: { left: deals, right: contacts, on: { contact_email: email }, type: left }
        """)

    let keys: [(left: String, right: String, location: SourceLocation)]
    let type: String
    let suffix: String

    public init?(_ config: StageConfig) {
        guard let on = config.node("on") else { return nil }
        var keys: [(String, String, SourceLocation)] = []
        if let entries = on.entries, entries.count == 2, let l = entries.first(where: { $0.key == "left" }), let r = entries.first(where: { $0.key == "right" }),
           let ls = l.value.items, let rs = r.value.items {
            // `{ left: [a, b], right: [c, d] }`: the keys pair up in order.
            guard ls.count == rs.count, !ls.isEmpty else {
                config.log.add(.invalidValue, "join 'on' pairs \(ls.count) left key\(ls.count == 1 ? "" : "s") with \(rs.count) right key\(rs.count == 1 ? "" : "s")", at: on.location,
                               hint: "give left and right the same number of columns, in matching order")
                return nil
            }
            for (a, b) in zip(ls, rs) {
                guard let x = a.scalar, let y = b.scalar else { config.log.add(.optionShape, "join keys must be column names", at: a.location); return nil }
                keys.append((x, y, a.textLocation))
            }
        } else if let entries = on.entries {
            for e in entries {
                guard let r = e.value.scalar else { config.log.add(.optionShape, "join key '\(e.key)' needs a right column name", at: e.value.location); return nil }
                keys.append((e.key, r, e.keyLocation))
            }
        } else if let s = on.scalar {
            keys.append((s, s, on.textLocation))
        } else if let items = on.items {
            for i in items {
                guard let s = i.scalar else { config.log.add(.optionShape, "join keys must be column names", at: i.location); return nil }
                keys.append((s, s, i.textLocation))
            }
        }
        if keys.isEmpty {
            config.log.add(.missingOption, "join stage '\(config.id)' needs key columns in 'on'", at: on.location)
            return nil
        }
        self.keys = keys
        type = config.choice("type") ?? "inner"
        suffix = config.string("suffix") ?? "_right"
    }

    func outputNames(_ left: [String], _ right: [String]) -> (names: [String], rightIndices: [Int]) {
        if type == "anti" { return (left, []) }
        var names = left
        var idx: [Int] = []
        for (j, n) in right.enumerated() {
            // A right key equal in name to its left key is the same value: keep one.
            if keys.contains(where: { $0.left == n && $0.right == n }) { continue }
            var name = n
            while names.contains(name) { name += suffix }
            names.append(name)
            idx.append(j)
        }
        return (names, idx)
    }

    public func outputSchema(_ inputs: [KnownSchema], _ check: SchemaCheck) -> KnownSchema {
        let left = inputs.count > 0 ? inputs[0] : nil
        let right = inputs.count > 1 ? inputs[1] : nil
        check.checkColumns(keys.map { ($0.left, $0.location) }, in: left, option: "join keys (left)")
        check.checkColumns(keys.map { ($0.right, $0.location) }, in: right, option: "join keys (right)")
        guard let left, let right else { return nil }
        for k in keys {
            if let i = left.index(of: k.left), let j = right.index(of: k.right), let a = left.types[i], let b = right.types[j], a != b {
                check.log.add(.expressionType, "join key '\(k.left)' is \(a.rawValue) on the left but '\(k.right)' is \(b.rawValue) on the right",
                              at: k.location, length: k.left.count, hint: "derive one side with cast(x as \(a.rawValue)) first")
            }
        }
        let (names, idx) = outputNames(left.names, right.names)
        return ExprSchema(names: names, types: left.types + idx.map { right.types[$0] })
    }

    public func inputColumns(forOutput needed: Set<String>?) -> [Set<String>?] {
        guard let needed else { return [nil, nil] }
        // A right column may appear with the suffix added: read the unsuffixed names too.
        var right = Set(keys.map(\.right))
        for n in needed {
            var name = n
            right.insert(name)
            while !suffix.isEmpty, name.hasSuffix(suffix) {
                name = String(name.dropLast(suffix.count))
                right.insert(name)
            }
        }
        return [needed.union(keys.map(\.left)), type == "anti" ? Set(keys.map(\.right)) : right]
    }

    public func run(_ inputs: [StageData], _ context: RunContext) throws(StageFailure) -> StageResult {
        let left = inputs[0], right = inputs[1]
        var leftKeys: [Column] = [], rightKeys: [Column] = []
        for k in keys {
            guard let l = left.table.column(named: k.left) else {
                throw StageFailure("\(k.location): join key '\(k.left)' is not a column of the left input", hint: "columns: " + left.table.schema.names.joined(separator: ", "), status: .badPipeline)
            }
            guard let r = right.table.column(named: k.right) else {
                throw StageFailure("\(k.location): join key '\(k.right)' is not a column of the right input", hint: "columns: " + right.table.schema.names.joined(separator: ", "), status: .badPipeline)
            }
            guard l.type == r.type else {
                throw StageFailure("\(k.location): join key '\(k.left)' is \(l.type.rawValue) on the left but '\(k.right)' is \(r.type.rawValue) on the right",
                                   hint: "derive one side with cast(x as \(l.type.rawValue)) first", status: .badPipeline)
            }
            leftKeys.append(l)
            rightKeys.append(r)
        }
        let rc: [Int32], lc: [Int32], distinct: Int
        if keys.count == 1, case .string(let leftText) = leftKeys[0].storage, let index = ByteKeyIndex(rightKeys[0]) {
            // One text key (the usual email or id join): index the right side, probe the left in slices on all cores.
            let leftKey = leftKeys[0]
            let slices = left.table.rowSlices(parts: context.threads)
            let parts = ConcurrentMap.map(slices, threads: context.threads) { range -> [Int32] in
                leftText.bytes.withUnsafeBufferPointer { all in
                    range.map { r in leftKey.isNull(r) ? -1 : index.code(of: UnsafeBufferPointer(rebasing: all[leftText.range(r)])) }
                }
            }
            (rc, lc, distinct) = (index.rowCodes, parts.flatMap { $0 }, index.count)
        } else {
            let (codes, n) = KeyCoding.encode([rightKeys, leftKeys], nullsMatch: false)
            (rc, lc, distinct) = (codes[0], codes[1], n)
        }
        // Right rows per key, as a CSR index (rows in order).
        let (starts, rows) = KeyCoding.rowsByCode(rc, distinct: distinct)
        var leftRows: [Int] = []
        var rightRows: [Int] = []
        leftRows.reserveCapacity(left.table.rowCount)
        rightRows.reserveCapacity(left.table.rowCount)
        var unmatched = 0, fanout = 0
        var leftUses = [Int32](repeating: 0, count: distinct)
        for (r, c) in lc.enumerated() {
            let n = c >= 0 ? Int(starts[Int(c) + 1] - starts[Int(c)]) : 0
            if c >= 0 { leftUses[Int(c)] += 1 }
            switch type {
            case "anti":
                if n == 0 { leftRows.append(r) } else { unmatched += 1 }
            default:
                if n == 0 {
                    if type == "left" {
                        leftRows.append(r)
                        rightRows.append(-1)
                    } else {
                        unmatched += 1
                    }
                } else {
                    for k in Int(starts[Int(c)])..<Int(starts[Int(c) + 1]) {
                        leftRows.append(r)
                        rightRows.append(Int(rows[k]))
                    }
                    fanout += n - 1
                }
            }
        }
        var manyToMany = 0
        for c in 0..<distinct where leftUses[c] > 1 && starts[c + 1] - starts[c] > 1 { manyToMany += 1 }
        let (names, rightIdx) = outputNames(left.table.schema.names, right.table.schema.names)
        // Every left row matched exactly once, in order: the left columns pass through without a copy.
        let isIdentity = leftRows.count == left.table.rowCount && unmatched == 0 && fanout == 0 && type != "anti"
        var columns = isIdentity ? left.table.columns : left.table.selecting(leftRows, threads: context.threads).columns
        let rightColumns = rightIdx.map { right.table.columns[$0] }
        let selectedRows = rightRows
        columns.append(contentsOf: ConcurrentMap.map(Array(rightColumns.indices), threads: rightColumns.count > 1 ? context.threads : 1) {
            rightColumns[$0].selectingOptional(selectedRows)
        })
        let types = left.table.schema.fields.map(\.type) + rightIdx.map { right.table.schema.fields[$0].type }
        let table = Table(schema: Schema(zip(names, types).map { Field(name: $0, type: $1) }), columns: columns, rowCount: leftRows.count)
        var notes: [String] = []
        if manyToMany > 0 {
            notes.append("many-to-many: \(manyToMany) key value\(manyToMany == 1 ? " matches" : "s match") several rows on both sides; each pair becomes a row")
        }
        let removed = type == "anti" ? ["matched": unmatched] : ["unmatched": unmatched]
        return StageResult(data: StageData(table: table, origins: isIdentity ? left.origins : left.origins?.selecting(leftRows)),
                           accounting: Accounting(rowsIn: left.table.rowCount, rowsOut: table.rowCount, removed: removed, added: ["join fan-out": fanout]),
                           notes: notes)
    }
}

extension Column {
    /// The rows at `indices`, where -1 gives a null.
    func selectingOptional(_ indices: [Int]) -> Column {
        guard indices.contains(-1) else { return selecting(indices) }
        var b = ColumnBuilder(type, capacity: indices.count)
        for i in indices { if i < 0 { b.appendNull() } else { b.append(value(at: i)) } }
        return b.finish()
    }
}
