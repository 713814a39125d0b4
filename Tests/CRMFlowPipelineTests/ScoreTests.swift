import Foundation
import Testing
@testable import CRMFlowCore
@testable import CRMFlowIO
@testable import CRMFlowPipeline
@testable import CRMFlowStages

@Suite struct ScoreTests {
    static let amount: [Double] = [5, 12, 30, 8, 50, 22, 15, 40, 9, 60, 18, 25, 7, 33, 45, 11, 28, 16, 55, 20, 14, 38, 6, 48]
    static let days: [Double] = [10, 40, 90, 20, 120, 60, 30, 100, 15, 150, 45, 70, 12, 80, 110, 25, 65, 35, 130, 50, 28, 95, 8, 115]
    static let won: [Double] = [1, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 1]

    static func standardised(_ xs: [Double]) -> [Double] {
        let mean = xs.reduce(0, +) / Double(xs.count)
        let sd = (xs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(xs.count - 1)).squareRoot()
        return xs.map { ($0 - mean) / sd }
    }

    /// Against scikit-learn 1.x `LogisticRegression(C=1.0, tol=1e-12)` on the same standardised features (its
    /// objective is ours with l2 = 1 / C; the intercept is not penalised): intercept 0.43207209, coefficients
    /// −0.76409523 and −1.1185346 (computed independently with scikit-learn, not with crmflow).
    @Test func coefficientsMatchAnIndependentFit() {
        let a = Self.standardised(Self.amount), d = Self.standardised(Self.days)
        let w = ScoreStage.fit(zip(a, d).map { [$0, $1] }, Self.won, l2: 1)
        #expect(abs(w[0] - 0.43207209) < 1e-5)
        #expect(abs(w[1] - -0.76409523) < 1e-5)
        #expect(abs(w[2] - -1.1185346) < 1e-5)
    }

    @Test func aucByRankSum() {
        #expect(ScoreStage.auc([0.9, 0.8, 0.3, 0.2], [1, 1, 0, 0]) == 1)
        #expect(ScoreStage.auc([0.9, 0.2, 0.3, 0.8], [1, 1, 0, 0]) == 0.5)
        #expect(ScoreStage.auc([0.5, 0.5], [1, 0]) == 0.5)
    }

    @Test func scoresOpenDealsWithGradesReasonsAndQualityFiles() throws {
        var rows: [[String: String?]] = []
        for i in Self.amount.indices {
            rows.append(["id": "D\(i)", "amount": String(Self.amount[i]), "owner": i % 2 == 0 ? "ann" : "bob", "closed": "true", "won": Self.won[i] > 0 ? "true" : "false"])
        }
        rows.append(["id": "OPEN1", "amount": "6", "owner": "ann", "closed": "false", "won": "false"])
        rows.append(["id": "OPEN2", "amount": "58", "owner": "bob", "closed": "false", "won": "false"])
        let deals = table(rows, columns: ["id", "amount", "owner", "closed", "won"])
        let dir = Paths.scratch("score")
        let yaml = "  deals:\n    ingest: { path: d.csv }\n  s:\n    score: { input: deals, method: logistic, train: closed, target: won, features: [amount, owner] }\n"
        let (report, outputs) = try runStages(yaml, given: ["deals": deals], keep: ["s"], outputDirectory: dir)
        let r = try #require(report.stages.first { $0.id == "s" })
        let t = try #require(outputs["s"])
        let scored = rendered(t).filter { $0[0].hasPrefix("OPEN") }
        // Small deals won in this history: the small open deal scores high, the large one low.
        let small = try #require(scored.first), large = try #require(scored.last)
        #expect(Int(small[6])! > 70 && Int(large[6])! < 30)
        #expect(small[7] == "A" && large[7] == "D")
        #expect(small[8].hasPrefix("amount +"))
        #expect(rendered(t).filter { !$0[0].hasPrefix("OPEN") }.allSatisfy { $0[5] == "null" })
        #expect(r.notes.contains { $0.hasPrefix("history too small to trust: ") })
        #expect(r.notes.contains { $0.hasPrefix("model quality on 4 held-out rows: ROC AUC ") })
        let coefficients = try String(contentsOfFile: dir + "/s.coefficients.csv", encoding: .utf8)
        #expect(coefficients.hasPrefix("feature,coefficient\n(intercept),"))
        #expect(coefficients.contains("\namount,-") && coefficients.contains("owner=bob,"))
        #expect(FileManager.default.fileExists(atPath: dir + "/s.quality.csv"))
    }

    @Test func pointsAndRotting() throws {
        let leads = table([
            ["title": "VP Sales", "idle": "40", "stage": "Prospecting", "since": "2024-12-01"],
            ["title": "Analyst", "idle": "3", "stage": "Negotiation", "since": "2024-12-25"],
        ], columns: ["title", "idle", "stage", "since"])
        let yaml = """
          leads:
            ingest: { path: l.csv }
          p:
            score:
              input: leads
              method: points
              rules:
                - { name: executive, when: "title like '%VP%'", add: 30 }
                - { name: inactive, when: "idle > 30", add: -50 }
                - { name: engaged, when: "idle <= 7", add: 20 }
          rot:
            score: { input: leads, method: rotting, stage: stage, since: since, limits: { Prospecting: 14, Negotiation: 30 } }

        """
        let (_, outputs) = try runStages(yaml, given: ["leads": leads], keep: ["p", "rot"], outputDirectory: Paths.scratch("points"))
        #expect(rendered(outputs["p"]).map { [$0[4], $0[5]] } == [["0.0", "executive +30; inactive -50"], ["20.0", "engaged +20"]])
        #expect(rendered(outputs["rot"]).map { [$0[4], $0[5]] } == [["30", "true"], ["6", "false"]])
    }
}
