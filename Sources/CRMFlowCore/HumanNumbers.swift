/// Numbers written for people: thousands separators, a sensible number of decimals, percentages and currency.
public enum HumanNumbers {
    /// `1234567.891` → `1,234,568`; `1234.5` → `1,234.50`; `0.55556` → `0.5556`.
    public static func format(_ v: Double) -> String {
        guard v.isFinite else { return v.isNaN ? "–" : (v > 0 ? "∞" : "-∞") }
        let magnitude = abs(v)
        if magnitude >= 100_000 || v == v.rounded() { return grouped(v, decimals: 0) }
        if magnitude >= 10 { return grouped(v, decimals: 2) }
        return grouped(v, decimals: 4)
    }

    /// `0.5652` → `56.5%`.
    public static func percent(_ v: Double, decimals: Int = 1) -> String {
        grouped(v * 100, decimals: decimals) + "%"
    }

    /// `1234.5, "USD"` → `USD 1,234.50`.
    public static func money(_ v: Double, currency: String) -> String {
        (currency.isEmpty ? "" : currency + " ") + grouped(v, decimals: 2)
    }

    /// `v` rounded to `decimals` places with `,` between thousands; trailing zeros of 4-place values trimmed.
    public static func grouped(_ v: Double, decimals: Int) -> String {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(v) * scale).rounded()
        guard scaled < 9e18 else { return String(v) }
        let units = Int64(scaled)
        let whole = units / Int64(scale), fraction = units % Int64(scale)
        var digits = String(whole)
        var out = ""
        while digits.count > 3 {
            out = "," + String(digits.suffix(3)) + out
            digits.removeLast(3)
        }
        out = digits + out
        if decimals > 0, !(decimals == 4 && fraction == 0) {
            var f = String(fraction)
            f = String(repeating: "0", count: decimals - f.count) + f
            if decimals == 4 { while f.count > 1, f.hasSuffix("0") { f.removeLast() } }
            out += "." + f
        }
        return (v < 0 && units != 0 ? "-" : "") + out
    }
}
