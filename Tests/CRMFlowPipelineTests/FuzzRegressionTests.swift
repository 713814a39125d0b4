import Foundation
import Testing
@testable import CRMFlowCore
@testable import CRMFlowFuzzTargets
@testable import CRMFlowPipeline
@testable import CRMFlowStages

/// Every input under Tests/Fixtures/fuzz/<target>/ went through the fuzz target's body once and crashed it (or is a
/// hostile shape kept beside those); each must now go through cleanly. `make fuzz` adds them to its seed corpus.
@Suite struct FuzzRegressionTests {
    struct Input: CustomTestStringConvertible, Sendable {
        var target: String
        var file: String
        var testDescription: String { "\(target)/\(file)" }
    }

    static let inputs: [Input] = FuzzTargets.names.flatMap { t in
        ((try? FileManager.default.contentsOfDirectory(atPath: Paths.fixture("fuzz/\(t)").path)) ?? []).sorted().map { Input(target: t, file: $0) }
    }

    @Test func thereAreInputsForEveryTarget() {
        #expect(Set(Self.inputs.map(\.target)) == Set(FuzzTargets.names))
    }

    @Test(arguments: inputs)
    func replays(_ input: Input) throws {
        let bytes = Array(try Data(contentsOf: Paths.fixture("fuzz/\(input.target)/\(input.file)")))
        FuzzTargets.run(input.target, bytes)
    }

    @Test func deepExpressionsAreErrorsNotCrashes() {
        for (text, message) in [(String(repeating: "(", count: 1_000) + "1" + String(repeating: ")", count: 1_000), "nested more than 100 levels"),
                                (String(repeating: "not ", count: 1_000) + "true", "nested more than 100 levels"),
                                (String(repeating: "(", count: 50_000) + "1" + String(repeating: ")", count: 50_000), "too long"),
                                (Array(repeating: "1", count: 300).joined(separator: " + "), "nested too deeply (300 levels; at most 256)"),
                                (Array(repeating: "1", count: 20_001).joined(separator: ","), "too long")] {
            do {
                _ = try ExprParser.parse(text)
                Issue.record("expected an error for \(text.prefix(20))…")
            } catch {
                #expect(error.message.contains(message), "\(error.message)")
            }
        }
    }

    @Test func theDeepestAllowedExpressionRunsOnAWorkerThread() throws {
        let sum = Array(repeating: "n", count: 250).joined(separator: " + ")
        let (report, out) = try runStages("  t:\n    ingest: { path: given.csv }\n  f:\n    filter: { input: t, where: \"\(sum) > 250\" }\n",
                                          given: ["t": table([["n": "1"], ["n": "2"]], columns: ["n"])], keep: ["f"])
        #expect(report.exitStatus == 0)
        #expect(rendered(out["f"]) == [["2"]])
    }

    @Test func yamlBombsAndDeepNestingAreDiagnostics() throws {
        for (file, message) in [("yaml-laughs", "expands to more than 200000 YAML values"), ("yaml-deep", "nests [ ] and { } more than 200 levels deep")] {
            let text = try String(contentsOf: Paths.fixture("fuzz/pipeline/\(file)"), encoding: .utf8)
            let (p, diagnostics) = load(text, checkSchemas: false)
            #expect(p == nil)
            #expect(diagnostics.contains { $0.code == .yamlSyntax && $0.message.contains(message) }, "\(diagnostics.map(\.message))")
        }
    }
}
