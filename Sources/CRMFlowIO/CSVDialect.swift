import CRMFlowCore

/// What to do with a record whose field count differs from the header's.
public enum RaggedPolicy: String, Sendable, CaseIterable {
    /// Send it to the rejects with its line number (default).
    case reject
    /// Pad missing fields with nulls / drop extra fields, with a warning.
    case pad
    /// Stop with an error.
    case error
}

/// What to do with bytes that are invalid in the file's encoding.
public enum EncodingErrorPolicy: String, Sendable, CaseIterable {
    case error
    case reject
}

/// How a CSV file is laid out. Every field left nil is detected.
public struct CSVOptions: Sendable {
    public var delimiter: UInt8?
    public var quote: UInt8 = UInt8(ascii: "\"")
    public var hasHeader: Bool = true
    public var encoding: TextEncoding?
    public var ragged: RaggedPolicy = .reject
    public var onInvalidEncoding: EncodingErrorPolicy = .error
    /// Skip type inference: every column is text.
    public var allStrings: Bool = false
    /// Declared column plans by header name; they override inference.
    public var declared: [String: ColumnPlan] = [:]
    /// Day/month order for numeric dates when the data cannot tell.
    public var dayOrder: DayOrder?
    /// Worker threads for parsing (default: active processors).
    public var threads: Int = 0
    /// Target bytes per parallel chunk.
    public var chunkSize: Int = 8 << 20
    /// Columns (by position) whose text is not kept: they read as all null. Records are still checked in full (field
    /// count, encoding, NUL) and rejected records keep every field.
    public var skipColumns: Set<Int> = []
    /// Keep each row's physical line number (`LoadedTable.rowLines`), so later stages can reject rows with their origin.
    public var keepRowLines = false

    public init() {}
}

/// The dialect crmflow detected (or was told) for a file; `profile` reports it.
public struct CSVDialect: Sendable, Hashable {
    public var delimiter: UInt8
    public var quote: UInt8
    public var encoding: TextEncoding
    public var hasBOM: Bool
    public var hasSepLine: Bool
    public var hasHeader: Bool
    /// "LF", "CRLF", "CR" or "none".
    public var lineEnding: String
    /// How each choice was made, for the user.
    public var notes: [String]

    public var delimiterName: String {
        switch delimiter {
        case UInt8(ascii: ","): return "comma"
        case UInt8(ascii: ";"): return "semicolon"
        case UInt8(ascii: "\t"): return "tab"
        case UInt8(ascii: "|"): return "pipe"
        default: return "'\(String(UnicodeScalar(delimiter)))'"
        }
    }
}

/// Quote-aware scanning helpers that mirror libcsv's rules (a quote opens a quoted field only at the field's start).
enum RecordScanner {
    /// The offset just past the end of the record starting at `start`, or nil if the record does not end within `bytes`.
    /// Also returns the number of fields seen.
    static func recordEnd(_ p: UnsafeBufferPointer<UInt8>, from start: Int, delimiter: UInt8, quote: UInt8) -> (end: Int, fields: Int)? {
        var i = start
        var fields = 1
        var atFieldStart = true
        var inQuotes = false
        let n = p.count
        while i < n {
            let c = p[i]
            if inQuotes {
                if c == quote {
                    if i + 1 < n, p[i + 1] == quote { i += 2; continue }
                    inQuotes = false
                }
                i += 1
                continue
            }
            if c == quote, atFieldStart {
                inQuotes = true
                atFieldStart = false
            } else if c == delimiter {
                fields += 1
                atFieldStart = true
            } else if c == 10 || c == 13 {
                var e = i + 1
                if c == 13, e < n, p[e] == 10 { e += 1 }
                return (e, fields)
            } else {
                atFieldStart = false
            }
            i += 1
        }
        return nil
    }
}

/// Detects a file's dialect from its first bytes.
enum DialectSniffer {
    static let candidates: [UInt8] = [UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "\t"), UInt8(ascii: "|")]

    /// Picks the candidate delimiter that splits the first records into the most consistent field counts (> 1).
    static func delimiter(_ head: [UInt8], quote: UInt8) -> (UInt8, String) {
        var best: (UInt8, Int, Int) = (UInt8(ascii: ","), 0, 0)  // delimiter, consistent records, fields
        head.withUnsafeBufferPointer { p in
            for d in candidates {
                var counts: [Int] = []
                var pos = 0
                while counts.count < 50, pos < p.count {
                    guard let (end, fields) = RecordScanner.recordEnd(p, from: pos, delimiter: d, quote: quote) else {
                        if head.count < 65536 { counts.append(fieldCount(p, from: pos, delimiter: d, quote: quote)) }
                        break
                    }
                    if end - pos > (p[end - 1] == 10 && end >= 2 && p[end - 2] == 13 ? 2 : 1) { counts.append(fields) }
                    pos = end
                }
                guard let first = counts.first, first > 1 else { continue }
                let consistent = counts.filter { $0 == first }.count
                if consistent > best.1 || (consistent == best.1 && first > best.2) { best = (d, consistent, first) }
            }
        }
        if best.1 == 0 { return (UInt8(ascii: ","), "no delimiter found in the first lines; assuming comma (one column)") }
        return (best.0, "delimiter sniffed from the first \(best.1) consistent record(s) of \(best.2) fields")
    }

    static func fieldCount(_ p: UnsafeBufferPointer<UInt8>, from: Int, delimiter: UInt8, quote: UInt8) -> Int {
        var inQ = false, fields = 1, atStart = true
        for i in from..<p.count {
            let c = p[i]
            if inQ { if c == quote { inQ = false }; continue }
            if c == quote && atStart { inQ = true; atStart = false } else if c == delimiter { fields += 1; atStart = true } else { atStart = false }
        }
        return fields
    }

    static func lineEnding(_ head: [UInt8]) -> String {
        guard let i = head.firstIndex(where: { $0 == 10 || $0 == 13 }) else { return "none" }
        if head[i] == 10 { return "LF" }
        return i + 1 < head.count && head[i + 1] == 10 ? "CRLF" : "CR"
    }
}

extension CSVOptions {
    /// Reads a user-written delimiter: `,`, `;`, `tab`, `|`, `comma`, `semicolon`, `pipe` or any single character.
    public static func parseDelimiter(_ s: String) throws(CRMFlowError) -> UInt8 {
        switch s.lowercased() {
        case ",", "comma": return UInt8(ascii: ",")
        case ";", "semicolon": return UInt8(ascii: ";")
        case "\t", "\\t", "tab": return 9
        case "|", "pipe": return UInt8(ascii: "|")
        default:
            guard s.utf8.count == 1, let b = s.utf8.first, b != 34, b != 10, b != 13 else {
                throw CRMFlowError(.usage, "invalid delimiter '\(s)'", hint: "use one character such as ',', ';', 'tab' or '|'")
            }
            return b
        }
    }
}

extension ColumnPlan {
    /// Reads `TYPE[:FORMAT]` (`date:%d/%m/%Y`, `money:EUR`, `integer`) as a declared plan.
    public static func parse(declaration spec: String) throws(CRMFlowError) -> ColumnPlan {
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        let typeName = parts.first.map(String.init) ?? ""
        let format = parts.count > 1 ? String(parts[1]) : nil
        guard let type = DataType(userName: typeName) else {
            throw CRMFlowError(.usage, "unknown type '\(typeName)'", hint: "use " + DataType.allCases.map(\.rawValue).joined(separator: ", "))
        }
        var plan = ColumnPlan(type: type, isDeclared: true)
        if type == .money { plan.currency = format ?? "" } else { plan.format = format }
        return plan
    }
}
