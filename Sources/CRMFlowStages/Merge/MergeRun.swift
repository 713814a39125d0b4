import CRMFlowCore
import CRMFlowIO
import Foundation

/// A scored candidate pair.
struct ScoredPair: Sendable {
    var a: Int32
    var b: Int32
    var probability: Double
    var weight: Double
    var pattern: UInt64
}

/// Comparison patterns to their index in first-seen order: open addressing on the 64-bit pattern (a few thousand
/// distinct patterns meet millions of pairs; a Swift Dictionary's hashing per pair cost more than the lookup).
struct PatternTable {
    private var keys = [UInt64](repeating: 0, count: 4096)
    private var values = [UInt32](repeating: UInt32.max, count: 4096)
    private var used = 0

    /// The index of `p`, or `next` (recorded for it) when it is new.
    @inline(__always)
    mutating func index(of p: UInt64, next: UInt32) -> UInt32 {
        let mask = keys.count - 1
        var i = Int(truncatingIfNeeded: (p &* 0x9E37_79B9_7F4A_7C15) >> 40) & mask
        while values[i] != UInt32.max {
            if keys[i] == p { return values[i] }
            i = (i + 1) & mask
        }
        keys[i] = p
        values[i] = next
        used += 1
        if used * 2 > keys.count { grow() }
        return next
    }

    private mutating func grow() {
        let oldKeys = keys, oldValues = values
        keys = [UInt64](repeating: 0, count: oldKeys.count * 2)
        values = [UInt32](repeating: UInt32.max, count: oldKeys.count * 2)
        let mask = keys.count - 1
        for (k, v) in zip(oldKeys, oldValues) where v != UInt32.max {
            var i = Int(truncatingIfNeeded: (k &* 0x9E37_79B9_7F4A_7C15) >> 40) & mask
            while values[i] != UInt32.max { i = (i + 1) & mask }
            keys[i] = k
            values[i] = v
        }
    }
}

/// One run of a `merge` stage.
struct MergeRun {
    let stage: MergeStage
    let inputs: [StageData]
    let context: RunContext
    /// On Spark, one blocking partition (`crmflow worker`): the rules' keys as the keys pass gave them, the blocks
    /// this partition owns, and each record's rules whose block is larger than max_block.
    var partition: Partition? = nil

    struct Partition: Sendable {
        /// Per rule, the folded key of every record (null: none).
        var keys: [Column]
        /// Per rule, the keys of the blocks whose records were all sent to this partition.
        var owned: [Set<String>]
        /// Per record, the rules under which its block is too large (its key there counts as none).
        var oversized: [[Int]]
        /// Records in all partitions (the model's prior is a share of all pairs).
        var totalRecords: Int
    }

    static let nullLevel: UInt8 = 255

    // MARK: - Records

    /// Rows of every input, side by side: the first input's rows, then the second's (link mode).
    struct Records: Sendable {
        var count: Int
        var leftCount: Int
        /// Per record, `source:id` (or `id` without a source column).
        var keys: StringBuffer
        /// Per record, its source as an index into `sourceNames` (-1: none).
        var source: [Int32]
        var sourceNames: [String]
        var features: [Feature]

        func key(_ i: Int) -> String { keys.string(i) }
    }

    func column(_ name: String, _ data: StageData) throws(StageFailure) -> Column {
        try stage.requireColumn(name, in: data.table, for: "merge", at: stage.location)
    }

    /// Appends the text of a value (its bytes for text, its description otherwise).
    static func appendText(_ col: Column, _ r: Int, to out: inout [UInt8]) {
        if case .string(let b) = col.storage { b.withBytes(r) { out.append(contentsOf: $0) } } else { out.append(contentsOf: col.value(at: r).description.utf8) }
    }

    func records() throws(StageFailure) -> Records {
        var recs = try recordKeys()
        // Columns looked up first (a missing one is a located failure), then each comparison's features built side by side.
        var sourcesPerComparison: [[(Column, Column?)]] = []
        for c in stage.comparisons {
            var perInput: [(Column, Column?)] = []
            for data in inputs {
                perInput.append((try column(c.column, data), try c.swapWith.map { (name) throws(StageFailure) -> Column in try column(name, data) }))
            }
            sourcesPerComparison.append(perInput)
        }
        let work = Array(zip(stage.comparisons, sourcesPerComparison))
        recs.features = ConcurrentMap.map(work, threads: context.threads) { c, perInput in Feature(c, perInput) }
        return recs
    }

    /// The records' keys (`source:id`) and sources, without the comparisons' features.
    func recordKeys() throws(StageFailure) -> Records {
        var keys = StringBuffer(), source: [Int32] = []
        var sources = ByteInterner()
        var scratch: [UInt8] = []
        for data in inputs {
            let ids = try column(stage.idColumn, data)
            let src = try stage.sourceColumn.map { (name) throws(StageFailure) -> Column in try column(name, data) }
            for r in 0..<data.table.rowCount {
                scratch.removeAll(keepingCapacity: true)
                var s: Int32 = -1
                if let src, !src.isNull(r) {
                    Self.appendText(src, r, to: &scratch)
                    s = scratch.withUnsafeBufferPointer { sources.intern($0) }
                    scratch.append(UInt8(ascii: ":"))
                }
                if !ids.isNull(r) { Self.appendText(ids, r, to: &scratch) }
                source.append(s)
                scratch.withUnsafeBytes { keys.append($0) }
            }
        }
        let names = (0..<sources.count).map { sources.string(Int32($0)) }
        return Records(count: source.count, leftCount: inputs[0].table.rowCount, keys: keys, source: source, sourceNames: names, features: [])
    }

    /// Per record, its value codes of every comparison then its swap codes (-1: none), row-major: the pair loops
    /// read a record's codes from one cache line.
    static func rowCodes(_ recs: Records) -> (codes: [Int32], width: Int) {
        let k = recs.features.count, width = 2 * k
        var rows = [Int32](repeating: -1, count: recs.count * width)
        for (c, f) in recs.features.enumerated() {
            for i in 0..<recs.count { rows[i * width + c] = f.code[i] }
            if !f.swap.isEmpty { for i in 0..<recs.count { rows[i * width + k + c] = f.swap[i] } }
        }
        return (rows, width)
    }

    /// The comparison pattern of records i and j: comparison k's level in byte k. `features` are unretained
    /// references (the pair loops run millions of times; `recs` keeps the features alive); `rows` from `rowCodes`.
    @inline(__always)
    static func pattern(_ features: UnsafeBufferPointer<Unmanaged<Feature>>, _ rows: UnsafeBufferPointer<Int32>, width: Int, _ i: Int, _ j: Int) -> UInt64 {
        var p: UInt64 = 0
        let k = features.count, a = i * width, b = j * width
        for c in 0..<k {
            let l = features[c]._withUnsafeGuaranteedRef { $0.level(i, j, rows[a + c], rows[b + c], rows[a + k + c], rows[b + k + c]) }
            p |= UInt64(l) << (8 * UInt64(c))
        }
        return p
    }

    static func level(of pattern: UInt64, _ k: Int) -> UInt8 { UInt8(truncatingIfNeeded: pattern >> (8 * UInt64(k))) }

    // MARK: - Blocking

    /// One block: the records of `rule` whose key has code `code`.
    struct Block: Sendable {
        var rule: Int32
        var code: Int32
    }

    struct Blocks: Sendable {
        /// Per record, per rule (row-major: record i's codes are `rowCodes[i * rules ..< (i + 1) * rules]`): the block
        /// code, or for a sorted-neighbourhood rule the position in key order (−1: no key).
        var rowCodes: [Int32]
        /// Per rule: the sorted-neighbourhood window (0: a key rule).
        var windows: [Int]
        /// Per rule: records grouped by code (ascending within a block); block c is `order[starts[c] ..< starts[c + 1]]`.
        var order: [[Int32]]
        var starts: [[Int32]]
        /// Work items: blocks of 2 to max_block records.
        var blocks: [Block]
        var skipped: [(rule: Int, key: String, size: Int)]

        /// The number of pairs a work item gives (before pairs an earlier rule takes are left out).
        func pairs(_ b: Block) -> Int {
            let n = Int(starts[Int(b.rule)][Int(b.code) + 1] - starts[Int(b.rule)][Int(b.code)])
            let w = windows[Int(b.rule)]
            return w > 0 ? n * (w - 1) : n * (n - 1) / 2
        }
    }

    /// Lower-cased ASCII with the spaces at both ends trimmed into `out`; false when not all ASCII. One copy and one
    /// pass in place (not an append per byte: each append checked the array's uniqueness).
    static func foldKeyASCII(_ b: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) -> Bool {
        out.removeAll(keepingCapacity: true)
        var lo = 0, hi = b.count
        while lo < hi && b[lo] == 32 { lo += 1 }
        while hi > lo && b[hi - 1] == 32 { hi -= 1 }
        guard lo < hi else { return true }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: b[lo..<hi]))
        var high: UInt8 = 0
        out.withUnsafeMutableBufferPointer { o in
            for k in o.indices {
                let c = o[k]
                high |= c
                if c &- 65 < 26 { o[k] = c + 32 }
            }
        }
        return high < 0x80
    }

    /// A record's blocking key, folded and trimmed, into `scratch`; false for none (null or empty). `buffer` is the
    /// column's text storage, when it has one.
    @inline(__always)
    static func foldKey(_ column: Column, _ buffer: StringBuffer?, _ row: Int, into scratch: inout [UInt8]) -> Bool {
        if column.isNull(row) { return false }
        if !(buffer?.withBytes(row, { foldKeyASCII($0, into: &scratch) }) ?? false) {
            let folded = Folding.fold(column.value(at: row).description)
            scratch = Array(folded.utf8.drop { $0 == 32 })
            while scratch.last == 32 { scratch.removeLast() }
        }
        return !scratch.isEmpty
    }

    /// Block codes of one rule's key values (folded, trimmed; null and empty keys get none), records grouped by code.
    static func group(_ columns: [Column], count: Int) -> (codes: [Int32], order: [Int32], starts: [Int32], keys: ByteInterner) {
        var dict = ByteInterner()
        var code = [Int32](repeating: -1, count: count)
        var scratch: [UInt8] = []
        var i = 0
        for column in columns {
            let buffer: StringBuffer? = if case .string(let b) = column.storage { b } else { nil }
            for row in 0..<column.count {
                defer { i += 1 }
                if !foldKey(column, buffer, row, into: &scratch) { continue }
                code[i] = scratch.withUnsafeBufferPointer { dict.intern($0) }
            }
        }
        // Counting sort: records grouped by code, ascending within each group.
        let (starts, order) = KeyCoding.rowsByCode(code, distinct: dict.count)
        return (code, order, starts, dict)
    }

    /// The folded key of one record (rows numbered across the inputs' columns), for reports.
    static func keyText(_ columns: [Column], row: Int) -> String {
        var r = row
        for column in columns {
            if r < column.count {
                var scratch: [UInt8] = []
                let ascii: Bool = if case .string(let b) = column.storage { b.withBytes(r) { foldKeyASCII($0, into: &scratch) } } else { false }
                if ascii { return String(decoding: scratch, as: UTF8.self) }
                return Folding.fold(column.value(at: r).description).trimmingCharacters(in: .whitespaces)
            }
            r -= column.count
        }
        return ""
    }

    /// `group` for key rules, without a dictionary: each key (folded and trimmed as there) is hashed twice (64 bits
    /// each: `ByteHash.hash` and `secondHash`), the records with a key are radix-sorted by the first hash (stable, so
    /// ascending within a block), and a run of equal first hashes is one block — split by the second hash in the
    /// (never yet seen) case two keys share the first. Block codes are numbered in hash order. A dictionary of 1 M
    /// distinct keys costs a cache miss per probe and a rehash per doubling; this costs four sequential passes.
    static func groupHashed(_ columns: [Column], count: Int) -> (codes: [Int32], order: [Int32], starts: [Int32]) {
        // The second hash by record (read only within a run of equal first hashes); the records travel through the
        // sort beside their first hash, so the runs are read in order, not through an index.
        var primary: [UInt64] = [], secondary = [UInt64](repeating: 0, count: count), rows: [Int32] = []
        primary.reserveCapacity(count)
        rows.reserveCapacity(count)
        var scratch: [UInt8] = []
        var i = 0
        for column in columns {
            let buffer: StringBuffer? = if case .string(let b) = column.storage { b } else { nil }
            for row in 0..<column.count {
                defer { i += 1 }
                if !foldKey(column, buffer, row, into: &scratch) { continue }
                scratch.withUnsafeBufferPointer { key in
                    primary.append(ByteHash.hash(key))
                    secondary[i] = secondHash(key)
                }
                rows.append(Int32(i))
            }
        }
        let (sortedKeys, sorted) = radixOrder(primary, carrying: rows)
        var code = [Int32](repeating: -1, count: count)
        var order: [Int32] = [], starts: [Int32] = [0]
        order.reserveCapacity(rows.count)
        sortedKeys.withUnsafeBufferPointer { keys in
        sorted.withUnsafeBufferPointer { sorted in
        secondary.withUnsafeBufferPointer { secondary in
            // Runs of equal first hashes, read in sorted order; the second hash is looked at only within a run.
            var x = 0
            while x < sorted.count {
                var y = x + 1
                while y < sorted.count && keys[y] == keys[x] { y += 1 }
                if y - x == 1 || UnsafeBufferPointer(rebasing: sorted[(x + 1)..<y]).allSatisfy({ secondary[Int($0)] == secondary[Int(sorted[x])] }) {
                    let c = Int32(starts.count - 1)
                    for k in x..<y { code[Int(sorted[k])] = c; order.append(sorted[k]) }
                } else {
                    // Two keys with one first hash: stable by the second (records ascending), so each block stays ascending.
                    let run = UnsafeBufferPointer(rebasing: sorted[x..<y]).sorted { a, b in
                        let (p, q) = (secondary[Int(a)], secondary[Int(b)])
                        return p != q ? p < q : a < b
                    }
                    for (k, e) in run.enumerated() {
                        if k > 0, secondary[Int(e)] != secondary[Int(run[k - 1])] { starts.append(Int32(order.count)) }
                        code[Int(e)] = Int32(starts.count - 1)
                        order.append(e)
                    }
                }
                starts.append(Int32(order.count))
                x = y
            }
        }
        }
        }
        return (code, order, starts)
    }

    /// A second 64-bit hash of a key, independent of `ByteHash.hash` (a multiply–rotate per byte, then a mix).
    @inline(__always)
    static func secondHash(_ key: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0x243F_6A88_85A3_08D3 &+ UInt64(key.count)
        for b in key {
            h = (h ^ UInt64(b)) &* 0x9E37_79B9_7F4A_7C15
            h = (h << 29) | (h >> 35)
        }
        h ^= h >> 33
        h = h &* 0xFF51_AFD7_ED55_8CCD
        return h ^ (h >> 33)
    }

    /// `keys` sorted, and their indexes in that order (stable: LSD radix sort, four passes of 16 bits); with
    /// `payload` (one value per key), the payload in that order instead of the indexes.
    static func radixOrder(_ keys: [UInt64], carrying payload: [Int32]? = nil) -> (keys: [UInt64], order: [Int32]) {
        let n = keys.count
        var key = keys, nextKey = [UInt64](repeating: 0, count: n)
        var index = payload ?? (0..<n).map(Int32.init), next = [Int32](repeating: 0, count: n)
        var counts = [Int](repeating: 0, count: 1 << 16)
        for pass in 0..<4 {
            let shift = UInt64(16 * pass)
            for c in counts.indices { counts[c] = 0 }
            for v in key { counts[Int((v >> shift) & 0xFFFF)] += 1 }
            var total = 0
            for c in counts.indices { let t = counts[c]; counts[c] = total; total += t }
            key.withUnsafeBufferPointer { k in
                index.withUnsafeBufferPointer { from in
                    nextKey.withUnsafeMutableBufferPointer { toKey in
                        next.withUnsafeMutableBufferPointer { to in
                            for e in 0..<n {
                                let d = Int((k[e] >> shift) & 0xFFFF)
                                toKey[counts[d]] = k[e]
                                to[counts[d]] = from[e]
                                counts[d] += 1
                            }
                        }
                    }
                }
            }
            swap(&key, &nextKey)
            swap(&index, &next)
        }
        return (key, index)
    }

    func blocks(_ recs: Records) throws(StageFailure) -> Blocks {
        // The rules' values (compiled and evaluated column-wise), then each rule's keys and blocks side by side.
        var compiled: [(Int, [CompiledExpr])] = []
        for (r, rule) in stage.blocking.enumerated() {
            var perInput: [CompiledExpr] = []
            for data in inputs { perInput.append(try stage.compile(rule, data.table, option: "blocking", stage: context.stageID)) }
            compiled.append((r, perInput))
        }
        let maxBlock = stage.maxBlock, link = stage.mode == "link", count = recs.count, left = Int32(recs.leftCount)
        let tables = inputs.map(\.table), environment = context.environment, windows = stage.windows, partition = partition
        let perRule = ConcurrentMap.map(compiled, threads: context.threads) { r, expressions -> ([Int32], [Int32], [Int32], [Block], [(rule: Int, key: String, size: Int)]) in
            let columns = partition.map { [$0.keys[r]] } ?? zip(expressions, tables).map { e, t in e.evaluate(t, env: environment).column }
            if windows[r] > 0 {
                let (code, order, starts, keys) = Self.group(columns, count: count)
                return Self.neighbourhood(rule: r, code, order, starts, keys)
            }
            var (code, order, starts) = Self.groupHashed(columns, count: count)
            if let partition {
                // A key whose block is too large counts as none (as a skipped block's records do below).
                for (i, rules) in partition.oversized.enumerated() where rules.contains(r) { code[i] = -1 }
            }
            var blocks: [Block] = [], skipped: [(rule: Int, key: String, size: Int)] = []
            for c in 0..<(starts.count - 1) {
                let lo = Int(starts[c]), hi = Int(starts[c + 1])
                if hi - lo < 2 { continue }
                // A partition compares only the blocks it owns (the others are compared where they were sent whole).
                if let partition, !partition.owned[r].contains(Self.keyText(columns, row: Int(order[lo]))) { continue }
                if hi - lo > maxBlock {
                    skipped.append((r, Self.keyText(columns, row: Int(order[lo])), hi - lo))
                    // Its records have no key under this rule: later rules must not leave their pairs to it.
                    for x in lo..<hi { code[Int(order[x])] = -1 }
                } else if !link || (order[lo] < left && order[hi - 1] >= left) {
                    // Link mode: only blocks with records on both sides give pairs.
                    blocks.append(Block(rule: Int32(r), code: Int32(c)))
                }
            }
            return (code, order, starts, blocks, skipped)
        }
        var rowCodes = [Int32](repeating: -1, count: count * perRule.count)
        for (q, rule) in perRule.enumerated() { for i in 0..<count { rowCodes[i * perRule.count + q] = rule.0[i] } }
        return Blocks(rowCodes: rowCodes, windows: stage.windows, order: perRule.map(\.1), starts: perRule.map(\.2), blocks: perRule.flatMap(\.3),
                      skipped: perRule.flatMap(\.4))
    }

    /// A sorted-neighbourhood rule's records in key order (byte order of the folded key, then record order), each
    /// record's position in it as its code, and the order cut into work items of 1,024 starting positions.
    static func neighbourhood(rule r: Int, _ code: [Int32], _ order: [Int32], _ starts: [Int32], _ keys: ByteInterner)
        -> ([Int32], [Int32], [Int32], [Block], [(rule: Int, key: String, size: Int)]) {
        let values = keys.values
        let ranked = values.bytes.withUnsafeBufferPointer { all in
            (0..<keys.count).sorted { a, b in
                UnsafeBufferPointer(rebasing: all[values.range(a)]).lexicographicallyPrecedes(UnsafeBufferPointer(rebasing: all[values.range(b)]))
            }
        }
        var sorted: [Int32] = [], position = [Int32](repeating: -1, count: code.count)
        sorted.reserveCapacity(order.count)
        for c in ranked {
            for x in Int(starts[c])..<Int(starts[c + 1]) {
                position[Int(order[x])] = Int32(sorted.count)
                sorted.append(order[x])
            }
        }
        let chunk = 1024
        let cuts = stride(from: 0, to: sorted.count, by: chunk).map(Int32.init) + [Int32(sorted.count)]
        let blocks = (0..<(cuts.count - 1)).map { Block(rule: Int32(r), code: Int32($0)) }
        return (position, sorted, cuts, blocks, [])
    }

    /// Calls `visit` for every candidate pair of the blocks in `items`, each pair once: a pair that an earlier rule
    /// also blocks together is left to that rule.
    static func forEachPair(_ items: ArraySlice<Block>, _ b: Blocks, link: Bool, leftCount: Int, _ visit: (Int, Int, Int) -> Void) {
        // Every rule's arrays opened once for the whole slice.
        let rules = b.windows.count
        b.rowCodes.withUnsafeBufferPointer { codes in
            withBuffers(b.order) { orders in
                withBuffers(b.starts) { starts in
                    /// True when an earlier rule than `rule` pairs i and j.
                    @inline(__always) func earlier(_ rule: Int, _ i: Int, _ j: Int) -> Bool {
                        let x = i * rules, y = j * rules
                        for q in 0..<rule {
                            let a = codes[x + q], c = codes[y + q]
                            if a < 0 || c < 0 { continue }
                            let w = b.windows[q]
                            if w == 0 ? a == c : abs(Int(a) - Int(c)) < w { return true }
                        }
                        return false
                    }
                    for item in items {
                        let rule = Int(item.rule), order = orders[rule], window = b.windows[rule]
                        let lo = Int(starts[rule][Int(item.code)]), hi = Int(starts[rule][Int(item.code) + 1])
                        // A block: every pair of its records; a sorted-neighbourhood item: each record with the next
                        // window − 1 in key order.
                        let reach = window > 0 ? window - 1 : Int.max
                        for x in lo..<hi {
                            let end = window > 0 ? min(order.count, x + 1 + reach) : hi
                            for y in (x + 1)..<max(end, x + 1) {
                                let i = min(Int(order[x]), Int(order[y])), j = max(Int(order[x]), Int(order[y]))
                                if link, (i < leftCount) == (j < leftCount) { continue }
                                if earlier(rule, i, j) { continue }
                                visit(i, j, rule)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Calls `body` with every array opened as a buffer.
    static func withBuffers<T, R>(_ arrays: [[T]], _ opened: [UnsafeBufferPointer<T>] = [], _ body: ([UnsafeBufferPointer<T>]) -> R) -> R {
        if opened.count == arrays.count { return body(opened) }
        return arrays[opened.count].withUnsafeBufferPointer { withBuffers(arrays, opened + [$0], body) }
    }

    /// Work split into slices of roughly equal pair counts.
    func slices(_ blocks: Blocks) -> [Range<Int>] {
        let total = blocks.blocks.reduce(0) { $0 + blocks.pairs($1) }
        let target = max(1, total / max(1, context.threads * 8))
        var out: [Range<Int>] = []
        var start = 0, acc = 0
        for (i, b) in blocks.blocks.enumerated() {
            acc += blocks.pairs(b)
            if acc >= target { out.append(start..<(i + 1)); start = i + 1; acc = 0 }
        }
        if start < blocks.blocks.count { out.append(start..<blocks.blocks.count) }
        return out
    }

    // MARK: - Model

    struct Model: Sendable {
        /// Per comparison, per level (the last: no level matched): log2(m / u).
        var weights: [[Double]]
        var m: [[Double]]
        var u: [[Double]]
        var prior: Double
        var blockedMatchShare: Double
        var iterations: Int
    }

    /// u from random pairs: the share of each level among pairs drawn at random (smoothed so no level has 0).
    /// Drawn in 8 seeded slices side by side: the same pairs whatever the number of threads.
    func randomU(_ recs: Records) -> [[Double]] {
        let k = stage.comparisons.count
        let empty = stage.comparisons.map { [Double](repeating: 0, count: $0.levels.count + 1) }
        let n = recs.count, left = recs.leftCount, link = stage.mode == "link"
        guard n >= 2, !link || (left > 0 && n > left) else { return empty.map { row in row.map { _ in 1 / Double(row.count) } } }
        let samples = min(200_000, link ? left * (n - left) : n * (n - 1) / 2)
        let slices = 8
        let seed = stage.seed
        let parts = ConcurrentMap.map(Array(0..<slices), threads: context.threads) { slice -> [[Double]] in
            var rng = SplitMix64(seed: seed &+ UInt64(slice) &* 0x9E37_79B9)
            var counts = empty
            // Unretained references, as in the pair loops (`recs` keeps the features alive).
            let features = recs.features.map { Unmanaged.passUnretained($0) }
            for _ in 0..<(samples / slices + (slice < samples % slices ? 1 : 0)) {
                var i: Int, j: Int
                if link {
                    i = Int(rng.next() % UInt64(left))
                    j = left + Int(rng.next() % UInt64(n - left))
                } else {
                    i = Int(rng.next() % UInt64(n))
                    j = Int(rng.next() % UInt64(n - 1))
                    if j >= i { j += 1 }
                }
                for c in 0..<k {
                    let l = features[c]._withUnsafeGuaranteedRef { $0.level(i, j) }
                    if l != Self.nullLevel { counts[c][Int(l)] += 1 }
                }
            }
            return withExtendedLifetime(recs) { counts }
        }
        var counts = empty
        for p in parts { for c in 0..<k { for l in 0..<counts[c].count { counts[c][l] += p[c][l] } } }
        return counts.map { row in
            let total = row.reduce(0, +)
            return row.map { ($0 + 0.5) / (total + 0.5 * Double(row.count)) }
        }
    }

    /// Expectation–maximisation of m (and of the blocked non-matches' level shares, a nuisance) and of the share of
    /// matches among the blocked pairs, over the histogram of comparison patterns (conditional independence).
    func estimate(histogram: [UInt64: Int], u: [[Double]], blockedPairs: Int, totalPairs: Double) -> Model {
        let k = stage.comparisons.count
        let patterns = histogram.sorted { $0.key < $1.key }
        var m: [[Double]] = stage.comparisons.map { c in
            let levels = c.levels.count + 1
            // Start: matches mostly at the best levels, falling off.
            var row = (0..<levels).map { l in l == levels - 1 ? 0.05 : pow(0.5, Double(l)) }
            let s = row.reduce(0, +)
            row = row.map { $0 / s }
            return row
        }
        var nonMatch = u
        var p = 0.1
        var iterations = 0
        for it in 0..<100 {
            iterations = it + 1
            var mCount = m.map { $0.map { _ in 0.0 } }, uCount = mCount
            var matchTotal = 0.0, total = 0.0
            for (pattern, count) in patterns {
                var a = p, b = 1 - p
                for c in 0..<k {
                    let l = Self.level(of: pattern, c)
                    if l == Self.nullLevel { continue }
                    a *= m[c][Int(l)]
                    b *= nonMatch[c][Int(l)]
                }
                let g = a + b > 0 ? a / (a + b) : 0
                let n = Double(count)
                matchTotal += g * n
                total += n
                for c in 0..<k {
                    let l = Self.level(of: pattern, c)
                    if l == Self.nullLevel { continue }
                    mCount[c][Int(l)] += g * n
                    uCount[c][Int(l)] += (1 - g) * n
                }
            }
            let newP = total > 0 ? matchTotal / total : p
            var change = abs(newP - p)
            p = min(max(newP, 1e-9), 1 - 1e-9)
            for c in 0..<k {
                let ms = mCount[c].reduce(0, +), us = uCount[c].reduce(0, +)
                for l in 0..<m[c].count {
                    let nm = (mCount[c][l] + 1e-3) / (ms + 1e-3 * Double(m[c].count))
                    let nu = (uCount[c][l] + 1e-3) / (us + 1e-3 * Double(m[c].count))
                    change = max(change, abs(nm - m[c][l]))
                    m[c][l] = nm
                    nonMatch[c][l] = nu
                }
            }
            if change < 1e-6 { break }
        }
        // No level is impossible for a match: m is kept at 1% or more, so one differing value (a move, a new
        // e-mail, a typo past the fuzzy levels) costs at most about 7 bits instead of vetoing the pair (vetoes are
        // must_agree's job).
        for c in 0..<k {
            m[c] = m[c].map { max($0, 0.01) }
            let s = m[c].reduce(0, +)
            m[c] = m[c].map { $0 / s }
        }
        let weights = (0..<k).map { c in (0..<m[c].count).map { l in log2(m[c][l] / u[c][l]) } }
        let matches = p * Double(blockedPairs)
        let lambda = min(max(matches / max(totalPairs, 1), 1e-12), 1 - 1e-12)
        return Model(weights: weights, m: m, u: u, prior: log2(lambda / (1 - lambda)), blockedMatchShare: p, iterations: iterations)
    }

    /// Term-frequency adjustment of an exact agreement on the value with code `k`: log2(u_exact ÷ tf(v)), within ±10 bits.
    static func tfAdjustment(_ f: Feature, code k: Int32, uExact: Double) -> Double {
        guard f.nonNull > 0, k >= 0, f.frequency[Int(k)] > 0 else { return 0 }
        let tf = Double(f.frequency[Int(k)]) / Double(f.nonNull)
        return min(10, max(-10, log2(uExact / tf)))
    }

    /// Scores pairs from their comparison patterns: the pattern's weight once, plus term-frequency adjustments
    /// looked up per distinct value.
    struct Scorer: Sendable {
        let model: Model?
        let rules: [[Int: Int]]
        /// Per tf comparison: (index, adjustment per distinct value).
        let tf: [(Int, [Double])]
        let features: [Feature]

        init(_ stage: MergeStage, _ model: Model?, _ features: [Feature]) {
            self.model = model
            rules = stage.rules
            self.features = features
            tf = model.map { model in
                stage.comparisons.indices.filter { stage.comparisons[$0].tf }.map { c in
                    (c, (0..<features[c].distinct).map { MergeRun.tfAdjustment(features[c], code: Int32($0), uExact: model.u[c][0]) })
                }
            } ?? []
        }

        /// The weight of a pattern before term-frequency adjustments (rules: 1 for a hit, 0 otherwise).
        func base(_ pattern: UInt64) -> Double {
            guard let model else {
                // Rules: OR of ANDs of minimum levels.
                let hit = rules.contains { rule in
                    rule.allSatisfy { c, worst in
                        let l = MergeRun.level(of: pattern, c)
                        return l != MergeRun.nullLevel && Int(l) <= worst
                    }
                }
                return hit ? 1 : 0
            }
            var w = model.prior
            for c in 0..<model.weights.count {
                let l = MergeRun.level(of: pattern, c)
                if l != MergeRun.nullLevel { w += model.weights[c][Int(l)] }
            }
            return w
        }

        @inline(__always)
        func score(_ pattern: UInt64, base: Double, _ i: Int) -> (probability: Double, weight: Double) {
            guard model != nil else { return (base, base) }
            var w = base
            for (c, adjustment) in tf where MergeRun.level(of: pattern, c) == 0 { w += adjustment[Int(features[c].code[i])] }
            return (1 / (1 + pow(2, -w)), w)
        }
    }

    // MARK: - Run

    /// What resolving the records gave: the records, their blocks, the clusters and the notes so far.
    struct Resolution {
        var recs: Records
        var blocks: Blocks
        var clustering: Clustering
        var explained: [ScoredPair]
        var explainIndex: Int?
        var scorer: Scorer
        var notes: [String]
        var pairCount: Int
    }

    func run() throws(StageFailure) -> StageResult {
        let resolved = try resolve()
        let (recs, blocks, clustering, scorer) = (resolved.recs, resolved.blocks, resolved.clustering, resolved.scorer)
        let link = stage.mode == "link"
        var notes = resolved.notes
        var outputs: [String] = []
        if let truth = stage.truth {
            let evaluation = try evaluate(recs, blocks, clustering, scorer, truth: truth)
            notes += evaluation.notes
            outputs.append(try stage.writeSideTable(evaluation.misses, suffix: "misses", context, personalFrom: 7))
            Trace.mark("merge: truth")
        }
        let groups = clusters(recs, clustering)
        Trace.mark("merge: cluster groups")
        let explanation = resolved.explainIndex.map { explain(recs, $0, resolved.explained, clustering, groups, scorer) } ?? (context.explainID.map { ["no record has id '\($0)'"] } ?? [])
        let result: StageData
        var accounting: Accounting
        if link {
            result = linkOutput(recs, clustering)
            accounting = Accounting(rowsIn: recs.count, rowsOut: recs.leftCount, removed: ["reference records": recs.count - recs.leftCount])
        } else {
            result = try golden(recs, clustering, groups)
            accounting = Accounting(rowsIn: recs.count, rowsOut: result.table.rowCount, removed: ["merged": recs.count - result.table.rowCount])
        }
        Trace.mark("merge: output")
        outputs.append(try stage.writeSideTable(lineage(recs, clustering, groups), suffix: "lineage", context))
        Trace.mark("merge: lineage")
        outputs.append(try stage.writeSideTable(review(recs, clustering), suffix: "review", context, personalFrom: 5))
        Trace.mark("merge: side files")
        var r = StageResult(data: result, accounting: accounting, notes: notes, outputs: outputs)
        r.explanation = explanation
        return r
    }

    /// Blocking, the model, the scored pairs and the clusters.
    func resolve() throws(StageFailure) -> Resolution {
        Trace.mark("merge: start")
        let recs = try records()
        Trace.mark("merge: records")
        let blocks = try blocks(recs)
        Trace.mark("merge: blocks")
        let link = stage.mode == "link"
        let slices = slices(blocks)
        let items = blocks.blocks
        let leftCount = recs.leftCount
        let rows = Self.rowCodes(recs)
        // Pass 1: every candidate pair compared once; per slice its distinct patterns and each pair's pattern index
        // (4 bytes a pair, not the pair itself).
        let ruleCount = stage.blocking.count
        let compared = ConcurrentMap.map(slices, threads: context.threads) { range -> (patterns: [UInt64], counts: [Int], index: [UInt32], perRule: [Int]) in
            var seen = PatternTable(), patterns: [UInt64] = [], counts: [Int] = [], index: [UInt32] = []
            var perRule = [Int](repeating: 0, count: ruleCount)
            let features = recs.features.map { Unmanaged.passUnretained($0) }
            features.withUnsafeBufferPointer { features in
            rows.codes.withUnsafeBufferPointer { codes in
            Self.forEachPair(items[range], blocks, link: link, leftCount: leftCount) { i, j, rule in
                perRule[rule] += 1
                let p = Self.pattern(features, codes, width: rows.width, i, j)
                let k = seen.index(of: p, next: UInt32(patterns.count))
                if Int(k) == patterns.count {
                    patterns.append(p)
                    counts.append(0)
                }
                counts[Int(k)] += 1
                index.append(k)
            }
            }
            }
            return withExtendedLifetime(recs) { (patterns, counts, index, perRule) }
        }
        try context.checkCancelled()
        Trace.mark("merge: pass 1")
        var histogram: [UInt64: Int] = [:]
        var pairCount = 0
        let guarded = stage.mustAgree.map { ($0, UInt8(stage.comparisons[$0].levels.count)) }
        for part in compared {
            pairCount += part.index.count
            for (p, c) in zip(part.patterns, part.counts) {
                // Pairs a must_agree column rules out (households) are not evidence of what matches look like.
                if guarded.contains(where: { Self.level(of: p, $0.0) == $0.1 }) { continue }
                histogram[p, default: 0] += c
            }
        }
        let n = Double(partition?.totalRecords ?? recs.count)
        let totalPairs = link ? Double(recs.leftCount) * Double(recs.count - recs.leftCount) : n * (n - 1) / 2
        let model: Model? = stage.model == "rules" ? nil : estimate(histogram: histogram, u: randomU(recs), blockedPairs: pairCount, totalPairs: totalPairs)
        let scorer = Scorer(stage, model, recs.features)
        Trace.mark("merge: u and EM")
        // Pass 2: the pairs enumerated again in the same order and scored from their patterns; those in the review
        // band or above are kept.
        let explainIndex = context.explainID.flatMap { id in
            (0..<recs.count).first { recs.key($0) == id } ?? (0..<recs.count).first { recs.key($0).hasSuffix(":" + id) }
        }
        let possible = stage.possible, threshold = stage.threshold
        // Without a decisions file, a likely pair whose own must_agree values differ is decided here (counted, not
        // kept): households make up most likely pairs, and holding them would cost memory for nothing.
        let decideVetoes = stage.decisions == nil
        let kept = ConcurrentMap.map(Array(zip(slices, compared)), threads: context.threads) { range, part -> ([ScoredPair], [ScoredPair], Int) in
            var out: [ScoredPair] = [], explained: [ScoredPair] = [], vetoed = 0
            let base = part.patterns.map(scorer.base)
            let ruledOut = part.patterns.map { p in guarded.contains { Self.level(of: p, $0.0) == $0.1 } }
            var k = 0
            Self.forEachPair(items[range], blocks, link: link, leftCount: leftCount) { i, j, _ in
                let x = Int(part.index[k])
                k += 1
                let p = part.patterns[x]
                let (prob, w) = scorer.score(p, base: base[x], i)
                let pair = ScoredPair(a: Int32(i), b: Int32(j), probability: prob, weight: w, pattern: p)
                let explaining = explainIndex.map { i == $0 || j == $0 } ?? false
                if explaining { explained.append(pair) }
                guard prob >= possible else { return }
                if decideVetoes, prob >= threshold, ruledOut[x], !explaining { vetoed += 1; return }
                out.append(pair)
            }
            return (out, explained, vetoed)
        }
        try context.checkCancelled()
        Trace.mark("merge: pass 2")
        let pairs = kept.flatMap(\.0)
        let decisions = try loadDecisions(recs)
        let clustering = cluster(recs, pairs, decisions, vetoedBefore: kept.reduce(0) { $0 + $1.2 })
        Trace.mark("merge: clusters")
        var notes: [String] = []
        notes.append("\(recs.count) records, \(pairCount) candidate pairs from \(stage.blocking.count) blocking rule\(stage.blocking.count == 1 ? "" : "s")")
        if stage.blocking.count > 1 {
            // What each rule costs: the pairs it adds that no earlier rule gives.
            let perRule = compared.reduce(into: [Int](repeating: 0, count: ruleCount)) { acc, part in for r in 0..<ruleCount { acc[r] += part.perRule[r] } }
            notes.append("new pairs per blocking rule: " + perRule.enumerated().map { "\($0.offset + 1) '\(stage.blocking[$0.offset].text)' \($0.element)" }.joined(separator: "; "))
        }
        for s in blocks.skipped {
            notes.append("blocking rule \(s.rule + 1) ('\(stage.blocking[s.rule].text)'): block '\(s.key)' has \(s.size) records, more than max_block \(stage.maxBlock); not compared (a shared default value?)")
        }
        if let model {
            notes.append("model: \(model.iterations) EM iterations; \(HumanNumbers.percent(model.blockedMatchShare)) of candidate pairs are matches; prior weight \(HumanNumbers.format(model.prior)) bits")
            for (c, comparison) in stage.comparisons.enumerated() {
                let levels = (comparison.names + [MergeStage.Comparison.otherwise]).enumerated().map { l, name in
                    "\(name) \(String(format: "%+.1f", model.weights[c][l]))"
                }
                notes.append("\(comparison.column): " + levels.joined(separator: ", "))
            }
        }
        notes.append(contentsOf: clustering.notes)
        return Resolution(recs: recs, blocks: blocks, clustering: clustering, explained: kept.flatMap(\.1), explainIndex: explainIndex, scorer: scorer, notes: notes, pairCount: pairCount)
    }

    // MARK: - Decisions and clusters

    struct Decisions {
        var merge: [(Int, Int)] = []
        var apart: Set<Pair> = []
        var unknown = 0
        struct Pair: Hashable { let a: Int; let b: Int; init(_ x: Int, _ y: Int) { a = min(x, y); b = max(x, y) } }
    }

    func loadDecisions(_ recs: Records) throws(StageFailure) -> Decisions {
        var d = Decisions()
        guard let path = stage.decisions else { return d }
        var index: [String: Int] = [:]
        for i in 0..<recs.count { index[recs.key(i)] = i }
        if path == "state" {
            // Verdicts recorded with `crmflow decide` in the pipeline's state database.
            let verdicts: [(a: String, b: String, verdict: String)]
            do { verdicts = try MergeDecisions.load(from: context.stateDatabase, pipeline: context.pipelineName, stage: context.stageID) } catch {
                throw StageFailure(error)
            }
            for v in verdicts {
                guard let i = index[v.a], let j = index[v.b] else { d.unknown += 1; continue }
                if v.verdict == "merge" { d.merge.append((i, j)) } else { d.apart.insert(.init(i, j)) }
            }
            return d
        }
        let table = try stage.loadReference(context.inputPath(path))
        guard let a = table.column(named: "id_a"), let b = table.column(named: "id_b"), let v = table.column(named: "verdict") else {
            throw StageFailure("\(stage.location): decisions file '\(path)' needs columns id_a, id_b, verdict", hint: "verdict is merge or apart", status: .badPipeline)
        }
        for r in 0..<table.rowCount {
            guard let i = index[a.value(at: r).description], let j = index[b.value(at: r).description] else { d.unknown += 1; continue }
            switch v.value(at: r).description.lowercased() {
            case "merge": d.merge.append((i, j))
            case "apart": d.apart.insert(.init(i, j))
            default: d.unknown += 1
            }
        }
        return d
    }

    struct Clustering {
        var root: [Int]
        /// Best accepted pair probability per record (nan: joined by no pair).
        var best: [Double]
        /// Pairs for review with the reason they were not merged.
        var review: [(ScoredPair, String)]
        /// Pairs a must_agree column rules out (not for review; explained).
        var vetoed: [(ScoredPair, String)]
        var notes: [String]
        var accepted: [ScoredPair]
    }

    /// `vetoedBefore`: likely pairs a must_agree column ruled out that pass 2 counted instead of keeping.
    func cluster(_ recs: Records, _ pairs: [ScoredPair], _ decisions: Decisions, vetoedBefore: Int = 0) -> Clustering {
        // A record's parent, cluster size and best probability side by side: the links are taken strongest first, so
        // the records they touch are all over the table, and one cache line per record instead of three counts.
        struct Node { var parent: Int32; var size: Int32; var best: Double }
        var nodes = (0..<recs.count).map { Node(parent: Int32($0), size: 1, best: .nan) }
        var apartOf: [Int: [Int]] = [:]
        for p in decisions.apart { apartOf[p.a, default: []].append(p.b); apartOf[p.b, default: []].append(p.a) }
        func find(_ x: Int) -> Int {
            var x = x
            while Int(nodes[x].parent) != x {
                let grandparent = nodes[Int(nodes[x].parent)].parent
                nodes[x].parent = grandparent
                x = Int(grandparent)
            }
            return x
        }
        func size(_ r: Int) -> Int { Int(nodes[r].size) }
        // Members per root (empty: the root alone), to check apart decisions and must_agree columns when two clusters meet.
        var members = [[Int32]](repeating: [], count: recs.count)
        /// Calls `body` with a root's members (no array is made for a record alone).
        func withMembers<T>(_ r: Int, _ body: (UnsafeBufferPointer<Int32>) -> T) -> T {
            if members[r].isEmpty {
                var one = Int32(r)
                return withUnsafePointer(to: &one) { body(UnsafeBufferPointer(start: $0, count: 1)) }
            }
            return members[r].withUnsafeBufferPointer(body)
        }
        func conflict(_ ra: Int, _ rb: Int) -> Bool {
            let small = size(ra) <= size(rb) ? ra : rb, other = small == ra ? rb : ra
            let xs = withMembers(small) { Array($0) }
            for x in xs { for y in apartOf[Int(x)] ?? [] where find(y) == other { return true } }
            return false
        }
        /// The must_agree comparison on which the two clusters differ: their records have values for it, and no
        /// record of one is alike any record of the other. A record with the value missing must not bridge two
        /// people (a household's members through a record without a first name), while one typo'd record does not
        /// keep a person apart from the rest of their records.
        /// `pattern`: the linking pair's own (one record of each cluster): where its level agrees, the search is done.
        func disagreement(_ ra: Int, _ rb: Int, _ pattern: UInt64) -> Int? {
            withMembers(ra) { xs in
                withMembers(rb) { ys in
                    for k in stage.mustAgree {
                        let different = UInt8(stage.comparisons[k].levels.count), f = recs.features[k]
                        let own = Self.level(of: pattern, k)
                        if own != Self.nullLevel, own < different { continue }
                        var compared = false, agreed = false
                        search: for x in xs {
                            for y in ys {
                                let l = f.level(Int(x), Int(y))
                                if l == Self.nullLevel { continue }
                                compared = true
                                if l < different { agreed = true; break search }
                            }
                        }
                        if compared && !agreed { return k }
                    }
                    return nil
                }
            }
        }
        func union(_ ra: Int, _ rb: Int) {
            let (big, small) = size(ra) >= size(rb) ? (ra, rb) : (rb, ra)
            nodes[small].parent = Int32(big)
            nodes[big].size += nodes[small].size
            if members[big].isEmpty { members[big] = [Int32(big)] }
            if members[small].isEmpty { members[big].append(Int32(small)) } else {
                let moved = members[small]
                members[small] = []
                members[big].append(contentsOf: moved)
            }
        }
        func raise(_ i: Int, _ p: Double) { nodes[i].best = nodes[i].best.isNaN ? p : max(nodes[i].best, p) }
        var review: [(ScoredPair, String)] = [], vetoed: [(ScoredPair, String)] = []
        var accepted: [ScoredPair] = []
        var capped = 0, disagreeing = vetoedBefore, keptApart = 0
        for (i, j) in decisions.merge {
            let ra = find(i), rb = find(j)
            if ra != rb { union(ra, rb) }
            nodes[i].best = 1; nodes[j].best = 1
        }
        // Pairs decided on their own first (a decision keeps them apart, below threshold, a must_agree column
        // differs); the rest are linked strongest first.
        let guards = stage.mustAgree.map { ($0, UInt8(stage.comparisons[$0].levels.count)) }
        var candidates: [ScoredPair] = []
        for p in pairs {
            if !decisions.apart.isEmpty, decisions.apart.contains(.init(Int(p.a), Int(p.b))) { keptApart += 1; continue }
            if p.probability < stage.threshold { review.append((p, "below threshold")); continue }
            if let (k, _) = guards.first(where: { Self.level(of: p.pattern, $0.0) == $0.1 }) {
                // Two records whose must_agree values are unlike: a decided case (a household), counted, not sent
                // for review (explain still shows it).
                disagreeing += 1
                vetoed.append((p, "\(stage.comparisons[k].column) differs (must_agree)"))
                continue
            }
            candidates.append(p)
        }
        let stronger: (ScoredPair, ScoredPair) -> Bool = { $0.weight != $1.weight ? $0.weight > $1.weight : ($0.a, $0.b) < ($1.a, $1.b) }
        candidates.sort(by: stronger)
        for p in candidates {
            let i = Int(p.a), j = Int(p.b)
            if stage.mode == "link" { accepted.append(p); continue }
            let ra = find(i), rb = find(j)
            if ra == rb { accepted.append(p); raise(i, p.probability); raise(j, p.probability); continue }
            if size(ra) + size(rb) > stage.maxCluster { capped += 1; review.append((p, "cluster would exceed max_cluster \(stage.maxCluster)")); continue }
            if !apartOf.isEmpty, conflict(ra, rb) { keptApart += 1; review.append((p, "a decision keeps these clusters apart")); continue }
            if let k = disagreement(ra, rb, p.pattern) {
                disagreeing += 1
                review.append((p, "\(stage.comparisons[k].column) differs within the clusters (must_agree)"))
                continue
            }
            union(ra, rb)
            accepted.append(p)
            raise(i, p.probability)
            raise(j, p.probability)
        }
        let roots = (0..<recs.count).map(find)
        review.sort { stronger($0.0, $1.0) }
        var notes: [String] = []
        if stage.mode != "link" {
            var clusters = 0, multi = 0
            for r in 0..<recs.count where roots[r] == r { clusters += 1; if size(r) > 1 { multi += 1 } }
            notes.append("\(clusters) golden records from \(recs.count) records (\(multi) with more than one record); \(review.filter { $0.1 == "below threshold" }.count) pairs for review")
        }
        if disagreeing > 0 { notes.append("\(disagreeing) likely pairs kept apart because a must_agree column differs (households); those differing within the pair are not in the review file") }
        if capped > 0 { notes.append("\(capped) links not followed: the cluster would exceed max_cluster \(stage.maxCluster) (chaining guard)") }
        if keptApart > 0 || !decisions.merge.isEmpty { notes.append("decisions: \(decisions.merge.count) merged, \(keptApart) pairs kept apart") }
        if decisions.unknown > 0 { notes.append("decisions: \(decisions.unknown) rows name ids not in this run or a verdict other than merge/apart; ignored") }
        return Clustering(root: roots, best: nodes.map(\.best), review: review, vetoed: vetoed, notes: notes, accepted: accepted)
    }

    /// A cluster id that depends only on the smallest record id in the cluster, so re-runs on unchanged data (and
    /// clusters that only gained records) keep their ids: `G` and the FNV-1a hash of the key in 16 lower-case hex digits.
    static func appendClusterID(_ smallestKey: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in smallestKey { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        out.append(UInt8(ascii: "G"))
        for shift in stride(from: 60, through: 0, by: -4) {
            let d = UInt8((h >> UInt64(shift)) & 0xF)
            out.append(d < 10 ? 48 + d : 87 + d)
        }
    }

    /// Clusters in order of first appearance: each record's cluster number, each cluster's members (ascending) and
    /// id (from its smallest record key, compared byte-wise).
    struct Clusters {
        var of: [Int32]
        var starts: [Int32]
        var members: [Int32]
        /// Cluster k's id (`appendClusterID`) is value k.
        var ids: StringBuffer
        var count: Int { ids.count }
        func id(_ k: Int) -> String { ids.string(k) }
        func members(_ k: Int) -> ArraySlice<Int32> { members[Int(starts[k])..<Int(starts[k + 1])] }
    }

    func clusters(_ recs: Records, _ c: Clustering) -> Clusters {
        var number = [Int32](repeating: -1, count: recs.count), of = [Int32](repeating: 0, count: recs.count)
        var count = 0
        for i in 0..<recs.count {
            let r = c.root[i]
            if number[r] < 0 { number[r] = Int32(count); count += 1 }
            of[i] = number[r]
        }
        var starts = [Int32](repeating: 0, count: count + 1)
        for k in of { starts[Int(k) + 1] += 1 }
        for k in 0..<count { starts[k + 1] += starts[k] }
        var fill = starts, members = [Int32](repeating: 0, count: recs.count)
        for i in 0..<recs.count { members[Int(fill[Int(of[i])])] = Int32(i); fill[Int(of[i])] += 1 }
        var ids = StringBuffer()
        ids.reserveCapacity(values: count, bytes: 17 * count)
        var id: [UInt8] = []
        recs.keys.bytes.withUnsafeBufferPointer { all in
            func key(_ i: Int32) -> UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(rebasing: all[recs.keys.range(Int(i))]) }
            for k in 0..<count {
                var smallest = key(members[Int(starts[k])])
                for m in members[Int(starts[k] + 1)..<Int(starts[k + 1])] {
                    let x = key(m)
                    if x.lexicographicallyPrecedes(smallest) { smallest = x }
                }
                id.removeAll(keepingCapacity: true)
                Self.appendClusterID(smallest, to: &id)
                id.withUnsafeBytes { ids.append($0) }
            }
        }
        return Clusters(of: of, starts: starts, members: members, ids: ids)
    }

    // MARK: - Outputs

    /// A text column of record keys (nil: null).
    static func keyColumn(_ recs: Records, _ rows: [Int]) -> Column {
        var b = StringBuffer(), valid = Bitmap()
        recs.keys.bytes.withUnsafeBufferPointer { all in
            for r in rows {
                valid.append(r >= 0)
                if r >= 0 { b.append(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: all[recs.keys.range(r)]))) } else { b.appendEmpty() }
            }
        }
        return Column(storage: .string(b), validity: valid)
    }

    func golden(_ recs: Records, _ c: Clustering, _ clusters: Clusters) throws(StageFailure) -> StageData {
        let data = inputs[0]
        let table = data.table
        let names = table.schema.names
        let rules = names.map { stage.survivorship[$0] ?? stage.defaultRule }
        let recentColumns = try rules.map { (rule) throws(StageFailure) -> Column? in
            try MergeStage.recentColumn(rule).map { (name) throws(StageFailure) -> Column in try column(name, data) }
        }
        let priority: [Int] = recs.sourceNames.map { name in stage.sourcePriority.firstIndex(of: name) ?? Int.max }
        func rank(_ m: Int) -> Int { recs.source[m] < 0 ? Int.max : priority[Int(recs.source[m])] }
        var filled: [Int] = []
        if rules.contains("most_complete") { filled = (0..<table.rowCount).map { r in table.columns.reduce(0) { $0 + ($1.isNull(r) ? 0 : 1) } } }
        var columns: [Column] = [Column(storage: .string(clusters.ids), validity: nil),
                                 Column(storage: .integer((0..<clusters.count).map { Int64(clusters.starts[$0 + 1] - clusters.starts[$0]) }), validity: nil)]
        if stage.sourceColumn != nil {
            // Each cluster's sources in order of first appearance, `|`-separated, built on bytes.
            let sourceBytes = recs.sourceNames.map { Array($0.utf8) }
            var sources = StringBuffer(), seen: [Int32] = [], cell: [UInt8] = []
            for k in 0..<clusters.count {
                seen.removeAll(keepingCapacity: true)
                cell.removeAll(keepingCapacity: true)
                for m in clusters.members(k) where recs.source[Int(m)] >= 0 && !seen.contains(recs.source[Int(m)]) {
                    if !seen.isEmpty { cell.append(UInt8(ascii: "|")) }
                    seen.append(recs.source[Int(m)])
                    cell.append(contentsOf: sourceBytes[Int(recs.source[Int(m)])])
                }
                cell.withUnsafeBytes { sources.append($0) }
            }
            columns.append(Column(storage: .string(sources), validity: nil))
        }
        var provenance: [Column] = []
        // Column by column: the winning record of each cluster (its first member when no member has a value), then
        // the winners' values gathered at once.
        for (col, column) in table.columns.enumerated() {
            var winners = [Int](repeating: 0, count: clusters.count), from = [Int](repeating: -1, count: clusters.count)
            for k in 0..<clusters.count {
                let members = clusters.members(k)
                let first = Int(members.first!)
                winners[k] = first
                if members.count == 1 {
                    if !column.isNull(first) { from[k] = first }
                    continue
                }
                var winner: Int?
                switch rules[col] {
                case "first_non_null":
                    winner = members.first { !column.isNull(Int($0)) }.map(Int.init)
                    if let winner { winners[k] = winner; from[k] = winner }
                    continue
                case "source_priority":
                    for m in members where !column.isNull(Int(m)) {
                        if let w = winner, rank(w) <= rank(Int(m)) { continue }
                        winner = Int(m)
                    }
                    if let winner { winners[k] = winner; from[k] = winner }
                    continue
                default: break
                }
                let present = members.map(Int.init).filter { !column.isNull($0) }
                switch rules[col] {
                case "first_non_null", "source_priority": break
                case "most_frequent":
                    var counts: [Value: Int] = [:]
                    for m in present { counts[column.value(at: m), default: 0] += 1 }
                    winner = present.max { a, b in
                        let (ca, cb) = (counts[column.value(at: a)]!, counts[column.value(at: b)]!)
                        return ca != cb ? ca < cb : a > b
                    }
                case "most_complete": winner = present.max { filled[$0] != filled[$1] ? filled[$0] < filled[$1] : $0 > $1 }
                case "longest": winner = present.max { let (x, y) = (column.value(at: $0).description.count, column.value(at: $1).description.count); return x != y ? x < y : $0 > $1 }
                default:
                    let by = recentColumns[col]!
                    winner = present.filter { !by.isNull($0) }.max { a, b in
                        let x = by.value(at: a), y = by.value(at: b)
                        return x != y ? compareValues(x, y) < 0 : a > b
                    } ?? present.first
                }
                if let winner { winners[k] = winner; from[k] = winner }
            }
            columns.append(column.selecting(winners))
            if stage.provenance { provenance.append(Self.keyColumn(recs, from)) }
        }
        columns += provenance
        var outNames = ["cluster_id", "records"] + (stage.sourceColumn != nil ? ["sources"] : []) + names
        if stage.provenance { outNames += names.map { "\($0)_from" } }
        let fields = zip(outNames, columns).map { Field(name: $0, type: $1.type) }
        return StageData(table: Table(schema: Schema(fields), columns: columns))
    }

    /// In link mode, each new record's best accepted existing record (-1: none) and that pair's probability; an
    /// existing record gets the new record it matched best, if any.
    func bestLinks(_ recs: Records, _ c: Clustering) -> (match: [Int], probability: [Double?]) {
        var bestMatch = [Int](repeating: -1, count: recs.count), bestProb = [Double?](repeating: nil, count: recs.count)
        var bestWeight = [Double](repeating: -.infinity, count: recs.count)
        for p in c.accepted {
            let (l, r) = Int(p.a) < recs.leftCount ? (Int(p.a), Int(p.b)) : (Int(p.b), Int(p.a))
            guard l < recs.leftCount, r >= recs.leftCount else { continue }
            if p.weight > bestWeight[l] { bestWeight[l] = p.weight; bestMatch[l] = r; bestProb[l] = p.probability }
            if p.weight > bestWeight[r] { bestWeight[r] = p.weight; bestMatch[r] = l; bestProb[r] = p.probability }
        }
        return (bestMatch, bestProb)
    }

    func linkOutput(_ recs: Records, _ c: Clustering) -> StageData {
        let (match, probability) = bestLinks(recs, c)
        var t = inputs[0].table
        t = t.setting("match_id", Self.keyColumn(recs, Array(match.prefix(recs.leftCount))))
        t = t.setting("match_probability", Column.make(.double, probability.prefix(recs.leftCount).map { $0.map { .double(Stats.rounded($0, 6)) } ?? .null }))
        return StageData(table: t, origins: inputs[0].origins)
    }

    /// Every input record: where it came from, its cluster (dedupe: the golden record's cluster_id; link: the existing
    /// record a new record joined, an existing record's own id), and the probability of its best accepted match; a
    /// blank probability means the record matched no other one (a cluster of its own, or a new record left unlinked).
    func lineage(_ recs: Records, _ c: Clustering, _ clusters: Clusters) -> Table {
        // Built column by column on bytes (a million rows: no Value or String per row).
        let ids = stage.mode == "link" ? nil : clusters
        let links = stage.mode == "link" ? bestLinks(recs, c) : nil
        var file = StringBuffer(), line = [Int64](), lineValid = Bitmap()
        line.reserveCapacity(recs.count)
        for data in inputs {
            let n = data.table.rowCount
            guard let origins = data.origins else {
                for _ in 0..<n { file.appendEmpty(); line.append(0); lineValid.append(false) }
                continue
            }
            for r in 0..<n {
                let s = Int(origins.source[r])
                if s < origins.sources.count { file.append(origins.sources[s]) } else { file.appendEmpty() }
                line.append(Int64(origins.line[r]))
                lineValid.append(true)
            }
        }
        var cluster = StringBuffer(), clusterValid = Bitmap(), probability = [Double](), probabilityValid = Bitmap()
        probability.reserveCapacity(recs.count)
        if let ids {
            cluster.reserveCapacity(values: recs.count, bytes: 17 * recs.count)
            for i in 0..<recs.count {
                ids.ids.withBytes(Int(ids.of[i])) { cluster.append(UnsafeRawBufferPointer($0)) }
                clusterValid.append(true)
                let p = c.best[i]
                probability.append(p.isNaN ? 0 : Stats.rounded(p, 6))
                probabilityValid.append(!p.isNaN)
            }
        } else if let links {
            recs.keys.bytes.withUnsafeBufferPointer { all in
                func key(_ r: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: all[recs.keys.range(r)])) }
                for i in 0..<recs.count {
                    // An existing record is its own cluster; a new record joins the one it matched, or none.
                    let target = i >= recs.leftCount ? i : links.match[i]
                    if target >= 0 { cluster.append(key(target)) } else { cluster.appendEmpty() }
                    clusterValid.append(target >= 0)
                    let p = links.probability[i]
                    probability.append(p.map { Stats.rounded($0, 6) } ?? 0)
                    probabilityValid.append(p != nil)
                }
            }
        }
        let columns = [Column(storage: .string(file), validity: nil), Column(storage: .integer(line), validity: lineValid),
                       Self.keyColumn(recs, Array(0..<recs.count)), Column(storage: .string(cluster), validity: clusterValid),
                       Column(storage: .double(probability), validity: probabilityValid)]
        let names = ["file", "line", "id", "cluster_id", "match_probability"]
        return Table(schema: Schema(zip(names, columns).map { Field(name: $0, type: $1.type) }), columns: columns)
    }

    func levelName(_ pattern: UInt64, _ k: Int) -> String {
        let l = Self.level(of: pattern, k)
        if l == Self.nullLevel { return "missing" }
        let names = stage.comparisons[k].names
        return Int(l) < names.count ? names[Int(l)] : MergeStage.Comparison.otherwise
    }

    func review(_ recs: Records, _ c: Clustering) -> Table {
        let names = ["id_a", "id_b", "probability", "weight", "reason"] + stage.comparisons.map(\.column)
        let rows: [[Value]] = c.review.map { p, reason in
            [.string(recs.key(Int(p.a))), .string(recs.key(Int(p.b))), .double(Stats.rounded(p.probability, 6)), .double(Stats.rounded(p.weight, 3)), .string(reason)]
                + stage.comparisons.indices.map { .string(levelName(p.pattern, $0)) }
        }
        return Table(names: names, types: [.string, .string, .double, .double, .string] + stage.comparisons.map { _ in .string }, rows: rows)
    }

    func explain(_ recs: Records, _ index: Int, _ pairs: [ScoredPair], _ c: Clustering, _ clusters: Clusters, _ scorer: Scorer) -> [String] {
        let key = recs.key(index)
        var lines: [String] = []
        let mine = Int(clusters.of[index])
        let size = Int(clusters.starts[mine + 1] - clusters.starts[mine])
        lines.append(stage.mode == "link" ? "record \(key)" : "record \(key) is in cluster \(clusters.id(mine)) with \(size - 1) other record\(size == 2 ? "" : "s")")
        if let model = scorer.model { lines.append("prior weight \(String(format: "%+.2f", model.prior)) bits (the chance two random records match)") }
        if pairs.isEmpty {
            lines.append("no candidate pair: no other record shares a blocking key (\(stage.blocking.map(\.text).joined(separator: "; ")))")
            return lines
        }
        let accepted = Set(c.accepted.map { [$0.a, $0.b] })
        let reviewed = Dictionary((c.review + c.vetoed).map { ([$0.0.a, $0.0.b], $0.1) }, uniquingKeysWith: { a, _ in a })
        for p in pairs.sorted(by: { $0.weight > $1.weight }) {
            let other = Int(p.a) == index ? Int(p.b) : Int(p.a)
            let verdict: String
            if accepted.contains([p.a, p.b]) { verdict = "merged" } else if let reason = reviewed[[p.a, p.b]] { verdict = "not merged: \(reason)" } else {
                verdict = c.root[other] == c.root[index] ? "same cluster through other records" : "not merged: probability below possible \(stage.possible)"
            }
            lines.append("with \(recs.key(other)): probability \(String(format: "%.4f", p.probability)), weight \(String(format: "%+.2f", p.weight)) — \(verdict)")
            for (k, comparison) in stage.comparisons.enumerated() {
                let l = Self.level(of: p.pattern, k)
                let f = recs.features[k]
                let a = f.text(index) ?? "∅", b = f.text(other) ?? "∅"
                var w = ""
                if let model = scorer.model, l != Self.nullLevel {
                    var weight = model.weights[k][Int(l)]
                    if comparison.tf, l == 0 { weight += Self.tfAdjustment(f, code: f.code[index], uExact: model.u[k][0]) }
                    w = String(format: " %+.2f", weight)
                } else if scorer.model != nil { w = " 0 (missing)" }
                lines.append("    \(comparison.column): '\(a)' vs '\(b)' → \(levelName(p.pattern, k))\(w)")
            }
        }
        return lines
    }
}
