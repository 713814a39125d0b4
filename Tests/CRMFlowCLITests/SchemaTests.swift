import Foundation
import Testing
@testable import CRMFlowPipeline
@testable import CRMFlowStages

/// `crmflow schema` against every example pipeline, checked by the reference JSON Schema validator (Python's
/// jsonschema, draft-07) as an editor would read the YAML. Skipped without python3's jsonschema and yaml, unless
/// CRMFLOW_REQUIRE_SCHEMA_CHECK=1 (CI).
@Suite(.serialized) struct SchemaTests {
    static func validatorAvailable() throws -> Bool {
        let probe = try CLI.tool("/usr/bin/env", ["python3", "-c", "import jsonschema, yaml"])
        if probe.status == 0 { return true }
        if ProcessInfo.processInfo.environment["CRMFLOW_REQUIRE_SCHEMA_CHECK"] == "1" { Issue.record("python3 jsonschema/yaml missing: \(probe.out)") }
        return false
    }

    static func schema() throws -> String {
        let path = CLI.scratch("crmflow.schema.json")
        let r = try CLI.run(["schema", "-o", path])
        #expect(r.status == 0, "\(r.stderr)")
        return path
    }

    static func check(_ schema: String, _ files: [String]) throws -> (status: Int32, out: String) {
        try CLI.tool("/usr/bin/env", ["python3", CLI.packageRoot.appendingPathComponent("scripts/check-schema.py").path, schema] + files)
    }

    @Test func everyExamplePipelineAndEveryStageExampleValidates() throws {
        guard try Self.validatorAvailable() else { return }
        let schema = try Self.schema()
        var files: [String] = []
        let root = CLI.packageRoot.path
        for dir in ["pipelines", "Benchmarks"] {
            let e = FileManager.default.enumerator(atPath: root + "/" + dir)
            while let f = e?.nextObject() as? String { if f.hasSuffix(".yaml") { files.append(root + "/" + dir + "/" + f) } }
        }
        // Each stage kind's documented example, as the stages of a pipeline.
        for type in StageRegistry.all {
            let body = type.spec.example.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n")
            files.append(CLI.write("pipeline: example-\(type.spec.kind)\nstages:\n" + body + "\n", "example-\(type.spec.kind).yaml"))
        }
        #expect(files.count >= StageRegistry.all.count + 10)
        let r = try Self.check(schema, files)
        #expect(r.status == 0, "\(r.out)")
        #expect(r.out.components(separatedBy: ": valid\n").count - 1 == files.count, "\(r.out)")
    }

    /// The schema says no where the validator says no: an unknown option, a misspelt kind, a value outside the
    /// allowed ones, a clean step that does not exist, a missing required option.
    @Test func theSchemaRefusesWhatTheValidatorRefuses() throws {
        guard try Self.validatorAvailable() else { return }
        let schema = try Self.schema()
        let bad = CLI.write("""
        pipeline: bad
        stages:
          deals:
            ingest: { path: deals.csv, delimter: ";" }
          won:
            filtr: { input: deals, where: "is_won" }
          f:
            forecast: { input: deals, date: close_date, method: prophet }
          c:
            clean: { input: deals, steps: [ { trim: all }, { sparkle: all } ] }
          a:
            aggregate: { input: deals, group_by: [owner] }
        """, "bad.yaml")
        let r = try Self.check(schema, [bad])
        #expect(r.status == 1)
        for expected in ["stages/deals/ingest: Additional properties are not allowed ('delimter' was unexpected)",
                         "stages/won: Additional properties are not allowed ('filtr' was unexpected)",
                         "stages/f/forecast/method: 'prophet' is not one of",
                         "stages/c/clean/steps/1: Additional properties are not allowed ('sparkle' was unexpected)",
                         "stages/a/aggregate: 'aggregates' is a required property"] {
            #expect(r.out.contains(expected), "missing: \(expected)\n\(r.out)")
        }
        // And the validator agrees on each.
        let v = try CLI.run(["validate", bad])
        #expect(v.status != 0)
        for word in ["delimter", "filtr", "prophet", "sparkle", "aggregates"] { #expect(v.stderr.contains(word), "\(word): \(v.stderr)") }
    }

    /// The committed schema the example pipelines name on their first line is the current one.
    @Test func theCommittedSchemaIsCurrent() throws {
        let committed = try String(contentsOf: CLI.packageRoot.appendingPathComponent("docs/pipeline.schema.json"), encoding: .utf8)
        #expect(committed == PipelineSchema.json(), "docs/pipeline.schema.json is stale: run `make docs`")
        for f in try FileManager.default.contentsOfDirectory(atPath: CLI.packageRoot.path + "/pipelines") where f.hasSuffix(".yaml") {
            let text = try String(contentsOfFile: CLI.packageRoot.path + "/pipelines/" + f, encoding: .utf8)
            #expect(text.hasPrefix("# yaml-language-server: $schema=../docs/pipeline.schema.json\n"), "\(f)")
        }
    }

    @Test func theSchemaNamesEveryKindAndOption() throws {
        let json = PipelineSchema.json()
        let parsed = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let definitions = try #require(parsed?["definitions"] as? [String: Any])
        for type in StageRegistry.all {
            let kind = try #require(definitions["kind_\(type.spec.kind)"] as? [String: Any], "\(type.spec.kind)")
            let properties = try #require(kind["properties"] as? [String: Any])
            #expect(Set(properties.keys) == Set(type.spec.options.map(\.name)), "\(type.spec.kind)")
        }
    }
}
