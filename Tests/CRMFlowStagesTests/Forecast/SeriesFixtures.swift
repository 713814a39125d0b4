import Foundation

/// Named series the forecasting tests compare against published fits.
enum SeriesFixtures {
    static func load(_ name: String) -> [Double] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/series/\(name).csv")
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").dropFirst().compactMap { Double($0) }
    }
    /// Box & Jenkins' airline passengers, 1949–1960, monthly (thousands): R's `datasets::AirPassengers`.
    static let airPassengers = load("AirPassengers")
}
