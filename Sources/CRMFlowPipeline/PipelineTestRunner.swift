import CRMFlowCore
import CRMFlowIO
import CRMFlowStages
import Foundation

/// One `tests:` case of a pipeline file: rows given for some stages, rows (or counts) expected from others.
public struct PipelineTestCase: Sendable {
    public var name: String
    public var location: SourceLocation
    public var given: [String: StageData]
    public var expected: [String: Expectation]

    public struct Expectation: Sendable {
        public var rows: [[(String, String?)]]?
        public var count: Int?
        public var rejected: Int?
        public var ordered: Bool
        public var location: SourceLocation
    }
}

/// The outcome of one test case.
public struct PipelineTestOutcome: Sendable {
    public var name: String
    public var failures: [String]
    public var passed: Bool { failures.isEmpty }
}

/// Reads and runs the `tests:` block of a pipeline.
public enum PipelineTestRunner {
    /// Parses the test cases; problems go to `log`.
    public static func cases(_ pipeline: Pipeline, log: DiagnosticLog) -> [PipelineTestCase] {
        guard let node = pipeline.tests else { return [] }
        guard let items = node.items else {
            log.add(.testProblem, "`tests:` must be a list of cases", at: node.location, hint: "- name: ...\n  given: {stage: [rows]}\n  expect: {stage: [rows]}")
            return []
        }
        var out: [PipelineTestCase] = []
        for item in items {
            guard let entries = item.entries else { log.add(.testProblem, "a test case must be a mapping with name, given and expect", at: item.location); continue }
            for e in entries where !["name", "given", "expect"].contains(e.key) {
                log.add(.testProblem, "unknown test key '\(e.key)'", at: e.keyLocation, length: e.key.count,
                        hint: Suggest.nearest(e.key, among: ["name", "given", "expect"]).map { "did you mean '\($0)'?" } ?? "use name, given, expect")
            }
            let name = item["name"]?.scalar ?? "test at line \(item.location.line)"
            var given: [String: StageData] = [:]
            for g in item["given"]?.entries ?? [] {
                guard pipeline.stage(g.key) != nil else {
                    log.add(.testProblem, "test '\(name)' gives rows for unknown stage '\(g.key)'", at: g.keyLocation, length: g.key.count,
                            hint: Suggest.nearest(g.key, among: pipeline.stages.map(\.id)).map { "did you mean '\($0)'?" })
                    continue
                }
                guard let rows = parseRows(g.value, log: log) else { continue }
                given[g.key] = StageData(table: table(rows), origins: RowOrigins(file: "test '\(name)' given \(g.key)", lines: (0..<rows.count).map { Int32($0 + 1) }))
            }
            var expected: [String: PipelineTestCase.Expectation] = [:]
            guard let expect = item["expect"]?.entries, !expect.isEmpty else {
                log.add(.testProblem, "test '\(name)' expects nothing", at: item.location, hint: "add expect: {stage: [rows]}")
                continue
            }
            for x in expect {
                guard pipeline.stage(x.key) != nil else {
                    log.add(.testProblem, "test '\(name)' expects rows from unknown stage '\(x.key)'", at: x.keyLocation, length: x.key.count,
                            hint: Suggest.nearest(x.key, among: pipeline.stages.map(\.id)).map { "did you mean '\($0)'?" })
                    continue
                }
                var e = PipelineTestCase.Expectation(rows: nil, count: nil, rejected: nil, ordered: true, location: x.keyLocation)
                if x.value.items != nil {
                    e.rows = parseRows(x.value, log: log)
                } else if let m = x.value.entries {
                    for f in m {
                        switch f.key {
                        case "rows": e.rows = parseRows(f.value, log: log)
                        case "count": e.count = f.value.scalar.flatMap { Int($0) }
                        case "rejected": e.rejected = f.value.scalar.flatMap { Int($0) }
                        case "ordered": e.ordered = f.value.scalar != "false"
                        default:
                            log.add(.testProblem, "unknown expectation '\(f.key)'", at: f.keyLocation, length: f.key.count, hint: "use rows, count, rejected or ordered")
                        }
                    }
                } else {
                    log.add(.testProblem, "expect for '\(x.key)' must be a list of rows or {rows, count, rejected, ordered}", at: x.value.location)
                    continue
                }
                expected[x.key] = e
            }
            out.append(PipelineTestCase(name: name, location: item.location, given: given, expected: expected))
        }
        return out
    }

    static func parseRows(_ node: ConfigNode, log: DiagnosticLog) -> [[(String, String?)]]? {
        if node.isNull { return [] }
        guard let items = node.items else { log.add(.testProblem, "rows must be a list of mappings", at: node.location); return nil }
        var rows: [[(String, String?)]] = []
        for item in items {
            guard let entries = item.entries else { log.add(.testProblem, "a row must be a mapping of column: value", at: item.location); return nil }
            rows.append(entries.map { ($0.key, $0.value.isNull ? nil : ($0.value.scalar ?? "")) })
        }
        return rows
    }

    /// A table from given rows; column types are inferred from the values as for a CSV file.
    static func table(_ rows: [[(String, String?)]], columns: [String] = []) -> Table {
        var names: [String] = columns
        for r in rows { for (k, _) in r where !names.contains(k) { names.append(k) } }
        var fields: [Field] = []
        var columns: [Column] = []
        for name in names {
            var text = StringBuffer()
            var validity = Bitmap()
            var evidence = ColumnEvidence()
            for r in rows {
                let v = r.first { $0.0 == name }?.1 ?? nil
                if let v {
                    text.append(v)
                    validity.append(true)
                    var s = v
                    s.withUTF8 { evidence.observe($0) }
                } else {
                    text.appendEmpty()
                    validity.append(false)
                    evidence.observeNull()
                }
            }
            let plan = TypeInference.decide(name: name, evidence: evidence).plan
            let column = ColumnConversion.convert(text, validity: validity, plan: plan).column
            fields.append(Field(name: name, type: column.type))
            columns.append(column)
        }
        return Table(schema: Schema(fields), columns: columns, rowCount: rows.count)
    }

    /// Runs every case; emit stages write into a temporary directory.
    public static func run(_ pipeline: Pipeline, cases: [PipelineTestCase], options: Runner.Options) -> [PipelineTestOutcome] {
        cases.map { c in
            var o = options
            o.given = c.given
            o.targets = Set(c.expected.keys)
            o.writeRejects = false
            let tmp = (NSTemporaryDirectory() as NSString).appendingPathComponent("crmflow-test-\(UUID().uuidString)")
            o.outputDirectory = tmp
            defer { try? FileManager.default.removeItem(atPath: tmp) }
            let runner = Runner(pipeline: pipeline, options: o)
            runner.keep = Set(c.expected.keys)
            let report = runner.run()
            var failures: [String] = []
            for (stage, e) in c.expected.sorted(by: { $0.key < $1.key }) {
                guard let r = report.stages.first(where: { $0.id == stage }) else { failures.append("\(stage): did not run"); continue }
                guard case .succeeded = r.status, let data = runner.kept[stage] else {
                    failures.append("\(stage): \(r.status.label)" + ({ if case .failed(let m) = r.status { return ": \(m)" }; if case .skipped(let m) = r.status { return ": \(m)" }; return "" })())
                    continue
                }
                if let n = e.count, n != data.table.rowCount { failures.append("\(stage): expected \(n) rows, got \(data.table.rowCount)") }
                if let n = e.rejected, n != r.accounting?.rejected { failures.append("\(stage): expected \(n) rejected, got \(r.accounting?.rejected ?? 0)") }
                if let rows = e.rows { failures.append(contentsOf: compare(stage, expected: rows, actual: data.table, ordered: e.ordered)) }
            }
            return PipelineTestOutcome(name: c.name, failures: failures)
        }
    }

    /// Compares the columns the expectation names, rendered as text (dates ISO, money `12.34 USD`, null as empty).
    static func compare(_ stage: String, expected: [[(String, String?)]], actual: Table, ordered: Bool) -> [String] {
        var failures: [String] = []
        var columns: [String] = []
        for r in expected { for (k, _) in r where !columns.contains(k) { columns.append(k) } }
        for c in columns where actual.schema.index(of: c) == nil {
            failures.append("\(stage): no column '\(c)' (columns: \(actual.schema.names.joined(separator: ", ")))")
        }
        if !failures.isEmpty { return failures }
        // Each expected row is compared on the columns it names; null is written as an empty value or null.
        func matches(_ want: [(String, String?)], _ r: Int) -> Bool {
            want.allSatisfy { k, v in actual.column(named: k)!.value(at: r).description == (v ?? "") }
        }
        func describe(_ want: [(String, String?)], _ r: Int) -> String {
            want.filter { k, v in actual.column(named: k)!.value(at: r).description != (v ?? "") }
                .map { k, v in "\(k): expected '\(v ?? "")', got '\(actual.column(named: k)!.value(at: r).description)'" }
                .joined(separator: "; ")
        }
        if expected.count != actual.rowCount { failures.append("\(stage): expected \(expected.count) rows, got \(actual.rowCount)") }
        if ordered {
            for i in 0..<min(expected.count, actual.rowCount) where !matches(expected[i], i) {
                failures.append("\(stage) row \(i + 1): " + describe(expected[i], i))
                if failures.count > 10 { break }
            }
        } else {
            var unused = Set(0..<actual.rowCount)
            for (i, want) in expected.enumerated() {
                if let r = unused.sorted().first(where: { matches(want, $0) }) { unused.remove(r) } else {
                    failures.append("\(stage): no row matches expected row \(i + 1) (" + want.map { "\($0.0): '\($0.1 ?? "")'" }.joined(separator: ", ") + ")")
                }
            }
        }
        return failures
    }
}
