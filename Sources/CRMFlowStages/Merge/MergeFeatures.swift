import CRMFlowCore
import Foundation

/// What one comparison needs of every record, computed once: each record's normalised value as a code into a
/// dictionary of the column's distinct values, and per distinct value what the level tests look at (its bytes,
/// phonetic codes, nickname groups, words). The pair loops compare codes and bytes, never `String`s, and nothing is
/// allocated or retained per pair. Read-only once built (the byte arena is owned and freed here).
final class Feature: @unchecked Sendable {
    /// The level tests, in order (owned memory: iterating it per pair retains nothing).
    private let tests: UnsafeMutableBufferPointer<MergeStage.Test>
    /// Per record: the code of its normalised value (-1: missing).
    let code: [Int32]
    /// Per record: the `swap_with` column's value, coded in this dictionary (empty without `swap_with`).
    let swap: [Int32]
    /// Per record: the value as a number or a day count (nan: none); empty unless a level is numeric.
    let number: [Double]
    /// Distinct values' bytes: value `c` is `bytes[starts[c] ..< starts[c + 1]]`.
    private let bytes: UnsafeMutableBufferPointer<UInt8>
    private let starts: UnsafeMutableBufferPointer<Int32>
    /// Per distinct value: only ASCII bytes (compared byte-wise; others as Unicode scalars).
    let ascii: [Bool]
    let soundex: [Int32], nysiis: [Int32], localPart: [Int32]
    /// Double Metaphone primary and alternate keys of each distinct value, as codes (-1: none).
    let metaphone: [Int32], metaphoneAlternate: [Int32]
    /// Per distinct value: its words' first letters, and whether it is only initials (`J.`, `J P`), when a level
    /// compares initials.
    let initials: [String], abbreviated: [Bool]
    /// Per distinct value: an ISO date `YYYY-MM-DD` as y·10⁴ + m·10² + d (-1: not one), when a level needs the parts.
    let dateParts: [Int32]
    /// Nickname groups of distinct value `c`: `nickGroups[nickStart[c] ..< nickStart[c + 1]]`.
    let nickStart: [Int32], nickGroups: [Int32]
    /// Distinct words of value `c`, as word ids in byte order: `tokenIDs[tokenStart[c] ..< tokenStart[c + 1]]`.
    let tokenStart: [Int32], tokenIDs: [Int32]
    let words: StringBuffer
    let wordLengths: [Int32]
    /// Per distinct value: how many records hold it (term frequencies), when `tf`.
    let frequency: [Int32]
    let nonNull: Int

    var distinct: Int { starts.count - 1 }

    deinit {
        tests.deallocate()
        bytes.deallocate()
        starts.deallocate()
    }

    /// Builds the feature of comparison `c` from its column (and `swap_with` column) in each input, in input order.
    init(_ c: MergeStage.Comparison, _ perInput: [(Column, Column?)]) {
        tests = .allocate(capacity: c.levels.count)
        _ = tests.initialize(from: c.levels)
        var dict = ByteInterner()
        var scratch: [UInt8] = []
        var code: [Int32] = [], swap: [Int32] = [], number: [Double] = []
        let numeric = c.levels.contains { $0.isNumeric }
        for (col, other) in perInput {
            code.reserveCapacity(code.count + col.count)
            // The distinct share of the first rows sizes the dictionary for the rest (no rebuilds as it grows).
            let sample = min(col.count, 8192)
            for r in 0..<sample { code.append(Self.intern(col, r, c.method, &dict, &scratch)) }
            if sample > 0, sample < col.count {
                let total = perInput.reduce(0) { $0 + $1.0.count + ($1.1?.count ?? 0) }
                dict.reserve(distinct: dict.count * total / sample + 1024)
            }
            for r in sample..<col.count { code.append(Self.intern(col, r, c.method, &dict, &scratch)) }
            if let other { for r in 0..<other.count { swap.append(Self.intern(other, r, c.method, &dict, &scratch)) } }
            if numeric {
                for r in 0..<col.count {
                    let v = col.value(at: r)
                    number.append(v.asDouble ?? v.asDays.map(Double.init) ?? .nan)
                }
            }
        }
        self.code = code
        self.swap = swap
        self.number = number
        let values = dict.values
        let n = values.count
        bytes = .allocate(capacity: max(values.bytes.count, 1))
        _ = bytes.initialize(from: values.bytes)
        starts = .allocate(capacity: n + 1)
        for k in 0...n { starts[k] = Int32(values.offsets[k]) }
        ascii = (0..<n).map { k in values.withBytes(k) { b in b.allSatisfy { $0 < 0x80 } } }
        func phonetic(_ f: (String) -> String) -> [Int32] {
            var codes = ByteInterner()
            return (0..<n).map { k in let p = f(values.string(k)); return p.isEmpty ? -1 : codes.intern(p) }
        }
        soundex = c.levels.contains(.soundex) ? phonetic(StringSimilarity.soundex) : []
        nysiis = c.levels.contains(.nysiis) ? phonetic(StringSimilarity.nysiis) : []
        if c.levels.contains(.doubleMetaphone) {
            var codes = ByteInterner()
            var primary: [Int32] = [], alternate: [Int32] = []
            for k in 0..<n {
                let (p, a) = DoubleMetaphone.keys(values.string(k))
                primary.append(p.isEmpty ? -1 : codes.intern(p))
                alternate.append(a.isEmpty ? -1 : codes.intern(a))
            }
            (metaphone, metaphoneAlternate) = (primary, alternate)
        } else { (metaphone, metaphoneAlternate) = ([], []) }
        localPart = c.levels.contains(.localPart) ? Self.localParts(values) : []
        initials = c.levels.contains(.initials) ? (0..<n).map { StringSimilarity.initials(values.string($0)) } : []
        abbreviated = c.levels.contains(.initials) ? (0..<n).map { k in
            let words = StringSimilarity.tokens(values.string(k))
            return !words.isEmpty && words.allSatisfy { $0.count == 1 }
        } : []
        dateParts = c.levels.contains(.monthDaySwapped) || c.levels.contains(.yearDiffers) ? (0..<n).map { k in values.withBytes(k, Self.isoDate) } : []
        var nickStart: [Int32] = [0], nickGroups: [Int32] = []
        if c.levels.contains(.nickname) || c.levels.contains(.swapped) {
            for k in 0..<n {
                nickGroups.append(contentsOf: Nicknames.groups(of: values.string(k)).map(Int32.init))
                nickStart.append(Int32(nickGroups.count))
            }
        }
        self.nickStart = nickStart
        self.nickGroups = nickGroups
        let needsTokens = c.levels.contains { if case .tokenSet = $0 { return true }; if case .tokenSort = $0 { return true }; return false }
        let (tokenStart, tokenIDs, words) = needsTokens ? Self.words(values) : ([0], [], StringBuffer())
        (self.tokenStart, self.tokenIDs, self.words) = (tokenStart, tokenIDs, words)
        wordLengths = (0..<words.count).map { Int32(words.string($0).unicodeScalars.count) }
        var frequency: [Int32] = [], nonNull = 0
        if c.tf {
            frequency = [Int32](repeating: 0, count: n)
            for k in code where k >= 0 { frequency[Int(k)] += 1; nonNull += 1 }
        }
        self.frequency = frequency
        self.nonNull = nonNull
    }

    /// `YYYY-MM-DD` as y·10⁴ + m·10² + d, -1 for anything else.
    static func isoDate(_ b: UnsafeBufferPointer<UInt8>) -> Int32 {
        guard b.count == 10, b[4] == 45, b[7] == 45 else { return -1 }
        var v: Int32 = 0
        for (i, c) in b.enumerated() where i != 4 && i != 7 {
            guard c >= 48 && c <= 57 else { return -1 }
            v = v * 10 + Int32(c - 48)
        }
        return v
    }

    /// The normalised value of record `i` (nil: missing), for explanations.
    func text(_ i: Int) -> String? {
        let k = code[i]
        return k < 0 ? nil : String(decoding: value(Int(k)), as: UTF8.self)
    }

    @inline(__always)
    func value(_ k: Int) -> UnsafeBufferPointer<UInt8> {
        let s = Int(starts[k])
        return UnsafeBufferPointer(start: bytes.baseAddress! + s, count: Int(starts[k + 1]) - s)
    }

    // MARK: - Normalising

    /// The code of row `r`'s normalised value (-1: missing or empty). ASCII text is normalised on its bytes;
    /// anything else goes through `normalised(_:method:)`.
    static func intern(_ col: Column, _ r: Int, _ method: String, _ dict: inout ByteInterner, _ scratch: inout [UInt8]) -> Int32 {
        if col.isNull(r) { return -1 }
        switch col.storage {
        case .string(let buffer):
            let done = buffer.withBytes(r) { normaliseASCII($0, method: method, into: &scratch) }
            if done { return scratch.isEmpty ? -1 : scratch.withUnsafeBufferPointer { dict.intern($0) } }
        case .date(let days) where method != "phone":
            scratch.removeAll(keepingCapacity: true)
            CivilDate.appendISO(days: Int(days[r]), to: &scratch)
            return scratch.withUnsafeBufferPointer { dict.intern($0) }
        default: break
        }
        guard let s = normalised(col.value(at: r), method: method) else { return -1 }
        return dict.intern(s)
    }

    /// `normalised(_:method:)` on ASCII bytes; false (and nothing written) when the value is not all ASCII.
    static func normaliseASCII(_ b: UnsafeBufferPointer<UInt8>, method: String, into out: inout [UInt8]) -> Bool {
        out.removeAll(keepingCapacity: true)
        if method != "address" {
            // Written in place into room for every byte (an append per byte checked the array's uniqueness each time).
            let phone = method == "phone"
            var ascii = true
            out.append(contentsOf: repeatElement(0, count: b.count))
            let n = out.withUnsafeMutableBufferPointer { o -> Int in
                var n = 0
                for var c in b {
                    if c >= 0x80 { ascii = false; break }
                    if phone {
                        if c >= 48 && c <= 57 { o[n] = c; n += 1 }
                        continue
                    }
                    if c == 32 || c == 9 {
                        if n > 0 && o[n - 1] != 32 { o[n] = 32; n += 1 }
                        continue
                    }
                    if c &- 65 < 26 { c += 32 }
                    o[n] = c
                    n += 1
                }
                if n > 0 && o[n - 1] == 32 { n -= 1 }
                return n
            }
            out.removeLast(out.count - n)
            return ascii
        }
        let address = true
        var wordStart = 0
        func endWord() {
            let n = out.count - wordStart
            guard address, n >= 2, n < suffixesByLength.count else { return }
            // Compared on bytes against the suffixes of this length (no String per word).
            let hit = out.withUnsafeBufferPointer { o in
                suffixesByLength[n].first { entry in entry.word.withUnsafeBufferPointer { memcmp($0.baseAddress!, o.baseAddress! + wordStart, n) == 0 } }
            }
            if let hit { out.removeLast(n); out.append(contentsOf: hit.short) }
        }
        for var c in b {
            if c >= 0x80 { return false }
            if c == 32 || c == 9 || (address && (c == 44 || c == 46)) {
                endWord()
                if let last = out.last, last != 32 { out.append(32) }
                wordStart = out.count
                continue
            }
            if c >= 65 && c <= 90 { c += 32 }
            out.append(c)
        }
        endWord()
        if out.last == 32 { out.removeLast() }
        return true
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
            var words = Folding.fold(s).split(whereSeparator: { $0 == " " || $0 == "\t" || (method == "address" && ($0 == "," || $0 == ".")) }).map(String.init)
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

    /// `streetSuffixes` as bytes, by the length of the long form.
    static let suffixesByLength: [[(word: [UInt8], short: [UInt8])]] = {
        var table = [[(word: [UInt8], short: [UInt8])]](repeating: [], count: 11)
        for (word, short) in streetSuffixes where word.utf8.count < table.count { table[word.utf8.count].append((Array(word.utf8), Array(short.utf8))) }
        return table
    }()

    /// Per value, a code of its local part (the first non-empty piece between `@`s; -1: none), read on the bytes.
    static func localParts(_ values: StringBuffer) -> [Int32] {
        var codes = ByteInterner()
        codes.reserve(distinct: values.count)
        return (0..<values.count).map { k in
            values.withBytes(k) { b -> Int32 in
                var lo = 0
                while lo < b.count && b[lo] == 64 { lo += 1 }
                var hi = lo
                while hi < b.count && b[hi] != 64 { hi += 1 }
                return hi == lo ? -1 : codes.intern(UnsafeBufferPointer(rebasing: b[lo..<hi]))
            }
        }
    }

    /// Distinct words of every value (split on anything that is not a letter or digit), as ids numbered in the
    /// words' byte order, each value's ids sorted.
    static func words(_ values: StringBuffer) -> ([Int32], [Int32], StringBuffer) {
        var vocabulary = ByteInterner()
        var start: [Int32] = [0], ids: [Int32] = []
        var word: [UInt8] = []
        var mine: [Int32] = []
        for k in 0..<values.count {
            let ascii = values.withBytes(k) { $0.allSatisfy { $0 < 0x80 } }
            mine.removeAll(keepingCapacity: true)
            if ascii {
                values.withBytes(k) { b in
                    for i in 0...b.count {
                        let c: UInt8 = i < b.count ? b[i] : 32
                        let alnum = (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || (c >= 65 && c <= 90)
                        if alnum { word.append(c >= 65 && c <= 90 ? c + 32 : c); continue }
                        if !word.isEmpty { mine.append(word.withUnsafeBufferPointer { vocabulary.intern($0) }); word.removeAll(keepingCapacity: true) }
                    }
                }
            } else {
                for w in StringSimilarity.tokens(values.string(k)) { mine.append(vocabulary.intern(w)) }
            }
            // Each word once (the order does not matter: the ids are sorted after renumbering).
            mine.sort()
            for (x, w) in mine.enumerated() where x == 0 || mine[x - 1] != w { ids.append(w) }
            start.append(Int32(ids.count))
        }
        // Renumber so id order is byte order, then sort each value's ids.
        let vocab = vocabulary.values
        let sorted = (0..<vocab.count).sorted { a, b in
            vocab.withBytes(a) { x in vocab.withBytes(b) { y in x.lexicographicallyPrecedes(y) } }
        }
        var rank = [Int32](repeating: 0, count: vocab.count)
        var words = StringBuffer()
        for (r, w) in sorted.enumerated() { rank[w] = Int32(r); vocab.withBytes(w) { words.append(UnsafeRawBufferPointer($0)) } }
        for k in 0..<values.count {
            let r = Int(start[k])..<Int(start[k + 1])
            for i in r { ids[i] = rank[Int(ids[i])] }
            ids[r].sort()
        }
        return (start, ids, words)
    }

    // MARK: - Levels

    /// The level of records i and j: the index of the first level test that holds, the number of tests when none
    /// does, or `MergeRun.nullLevel` when either value is missing.
    func level(_ i: Int, _ j: Int) -> UInt8 {
        level(i, j, code[i], code[j], swap.isEmpty ? -1 : swap[i], swap.isEmpty ? -1 : swap[j])
    }

    /// `level(i, j)` with the records' value codes (and swap codes) already read — the pair loops read them from
    /// one row-major array, a cache line per record instead of one per comparison.
    @inline(__always)
    func level(_ i: Int, _ j: Int, _ cx: Int32, _ cy: Int32, _ swapX: Int32, _ swapY: Int32) -> UInt8 {
        let x = Int(cx), y = Int(cy)
        if x < 0 || y < 0 { return MergeRun.nullLevel }
        var jw = -1.0, tokenSet = -1.0
        for l in 0..<tests.count {
            let holds: Bool
            switch tests[l] {
            case .exact: holds = x == y
            case .nickname: holds = x == y || sameGroup(x, y)
            case .swapped:
                // First and last name exchanged, each side alike (exact, a nickname or Jaro-Winkler ≥ 0.9).
                let si = Int(swapX), sj = Int(swapY)
                holds = si >= 0 && sj >= 0 && alike(x, sj) && alike(si, y)
            case .soundex: holds = soundex[x] >= 0 && soundex[x] == soundex[y]
            case .nysiis: holds = nysiis[x] >= 0 && nysiis[x] == nysiis[y]
            case .doubleMetaphone:
                // A key in common: primary or alternate, either side.
                let a = (metaphone[x], metaphoneAlternate[x]), b = (metaphone[y], metaphoneAlternate[y])
                holds = a.0 >= 0 && b.0 >= 0 && (a.0 == b.0 || a.0 == b.1 || (a.1 >= 0 && (a.1 == b.0 || a.1 == b.1)))
            case .initials:
                // One side is only initials (`M.`, `J P`) and they begin the other side's initials: `M.` and `Mary`,
                // not `Mary` and `Mark`.
                let a = initials[x], b = initials[y]
                holds = (abbreviated[x] || abbreviated[y]) && !a.isEmpty && !b.isEmpty && (a.hasPrefix(b) || b.hasPrefix(a))
            case .monthDaySwapped:
                // The same year, day and month exchanged (a US and a European reading of one date).
                let a = Int(dateParts[x]), b = Int(dateParts[y])
                holds = a >= 0 && b >= 0 && a / 10_000 == b / 10_000 && a % 100 == (b / 100) % 100 && (a / 100) % 100 == b % 100
            case .yearDiffers:
                // The same month and day in another year (a year typed wrong, or off by one).
                let a = Int(dateParts[x]), b = Int(dateParts[y])
                holds = a >= 0 && b >= 0 && a % 10_000 == b % 10_000
            case .localPart: holds = localPart[x] >= 0 && localPart[x] == localPart[y]
            case .jaroWinkler(let t):
                if jw < 0 { jw = x == y ? 1 : jaroWinkler(x, y) }
                holds = jw >= t
            case .levenshtein(let d): holds = x == y || within(x, y, d, transpositions: false)
            case .damerau(let d): holds = x == y || within(x, y, d, transpositions: true)
            case .tokenSet(let t):
                // NB: two values with no word in common are below every token-set level.
                if tokenSet < 0 { tokenSet = tokenSetRatio(x, y) }
                holds = tokenSet >= t
            case .tokenSort(let t): holds = tokenSortRatio(x, y) >= t
            case .qgram(let t): holds = StringSimilarity.qgramJaccard(scalars(x), scalars(y)) >= t
            case .first(let n): holds = affix(x, y, n, prefix: true)
            case .last(let n): holds = affix(x, y, n, prefix: false)
            case .within(let d):
                let a = number[i], b = number[j]
                holds = !a.isNaN && !b.isNaN && abs(a - b) <= d
            case .withinPercent(let p):
                let a = number[i], b = number[j]
                holds = !a.isNaN && !b.isNaN && abs(a - b) <= p / 100 * max(abs(a), abs(b))
            }
            if holds { return UInt8(l) }
        }
        return UInt8(tests.count)
    }

    func sameGroup(_ x: Int, _ y: Int) -> Bool {
        let a = Int(nickStart[x])..<Int(nickStart[x + 1]), b = Int(nickStart[y])..<Int(nickStart[y + 1])
        if a.isEmpty || b.isEmpty { return false }
        for g in a where nickGroups[b].contains(nickGroups[g]) { return true }
        return false
    }

    func alike(_ x: Int, _ y: Int) -> Bool { x == y || sameGroup(x, y) || jaroWinkler(x, y) >= 0.9 }

    func scalars(_ k: Int) -> [UInt32] { String(decoding: value(k), as: UTF8.self).unicodeScalars.map(\.value) }

    func jaroWinkler(_ x: Int, _ y: Int) -> Double {
        if ascii[x] && ascii[y] { return StringSimilarity.jaroWinkler(value(x), value(y)) }
        return StringSimilarity.jaroWinkler(scalars(x), scalars(y))
    }

    func within(_ x: Int, _ y: Int, _ d: Int, transpositions: Bool) -> Bool {
        if ascii[x] && ascii[y] { return StringSimilarity.bandedWithin(value(x), value(y), d, transpositions: transpositions) }
        let a = scalars(x), b = scalars(y)
        return a.withUnsafeBufferPointer { p in b.withUnsafeBufferPointer { q in StringSimilarity.bandedWithin(p, q, d, transpositions: transpositions) } }
    }

    /// The first (or last) n characters of both values are equal (both have n or more).
    func affix(_ x: Int, _ y: Int, _ n: Int, prefix: Bool) -> Bool {
        if ascii[x] && ascii[y] {
            let a = value(x), b = value(y)
            guard a.count >= n, b.count >= n else { return false }
            if n == 0 { return true }
            return prefix ? memcmp(a.baseAddress!, b.baseAddress!, n) == 0 : memcmp(a.baseAddress! + (a.count - n), b.baseAddress! + (b.count - n), n) == 0
        }
        let a = String(decoding: value(x), as: UTF8.self), b = String(decoding: value(y), as: UTF8.self)
        guard a.count >= n, b.count >= n else { return false }
        return prefix ? a.prefix(n) == b.prefix(n) : a.suffix(n) == b.suffix(n)
    }

    // MARK: Token ratios on word ids

    func tokens(_ k: Int) -> ArraySlice<Int32> { tokenIDs[Int(tokenStart[k])..<Int(tokenStart[k + 1])] }

    /// Words joined by single spaces, as code units.
    func joined<S: Sequence>(_ ids: S, into out: inout [UInt32]) where S.Element == Int32 {
        for w in ids {
            if !out.isEmpty { out.append(32) }
            words.withBytes(Int(w)) { b in
                if b.allSatisfy({ $0 < 0x80 }) { for u in b { out.append(UInt32(u)) } } else {
                    for u in String(decoding: b, as: UTF8.self).unicodeScalars { out.append(u.value) }
                }
            }
        }
    }

    /// FuzzyWuzzy's token-set ratio (see `StringSimilarity.tokenSetRatio`), 0 when the values share no word.
    /// With c the common words and A, B the rest of each side (all sorted and joined by spaces), the ratio is the
    /// best of sim(c, c+A), sim(c, c+B) and sim(c+A, c+B). The first two are pure insertions (|c| ÷ |c+A|), and the
    /// shared prefix c does not change the edit distance of the third, so only A and B go through the edit-distance
    /// table.
    func tokenSetRatio(_ x: Int, _ y: Int) -> Double {
        let a = tokens(x), b = tokens(y)
        if a.isEmpty || b.isEmpty { return a.isEmpty && b.isEmpty ? 1 : 0 }
        var common = 0, commonLength = 0, restA = 0, restALength = 0, restB = 0, restBLength = 0
        var i = a.startIndex, j = b.startIndex
        while i < a.endIndex || j < b.endIndex {
            if j == b.endIndex || (i < a.endIndex && a[i] < b[j]) { restA += 1; restALength += wordLength(a[i]); i += 1 }
            else if i == a.endIndex || b[j] < a[i] { restB += 1; restBLength += wordLength(b[j]); j += 1 }
            else { common += 1; commonLength += wordLength(a[i]); i += 1; j += 1 }
        }
        if common == 0 { return 0 }
        if restA == 0 || restB == 0 { return 1 }
        let c = commonLength + common - 1
        let ca = c + 1 + restALength + restA - 1, cb = c + 1 + restBLength + restB - 1
        let inserted = Double(c) / Double(min(ca, cb))
        let rA = restALength + restA - 1, rB = restBLength + restB - 1
        let distance = withUnsafeTemporaryAllocation(of: UInt32.self, capacity: rA + rB) { buf -> Int in
            // A's words joined from buf[0], B's from buf[rA], in one more walk.
            var endA = 0, endB = rA
            func put(_ w: Int32, at n: inout Int, start: Int) {
                if n > start { buf[n] = 32; n += 1 }
                words.withBytes(Int(w)) { bytes in
                    if bytes.allSatisfy({ $0 < 0x80 }) { for u in bytes { buf[n] = UInt32(u); n += 1 } } else {
                        for u in String(decoding: bytes, as: UTF8.self).unicodeScalars { buf[n] = u.value; n += 1 }
                    }
                }
            }
            var i = a.startIndex, j = b.startIndex
            while i < a.endIndex || j < b.endIndex {
                if j == b.endIndex || (i < a.endIndex && a[i] < b[j]) { put(a[i], at: &endA, start: 0); i += 1 }
                else if i == a.endIndex || b[j] < a[i] { put(b[j], at: &endB, start: rA); j += 1 }
                else { i += 1; j += 1 }
            }
            return StringSimilarity.levenshtein(UnsafeBufferPointer(rebasing: buf[0..<rA]), UnsafeBufferPointer(rebasing: buf[rA..<(rA + rB)]))
        }
        return max(inserted, 1 - Double(distance) / Double(max(ca, cb)))
    }

    /// A word's length in Unicode scalars.
    func wordLength(_ w: Int32) -> Int { Int(wordLengths[Int(w)]) }

    func tokenSortRatio(_ x: Int, _ y: Int) -> Double {
        var a: [UInt32] = [], b: [UInt32] = []
        joined(tokens(x), into: &a)
        joined(tokens(y), into: &b)
        return StringSimilarity.normalized(StringSimilarity.levenshtein(a, b), a, b)
    }
}
