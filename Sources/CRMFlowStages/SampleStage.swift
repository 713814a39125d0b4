import CRMFlowCore
import CRMFlowIO

/// `sample`: a seeded random subset, in input order.
public struct SampleStage: Stage {
    public static let spec = StageSpec(
        kind: "sample", summary: "Keep a seeded random subset of rows (exactly `rows` rows, or each row with probability `fraction`), in input order. The same seed and input give the same sample.",
        options: [
            OptionSpec("input", .scalar, required: true, isInput: true, "The stage sampled."),
            OptionSpec("rows", .scalar, "Exact number of rows to keep."),
            OptionSpec("fraction", .scalar, "Share of rows to keep, 0 to 1."),
            OptionSpec("seed", .scalar, default: "42", "Random seed."),
        ],
        example: """
        qa_sample:
          sample: { input: contacts, rows: 100, seed: 7 }
        """)

    let rows: Int?
    let fraction: Double?
    let seed: UInt64

    public init?(_ config: StageConfig) {
        rows = config.int("rows", min: 0)
        fraction = config.number("fraction")
        seed = UInt64(bitPattern: Int64(config.int("seed") ?? 42))
        if (rows == nil) == (fraction == nil) {
            config.log.add(.missingOption, "sample stage '\(config.id)' needs exactly one of rows or fraction", at: config.kindLocation)
            return nil
        }
        if let f = fraction, !(0...1).contains(f) {
            config.log.add(.invalidValue, "fraction must be between 0 and 1", at: config.node("fraction")?.location)
            return nil
        }
    }

    public func outputSchema(_ inputs: [KnownSchema], _ check: SchemaCheck) -> KnownSchema { inputs.first ?? nil }

    public func inputColumns(forOutput needed: Set<String>?) -> [Set<String>?] { [needed] }

    public func run(_ inputs: [StageData], _ context: RunContext) throws(StageFailure) -> StageResult {
        let input = inputs[0]
        let n = input.table.rowCount
        var rng = SplitMix64(seed: seed)
        var keep: [Int]
        if let rows {
            // Reservoir sampling (algorithm R), then input order.
            keep = Array(0..<min(rows, n))
            if rows < n {
                for i in rows..<n {
                    let j = Int(rng.next() % UInt64(i + 1))
                    if j < rows { keep[j] = i }
                }
            }
            keep.sort()
        } else {
            let f = fraction ?? 0
            keep = (0..<n).filter { _ in Double(rng.next() >> 11) / Double(1 << 53) < f }
        }
        let out = input.selecting(keep)
        return StageResult(data: out, accounting: Accounting(rowsIn: n, rowsOut: keep.count, removed: ["not sampled": n - keep.count]))
    }
}

