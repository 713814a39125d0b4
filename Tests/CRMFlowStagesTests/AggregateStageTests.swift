import Foundation
import Testing
@testable import CRMFlowCore
@testable import CRMFlowStages

@Suite struct AggregateStageTests {
    @Test(arguments: [
        ("sum(x)", true), ("count(*)", true), ("round(sum(x), 2)", true), ("coalesce(sum(x), 0)", true), ("sum(a) - sum(b)", true),
        ("sum(x) * 2", true), ("sum(x) / 100", true), ("avg(x)", false), ("count_if(w) / count(*)", false), ("max(x)", false),
        ("sum(x) / count(*)", false), ("median(x)", false),
    ])
    func totalsAreTheAggregatesThatAreZeroOverNoRows(_ text: String, _ additive: Bool) throws {
        #expect(AggregateStage.isAdditive(try ExprParser.parse(text)) == additive, "\(text)")
    }
}
