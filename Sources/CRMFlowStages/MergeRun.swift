import CRMFlowCore
import CRMFlowIO
import Foundation

/// What one comparison needs of every record, computed once. A class, read-only once built: the pair loops pass one
/// reference instead of copying (and retaining) every array per comparison.
final class ComparedColumn: Sendable {
    /// Normalised text (lower case, accents folded, trimmed; digits only for phones); nil when missing.
    let text: [String?]
    let scalars: [[UInt32]]
    let number: [Double?]
    let phonetic: [String]
    let swap: [String?]
    /// Distinct words, sorted (for token ratios).
    let tokens: [[String]]
    /// Value counts, for term-frequency adjustment.
    let count: [String: Int]
    let nonNull: Int

    init(text: [String?], scalars: [[UInt32]], number: [Double?], phonetic: [String], swap: [String?], tokens: [[String]], tf: Bool) {
        self.text = text
        self.scalars = scalars
        self.number = number
        self.phonetic = phonetic
        self.swap = swap
        self.tokens = tokens
        var count: [String: Int] = [:]
        var nonNull = 0
        if tf { for t in text { if let t { count[t, default: 0] += 1; nonNull += 1 } } }
        self.count = count
        self.nonNull = nonNull
    }
}

/// A scored candidate pair.
struct ScoredPair: Sendable {
    var a: Int32
    var b: Int32
    var probability: Double
    var weight: Double
    var pattern: UInt64
}

/// One run of a `merge` stage.
struct MergeRun {
    let stage: MergeStage
    let inputs: [StageData]
    let context: RunContext

    static let nullLevel: UInt8 = 255

    // MARK: - Records

    /// Rows of every input, side by side: the first input's rows, then the second's (link mode).
    struct Records {
        var count: Int
        var leftCount: Int
        var keys: [String]
        var sources: [String?]
        var columns: [ComparedColumn]
    }

    func column(_ name: String, _ data: StageData) throws(StageFailure) -> Column {
        try stage.requireColumn(name, in: data.table, for: "merge", at: stage.location)
    }

    func records() throws(StageFailure) -> Records {
        var keys: [String] = [], sources: [String?] = []
        for data in inputs {
            let ids = try column(stage.idColumn, data)
            let src = try stage.sourceColumn.map { (name) throws(StageFailure) -> Column in try column(name, data) }
            for r in 0..<data.table.rowCount {
                let id = ids.isNull(r) ? "" : ids.value(at: r).description
                let s = src.flatMap { $0.isNull(r) ? nil : $0.value(at: r).description }
                sources.append(s)
                keys.append(s.map { "\($0):\(id)" } ?? id)
            }
        }
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
        let columns = ConcurrentMap.map(work, threads: context.threads) { c, perInput -> ComparedColumn in
            var text: [String?] = [], number: [Double?] = [], swap: [String?] = []
            let numeric = c.levels.contains { $0.isNumeric }
            for (col, other) in perInput {
                for r in 0..<col.count {
                    let v = col.value(at: r)
                    text.append(Self.normalised(v, method: c.method))
                    if numeric { number.append(v.asDouble ?? v.asDays.map(Double.init)) }
                    if let other { swap.append(Self.normalised(other.value(at: r), method: c.method)) }
                }
            }
            let needsScalars = c.levels.contains { t in
                switch t {
                case .jaroWinkler, .levenshtein, .damerau, .qgram: return true
                default: return false
                }
            }
            let scalars = needsScalars ? text.map { $0.map(StringSimilarity.scalars) ?? [] } : []
            var phonetic: [String] = []
            if c.levels.contains(.soundex) { phonetic = text.map { $0.map(StringSimilarity.soundex) ?? "" } }
            if c.levels.contains(.nysiis) { phonetic = text.map { $0.map(StringSimilarity.nysiis) ?? "" } }
            let needsTokens = c.levels.contains { if case .tokenSet = $0 { return true }; if case .tokenSort = $0 { return true }; return false }
            let tokens = needsTokens ? text.map { $0.map { Array(Set(StringSimilarity.tokens($0))).sorted() } ?? [] } : []
            return ComparedColumn(text: text, scalars: scalars, number: number, phonetic: phonetic, swap: swap, tokens: tokens, tf: c.tf)
        }
        return Records(count: keys.count, leftCount: inputs[0].table.rowCount, keys: keys, sources: sources, columns: columns)
    }

    /// Text for comparing: lower case, accents folded, inner white space collapsed; phones as digits; nil when empty.
    static func normalised(_ v: Value, method: String) -> String? {
        if v.isNull { return nil }
        var s: String
        switch v {
        case .date(let d): var b: [UInt8] = []; CivilDate.appendISO(days: Int(d), to: &b); s = String(decoding: b, as: UTF8.self)
        default: s = v.description
        }
        if method == "phone" {
            s = String(s.unicodeScalars.filter { $0.value >= 48 && $0.value <= 57 }.map(Character.init))
        } else {
            var words = Folding.fold(s).split(whereSeparator: { $0 == " " || $0 == "\t" || (method == "address" && ($0 == "," || $0 == "."))  }).map(String.init)
            if method == "address" { words = words.map { streetSuffixes[$0] ?? $0 } }
            s = words.joined(separator: " ")
        }
        return s.isEmpty ? nil : s
    }

    /// USPS street suffix abbreviations (Publication 28, Appendix C1), the common ones, so `Elm Avenue` = `Elm Ave`.
    static let streetSuffixes: [String: String] = [
        "street": "st", "avenue": "ave", "av": "ave", "road": "rd", "drive": "dr", "lane": "ln", "boulevard": "blvd", "court": "ct",
        "place": "pl", "square": "sq", "terrace": "ter", "parkway": "pkwy", "highway": "hwy", "circle": "cir", "north": "n", "south": "s",
        "east": "e", "west": "w", "apartment": "apt", "suite": "ste",
    ]

    // MARK: - Comparison levels

    /// The level of comparison `k` for records i and j: the index of the first level test that holds, the number of
    /// tests when none does, or `nullLevel` when either value is missing.
    static func level(_ k: Int, _ c: MergeStage.Comparison, _ col: ComparedColumn, _ i: Int, _ j: Int) -> UInt8 {
        guard let x = col.text[i], let y = col.text[j] else { return nullLevel }
        // Similarities computed once for all levels that test them.
        var jw: Double?, tokenSet: Double?
        for (l, test) in c.levels.enumerated() {
            let holds: Bool
            switch test {
            case .exact: holds = x == y
            case .nickname: holds = Nicknames.equivalent(x, y)
            case .swapped:
                // First and last name exchanged, each side alike (exact, a nickname or Jaro-Winkler ≥ 0.9).
                guard let si = col.swap[i], let sj = col.swap[j] else { holds = false; break }
                holds = alike(x, sj) && alike(si, y)
            case .soundex, .nysiis: holds = !col.phonetic[i].isEmpty && col.phonetic[i] == col.phonetic[j]
            case .initials:
                let a = StringSimilarity.initials(x), b = StringSimilarity.initials(y)
                holds = !a.isEmpty && (a == b || (a.count == 1 || b.count == 1) && a.first == b.first)
            case .localPart:
                let a = x.split(separator: "@").first, b = y.split(separator: "@").first
                holds = a != nil && a == b
            case .jaroWinkler(let t):
                if jw == nil { jw = StringSimilarity.jaroWinkler(col.scalars[i], col.scalars[j]) }
                holds = jw! >= t
            case .levenshtein(let d): holds = StringSimilarity.levenshteinWithin(col.scalars[i], col.scalars[j], d)
            case .damerau(let d): holds = StringSimilarity.damerauWithin(col.scalars[i], col.scalars[j], d)
            case .tokenSet(let t):
                // NB: two values with no word in common are below every token-set level (and are not scored).
                if tokenSet == nil { tokenSet = sharesToken(col.tokens[i], col.tokens[j]) ? StringSimilarity.tokenSetRatio(col.tokens[i], col.tokens[j]) : 0 }
                holds = tokenSet! >= t
            case .tokenSort(let t): holds = StringSimilarity.tokenSortRatio(col.tokens[i], col.tokens[j]) >= t
            case .qgram(let t): holds = StringSimilarity.qgramJaccard(col.scalars[i], col.scalars[j]) >= t
            case .first(let n): holds = x.count >= n && y.count >= n && x.prefix(n) == y.prefix(n)
            case .last(let n): holds = x.count >= n && y.count >= n && x.suffix(n) == y.suffix(n)
            case .within(let d):
                guard let a = col.number[i], let b = col.number[j] else { holds = false; break }
                holds = abs(a - b) <= d
            case .withinPercent(let p):
                guard let a = col.number[i], let b = col.number[j] else { holds = false; break }
                holds = abs(a - b) <= p / 100 * max(abs(a), abs(b))
            }
            if holds { return UInt8(l) }
        }
        return UInt8(c.levels.count)
    }

    /// True when two sorted word lists have a word in common.
    static func sharesToken(_ a: [String], _ b: [String]) -> Bool {
        var i = 0, j = 0
        while i < a.count && j < b.count {
            if a[i] == b[j] { return true }
            if a[i] < b[j] { i += 1 } else { j += 1 }
        }
        return false
    }

    static func alike(_ a: String, _ b: String) -> Bool {
        a == b || Nicknames.equivalent(a, b) || StringSimilarity.jaroWinkler(StringSimilarity.scalars(a), StringSimilarity.scalars(b)) >= 0.9
    }

    func pattern(_ recs: Records, _ i: Int, _ j: Int) -> UInt64 {
        var p: UInt64 = 0
        recs.columns.withUnsafeBufferPointer { columns in
            stage.comparisons.withUnsafeBufferPointer { comparisons in
                for k in 0..<comparisons.count {
                    p |= UInt64(Self.level(k, comparisons[k], columns[k], i, j)) << (8 * UInt64(k))
                }
            }
        }
        return p
    }

    static func level(of pattern: UInt64, _ k: Int) -> UInt8 { UInt8(truncatingIfNeeded: pattern >> (8 * UInt64(k))) }

    // MARK: - Blocking

    struct Blocks: Sendable {
        /// Per rule, per record: the block code (−1: no key).
        var codes: [[Int32]]
        /// Work items: (rule, members) for blocks of 2 to max_block records.
        var blocks: [(rule: Int, members: [Int32])]
        var skipped: [(rule: Int, key: String, size: Int)]
    }

    func blocks(_ recs: Records) throws(StageFailure) -> Blocks {
        // The rules' values (compiled and evaluated column-wise), then each rule's keys and blocks side by side.
        var values: [(Int, [Column])] = []
        for (r, rule) in stage.blocking.enumerated() {
            var perInput: [Column] = []
            for data in inputs {
                let compiled = try stage.compile(rule, data.table, option: "blocking", stage: context.stageID)
                perInput.append(compiled.evaluate(data.table, env: context.environment).column)
            }
            values.append((r, perInput))
        }
        let maxBlock = stage.maxBlock, link = stage.mode == "link", count = recs.count, left = recs.leftCount
        let perRule = ConcurrentMap.map(values, threads: context.threads) { r, columns -> ([Int32], [(Int, [Int32])], [(Int, String, Int)]) in
            var index: [String: Int32] = [:]
            var members: [[Int32]] = []
            var code = [Int32](repeating: -1, count: count)
            var i = 0
            for column in columns {
                for row in 0..<column.count {
                    defer { i += 1 }
                    if column.isNull(row) { continue }
                    let folded = Folding.fold(column.value(at: row).description)
                    // Trimmed of spaces without Foundation (a per-row hot path).
                    let bytes = folded.utf8
                    guard let first = bytes.firstIndex(where: { $0 != 32 }), let last = bytes.lastIndex(where: { $0 != 32 }) else { continue }
                    let k = first == bytes.startIndex && last == bytes.index(before: bytes.endIndex) ? folded : String(decoding: bytes[first...last], as: UTF8.self)
                    if let c = index[k] {
                        code[i] = c
                        members[Int(c)].append(Int32(i))
                    } else {
                        let c = Int32(members.count)
                        index[k] = c
                        members.append([Int32(i)])
                        code[i] = c
                    }
                }
            }
            var blocks: [(Int, [Int32])] = [], skipped: [(Int, String, Int)] = []
            for (c, m) in members.enumerated() where m.count >= 2 {
                if m.count > maxBlock {
                    skipped.append((r, index.first { $0.value == Int32(c) }?.key ?? "", m.count))
                } else if link {
                    // Only blocks with records on both sides give pairs.
                    if m.contains(where: { Int($0) < left }), m.contains(where: { Int($0) >= left }) { blocks.append((r, m)) }
                } else {
                    blocks.append((r, m))
                }
            }
            return (code, blocks, skipped)
        }
        return Blocks(codes: perRule.map(\.0), blocks: perRule.flatMap(\.1), skipped: perRule.flatMap(\.2))
    }

    /// Calls `visit` for every candidate pair of the blocks in `items`, each pair once: a pair that an earlier rule
    /// also blocks together is left to that rule.
    static func forEachPair(_ items: ArraySlice<(rule: Int, members: [Int32])>, codes: [[Int32]], link: Bool, leftCount: Int,
                            _ visit: (Int, Int) -> Void) {
        for (rule, members) in items {
            for x in 0..<members.count {
                let i = Int(members[x])
                for y in (x + 1)..<members.count {
                    let j = Int(members[y])
                    if link, (i < leftCount) == (j < leftCount) { continue }
                    var earlier = false
                    for q in 0..<rule where codes[q][i] >= 0 && codes[q][i] == codes[q][j] { earlier = true; break }
                    if earlier { continue }
                    visit(i, j)
                }
            }
        }
    }

    /// Work split into slices of roughly equal pair counts.
    func slices(_ blocks: Blocks) -> [Range<Int>] {
        let total = blocks.blocks.reduce(0) { $0 + $1.members.count * ($1.members.count - 1) / 2 }
        let target = max(1, total / max(1, context.threads * 8))
        var out: [Range<Int>] = []
        var start = 0, acc = 0
        for (i, b) in blocks.blocks.enumerated() {
            acc += b.members.count * (b.members.count - 1) / 2
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
                    let l = Self.level(c, self.stage.comparisons[c], recs.columns[c], i, j)
                    if l != Self.nullLevel { counts[c][Int(l)] += 1 }
                }
            }
            return counts
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

    /// Term-frequency adjustment of an exact agreement on value `v`: log2(u_exact ÷ tf(v)), within ±10 bits.
    static func tfAdjustment(_ col: ComparedColumn, value: String, uExact: Double) -> Double {
        guard col.nonNull > 0, let n = col.count[value] else { return 0 }
        let tf = Double(n) / Double(col.nonNull)
        return min(10, max(-10, log2(uExact / tf)))
    }

    func score(_ recs: Records, _ model: Model?, _ pattern: UInt64, _ i: Int, _ j: Int) -> (probability: Double, weight: Double) {
        guard let model else {
            // Rules: OR of ANDs of minimum levels.
            let hit = stage.rules.contains { rule in
                rule.allSatisfy { c, worst in
                    let l = Self.level(of: pattern, c)
                    return l != Self.nullLevel && Int(l) <= worst
                }
            }
            return hit ? (1, 1) : (0, 0)
        }
        var w = model.prior
        for (c, comparison) in stage.comparisons.enumerated() {
            let l = Self.level(of: pattern, c)
            if l == Self.nullLevel { continue }
            w += model.weights[c][Int(l)]
            if comparison.tf, l == 0, let v = recs.columns[c].text[i] {
                w += Self.tfAdjustment(recs.columns[c], value: v, uExact: model.u[c][0])
            }
        }
        return (1 / (1 + pow(2, -w)), w)
    }

    // MARK: - Run

    func run() throws(StageFailure) -> StageResult {
        Trace.mark("merge: start")
        let recs = try records()
        Trace.mark("merge: records")
        let blocks = try blocks(recs)
        Trace.mark("merge: blocks")
        let link = stage.mode == "link"
        let slices = slices(blocks)
        let items = blocks.blocks
        let codes = blocks.codes
        let leftCount = recs.leftCount
        // Pass 1: the histogram of comparison patterns over every candidate pair.
        let partials = ConcurrentMap.map(slices, threads: context.threads) { range -> ([UInt64: Int], Int) in
            var h: [UInt64: Int] = [:]
            var n = 0
            Self.forEachPair(items[range], codes: codes, link: link, leftCount: leftCount) { i, j in
                h[self.pattern(recs, i, j), default: 0] += 1
                n += 1
            }
            return (h, n)
        }
        try context.checkCancelled()
        Trace.mark("merge: pass 1")
        var histogram: [UInt64: Int] = [:]
        var pairCount = 0
        let guarded = stage.mustAgree.map { ($0, UInt8(stage.comparisons[$0].levels.count)) }
        for (h, n) in partials {
            pairCount += n
            for (p, c) in h {
                // Pairs a must_agree column rules out (households) are not evidence of what matches look like.
                if guarded.contains(where: { Self.level(of: p, $0.0) == $0.1 }) { continue }
                histogram[p, default: 0] += c
            }
        }
        let n = Double(recs.count)
        let totalPairs = link ? Double(recs.leftCount) * Double(recs.count - recs.leftCount) : n * (n - 1) / 2
        let model: Model? = stage.model == "rules" ? nil : estimate(histogram: histogram, u: randomU(recs), blockedPairs: pairCount, totalPairs: totalPairs)
        Trace.mark("merge: u and EM")
        // Pass 2: score every pair; keep those in the review band or above.
        let explainIndex = context.explainID.flatMap { id in recs.keys.firstIndex(of: id) ?? recs.keys.firstIndex { $0.hasSuffix(":" + id) } }
        let kept = ConcurrentMap.map(slices, threads: context.threads) { range -> ([ScoredPair], [ScoredPair]) in
            var out: [ScoredPair] = [], explained: [ScoredPair] = []
            Self.forEachPair(items[range], codes: codes, link: link, leftCount: leftCount) { i, j in
                let p = self.pattern(recs, i, j)
                let (prob, w) = self.score(recs, model, p, i, j)
                let pair = ScoredPair(a: Int32(i), b: Int32(j), probability: prob, weight: w, pattern: p)
                if prob >= self.stage.possible { out.append(pair) }
                if let e = explainIndex, i == e || j == e { explained.append(pair) }
            }
            return (out, explained)
        }
        try context.checkCancelled()
        Trace.mark("merge: pass 2")
        let pairs = kept.flatMap(\.0)
        let decisions = try loadDecisions(recs)
        let clustering = cluster(recs, pairs, decisions)
        Trace.mark("merge: clusters")
        var notes: [String] = []
        notes.append("\(recs.count) records, \(pairCount) candidate pairs from \(stage.blocking.count) blocking rule\(stage.blocking.count == 1 ? "" : "s")")
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
        var outputs: [String] = []
        let explanation = explainIndex.map { explain(recs, $0, kept.flatMap(\.1), clustering, model) } ?? (context.explainID.map { ["no record has id '\($0)'"] } ?? [])
        let result: StageData
        var accounting: Accounting
        if link {
            result = linkOutput(recs, clustering)
            accounting = Accounting(rowsIn: recs.count, rowsOut: recs.leftCount, removed: ["reference records": recs.count - recs.leftCount])
        } else {
            result = try golden(recs, clustering)
            accounting = Accounting(rowsIn: recs.count, rowsOut: result.table.rowCount, removed: ["merged": recs.count - result.table.rowCount])
        }
        Trace.mark("merge: output")
        outputs.append(try stage.writeSideTable(lineage(recs, clustering), suffix: "lineage", context))
        outputs.append(try stage.writeSideTable(review(recs, clustering), suffix: "review", context))
        Trace.mark("merge: side files")
        var r = StageResult(data: result, accounting: accounting, notes: notes, outputs: outputs)
        r.explanation = explanation
        return r
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
        let table = try stage.loadReference(context.inputPath(path))
        guard let a = table.column(named: "id_a"), let b = table.column(named: "id_b"), let v = table.column(named: "verdict") else {
            throw StageFailure("\(stage.location): decisions file '\(path)' needs columns id_a, id_b, verdict", hint: "verdict is merge or apart", status: .badPipeline)
        }
        var index: [String: Int] = [:]
        for (i, k) in recs.keys.enumerated() { index[k] = i }
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
        /// Best accepted pair probability per record (nil: joined by no pair).
        var best: [Double?]
        /// Pairs for review with the reason they were not merged.
        var review: [(ScoredPair, String)]
        var notes: [String]
        var accepted: [ScoredPair]
    }

    func cluster(_ recs: Records, _ pairs: [ScoredPair], _ decisions: Decisions) -> Clustering {
        var parent = Array(0..<recs.count), size = [Int](repeating: 1, count: recs.count)
        var best = [Double?](repeating: nil, count: recs.count)
        var apartOf: [Int: [Int]] = [:]
        for p in decisions.apart { apartOf[p.a, default: []].append(p.b); apartOf[p.b, default: []].append(p.a) }
        func find(_ x: Int) -> Int {
            var x = x
            while parent[x] != x { parent[x] = parent[parent[x]]; x = parent[x] }
            return x
        }
        // Members per root, to check apart decisions and must_agree columns when two clusters meet.
        var members: [Int: [Int]] = [:]
        func conflict(_ ra: Int, _ rb: Int) -> Bool {
            let small = (members[ra]?.count ?? 1) <= (members[rb]?.count ?? 1) ? ra : rb, other = small == ra ? rb : ra
            for x in members[small] ?? [small] { for y in apartOf[x] ?? [] where find(y) == other { return true } }
            return false
        }
        /// The must_agree comparison on which the two clusters differ: their records have values for it, and no
        /// record of one is alike any record of the other. A record with the value missing must not bridge two
        /// people (a household's members through a record without a first name), while one typo'd record does not
        /// keep a person apart from the rest of their records.
        func disagreement(_ ra: Int, _ rb: Int) -> Int? {
            for k in stage.mustAgree {
                let different = UInt8(stage.comparisons[k].levels.count)
                var compared = false, agreed = false
                search: for x in members[ra] ?? [ra] {
                    for y in members[rb] ?? [rb] {
                        let l = Self.level(k, stage.comparisons[k], recs.columns[k], x, y)
                        if l == Self.nullLevel { continue }
                        compared = true
                        if l < different { agreed = true; break search }
                    }
                }
                if compared && !agreed { return k }
            }
            return nil
        }
        func union(_ ra: Int, _ rb: Int) {
            let (big, small) = size[ra] >= size[rb] ? (ra, rb) : (rb, ra)
            parent[small] = big
            size[big] += size[small]
            members[big, default: [big]].append(contentsOf: members.removeValue(forKey: small) ?? [small])
        }
        var review: [(ScoredPair, String)] = []
        var accepted: [ScoredPair] = []
        var capped = 0, disagreeing = 0, keptApart = 0
        for (i, j) in decisions.merge {
            let ra = find(i), rb = find(j)
            if ra != rb { union(ra, rb) }
            best[i] = 1; best[j] = 1
        }
        let ordered = pairs.sorted { $0.weight != $1.weight ? $0.weight > $1.weight : ($0.a, $0.b) < ($1.a, $1.b) }
        for p in ordered {
            let i = Int(p.a), j = Int(p.b)
            if decisions.apart.contains(.init(i, j)) { keptApart += 1; continue }
            if p.probability < stage.threshold { review.append((p, "below threshold")); continue }
            if let k = stage.mustAgree.first(where: { Self.level(of: p.pattern, $0) == UInt8(stage.comparisons[$0].levels.count) }) {
                disagreeing += 1
                review.append((p, "\(stage.comparisons[k].column) differs (must_agree)"))
                continue
            }
            if stage.mode == "link" { accepted.append(p); continue }
            let ra = find(i), rb = find(j)
            if ra == rb { accepted.append(p); best[i] = max(best[i] ?? 0, p.probability); best[j] = max(best[j] ?? 0, p.probability); continue }
            if size[ra] + size[rb] > stage.maxCluster { capped += 1; review.append((p, "cluster would exceed max_cluster \(stage.maxCluster)")); continue }
            if !apartOf.isEmpty, conflict(ra, rb) { keptApart += 1; review.append((p, "a decision keeps these clusters apart")); continue }
            if let k = disagreement(ra, rb) {
                disagreeing += 1
                review.append((p, "\(stage.comparisons[k].column) differs within the clusters (must_agree)"))
                continue
            }
            union(ra, rb)
            accepted.append(p)
            best[i] = max(best[i] ?? 0, p.probability)
            best[j] = max(best[j] ?? 0, p.probability)
        }
        let roots = (0..<recs.count).map(find)
        var notes: [String] = []
        let clusters = Set(stage.mode == "link" ? [] : roots).count
        if stage.mode != "link" {
            let multi = Dictionary(grouping: roots, by: { $0 }).values.filter { $0.count > 1 }.count
            notes.append("\(clusters) golden records from \(recs.count) records (\(multi) with more than one record); \(review.filter { $0.1 == "below threshold" }.count) pairs for review")
        }
        if disagreeing > 0 { notes.append("\(disagreeing) likely pairs kept apart because a must_agree column differs (households)") }
        if capped > 0 { notes.append("\(capped) links not followed: the cluster would exceed max_cluster \(stage.maxCluster) (chaining guard)") }
        if keptApart > 0 || !decisions.merge.isEmpty { notes.append("decisions: \(decisions.merge.count) merged, \(keptApart) pairs kept apart") }
        if decisions.unknown > 0 { notes.append("decisions: \(decisions.unknown) rows name ids not in this run or a verdict other than merge/apart; ignored") }
        return Clustering(root: roots, best: best, review: review, notes: notes, accepted: accepted)
    }

    /// A cluster id that depends only on the smallest record id in the cluster, so re-runs on unchanged data (and
    /// clusters that only gained records) keep their ids.
    static func clusterID(_ smallestKey: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in smallestKey.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        let hex = String(h, radix: 16)
        return "G" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    func clusterIDs(_ recs: Records, _ c: Clustering) -> [Int: String] {
        var smallest: [Int: String] = [:]
        for (i, r) in c.root.enumerated() { if let s = smallest[r], s <= recs.keys[i] { continue }; smallest[r] = recs.keys[i] }
        return smallest.mapValues(Self.clusterID)
    }

    // MARK: - Outputs

    func golden(_ recs: Records, _ c: Clustering) throws(StageFailure) -> StageData {
        let data = inputs[0]
        let table = data.table
        let ids = clusterIDs(recs, c)
        var clusterMembers: [Int: [Int]] = [:]
        var order: [Int] = []
        for (i, r) in c.root.enumerated() {
            if clusterMembers[r] == nil { order.append(r) }
            clusterMembers[r, default: []].append(i)
        }
        let names = table.schema.names
        let rules = names.map { stage.survivorship[$0] ?? stage.defaultRule }
        let recentColumns = try rules.map { (rule) throws(StageFailure) -> Column? in
            try MergeStage.recentColumn(rule).map { (name) throws(StageFailure) -> Column in try column(name, data) }
        }
        let priority = Dictionary(stage.sourcePriority.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        let filled = (0..<table.rowCount).map { r in table.columns.reduce(0) { $0 + ($1.isNull(r) ? 0 : 1) } }
        var rows: [[Value]] = []
        rows.reserveCapacity(order.count)
        for root in order {
            let members = clusterMembers[root]!
            var row: [Value] = [.string(ids[root]!), .integer(Int64(members.count))]
            if stage.sourceColumn != nil {
                var seen: [String] = []
                for m in members { if let s = recs.sources[m], !seen.contains(s) { seen.append(s) } }
                row.append(.string(seen.joined(separator: "|")))
            }
            var from: [Value] = []
            for (col, column) in table.columns.enumerated() {
                let present = members.filter { !column.isNull($0) }
                var winner: Int?
                switch rules[col] {
                case "first_non_null": winner = present.first
                case "most_frequent":
                    var counts: [Value: Int] = [:]
                    for m in present { counts[column.value(at: m), default: 0] += 1 }
                    winner = present.max { a, b in
                        let (ca, cb) = (counts[column.value(at: a)]!, counts[column.value(at: b)]!)
                        return ca != cb ? ca < cb : a > b
                    }
                case "most_complete": winner = present.max { filled[$0] != filled[$1] ? filled[$0] < filled[$1] : $0 > $1 }
                case "longest": winner = present.max { let (x, y) = (column.value(at: $0).description.count, column.value(at: $1).description.count); return x != y ? x < y : $0 > $1 }
                case "source_priority":
                    winner = present.min { a, b in
                        let pa = recs.sources[a].flatMap { priority[$0] } ?? Int.max, pb = recs.sources[b].flatMap { priority[$0] } ?? Int.max
                        return pa != pb ? pa < pb : a < b
                    }
                default:
                    let by = recentColumns[col]!
                    winner = present.filter { !by.isNull($0) }.max { a, b in
                        let x = by.value(at: a), y = by.value(at: b)
                        return x != y ? compareValues(x, y) < 0 : a > b
                    } ?? present.first
                }
                row.append(winner.map { column.value(at: $0) } ?? .null)
                from.append(winner.map { .string(recs.keys[$0]) } ?? .null)
            }
            if stage.provenance { row.append(contentsOf: from) }
            rows.append(row)
        }
        var outNames = ["cluster_id", "records"] + (stage.sourceColumn != nil ? ["sources"] : []) + names
        var outTypes: [DataType] = [.string, .integer] + (stage.sourceColumn != nil ? [.string] : []) + table.schema.fields.map(\.type)
        if stage.provenance {
            outNames += names.map { "\($0)_from" }
            outTypes += names.map { _ in .string }
        }
        return StageData(table: Table(names: outNames, types: outTypes, rows: rows))
    }

    func linkOutput(_ recs: Records, _ c: Clustering) -> StageData {
        var bestMatch = [Int?](repeating: nil, count: recs.leftCount), bestProb = [Double?](repeating: nil, count: recs.leftCount)
        var bestWeight = [Double](repeating: -.infinity, count: recs.leftCount)
        for p in c.accepted {
            let (l, r) = Int(p.a) < recs.leftCount ? (Int(p.a), Int(p.b)) : (Int(p.b), Int(p.a))
            if p.weight > bestWeight[l] { bestWeight[l] = p.weight; bestMatch[l] = r; bestProb[l] = p.probability }
        }
        var t = inputs[0].table
        t = t.setting("match_id", Column.make(.string, bestMatch.map { $0.map { .string(recs.keys[$0]) } ?? .null }))
        t = t.setting("match_probability", Column.make(.double, bestProb.map { $0.map { .double(Stats.rounded($0, 6)) } ?? .null }))
        return StageData(table: t, origins: inputs[0].origins)
    }

    func lineage(_ recs: Records, _ c: Clustering) -> Table {
        let ids = clusterIDs(recs, c)
        var rows: [[Value]] = []
        var offset = 0
        for data in inputs {
            for r in 0..<data.table.rowCount {
                let i = offset + r
                let origin = data.origins?.describe(r)
                rows.append([.string(origin?.source ?? ""), origin.map { .integer(Int64($0.line)) } ?? .null, .string(recs.keys[i]),
                             stage.mode == "link" ? .null : .string(ids[c.root[i]]!), c.best[i].map { .double(Stats.rounded($0, 6)) } ?? .null])
            }
            offset += data.table.rowCount
        }
        return Table(names: ["file", "line", "id", "cluster_id", "match_probability"], types: [.string, .integer, .string, .string, .double], rows: rows)
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
            [.string(recs.keys[Int(p.a)]), .string(recs.keys[Int(p.b)]), .double(Stats.rounded(p.probability, 6)), .double(Stats.rounded(p.weight, 3)), .string(reason)]
                + stage.comparisons.indices.map { .string(levelName(p.pattern, $0)) }
        }
        return Table(names: names, types: [.string, .string, .double, .double, .string] + stage.comparisons.map { _ in .string }, rows: rows)
    }

    func explain(_ recs: Records, _ index: Int, _ pairs: [ScoredPair], _ c: Clustering, _ model: Model?) -> [String] {
        let key = recs.keys[index]
        var lines: [String] = []
        let ids = clusterIDs(recs, c)
        let size = c.root.filter { $0 == c.root[index] }.count
        lines.append(stage.mode == "link" ? "record \(key)" : "record \(key) is in cluster \(ids[c.root[index]]!) with \(size - 1) other record\(size == 2 ? "" : "s")")
        if let model { lines.append("prior weight \(String(format: "%+.2f", model.prior)) bits (the chance two random records match)") }
        if pairs.isEmpty {
            lines.append("no candidate pair: no other record shares a blocking key (\(stage.blocking.map(\.text).joined(separator: "; ")))")
            return lines
        }
        let accepted = Set(c.accepted.map { [$0.a, $0.b] })
        let reviewed = Dictionary(c.review.map { ([$0.0.a, $0.0.b], $0.1) }, uniquingKeysWith: { a, _ in a })
        for p in pairs.sorted(by: { $0.weight > $1.weight }) {
            let other = Int(p.a) == index ? Int(p.b) : Int(p.a)
            let verdict: String
            if accepted.contains([p.a, p.b]) { verdict = "merged" } else if let reason = reviewed[[p.a, p.b]] { verdict = "not merged: \(reason)" } else {
                verdict = c.root[other] == c.root[index] ? "same cluster through other records" : "not merged: probability below possible \(stage.possible)"
            }
            lines.append("with \(recs.keys[other]): probability \(String(format: "%.4f", p.probability)), weight \(String(format: "%+.2f", p.weight)) — \(verdict)")
            for (k, comparison) in stage.comparisons.enumerated() {
                let l = Self.level(of: p.pattern, k)
                let a = recs.columns[k].text[index] ?? "∅", b = recs.columns[k].text[other] ?? "∅"
                var w = ""
                if let model, l != Self.nullLevel {
                    var weight = model.weights[k][Int(l)]
                    if comparison.tf, l == 0, let v = recs.columns[k].text[index] { weight += Self.tfAdjustment(recs.columns[k], value: v, uExact: model.u[k][0]) }
                    w = String(format: " %+.2f", weight)
                } else if model != nil { w = " 0 (missing)" }
                lines.append("    \(comparison.column): '\(a)' vs '\(b)' → \(levelName(p.pattern, k))\(w)")
            }
        }
        return lines
    }
}
