import Testing
@testable import CRMFlowCore
@testable import CRMFlowIO

/// The distinct-value counter of `crmflow profile` (one table of slots, keys counted in prefetched batches).
@Suite struct ProfilerTests {
    /// Property: through growth, batches and the key 0, every key's count and first row are a dictionary's.
    @Test func hashCounterCountsAsADictionaryDoes() {
        var rng = SplitMix64(seed: 9)
        var counter = HashCounter()
        defer { counter.release() }
        var expected: [UInt64: (count: Int, row: Int)] = [:]
        var keys: [UInt64] = [], rows: [Int32] = []
        for row in 0..<50_000 {
            // Many repeats, some 0 keys, keys alike in their low bits.
            let r = rng.next()
            let key: UInt64 = r % 17 == 0 ? 0 : (r % 9_000) << 20
            keys.append(key)
            rows.append(Int32(row))
            if expected[key] == nil { expected[key] = (0, row) }
            expected[key]!.count += 1
            if keys.count == HashCounter.batch || row % 7 == 0 {
                counter.add(keys: keys, rows: rows, count: keys.count)
                keys.removeAll()
                rows.removeAll()
            }
        }
        counter.add(keys: keys, rows: rows, count: keys.count)
        #expect(counter.count == expected.count)
        let got = counter.entries().sorted { $0.row < $1.row }
        let want = expected.values.sorted { $0.row < $1.row }
        #expect(got.map(\.count) == want.map(\.count) && got.map(\.row) == want.map(\.row))
    }
}
