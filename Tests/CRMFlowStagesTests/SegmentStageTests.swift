import Foundation
import Testing
@testable import CRMFlowCore
@testable import CRMFlowStages

@Suite struct SegmentStageTests {
    @Test func quintilesOfFirstRanks() {
        // 10 equal values: ranks 1…10 in order; edges 1, 2.8, 4.6, 6.4, 8.2, 10.
        #expect(SegmentStage.quintileScores([Double](repeating: 1, count: 10), reversed: false) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
        #expect(SegmentStage.quintileScores([5, 4, 3, 2, 1], reversed: true) == [1, 2, 3, 4, 5])
        #expect(SegmentStage.segmentName(r: 5, f: 5) == "Champions" && SegmentStage.segmentName(r: 2, f: 5) == "Cannot Lose Them")
    }

    @Test func numericIdsRankAsNumbersAndOthersAsText() {
        let digits: [Value] = ["10", "2", "1", "007", "100"].map { .string($0) }
        #expect(SegmentStage.naturalOrder(digits).map { digits[$0].description } == ["1", "2", "007", "10", "100"])
        let mixed: [Value] = ["b10", "b2", "a1"].map { .string($0) }
        #expect(SegmentStage.naturalOrder(mixed).map { mixed[$0].description } == ["a1", "b10", "b2"])
    }
}
