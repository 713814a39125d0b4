import CRMFlowCore

/// How the report writes a number for people: one rule per kind of measure, the same in tiles, charts, tables and
/// Markdown (the section CSV and JSON keep exact values).
///
/// - money: the currency's symbol (`$`, `€`, `£`, `¥`) or code, whole units from 1,000 on and cents below when they are
///   not zero (`$57,201`, `$12.50`, `-$1,250`);
/// - counts: whole numbers with separators (`1,234`);
/// - rates and shares: percentages with one decimal (`55.6%`);
/// - identifiers and years: as they are (`2024`);
/// - other numbers: separators, no decimals from 1,000 on, two below 1,000 (`1.35`), four below 1 (`0.0421`).
public enum Measure: Sendable, Hashable {
    case money(String)
    case count
    case rate
    case plain
    case number

    /// Written in a pipeline's `formats:` (e.g. `money USD`, `count`, `percent`, `number`).
    public init?(written: String) {
        let parts = written.split(separator: " ").map(String.init)
        switch parts.first?.lowercased() {
        case "money": self = .money(parts.count > 1 ? parts[1].uppercased() : "")
        case "count": self = .count
        case "percent", "rate": self = .rate
        case "number": self = .number
        case "plain", "id", "text": self = .plain
        default: return nil
        }
    }

    static let currencyCodes: Set<String> = ["USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "NZD", "CNY", "INR", "SEK", "NOK", "DKK", "PLN", "BRL", "MXN", "SGD", "HKD", "ZAR"]
    static let moneyNames: Set<String> = ["amount", "revenue", "quota", "monetary", "velocity", "price", "arr", "mrr", "acv", "ltv"]
    static let countNames: Set<String> = ["drop", "deals", "won", "lost", "open", "responses", "count", "records", "rows", "customers", "accounts", "meetings", "emails", "activities", "frequency"]

    /// The kind a column's name and type say (a `formats:` entry overrides it).
    public static func of(name: String, type: DataType) -> Measure {
        let lower = name.lowercased()
        if lower.hasSuffix("_order") || lower.hasSuffix("_id") || lower == "id" || lower == "year" || lower.hasSuffix("_score") && type == .integer { return .plain }
        if isShare(lower) { return .rate }
        if let underscore = lower.lastIndex(of: "_") {
            let code = lower[lower.index(after: underscore)...].uppercased()
            if currencyCodes.contains(code) { return .money(code) }
        }
        if type == .money { return .money("") }
        let words = lower.split(separator: "_").map(String.init)
        if type != .integer, words.contains(where: { moneyNames.contains($0) }) || lower.contains("deal_size") { return .money("") }
        if type == .integer { return .count }
        if words.contains(where: { countNames.contains($0) }) || lower.hasPrefix("n_") || lower.hasSuffix("_count") { return .count }
        return .number
    }

    /// Whether a column holds shares (shown as percentages).
    public static func isShare(_ name: String) -> Bool {
        ["conversion", "rate", "share", "attainment", "change", "growth", "probability", "pct", "csat", "win_rate"].contains { name.contains($0) } && !name.hasSuffix("_avg")
    }

    static func symbol(_ code: String) -> String? {
        switch code {
        case "USD": "$"
        case "EUR": "€"
        case "GBP": "£"
        case "JPY": "¥"
        default: nil
        }
    }

    /// A value written for people.
    public func format(_ v: Value) -> String {
        switch v {
        case .null: return "–"
        case .integer(let i):
            switch self {
            case .plain: return String(i)
            case .money(let c): return Self.money(Double(i), c)
            case .rate: return HumanNumbers.percent(Double(i))
            default: return HumanNumbers.grouped(Double(i), decimals: 0)
            }
        case .double(let d): return format(d)
        case .money(let minor, let c):
            if case .money(let declared) = self, c.isEmpty { return Self.money(Double(minor) / 100, declared) }
            return Self.money(Double(minor) / 100, c)
        default: return v.description
        }
    }

    public func format(_ d: Double) -> String {
        guard d.isFinite else { return d.isNaN ? "–" : (d > 0 ? "∞" : "-∞") }
        switch self {
        case .money(let c): return Self.money(d, c)
        case .count: return HumanNumbers.grouped(d, decimals: 0)
        case .rate: return HumanNumbers.percent(d)
        case .plain: return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
        case .number:
            let a = abs(d)
            if a >= 1000 || d == d.rounded() { return HumanNumbers.grouped(d, decimals: 0) }
            return HumanNumbers.grouped(d, decimals: a >= 1 ? 2 : 4)
        }
    }

    /// An axis tick: money and numbers shortened (`$50k`, `1.2M`), rates as percentages.
    public func short(_ v: Double) -> String {
        let a = abs(v)
        let sign = v < 0 ? "-" : ""
        var body: String
        if a >= 1_000_000 { body = HumanNumbers.grouped(a / 1_000_000, decimals: a >= 10_000_000 || (a / 1_000_000).rounded() == a / 1_000_000 ? 0 : 1) + "M" }
        else if a >= 10_000 { body = HumanNumbers.grouped(a / 1000, decimals: 0) + "k" }
        else if case .rate = self { return HumanNumbers.percent(v, decimals: a * 100 == (a * 100).rounded() ? 0 : 1) }
        else { body = a == a.rounded() ? HumanNumbers.grouped(a, decimals: 0) : HumanNumbers.grouped(a, decimals: a >= 10 ? 1 : 2) }
        if case .money(let c) = self { body = (Self.symbol(c) ?? (c.isEmpty ? "" : c + " ")) + body }
        return sign + body
    }

    static func money(_ v: Double, _ code: String) -> String {
        let a = abs(v)
        let cents = a < 1000 && (a * 100).rounded() != (a.rounded() * 100)
        let digits = HumanNumbers.grouped(a, decimals: cents ? 2 : 0)
        let prefix = symbol(code) ?? (code.isEmpty ? "" : code + " ")
        return (v < 0 && digits.contains(where: { $0 != "0" && $0 != "," && $0 != "." }) ? "-" : "") + prefix + digits
    }
}

/// A section's number formats: `formats:` entries by column, then the kind the name and type say; money of no stated
/// currency takes the report's `currency`.
public struct Formats: Sendable {
    public var byColumn: [String: Measure] = [:]
    public var currency: String = ""

    public init(byColumn: [String: Measure] = [:], currency: String = "") {
        self.byColumn = byColumn
        self.currency = currency
    }

    public func measure(_ name: String, _ type: DataType) -> Measure {
        let m = byColumn[name] ?? Measure.of(name: name, type: type)
        if case .money("") = m, !currency.isEmpty { return .money(currency) }
        return m
    }
}
