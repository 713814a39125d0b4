import Foundation
import Testing
@testable import CRMFlowCore
@testable import CRMFlowPipeline
@testable import CRMFlowStages

struct DiagnosticCase: CustomTestStringConvertible, Sendable {
    let code: DiagnosticCode
    let yaml: String
    var testDescription: String { "\(code) \(code.name)" }
}

private let contacts = "sample-data/salesforce/contacts.csv"

/// One pipeline file per diagnostic code; the rendered diagnostics are golden files under Tests/Fixtures/diagnostics/.
/// Re-record with CRMFLOW_RECORD_GOLDEN=1 (the test then fails so a person reviews the diff).
@Suite struct DiagnosticsTests {
    static let cases: [DiagnosticCase] = [
        DiagnosticCase(code: .yamlSyntax, yaml: "pipeline: x\nstages:\n  a: [1, 2\n  b: 3\n"),
        DiagnosticCase(code: .wrongShape, yaml: "- pipeline: x\n- stages\n"),
        DiagnosticCase(code: .unknownTopLevelKey, yaml: "pipeline: x\nstagse: {}\nstages: {}\n"),
        DiagnosticCase(code: .missingTopLevelKey, yaml: "pipeline: x\n"),
        DiagnosticCase(code: .duplicateKey, yaml: "pipeline: x\nstages:\n  a:\n    limit: { input: b, rows: 1, rows: 2 }\n  b:\n    ingest: { path: \(contacts) }\n"),
        DiagnosticCase(code: .undefinedVariable, yaml: "pipeline: x\nvars: { data: sample-data }\nstages:\n  a:\n    ingest: { path: \"${dta}/salesforce/contacts.csv\" }\n"),
        DiagnosticCase(code: .missingEnvironment, yaml: "pipeline: x\nstages:\n  a:\n    ingest: { path: \"${env:CRMFLOW_TEST_UNSET}/contacts.csv\" }\n"),
        DiagnosticCase(code: .unknownKind, yaml: "pipeline: x\nstages:\n  a:\n    ingset: { path: \(contacts) }\n"),
        DiagnosticCase(code: .kindCount, yaml: "pipeline: x\nstages:\n  a:\n    ingest: { path: \(contacts) }\n    filter: { input: a, where: \"true\" }\n"),
        DiagnosticCase(code: .duplicateStage, yaml: "pipeline: x\nstages:\n  a:\n    ingest: { path: \(contacts) }\n  a:\n    limit: { input: a, rows: 1 }\n"),
        DiagnosticCase(code: .invalidStageID, yaml: "pipeline: x\nstages:\n  2nd pass:\n    ingest: { path: \(contacts) }\n"),
        DiagnosticCase(code: .unknownOption, yaml: "pipeline: x\nstages:\n  a:\n    ingest: { path: \(contacts), delimeter: \";\" }\n"),
        DiagnosticCase(code: .missingOption, yaml: "pipeline: x\nstages:\n  a:\n    ingest: { path: \(contacts) }\n  b:\n    filter: { input: a }\n"),
        DiagnosticCase(code: .optionShape, yaml: "pipeline: x\nstages:\n  a:\n    ingest: { path: \(contacts) }\n  b:\n    filter: { input: a, where: [x, y] }\n"),
        DiagnosticCase(code: .invalidValue, yaml: "pipeline: x\nstages:\n  a:\n    ingest: { path: \(contacts) }\n  b:\n    join: { left: a, right: a, on: [Id], type: outer }\n"),
        DiagnosticCase(code: .outputOutsideOut, yaml: "pipeline: x\nstages:\n  a:\n    ingest: { path: \(contacts) }\n  b:\n    emit: { input: a, path: ../../etc/x.csv }\n  c:\n    emit: { input: a, path: /etc/y.csv }\n"),
        DiagnosticCase(code: .unknownInput, yaml: "pipeline: x\nstages:\n  contacts:\n    ingest: { path: \(contacts) }\n  b:\n    filter: { input: contact, where: \"true\" }\n"),
        DiagnosticCase(code: .cycle, yaml: "pipeline: x\nstages:\n  a:\n    filter: { input: c, where: \"true\" }\n  b:\n    filter: { input: a, where: \"true\" }\n  c:\n    filter: { input: b, where: \"true\" }\n"),
        DiagnosticCase(code: .inputCount, yaml: "pipeline: x\nstages:\n  a:\n    ingest: { path: \(contacts) }\n  b:\n    filter: { input: [a, a], where: \"true\" }\n"),
        DiagnosticCase(code: .expressionSyntax, yaml: "pipeline: x\nstages:\n  a:\n    ingest: { path: \(contacts) }\n  b:\n    filter: { input: a, where: \"Email == 'x' and\" }\n"),
        DiagnosticCase(code: .expressionType, yaml: "pipeline: x\nstages:\n  a:\n    ingest: { path: \(contacts), columns: { Created Date: date } }\n  b:\n    filter: { input: a, where: \"\\\"Created Date\\\" + 1 > 'x'\" }\n"),
        DiagnosticCase(code: .unknownColumn, yaml: "pipeline: x\nstages:\n  a:\n    ingest: { path: \(contacts) }\n  b:\n    filter: { input: a, where: \"Emial is not null\" }\n"),
        DiagnosticCase(code: .unknownFunction, yaml: "pipeline: x\nstages:\n  a:\n    ingest: { path: \(contacts) }\n  b:\n    derive: { input: a, columns: { e: \"lowr(Email)\" } }\n"),
        DiagnosticCase(code: .inputFileMissing, yaml: "pipeline: x\nstages:\n  a:\n    ingest: { path: sample-data/salesforce/contact.csv }\n"),
        DiagnosticCase(code: .inputFileUnreadable, yaml: "pipeline: x\nstages:\n  a:\n    ingest: { path: sample-data/salesforce, format: csv }\n"),
        DiagnosticCase(code: .testProblem, yaml: "pipeline: x\nstages:\n  a:\n    ingest: { path: \(contacts) }\ntests:\n  - name: t\n    given: { b: [] }\n    expect: { a: [] }\n"),
    ]

    @Test func everyCodeHasACase() {
        #expect(Set(Self.cases.map(\.code)) == Set(DiagnosticCode.all))
    }

    @Test(arguments: cases)
    func rendersGolden(_ c: DiagnosticCase) throws {
        let file = "pipelines/\(c.code.name).yaml"
        let (_, diagnostics) = load(c.yaml, file: file)
        #expect(diagnostics.contains { $0.code == c.code }, "expected \(c.code) among \(diagnostics.map(\.code))")
        #expect(diagnostics.allSatisfy { $0.location != nil }, "every diagnostic names file:line:column")
        let text = DiagnosticRenderer.render(diagnostics, sources: [file: c.yaml])
        let golden = Paths.fixture("diagnostics/\(c.code).txt")
        if ProcessInfo.processInfo.environment["CRMFLOW_RECORD_GOLDEN"] != nil {
            try FileManager.default.createDirectory(at: golden.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: golden, atomically: true, encoding: .utf8)
            Issue.record("golden re-recorded at \(golden.path); review the diff and run again")
            return
        }
        let expected = try String(contentsOf: golden, encoding: .utf8)
        #expect(text == expected)
    }

    @Test func validationReportsEveryProblemAtOnceInFileOrder() {
        let yaml = """
        pipeline: many
        stages:
          contacts:
            ingest: { path: \(contacts) }
          a:
            filter: { input: contact, where: "Email = 1" }
          b:
            filtr: { input: contacts }
          c:
            sort: { input: contacts, by: [Emial] }
        """
        let (p, d) = load(yaml)
        #expect(p == nil)
        #expect(d.map(\.code) == [.unknownInput, .unknownKind, .unknownColumn])
        #expect(d.map { $0.location!.line } == [6, 8, 10])
        #expect(d[2].hint == "did you mean 'Email'?")
    }

    @Test func twoEmitsToOneFileAreRefused() {
        let yaml = "pipeline: x\nstages:\n  a:\n    ingest: { path: \(contacts) }\n  b:\n    emit: { input: a, path: x.csv }\n  c:\n    emit: { input: a, path: ./x.csv }\n"
        let (p, d) = load(yaml)
        #expect(p == nil)
        #expect(d.map(\.message) == ["stages 'b' and 'c' both write './x.csv'"])
        #expect(d.first?.location?.line == 8)
    }

    @Test func secretsFromTheEnvironmentAreNeverShown() {
        let yaml = "pipeline: x\nstages:\n  a:\n    ingest: { path: \"${env:CRMFLOW_SECRET_DIR}/nope.csv\" }\n"
        let (_, d) = load(yaml, environment: ["CRMFLOW_SECRET_DIR": "/s3cr3t"])
        #expect(d.map(\.code) == [.inputFileMissing])
        #expect(!d[0].message.contains("s3cr3t"))
        #expect(d[0].message.contains("${env:CRMFLOW_SECRET_DIR}"))
    }

    @Test func variablesAreSubstitutedAndOverridable() throws {
        let yaml = "pipeline: x\nvars: { data: nowhere }\nstages:\n  a:\n    ingest: { path: \"${data}/salesforce/contacts.csv\" }\n"
        let (bad, d) = load(yaml)
        #expect(bad == nil)
        #expect(d.map(\.code) == [.inputFileMissing])
        let (good, d2) = load(yaml, variables: ["data": "sample-data"])
        #expect(d2.isEmpty)
        #expect(good?.stage("a")?.config.string("path") == "sample-data/salesforce/contacts.csv")
    }
}
