import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Why a function does not accept its argument types.
public struct TypeRuleError: Error, Sendable {
    public var text: String
    init(_ text: String) { self.text = text }
}

/// What evaluating a function on one row gave.
enum RowResult {
    case value(Value)
    case error(String)
}

/// Context of an evaluation: the as-of date `today()` returns.
public struct EvalEnvironment: Sendable {
    /// Days since 1970-01-01.
    public var asOf: Int32
    public init(asOf: Int32) { self.asOf = asOf }
    /// Today in UTC, for runs without `--as-of`.
    public static func now() -> EvalEnvironment {
        EvalEnvironment(asOf: Int32(Int(Date().timeIntervalSince1970) / 86_400))
    }
}

/// A scalar function of the expression language.
struct FunctionDef: Sendable {
    let name: String
    let minArgs: Int
    let maxArgs: Int
    let signature: String
    let summary: String
    /// Null in any argument gives null without calling `body`.
    let isStrict: Bool
    let typeRule: @Sendable ([DataType?]) -> Result<DataType?, TypeRuleError>
    let body: @Sendable ([Value], EvalEnvironment) -> RowResult

    var arityText: String {
        if minArgs == maxArgs { return "\(minArgs) argument\(minArgs == 1 ? "" : "s")" }
        if maxArgs == Int.max { return "at least \(minArgs) arguments" }
        return "\(minArgs) to \(maxArgs) arguments"
    }
}

// MARK: - Type rules

private func fixed(_ result: DataType, _ expected: [DataType?]) -> @Sendable ([DataType?]) -> Result<DataType?, TypeRuleError> {
    { types in
        for (i, t) in types.enumerated() {
            guard let t, i < expected.count, let want = expected[i] else { continue }
            if t == want { continue }
            if want == .double, t == .integer || t == .money { continue }
            if want == .timestamp, t == .date { continue }
            if want == .date, t == .timestamp { continue }
            return .failure(TypeRuleError("argument \(i + 1) must be \(want.rawValue), got \(t.rawValue)"))
        }
        return .success(result)
    }
}

private func sameNumeric(_ types: [DataType?]) -> Result<DataType?, TypeRuleError> {
    guard let t = types.first else { return .success(nil) }
    guard let t else { return .success(nil) }
    guard t == .integer || t == .double || t == .money else { return .failure(TypeRuleError("needs a number, got \(t.rawValue)")) }
    return .success(t)
}

private func commonType(_ types: [DataType?]) -> Result<DataType?, TypeRuleError> {
    var result: DataType?
    for t in types {
        guard let t else { continue }
        guard let r = result else { result = t; continue }
        if r == t { continue }
        if Checker.isNumeric(r), Checker.isNumeric(t) { result = (r == .money || t == .money) ? .money : .double; continue }
        if Set([r, t]) == [.date, .timestamp] { result = .timestamp; continue }
        return .failure(TypeRuleError("arguments have different types: \(r.rawValue) and \(t.rawValue)"))
    }
    return .success(result ?? .string)
}

// MARK: - Value helpers

extension Value {
    var asString: String? { if case .string(let s) = self { return s }; return isNull ? nil : description }
    var asInt: Int64? {
        switch self {
        case .integer(let i): return i
        case .double(let d): return d.isFinite && abs(d) < 9.2e18 ? Int64(d.rounded(.towardZero)) : nil
        case .money(let m, _): return m / 100
        default: return nil
        }
    }
    /// The value as a number (money in major units), or nil.
    public var asDouble: Double? {
        switch self {
        case .integer(let i): return Double(i)
        case .double(let d): return d
        case .money(let m, _): return Double(m) / 100
        default: return nil
        }
    }
    /// Days since the epoch of a date or timestamp (the UTC calendar day), or nil.
    public var asDays: Int32? {
        switch self {
        case .date(let d): return d
        case .timestamp(let t): return Int32((t >= 0 ? t : t - 86_399_999_999) / 86_400_000_000)
        default: return nil
        }
    }
    /// Days since the epoch with the time of day as a fraction, for a date or timestamp, or nil.
    public var asFractionalDays: Double? { asMicros.map { Double($0) / 86_400_000_000 } }
    /// Microseconds since the epoch of a date (midnight UTC) or timestamp, or nil.
    public var asMicros: Int64? {
        switch self {
        case .date(let d): return Int64(d) * 86_400_000_000
        case .timestamp(let t): return t
        default: return nil
        }
    }
}

public enum DateUnit: String, CaseIterable, Sendable {
    case day, week, month, quarter, year
    public init?(text: String) {
        var t = text.lowercased()
        if t.hasSuffix("s") { t.removeLast() }
        self.init(rawValue: t)
    }
}

public enum DateMath {
    public static func addMonths(_ days: Int32, _ months: Int) -> Int32 {
        let (y, m, d) = CivilDate.components(days: Int(days))
        let total = y * 12 + (m - 1) + months
        let ny = total >= 0 ? total / 12 : (total - 11) / 12
        let nm = total - ny * 12 + 1
        let nd = min(d, CivilDate.daysInMonth(year: ny, month: nm))
        return Int32(CivilDate.days(year: ny, month: nm, day: nd))
    }

    /// ISO weekday, Monday = 1 ... Sunday = 7.
    static func isoWeekday(_ days: Int32) -> Int {
        // 1970-01-01 was a Thursday (4).
        let r = (Int(days) + 3) % 7
        return (r < 0 ? r + 7 : r) + 1
    }

    /// ISO 8601 week number.
    static func isoWeek(_ days: Int32) -> Int {
        let thursday = Int(days) - isoWeekday(days) + 4
        let (y, _, _) = CivilDate.components(days: thursday)
        let jan1 = CivilDate.days(year: y, month: 1, day: 1)
        return (thursday - jan1) / 7 + 1
    }

    /// The first day of the period holding `days` (weeks start on Monday).
    public static func truncate(_ days: Int32, _ unit: DateUnit) -> Int32 {
        let (y, m, _) = CivilDate.components(days: Int(days))
        switch unit {
        case .day: return days
        case .week: return days - Int32(isoWeekday(days) - 1)
        case .month: return Int32(CivilDate.days(year: y, month: m, day: 1))
        case .quarter: return Int32(CivilDate.days(year: y, month: (m - 1) / 3 * 3 + 1, day: 1))
        case .year: return Int32(CivilDate.days(year: y, month: 1, day: 1))
        }
    }

    /// The first day of the period after the one starting at `start`.
    public static func next(_ start: Int32, _ unit: DateUnit) -> Int32 {
        switch unit {
        case .day: return start + 1
        case .week: return start + 7
        case .month: return addMonths(start, 1)
        case .quarter: return addMonths(start, 3)
        case .year: return addMonths(start, 12)
        }
    }

    /// Whole months from `a` to `b` (negative when b is earlier), counting a month only once its day is reached.
    static func monthsBetween(_ a: Int32, _ b: Int32) -> Int64 {
        let (y1, m1, d1) = CivilDate.components(days: Int(a))
        let (y2, m2, d2) = CivilDate.components(days: Int(b))
        var months = (y2 - y1) * 12 + (m2 - m1)
        if months > 0, d2 < d1 { months -= 1 }
        if months < 0, d2 > d1 { months += 1 }
        return Int64(months)
    }
}

/// Compiled regular expressions, shared by all threads (regexec is thread-safe on a compiled pattern).
///
/// The dialect is POSIX extended (glibc's regcomp) plus the shorthands people write from PCRE and RE2: `\d \D \s \S
/// \w \W` (also inside brackets: `[\d+]`), and a leading `(?i)` or the `i` flag for case-insensitive matching.
/// Backreferences, lookaround and lazy quantifiers are not supported (an error names the pattern).
final class CompiledRegex: @unchecked Sendable {
    // NB: @unchecked: regex_t is written once, by regcomp in init, and only read by regexec afterwards.
    var regex = regex_t()
    let groups: Int

    init?(_ pattern: String, caseInsensitive: Bool = false) {
        guard let (translated, icase) = Self.translate(pattern) else { return nil }
        var flags = REG_EXTENDED
        if icase || caseInsensitive { flags |= REG_ICASE }
        guard regcomp(&regex, translated, flags) == 0 else { return nil }
        groups = Int(regex.re_nsub)
    }

    /// The pattern in POSIX extended syntax, and whether it asked for case-insensitive matching with `(?i)`; nil for
    /// a construct POSIX cannot express (`\D` inside brackets, lookaround, lazy quantifiers).
    static func translate(_ pattern: String) -> (String, Bool)? {
        var p = Array(pattern.unicodeScalars)
        var icase = false
        if p.count >= 4, String(String.UnicodeScalarView(p[0..<4])) == "(?i)" {
            icase = true
            p.removeFirst(4)
        }
        var out = ""
        var i = 0
        var inBracket = false
        while i < p.count {
            let c = p[i]
            if inBracket {
                if c == "\\", i + 1 < p.count {
                    switch p[i + 1] {
                    case "d": out += "0-9"
                    case "s": out += "[:space:]"
                    case "w": out += "[:alnum:]_"
                    case "\\": out += "\\"
                    case "]": return nil  // POSIX has no escaped ']' inside brackets; put it first instead
                    case "D", "S", "W": return nil
                    default: out.unicodeScalars.append(p[i + 1])
                    }
                    i += 2
                    continue
                }
                if c == "]", !out.hasSuffix("[") && !out.hasSuffix("[^") { inBracket = false }
                out.unicodeScalars.append(c)
                i += 1
                continue
            }
            if c == "\\", i + 1 < p.count {
                switch p[i + 1] {
                case "d": out += "[0-9]"
                case "D": out += "[^0-9]"
                case "s": out += "[[:space:]]"
                case "S": out += "[^[:space:]]"
                case "w": out += "[[:alnum:]_]"
                case "W": out += "[^[:alnum:]_]"
                default: out.unicodeScalars.append(c); out.unicodeScalars.append(p[i + 1])
                }
                i += 2
                continue
            }
            if c == "(", i + 1 < p.count, p[i + 1] == "?" { return nil }  // lookaround and other (?...) groups
            if c == "?", i > 0, "*+?}".unicodeScalars.contains(p[i - 1]), !(i > 1 && p[i - 2] == "\\") { return nil }  // lazy quantifiers
            if c == "[" {
                inBracket = true
                out.unicodeScalars.append(c)
                if i + 1 < p.count, p[i + 1] == "^" { out += "^"; i += 1 }
                if i + 1 < p.count, p[i + 1] == "]" { out += "]"; i += 1 }
                i += 1
                continue
            }
            out.unicodeScalars.append(c)
            i += 1
        }
        return (out, icase)
    }
    deinit { regfree(&regex) }

    /// Byte ranges of the whole match and its groups, starting the search at `from`.
    func match(_ bytes: [UInt8], from: Int) -> [Range<Int>?]? {
        var cstring = bytes
        cstring.append(0)
        return cstring.withUnsafeBufferPointer { match(cString: $0, from: from) }
    }

    /// As `match`, on a NUL-terminated buffer (the terminator included in `cString`). With `wholeOnly` only the whole
    /// match is located: glibc then skips the costly sub-match pass (about 8x faster on a pattern with a group).
    func match(cString: UnsafeBufferPointer<UInt8>, from: Int, wholeOnly: Bool = false) -> [Range<Int>?]? {
        let slots = wholeOnly ? 1 : groups + 1
        var matches = [regmatch_t](repeating: regmatch_t(), count: slots)
        let base = UnsafeRawPointer(cString.baseAddress! + from).assumingMemoryBound(to: CChar.self)
        let rc = withUnsafeMutablePointer(to: &regex) { regexec($0, base, slots, &matches, from > 0 ? REG_NOTBOL : 0) }
        guard rc == 0 else { return nil }
        return matches.map { $0.rm_so < 0 ? nil : (from + Int($0.rm_so))..<(from + Int($0.rm_eo)) }
    }

    /// Whether the pattern matches anywhere in a NUL-terminated buffer; asks regexec for no positions at all, so it
    /// stops at the first accepting state.
    func matches(cString: UnsafeBufferPointer<UInt8>) -> Bool {
        let base = UnsafeRawPointer(cString.baseAddress!).assumingMemoryBound(to: CChar.self)
        return withUnsafeMutablePointer(to: &regex) { regexec($0, base, 0, nil, 0) } == 0
    }

    /// As `matches`, on bytes without a terminator (copied once into a NUL-terminated buffer).
    func matches(_ bytes: [UInt8]) -> Bool {
        var cstring = bytes
        cstring.append(0)
        return cstring.withUnsafeBufferPointer { matches(cString: $0) }
    }

    static let cache = RegexCache()
}

final class RegexCache: @unchecked Sendable {
    private let lock = NSLock()
    private var compiled: [String: CompiledRegex] = [:]
    /// Each pattern is compiled once per process (per flag), whatever the number of rows or stages using it.
    func get(_ pattern: String, caseInsensitive: Bool = false) -> CompiledRegex? {
        let key = (caseInsensitive ? "i:" : "c:") + pattern
        lock.lock()
        defer { lock.unlock() }
        if let r = compiled[key] { return r }
        guard let r = CompiledRegex(pattern, caseInsensitive: caseInsensitive) else { return nil }
        compiled[key] = r
        return r
    }
}

// MARK: - The catalog

/// Every scalar function, with its type rule and per-row body.
enum FunctionCatalog {
    static let byName: [String: FunctionDef] = Dictionary(uniqueKeysWithValues: (all + tryCasts).map { ($0.name, $0) })

    /// `try_cast(value as type)`, one hidden function per type: the cast's value, or null when it does not convert.
    static let tryCasts: [FunctionDef] = DataType.allCases.map { type in
        def("try_cast_" + type.rawValue, 1, 1, "try_cast(value as type)", "as cast, but null instead of a rejected row when the value does not convert",
            { _ in .success(type) }) { a, _ in
            if case .value(let v) = Evaluator.cast(a[0], to: type) { return .value(v) }
            return .value(.null)
        }
    }

    static func def(_ name: String, _ minArgs: Int, _ maxArgs: Int, _ signature: String, _ summary: String, strict: Bool = true,
                    _ rule: @escaping @Sendable ([DataType?]) -> Result<DataType?, TypeRuleError>,
                    _ body: @escaping @Sendable ([Value], EvalEnvironment) -> RowResult) -> FunctionDef {
        FunctionDef(name: name, minArgs: minArgs, maxArgs: maxArgs, signature: signature, summary: summary, isStrict: strict, typeRule: rule, body: body)
    }

    static func string(_ f: @escaping @Sendable (String) -> String) -> @Sendable ([Value], EvalEnvironment) -> RowResult {
        { a, _ in .value(.string(f(a[0].asString ?? ""))) }
    }

    static func dateUnitArg(_ v: Value) -> DateUnit? { DateUnit(text: v.asString ?? "") }

    static let all: [FunctionDef] = [
        // string
        def("lower", 1, 1, "lower(text)", "lower-case", fixed(.string, [.string]), string { $0.lowercased() }),
        def("upper", 1, 1, "upper(text)", "upper-case", fixed(.string, [.string]), string { $0.uppercased() }),
        def("trim", 1, 1, "trim(text)", "strip leading and trailing white space", fixed(.string, [.string]), string { $0.trimmingCharacters(in: .whitespacesAndNewlines) }),
        def("initcap", 1, 1, "initcap(text)", "capitalise the first letter of each word, lower-case the rest", fixed(.string, [.string]), string { text in
            var out = ""
            var atStart = true
            for ch in text {
                out += atStart ? ch.uppercased() : ch.lowercased()
                atStart = !(ch.isLetter || ch.isNumber || ch == "'")
            }
            return out
        }),
        def("length", 1, 1, "length(text)", "number of characters", fixed(.integer, [.string])) { a, _ in .value(.integer(Int64(a[0].asString?.count ?? 0))) },
        // record linkage (StringSimilarity): similarities in [0, 1] of lower-cased, trimmed text
        def("jaro_winkler", 2, 2, "jaro_winkler(a, b)", "Jaro-Winkler similarity (0–1)", fixed(.double, [.string, .string])) { a, _ in
            .value(.double(StringSimilarity.jaroWinkler(StringSimilarity.scalars(a[0].asString ?? ""), StringSimilarity.scalars(a[1].asString ?? ""))))
        },
        def("levenshtein", 2, 2, "levenshtein(a, b)", "Levenshtein edit distance", fixed(.integer, [.string, .string])) { a, _ in
            .value(.integer(Int64(StringSimilarity.levenshtein(StringSimilarity.scalars(a[0].asString ?? ""), StringSimilarity.scalars(a[1].asString ?? "")))))
        },
        def("damerau_levenshtein", 2, 2, "damerau_levenshtein(a, b)", "edit distance counting an adjacent transposition as one edit", fixed(.integer, [.string, .string])) { a, _ in
            .value(.integer(Int64(StringSimilarity.damerauLevenshtein(StringSimilarity.scalars(a[0].asString ?? ""), StringSimilarity.scalars(a[1].asString ?? "")))))
        },
        def("qgram_jaccard", 2, 3, "qgram_jaccard(a, b, [q])", "Jaccard similarity of the q-grams (default q = 2)", fixed(.double, [.string, .string, .integer])) { a, _ in
            .value(.double(StringSimilarity.qgramJaccard(StringSimilarity.scalars(a[0].asString ?? ""), StringSimilarity.scalars(a[1].asString ?? ""),
                                                         q: max(1, Int(a.count > 2 ? a[2].asInt ?? 2 : 2)))))
        },
        def("token_sort_ratio", 2, 2, "token_sort_ratio(a, b)", "similarity of the words sorted (0–1)", fixed(.double, [.string, .string])) { a, _ in
            .value(.double(StringSimilarity.tokenSortRatio(a[0].asString ?? "", a[1].asString ?? "")))
        },
        def("token_set_ratio", 2, 2, "token_set_ratio(a, b)", "similarity of the word sets (1 when one side's words are all in the other)", fixed(.double, [.string, .string])) { a, _ in
            .value(.double(StringSimilarity.tokenSetRatio(a[0].asString ?? "", a[1].asString ?? "")))
        },
        def("soundex", 1, 1, "soundex(text)", "American Soundex code (letter and three digits)", fixed(.string, [.string]), string { StringSimilarity.soundex($0) }),
        def("nysiis", 1, 1, "nysiis(text)", "NYSIIS phonetic code", fixed(.string, [.string]), string { StringSimilarity.nysiis($0) }),
        def("double_metaphone", 1, 1, "double_metaphone(text)", "Double Metaphone primary key", fixed(.string, [.string]), string { DoubleMetaphone.keys($0).primary }),
        def("double_metaphone_alt", 1, 1, "double_metaphone_alt(text)", "Double Metaphone alternate key (empty when it equals the primary)", fixed(.string, [.string]),
            string { DoubleMetaphone.keys($0).alternate }),
        def("double_metaphone_match", 2, 2, "double_metaphone_match(a, b)", "true when the two values share a Double Metaphone key", fixed(.boolean, [.string, .string])) { a, _ in
            .value(.boolean(DoubleMetaphone.match(a[0].asString ?? "", a[1].asString ?? "")))
        },
        def("initials", 1, 1, "initials(text)", "the first letter of each word", fixed(.string, [.string]), string { StringSimilarity.initials($0) }),
        def("nickname_match", 2, 2, "nickname_match(a, b)", "true when two given names are the same or nicknames of one name (Bob ~ Robert)", fixed(.boolean, [.string, .string])) { a, _ in
            .value(.boolean(Nicknames.equivalent(a[0].asString ?? "", a[1].asString ?? "")))
        },
        def("substr", 2, 3, "substr(text, start, [length])", "characters from start (1-based)", fixed(.string, [.string, .integer, .integer])) { a, _ in
            let chars = Array(a[0].asString ?? "")
            let start = max(Int(a[1].asInt ?? 1), 1) - 1
            let len = a.count > 2 ? Int(a[2].asInt ?? 0) : chars.count
            guard start < chars.count, len > 0 else { return .value(.string("")) }
            return .value(.string(String(chars[start..<min(chars.count, start + len)])))
        },
        def("contains", 2, 2, "contains(text, part)", "true when text contains part", fixed(.boolean, [.string, .string])) { a, _ in
            // Byte for byte, as SQL engines compare (Swift's String.contains compares characters: 'e' is not in 'é').
            let (s, p) = (Array((a[0].asString ?? "").utf8), Array((a[1].asString ?? "").utf8))
            return .value(.boolean(s.withUnsafeBufferPointer { t in p.withUnsafeBufferPointer { Scalars.contains(t, $0) } }))
        },
        def("starts_with", 2, 2, "starts_with(text, prefix)", "true when text starts with prefix", fixed(.boolean, [.string, .string])) { a, _ in
            .value(.boolean((a[0].asString ?? "").utf8.starts(with: (a[1].asString ?? "").utf8)))
        },
        def("ends_with", 2, 2, "ends_with(text, suffix)", "true when text ends with suffix", fixed(.boolean, [.string, .string])) { a, _ in
            .value(.boolean((a[0].asString ?? "").utf8.reversed().starts(with: (a[1].asString ?? "").utf8.reversed())))
        },
        def("replace", 3, 3, "replace(text, from, to)", "replace every occurrence", fixed(.string, [.string, .string, .string])) { a, _ in
            let from = a[1].asString ?? ""
            guard !from.isEmpty else { return .value(a[0]) }
            return .value(.string((a[0].asString ?? "").replacingOccurrences(of: from, with: a[2].asString ?? "")))
        },
        def("split_part", 3, 3, "split_part(text, delimiter, n)", "the n-th piece (1-based; negative counts from the end)", fixed(.string, [.string, .string, .integer])) { a, _ in
            let s = a[0].asString ?? "", d = a[1].asString ?? ""
            let parts = d.isEmpty ? [s] : s.components(separatedBy: d)
            let n = Int(a[2].asInt ?? 0)
            let i = n > 0 ? n - 1 : parts.count + n
            return .value(.string(i >= 0 && i < parts.count ? parts[i] : ""))
        },
        def("regexp_matches", 2, 3, "regexp_matches(text, pattern, ['i'])", "true when the pattern matches (POSIX extended with \\d \\s \\w; 'i' or a leading (?i): ignore case)",
            fixed(.boolean, [.string, .string, .string])) { a, _ in
            let icase = a.count > 2 && (a[2].asString ?? "").contains("i")
            guard let re = CompiledRegex.cache.get(a[1].asString ?? "", caseInsensitive: icase) else { return .error(invalidRegex(a[1].asString ?? "")) }
            return .value(.boolean(re.matches(Array((a[0].asString ?? "").utf8))))
        },
        def("regexp_replace", 3, 4, "regexp_replace(text, pattern, replacement, ['gi'])", "replace the first match (every match with 'g'; 'i' ignores case); \\1 refers to a group",
            fixed(.string, [.string, .string, .string, .string])) { a, _ in
            let flags = a.count > 3 ? (a[3].asString ?? "") : ""
            guard let re = CompiledRegex.cache.get(a[1].asString ?? "", caseInsensitive: flags.contains("i")) else { return .error(invalidRegex(a[1].asString ?? "")) }
            let global = flags.contains("g")
            return .value(.string(regexReplace(a[0].asString ?? "", re, Array((a[2].asString ?? "").utf8), global: global)))
        },
        def("concat_ws", 2, Int.max, "concat_ws(separator, value, ...)", "join the non-null values with separator", strict: false, { _ in .success(.string) }) { a, _ in
            guard let sep = a[0].asString else { return .value(.null) }
            return .value(.string(a.dropFirst().compactMap { $0.isNull ? nil : $0.description }.joined(separator: sep)))
        },
        // date
        def("today", 0, 0, "today()", "the run's as-of date (--as-of, else the current UTC date)", { _ in .success(.date) }) { _, env in .value(.date(env.asOf)) },
        def("date", 1, 1, "date(value)", "a date from text or a timestamp", { t in
            guard let t = t[0] else { return .success(.date) }
            return [.string, .date, .timestamp].contains(t) ? .success(.date) : .failure(TypeRuleError("needs text, a date or a timestamp, got \(t.rawValue)"))
        }) { a, _ in
            if let d = a[0].asDays { return .value(.date(d)) }
            let text = a[0].asString ?? ""
            if let d = parseDate(text) { return .value(.date(d)) }
            return .error("'\(text)' is not a date")
        },
        def("parse_date", 2, Int.max, "parse_date(text, format, ...)", "a date read with the first matching strftime-like format (%Y %m %d %b %H %M %S); null when none matches",
            allStrings(.date)) { a, _ in
            let text = Array((a[0].asString ?? "").utf8)
            for f in a.dropFirst() {
                let format = Array((f.asString ?? "").utf8)
                if let d = text.withUnsafeBufferPointer({ p in DateParsing.parse(Scalars.trimmed(p), format: format)?.days(order: .monthFirst) }) {
                    return .value(.date(Int32(d)))
                }
            }
            return .value(.null)
        },
        def("parse_timestamp", 1, Int.max, "parse_timestamp(text, [format, ...])", "a timestamp (UTC) read with the first matching format (%Y %m %d %b %H %M %S), time of day kept; without a format, ISO 8601 and the other shapes ingest reads (zone offsets converted to UTC); null when none matches",
            allStrings(.timestamp)) { a, _ in
            let text = Array((a[0].asString ?? "").utf8)
            if a.count == 1 {
                let t = text.withUnsafeBufferPointer { p -> Int64? in
                    guard let scan = DateParsing.scan(Scalars.trimmed(p)), scan.shape != .numeric else { return nil }
                    return scan.micros(order: nil)
                }
                return .value(t.map(Value.timestamp) ?? .null)
            }
            for f in a.dropFirst() {
                let format = Array((f.asString ?? "").utf8)
                if let t = text.withUnsafeBufferPointer({ p in DateParsing.parse(Scalars.trimmed(p), format: format)?.micros(order: .monthFirst) }) {
                    return .value(.timestamp(t))
                }
            }
            return .value(.null)
        },
        def("strftime", 2, 2, "strftime(date or timestamp, format)", "the date written with %Y %y %m %d %e %H %M %S %b %B %a %A %j %q (quarter) %%; also named format_date",
            formatRule) { a, _ in formatDate(a) },
        def("format_date", 2, 2, "format_date(date or timestamp, format)", "strftime by another name",
            formatRule) { a, _ in formatDate(a) },
        def("year", 1, 1, "year(date)", "the year", fixed(.integer, [.date])) { a, _ in .value(.integer(Int64(CivilDate.components(days: Int(a[0].asDays ?? 0)).year))) },
        def("quarter", 1, 1, "quarter(date)", "the quarter, 1-4", fixed(.integer, [.date])) { a, _ in .value(.integer(Int64((CivilDate.components(days: Int(a[0].asDays ?? 0)).month - 1) / 3 + 1))) },
        def("month", 1, 1, "month(date)", "the month, 1-12", fixed(.integer, [.date])) { a, _ in .value(.integer(Int64(CivilDate.components(days: Int(a[0].asDays ?? 0)).month))) },
        def("week", 1, 1, "week(date)", "the ISO 8601 week number, 1-53", fixed(.integer, [.date])) { a, _ in .value(.integer(Int64(DateMath.isoWeek(a[0].asDays ?? 0)))) },
        def("day_of_week", 1, 1, "day_of_week(date)", "ISO weekday: Monday 1 ... Sunday 7", fixed(.integer, [.date])) { a, _ in .value(.integer(Int64(DateMath.isoWeekday(a[0].asDays ?? 0)))) },
        def("date_trunc", 2, 2, "date_trunc(unit, date)", "first day of the day / week (Monday) / month / quarter / year", fixed(.date, [.string, .date])) { a, _ in
            guard let unit = dateUnitArg(a[0]) else { return .error("unknown date unit '\(a[0].asString ?? "")' (use day, week, month, quarter or year)") }
            return .value(.date(DateMath.truncate(a[1].asDays ?? 0, unit)))
        },
        def("date_add", 3, 3, "date_add(date, n, unit)", "the date n days / weeks / months / quarters / years later", fixed(.date, [.date, .integer, .string])) { a, _ in
            guard let unit = dateUnitArg(a[2]) else { return .error("unknown date unit '\(a[2].asString ?? "")' (use day, week, month, quarter or year)") }
            let d = a[0].asDays ?? 0, n = a[1].asInt ?? 0
            guard abs(n) < 1_000_000 else { return .error("date_add amount \(n) is out of range") }
            switch unit {
            case .day: return .value(.date(d + Int32(n)))
            case .week: return .value(.date(d + Int32(n * 7)))
            case .month: return .value(.date(DateMath.addMonths(d, Int(n))))
            case .quarter: return .value(.date(DateMath.addMonths(d, Int(n) * 3)))
            case .year: return .value(.date(DateMath.addMonths(d, Int(n) * 12)))
            }
        },
        def("days_between", 2, 2, "days_between(from, to)", "days from the first date to the second", fixed(.integer, [.date, .date])) { a, _ in
            .value(.integer(Int64((a[1].asDays ?? 0) - (a[0].asDays ?? 0))))
        },
        def("months_between", 2, 2, "months_between(from, to)", "whole months from the first date to the second", fixed(.integer, [.date, .date])) { a, _ in
            .value(.integer(DateMath.monthsBetween(a[0].asDays ?? 0, a[1].asDays ?? 0)))
        },
        def("currency", 1, 1, "currency(money)", "the ISO 4217 code of a money value (empty when none was given)", fixed(.string, [.money])) { a, _ in
            if case .money(_, let c) = a[0] { return .value(.string(c)) }
            return .value(.null)
        },
        // math
        def("abs", 1, 1, "abs(x)", "absolute value", sameNumeric) { a, _ in
            switch a[0] {
            case .integer(let i): return i == Int64.min ? .error("abs overflows") : .value(.integer(abs(i)))
            case .double(let d): return .value(.double(abs(d)))
            case .money(let m, let c): return .value(.money(abs(m), c))
            default: return .value(.null)
            }
        },
        def("round", 1, 2, "round(x, [digits])", "round half away from zero", { t in
            if t.count > 1, let d = t[1], d != .integer { return .failure(TypeRuleError("digits must be an integer")) }
            return sameNumeric(t)
        }) { a, _ in
            let digits = a.count > 1 ? Int(a[1].asInt ?? 0) : 0
            switch a[0] {
            case .integer(let i): return .value(.integer(i))
            case .double(let d):
                let f = pow(10, Double(digits))
                return .value(.double((d * f).rounded(.toNearestOrAwayFromZero) / f))
            case .money(let m, let c):
                guard digits < 2 else { return .value(.money(m, c)) }
                let unit = Int64(pow(10, Double(2 - max(digits, -15))))
                let r = (abs(m) + unit / 2) / unit * unit
                return .value(.money(m < 0 ? -r : r, c))
            default: return .value(.null)
            }
        },
        def("floor", 1, 1, "floor(x)", "largest integer not above x", sameNumeric) { a, _ in roundToward(a[0], .down) },
        def("ceil", 1, 1, "ceil(x)", "smallest integer not below x", sameNumeric) { a, _ in roundToward(a[0], .up) },
        def("ln", 1, 1, "ln(x)", "natural logarithm (null for x <= 0)", fixed(.double, [.double])) { a, _ in
            let x = a[0].asDouble ?? 0
            return .value(x > 0 ? .double(log(x)) : .null)
        },
        def("exp", 1, 1, "exp(x)", "e to the power x", fixed(.double, [.double])) { a, _ in .value(.double(Foundation.exp(a[0].asDouble ?? 0))) },
        def("pow", 2, 2, "pow(x, y)", "x to the power y", fixed(.double, [.double, .double])) { a, _ in
            let r = Foundation.pow(a[0].asDouble ?? 0, a[1].asDouble ?? 0)
            return .value(r.isNaN ? .null : .double(r))
        },
        def("sqrt", 1, 1, "sqrt(x)", "square root (null for negative x)", fixed(.double, [.double])) { a, _ in
            let x = a[0].asDouble ?? 0
            return .value(x >= 0 ? .double(x.squareRoot()) : .null)
        },
        def("least", 1, Int.max, "least(a, b, ...)", "the smallest non-null argument", strict: false, commonType) { a, _ in extreme(a, wantLess: true) },
        def("greatest", 1, Int.max, "greatest(a, b, ...)", "the largest non-null argument", strict: false, commonType) { a, _ in extreme(a, wantLess: false) },
        // other
        def("coalesce", 1, Int.max, "coalesce(a, b, ...)", "the first non-null argument", strict: false, commonType) { a, _ in
            .value(a.first { !$0.isNull } ?? .null)
        },
        def("nullif", 2, 2, "nullif(a, b)", "null when a equals b, else a", strict: false, { t in commonType(t).map { _ in t[0] ?? t[1] } }) { a, _ in
            if a[0].isNull { return .value(.null) }
            return .value(compareValues(a[0], a[1]) == 0 ? .null : a[0])
        },
        def("if", 3, 3, "if(condition, then, else)", "then when condition is true, else otherwise (null counts as false)", strict: false, { t in
            if let c = t[0], c != .boolean { return .failure(TypeRuleError("the condition must be boolean, got \(c.rawValue)")) }
            return commonType(Array(t.dropFirst()))
        }) { a, _ in
            if case .boolean(true) = a[0] { return .value(a[1]) }
            return .value(a[2])
        },
    ]

    /// strftime's arguments: a date or timestamp, and the format.
    static let formatRule: @Sendable ([DataType?]) -> Result<DataType?, TypeRuleError> = { types in
        if let t = types[0], t != .date, t != .timestamp { return .failure(TypeRuleError("argument 1 must be date or timestamp, got \(t.rawValue)")) }
        if let t = types[1], t != .string { return .failure(TypeRuleError("argument 2 must be string, got \(t.rawValue)")) }
        return .success(.string)
    }

    /// Every argument text (parse_date, parse_timestamp), giving `result`.
    static func allStrings(_ result: DataType) -> @Sendable ([DataType?]) -> Result<DataType?, TypeRuleError> {
        { types in
            for (i, t) in types.enumerated() where t != nil && t != .string {
                return .failure(TypeRuleError("argument \(i + 1) must be string, got \(t!.rawValue)"))
            }
            return .success(result)
        }
    }

    static let weekdayNames = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    static let monthFullNames = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]

    /// strftime for a date or timestamp (UTC), on the directives people write in reports and file names.
    static func formatDate(_ a: [Value]) -> RowResult {
        let days: Int, micros: Int64
        switch a[0] {
        case .date(let d): days = Int(d); micros = 0
        case .timestamp(let t):
            let (q, r) = t.quotientAndRemainder(dividingBy: 86_400_000_000)
            days = Int(r < 0 ? q - 1 : q)
            micros = r < 0 ? r + 86_400_000_000 : r
        default: return .value(.null)
        }
        let (y, m, d) = CivilDate.components(days: days)
        let secs = Int(micros / 1_000_000)
        func pad(_ v: Int, _ w: Int = 2) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
        var out = ""
        var chars = Array((a[1].asString ?? "").unicodeScalars)[...]
        while let c = chars.popFirst() {
            guard c == "%" else { out.unicodeScalars.append(c); continue }
            guard let spec = chars.popFirst() else { return .error("format ends with a lone %") }
            switch spec {
            case "Y": out += String(y)
            case "y": out += pad(y % 100)
            case "m": out += pad(m)
            case "d": out += pad(d)
            case "e": out += String(d)
            case "H": out += pad(secs / 3600)
            case "M": out += pad(secs / 60 % 60)
            case "S": out += pad(secs % 60)
            case "b": out += String(monthFullNames[m - 1].prefix(3))
            case "B": out += monthFullNames[m - 1]
            case "a": out += String(weekdayNames[DateMath.isoWeekday(Int32(days)) - 1].prefix(3))
            case "A": out += weekdayNames[DateMath.isoWeekday(Int32(days)) - 1]
            case "j": out += pad(days - CivilDate.days(year: y, month: 1, day: 1) + 1, 3)
            case "q": out += String((m - 1) / 3 + 1)
            case "%": out += "%"
            default: return .error("unknown format directive %\(spec) (use %Y %y %m %d %e %H %M %S %b %B %a %A %j %q %%)")
            }
        }
        return .value(.string(out))
    }

    static func invalidRegex(_ pattern: String) -> String {
        "invalid regular expression '\(pattern)' (POSIX extended with \\d \\s \\w and (?i); no lookaround, lazy quantifiers or \\D \\S \\W inside [...])"
    }

    static func parseDate(_ text: String) -> Int32? {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBufferPointer { p -> Int32? in
            let t = Scalars.trimmed(p)
            guard let scan = DateParsing.scan(t), scan.shape != .numeric, let d = scan.days(order: nil) else { return nil }
            return Int32(d)
        }
    }

    static func roundToward(_ v: Value, _ rule: FloatingPointRoundingRule) -> RowResult {
        switch v {
        case .integer: return .value(v)
        case .double(let d): return .value(.double(d.rounded(rule)))
        case .money(let m, let c):
            let whole = Double(m) / 100
            return .value(.money(Int64(whole.rounded(rule)) * 100, c))
        default: return .value(.null)
        }
    }

    static func extreme(_ values: [Value], wantLess: Bool) -> RowResult {
        var best: Value?
        for v in values where !v.isNull {
            guard let b = best else { best = v; continue }
            let c = compareValues(v, b)
            if wantLess ? c < 0 : c > 0 { best = v }
        }
        return .value(best ?? .null)
    }

    static func regexReplace(_ text: String, _ re: CompiledRegex, _ replacement: [UInt8], global: Bool) -> String {
        String(decoding: regexReplace(bytes: Array(text.utf8), re, replacement, global: global), as: UTF8.self)
    }

    static func regexReplace(bytes: [UInt8], _ re: CompiledRegex, _ replacement: [UInt8], global: Bool) -> [UInt8] {
        var cstring = bytes
        cstring.append(0)
        return cstring.withUnsafeBufferPointer { regexReplace(cString: $0, re, replacement, global: global) }
    }

    /// `bytes` is the text followed by a NUL.
    static func regexReplace(cString: UnsafeBufferPointer<UInt8>, _ re: CompiledRegex, _ replacement: [UInt8], global: Bool) -> [UInt8] {
        let bytes = UnsafeBufferPointer(rebasing: cString[..<(cString.count - 1)])
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var pos = 0
        let usesGroups = replacement.indices.contains { replacement[$0] == 92 && $0 + 1 < replacement.count && (48...57).contains(replacement[$0 + 1]) }
        while pos <= bytes.count, let m = re.match(cString: cString, from: pos, wholeOnly: !usesGroups), let whole = m[0] {
            out.append(contentsOf: bytes[pos..<whole.lowerBound])
            var i = 0
            while i < replacement.count {
                let c = replacement[i]
                if c == 92, i + 1 < replacement.count, replacement[i + 1] >= 48, replacement[i + 1] <= 57 {
                    let g = Int(replacement[i + 1] - 48)
                    if g < m.count, let r = m[g] { out.append(contentsOf: bytes[r]) }
                    i += 2
                    continue
                }
                out.append(c)
                i += 1
            }
            if whole.isEmpty {
                if whole.lowerBound < bytes.count { out.append(bytes[whole.lowerBound]) }
                pos = whole.upperBound + 1
            } else {
                pos = whole.upperBound
            }
            if !global { break }
        }
        if pos < bytes.count { out.append(contentsOf: bytes[pos...]) }
        return out
    }
}

/// Orders two non-null values of comparable types (numbers across int/double/money, dates with timestamps).
public func compareValues(_ a: Value, _ b: Value) -> Int {
    switch (a, b) {
    case (.null, .null): return 0
    case (.null, _): return -1
    case (_, .null): return 1
    case (.integer(let x), .integer(let y)): return x < y ? -1 : (x > y ? 1 : 0)
    case (.money(let x, _), .money(let y, _)): return x < y ? -1 : (x > y ? 1 : 0)
    case (.string(let x), .string(let y)): return compareBytes(x, y)
    case (.boolean(let x), .boolean(let y)): return x == y ? 0 : (!x ? -1 : 1)
    case (.date(let x), .date(let y)): return x < y ? -1 : (x > y ? 1 : 0)
    default:
        if let x = a.asDouble, let y = b.asDouble { return x < y ? -1 : (x > y ? 1 : 0) }
        if let x = a.asMicros, let y = b.asMicros { return x < y ? -1 : (x > y ? 1 : 0) }
        return compareBytes(a.description, b.description)
    }
}

/// Byte-wise (code point) order of UTF-8 text, as the evaluator's string comparisons use.
public func compareBytes(_ a: String, _ b: String) -> Int {
    var a = a, b = b
    return a.withUTF8 { pa in b.withUTF8 { pb in compareBytes(pa, pb) } }
}

@inline(__always)
public func compareBytes(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Int {
    let n = min(a.count, b.count)
    if n > 0 {
        let c = memcmp(a.baseAddress!, b.baseAddress!, n)
        if c != 0 { return c < 0 ? -1 : 1 }
    }
    return a.count < b.count ? -1 : (a.count > b.count ? 1 : 0)
}

/// A compiled SQL `like` pattern: `%` any run, `_` one character.
public struct LikePattern: Sendable, Hashable {
    enum Piece: Sendable, Hashable { case literal([UInt8]), any, one }
    let pieces: [Piece]

    public init(_ pattern: String) {
        var pieces: [Piece] = []
        var lit: [UInt8] = []
        for scalar in pattern.unicodeScalars {
            if scalar == "%" || scalar == "_" {
                if !lit.isEmpty { pieces.append(.literal(lit)); lit = [] }
                pieces.append(scalar == "%" ? .any : .one)
            } else {
                lit.append(contentsOf: String(scalar).utf8)
            }
        }
        if !lit.isEmpty { pieces.append(.literal(lit)) }
        self.pieces = pieces
    }

    public func matches(_ s: UnsafeBufferPointer<UInt8>) -> Bool { match(s, 0, 0) }

    private func match(_ s: UnsafeBufferPointer<UInt8>, _ si: Int, _ pi: Int) -> Bool {
        var si = si
        var pi = pi
        while pi < pieces.count {
            switch pieces[pi] {
            case .literal(let l):
                guard s.count - si >= l.count else { return false }
                for k in 0..<l.count where s[si + k] != l[k] { return false }
                si += l.count
                pi += 1
            case .one:
                guard si < s.count else { return false }
                si += 1
                while si < s.count, s[si] & 0xC0 == 0x80 { si += 1 }
                pi += 1
            case .any:
                if pi == pieces.count - 1 { return true }
                var k = si
                while k <= s.count {
                    if match(s, k, pi + 1) { return true }
                    k += 1
                }
                return false
            }
        }
        return si == s.count
    }
}

/// The function list for the generated reference.
public enum ExprReference {
    public static var functions: [(name: String, signature: String, summary: String)] {
        (FunctionCatalog.all + FunctionCatalog.tryCasts.prefix(1)).map { ($0.name.hasPrefix("try_cast_") ? "try_cast" : $0.name, $0.signature, $0.summary) }
    }
}
