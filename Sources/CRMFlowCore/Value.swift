/// One cell's value, for row access in tests, writers of small tables and diagnostics.
public enum Value: Sendable, Hashable, CustomStringConvertible {
    case null
    case string(String)
    case integer(Int64)
    case double(Double)
    case boolean(Bool)
    /// Days since 1970-01-01.
    case date(Int32)
    /// Microseconds since 1970-01-01T00:00:00Z.
    case timestamp(Int64)
    /// Minor units (cents) and an ISO 4217 currency code (may be empty).
    case money(Int64, String)

    public var isNull: Bool { if case .null = self { return true } else { return false } }

    /// The text a CSV writer would produce (empty for null).
    public var description: String {
        switch self {
        case .null: return ""
        case .string(let s): return s
        case .integer(let i): return String(i)
        case .double(let d): return DoubleFormatting.string(d)
        case .boolean(let b): return b ? "true" : "false"
        case .date(let d):
            var out: [UInt8] = []
            CivilDate.appendISO(days: Int(d), to: &out)
            return String(decoding: out, as: UTF8.self)
        case .timestamp(let t):
            var out: [UInt8] = []
            CivilDate.appendISO(micros: t, to: &out)
            return String(decoding: out, as: UTF8.self)
        case .money(let minor, let cur):
            var out: [UInt8] = []
            Money.appendAmount(minor, to: &out)
            return cur.isEmpty ? String(decoding: out, as: UTF8.self) : String(decoding: out, as: UTF8.self) + " " + cur
        }
    }
}

/// Shortest round-trip text for doubles, as JSON and CSV writers want it.
public enum DoubleFormatting {
    public static func string(_ d: Double) -> String {
        if d.isNaN || d.isInfinite { return d.isNaN ? "NaN" : (d < 0 ? "-Infinity" : "Infinity") }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) + ".0" }
        return d.description
    }
}
