import Foundation

/// Small numeric helpers shared by the analytics stages.
enum Stats {
    /// The middle value (mean of the two middle ones for an even count); nil for no values.
    static func median(_ xs: [Double]) -> Double? {
        guard !xs.isEmpty else { return nil }
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// `x` rounded to `places` decimals (output tables stay readable and byte-stable).
    static func rounded(_ x: Double, _ places: Int = 4) -> Double {
        let f = pow(10.0, Double(places))
        return (x * f).rounded() / f
    }
}
