import Foundation
import Testing
@testable import CRMFlowCore
@testable import CRMFlowIO
@testable import CRMFlowPipeline
@testable import CRMFlowStages

private let deals = table([
    ["id": "1", "owner": "ann", "stage": "Won", "amount": "100", "closed": "2024-01-15", "email": "A@X.COM"],
    ["id": "2", "owner": "bob", "stage": "Lost", "amount": "50", "closed": "2024-02-01", "email": "b@x.com"],
    ["id": "3", "owner": "ann", "stage": "Open", "amount": nil, "closed": nil, "email": "c@x.com"],
    ["id": "4", "owner": nil, "stage": "Won", "amount": "70", "closed": "2024-01-20", "email": "a@x.com"],
    ["id": "5", "owner": "bob", "stage": "Won", "amount": "30", "closed": "2024-02-11", "email": nil],
], columns: ["id", "owner", "stage", "amount", "closed", "email"])

private let people = table([
    ["email": "a@x.com", "name": "Ann A"],
    ["email": "b@x.com", "name": "Bob B"],
    ["email": "b@x.com", "name": "Bob Twin"],
    ["email": "z@x.com", "name": "Zed"],
], columns: ["email", "name"])

/// Source stages the given tables replace.
private let sources = """
  deals:
    ingest: { path: deals.csv }
  people:
    ingest: { path: people.csv }

"""

private func stage(_ yaml: String, _ id: String) throws -> (Table, StageReport) {
    let (report, outputs) = try runStages(sources + yaml, given: ["deals": deals, "people": people], keep: [id])
    let r = try #require(report.stages.first { $0.id == id })
    guard case .succeeded = r.status else { throw TestFailure("\(id): \(r.status)") }
    return (try #require(outputs[id]), r)
}

@Suite struct StageTests {
    @Test func filterKeepsTrueRowsAndCountsTheRest() throws {
        let (t, r) = try stage("  won:\n    filter: { input: deals, where: \"stage = 'Won' and amount > 50\" }\n", "won")
        #expect(rendered(t).map { $0[0] } == ["1", "4"])
        #expect(r.accounting == Accounting(rowsIn: 5, rowsOut: 2, removed: ["filtered": 3]))
    }

    @Test func deriveAddsAndReplacesInOrder() throws {
        let yaml = """
          d:
            derive:
              input: deals
              columns:
                email: "lower(email)"
                month: "date_trunc('month', closed)"
                label: "owner || ':' || month"
        """ + "\n"
        let (t, _) = try stage(yaml, "d")
        #expect(t.schema.names == ["id", "owner", "stage", "amount", "closed", "email", "month", "label"])
        #expect(rendered(t).map { $0[5] } == ["a@x.com", "b@x.com", "c@x.com", "a@x.com", "null"])
        #expect(rendered(t).map { $0[7] } == ["ann:2024-01-01", "bob:2024-02-01", "null", "null", "bob:2024-02-01"])
    }

    @Test func deriveRejectsRowsItCannotComputeWithTheirOrigin() throws {
        let (report, outputs) = try runStages(sources + "  d:\n    derive: { input: deals, columns: { n: \"cast(stage as integer)\" } }\n",
                                              given: ["deals": deals, "people": people], keep: ["d"], outputDirectory: Paths.scratch("rej"))
        let r = try #require(report.stages.first { $0.id == "d" })
        #expect(r.accounting?.rejected == 5)
        #expect(outputs["d"]?.rowCount == 0)
        let rejects = try String(contentsOfFile: try #require(r.rejectsFile), encoding: .utf8)
        #expect(rejects.hasPrefix("source,line,stage,code,reason,record\ngiven.csv,2,d,E_EXPRESSION,n: cannot cast 'Won' to integer,"))
    }

    @Test func onErrorDropAndFailAndTheErrorBudget() throws {
        let base = sources + "  d:\n    derive: { input: deals, columns: { n: \"cast(amount as string) || cast(owner as integer)\" }"
        let (dropped, _) = try runStages(base + ", on_error: drop }\n", given: ["deals": deals, "people": people], keep: ["d"])
        let d = try #require(dropped.stages.first { $0.id == "d" })
        #expect(d.accounting?.removed["dropped"] == 4)
        #expect(d.rejectsFile == nil)
        let (failed, _) = try runStages(base + ", on_error: fail }\n", given: ["deals": deals, "people": people], keep: ["d"])
        #expect(failed.exitStatus == 65)
        if case .failed(let m) = failed.stages.first(where: { $0.id == "d" })?.status {
            #expect(m.hasPrefix("4 rows could not be processed (on_error: fail); first: given.csv:2: n: cannot cast 'ann' to integer"))
        } else { Issue.record("expected a failure") }
        let (budget, _) = try runStages(base + ", max_rejects: 40% }\n", given: ["deals": deals, "people": people], keep: ["d"])
        if case .failed(let m) = budget.stages.first(where: { $0.id == "d" })?.status {
            #expect(m == "error budget exceeded: 4 rows rejected, max_rejects 40% allows 2 of 5")
        } else { Issue.record("expected the budget to fail the stage") }
        let (within, _) = try runStages(base + ", max_rejects: 4 }\n", given: ["deals": deals, "people": people], keep: ["d"])
        #expect(within.exitStatus == 0)
    }

    @Test func selectKeepsDropsRenamesAndReorders() throws {
        let (t, _) = try stage("  s:\n    select: { input: deals, keep: [stage, id, owner], drop: [owner], rename: { stage: deal_stage } }\n", "s")
        #expect(t.schema.names == ["deal_stage", "id"])
        #expect(rendered(t)[0] == ["Won", "1"])
    }

    @Test func unionMatchesColumnsByNameAndWidensTypes() throws {
        let yaml = """
          a:
            select: { input: deals, keep: [amount, email] }
          b:
            derive: { input: people, columns: { amount: "length(name) * 1.5" } }
          u:
            union: { input: [a, b], source_column: src }
        """ + "\n"
        let (t, r) = try stage(yaml, "u")
        #expect(t.schema.fields.map { "\($0.name):\($0.type.rawValue)" } == ["amount:double", "email:string", "name:string", "src:string"])
        #expect(t.rowCount == 9)
        #expect(rendered(t)[0] == ["100.0", "A@X.COM", "null", "a"])
        #expect(rendered(t)[5] == ["7.5", "a@x.com", "Ann A", "b"])
        #expect(r.notes == ["column 'amount' has types double, integer across inputs; unioned as double"])
    }

    @Test func joinInnerLeftAntiWithFanOutAndManyToMany() throws {
        let inner = try stage("  j:\n    join: { left: deals, right: people, on: [email] }\n", "j")
        #expect(rendered(inner.0).map { "\($0[0]):\($0[6])" } == ["2:Bob B", "2:Bob Twin", "4:Ann A"])
        #expect(inner.1.accounting == Accounting(rowsIn: 5, rowsOut: 3, removed: ["unmatched": 3], added: ["join fan-out": 1]))
        let left = try stage("  j:\n    join: { left: deals, right: people, on: { email: email }, type: left }\n", "j")
        #expect(left.0.rowCount == 6)
        #expect(rendered(left.0).map { $0[6] } == ["null", "Bob B", "Bob Twin", "null", "Ann A", "null"])
        let anti = try stage("  j:\n    join: { left: deals, right: people, on: [email], type: anti }\n", "j")
        #expect(rendered(anti.0).map { $0[0] } == ["1", "3", "5"])
        let m2m = try stage("  p2:\n    union: { input: [people, people] }\n  j:\n    join: { left: p2, right: people, on: [email] }\n", "j")
        #expect(m2m.1.notes == ["many-to-many: 1 key value matches several rows on both sides; each pair becomes a row"])
    }

    /// Keys named differently on each side, as parallel lists; their number must match (an error at the option).
    @Test func joinOnParallelKeyListsWithOtherNames() throws {
        let renamed = "  r:\n    select: { input: people, keep: [email, name], rename: { email: mail, name: who } }\n"
        let pairs = try stage(renamed + "  j:\n    join: { left: deals, right: r, on: { left: [email], right: [mail] } }\n", "j")
        let mapped = try stage(renamed + "  j:\n    join: { left: deals, right: r, on: { email: mail } }\n", "j")
        #expect(pairs.0.rowCount == 3 && rendered(pairs.0) == rendered(mapped.0))
        let (_, diagnostics) = load("pipeline: t\nstages:\n" + sources + renamed + "  j:\n    join: { left: deals, right: r, on: { left: [email, id], right: [mail] } }\n", checkSchemas: false)
        #expect(diagnostics.contains { $0.message == "join 'on' pairs 2 left keys with 1 right key" }, "\(diagnostics.map(\.message))")
    }

    /// A lookup table written in the pipeline: types inferred as for a file, joined by key; a bad value is an error at
    /// its position, as is a row of the wrong length.
    @Test func aValuesTableIsALookupWrittenInThePipeline() throws {
        let yaml = """
          owners:
            values:
              columns: [email, team, quota, since]
              rows:
                - [a@x.com, East, 1000, 2024-01-01]
                - [b@x.com, West, 2500.5, null]
          j:
            join: { left: deals, right: owners, on: [email], type: left }

        """
        let (owners, r) = try stage(yaml, "owners")
        #expect(owners.schema.fields.map { "\($0.name):\($0.type.rawValue)" } == ["email:string", "team:string", "quota:double", "since:date"])
        #expect(rendered(owners) == [["a@x.com", "East", "1000.0", "2024-01-01"], ["b@x.com", "West", "2500.5", "null"]])
        #expect(r.accounting == Accounting(rowsIn: 2, rowsOut: 2))
        let (joined, _) = try stage(yaml, "j")
        #expect(joined.schema.names.contains("team") && joined.rowCount == 5)
        let bad = """
        pipeline: t
        stages:
          owners:
            values:
              columns: [email, quota]
              types: { quota: integer }
              rows:
                - [a@x.com, 10]
                - [b@x.com, ten]
                - [c@x.com]
        """
        let (_, diagnostics) = load(bad, checkSchemas: false)
        #expect(diagnostics.contains { $0.message == "each row must list 2 values (email, quota)" && $0.location?.line == 10 }, "\(diagnostics.map { "\($0.location?.line ?? 0): \($0.message)" })")
        let (_, typed) = load(bad.replacingOccurrences(of: "        - [c@x.com]\n", with: "").replacingOccurrences(of: "\n        - [c@x.com]", with: ""), checkSchemas: false)
        #expect(typed.contains { $0.message == "'ten' does not read as integer (column 'quota')" && $0.location?.line == 9 && $0.location?.column == 21 }, "\(typed.map { "\($0.location?.line ?? 0):\($0.location?.column ?? 0): \($0.message)" })")
    }

    @Test func joinKeysMustHaveTheSameType() throws {
        let (report, _) = try runStages(sources + "  j:\n    join: { left: deals, right: people, on: { amount: email } }\n",
                                        given: ["deals": deals, "people": people], keep: ["j"])
        if case .failed(let m) = report.stages.first(where: { $0.id == "j" })?.status {
            #expect(m.contains("join key 'amount' is integer on the left but 'email' is string on the right"))
        } else { Issue.record("expected a type failure") }
    }

    @Test func aggregateGroupsByKeys() throws {
        let yaml = """
          a:
            aggregate:
              input: deals
              group_by: owner
              aggregates:
                n: count(*)
                won: count_if(stage = 'Won')
                total: sum(amount)
                rate: "round(count_if(stage = 'Won') / count(*), 2)"
        """ + "\n"
        let (t, r) = try stage(yaml, "a")
        #expect(rendered(t) == [["ann", "2", "1", "100", "0.5"], ["bob", "2", "1", "80", "0.5"], ["null", "1", "1", "70", "1.0"]])
        #expect(r.accounting == Accounting(rowsIn: 5, rowsOut: 3, removed: ["aggregated": 2]))
    }

    @Test func sortIsStableWithNullsPlacement() throws {
        let (t, _) = try stage("  s:\n    sort: { input: deals, by: [\"owner desc nulls first\", \"amount\"] }\n", "s")
        #expect(rendered(t).map { $0[0] } == ["4", "5", "2", "1", "3"])
        let (n, _) = try stage("  s:\n    sort: { input: deals, by: [\"amount desc nulls first\", id] }\n", "s")
        #expect(rendered(n).map { $0[0] } == ["3", "1", "4", "2", "5"])
        let (m, _) = try stage("  d:\n    derive: { input: deals, columns: { big: \"coalesce(amount, 0) >= 70\" } }\n  s:\n    sort: { input: d, by: [\"big desc\", \"owner desc\"] }\n", "s")
        #expect(rendered(m).map { $0[0] } == ["1", "4", "2", "5", "3"])
        let (u, _) = try stage("  s:\n    sort: { input: deals, by: [stage] }\n", "s")
        #expect(rendered(u).map { $0[0] } == ["2", "3", "1", "4", "5"])
    }

    @Test func textKeysLongerThanTheirPrefixSortByEveryByte() throws {
        let words = ["customer-000b", "customer-000a", "customer", "", "Customer-000a", "customer-000a ", "customer-000a", "ü", "u"]
        let t = table(words.map { ["w": $0] }, columns: ["w"])
        let keys = [SortStage.Key(column: "w", descending: false, nullsFirst: false, location: SourceLocation(file: "t", line: 1, column: 1))]
        let order = SortStage.order([t.columns[0]], keys: keys, rowCount: t.rowCount)
        #expect(order.map { words[$0] } == ["", "Customer-000a", "customer", "customer-000a", "customer-000a", "customer-000a ", "customer-000b", "u", "ü"])
        #expect(order[3] == 1 && order[4] == 6, "equal texts keep their input order")
    }

    @Test func limitAndSeededSample() throws {
        let (l, lr) = try stage("  l:\n    limit: { input: deals, rows: 2, offset: 1 }\n", "l")
        #expect(rendered(l).map { $0[0] } == ["2", "3"])
        #expect(lr.accounting?.removed == ["limited": 3])
        let (s1, _) = try stage("  s:\n    sample: { input: deals, rows: 3, seed: 9 }\n", "s")
        let (s2, _) = try stage("  s:\n    sample: { input: deals, rows: 3, seed: 9 }\n", "s")
        #expect(s1.rowCount == 3)
        #expect(rendered(s1) == rendered(s2))
        let ids = rendered(s1).map { Int($0[0])! }
        #expect(ids == ids.sorted())
    }

    @Test func emitWritesAtomicallyInEveryFormat() throws {
        let dir = Paths.scratch("emit")
        let yaml = sources + """
          c:
            emit: { input: deals, path: x/deals.csv, delimiter: ";", bom: true }
          j:
            emit: { input: deals, path: deals.json }
          n:
            emit: { input: deals, path: deals.ndjson }
          m:
            emit: { input: deals, path: deals.md }
        """ + "\n"
        let (report, _) = try runStages(yaml, given: ["deals": deals, "people": people], keep: [], outputDirectory: dir)
        #expect(report.exitStatus == 0)
        let csv = try #require(FileManager.default.contents(atPath: dir + "/x/deals.csv"))
        #expect(Array(csv.prefix(3)) == [0xEF, 0xBB, 0xBF])
        #expect(String(decoding: csv.dropFirst(3), as: UTF8.self).hasPrefix("id;owner;stage;amount;closed;email\n1;ann;Won;100;2024-01-15;A@X.COM\n"))
        let json = try String(contentsOfFile: dir + "/deals.json", encoding: .utf8)
        #expect(json.contains("{\"id\":\"1\",\"owner\":\"ann\",\"stage\":\"Won\",\"amount\":100,\"closed\":\"2024-01-15\",\"email\":\"A@X.COM\"}"))
        #expect(try String(contentsOfFile: dir + "/deals.ndjson", encoding: .utf8).split(separator: "\n").count == 5)
        #expect(try String(contentsOfFile: dir + "/deals.md", encoding: .utf8).hasPrefix("| id | owner |"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains("tmp") }
        #expect(leftovers.isEmpty)
    }

    /// A table large enough to be encoded in several waves of parallel slices is written as one whole encoding would be.
    @Test func emitInWavesOfSlicesEqualsTheWholeEncoding() throws {
        var rows: [[Value]] = []
        for i in 0..<300_000 {
            let n: Value = i % 11 == 0 ? .null : .integer(Int64(i % 977))
            rows.append([.string("c\(i)"), n])
        }
        let big = Table(names: ["id", "n"], types: [.string, .integer], rows: rows)
        for format in ["csv", "json"] {
            let dir = Paths.scratch("waves")
            let yaml = "  deals:\n    ingest: { path: deals.csv }\n  e:\n    emit: { input: deals, path: big.\(format) }\n"
            let (report, _) = try runStages(yaml, given: ["deals": big], jobs: 2, keep: [], outputDirectory: dir)
            #expect(report.exitStatus == 0)
            let expected = dir + "/expected.\(format)"
            try TableFileWriter.write(big, to: expected, format: format == "csv" ? .csv : .json)
            #expect(FileManager.default.contents(atPath: dir + "/big.\(format)") == FileManager.default.contents(atPath: expected))
        }
    }

    @Test func anEmptyExportDoesNotBreakTheTypesOfLaterStages() throws {
        // Tonight's file has only its header: every column is empty text, yet the expressions written for numbers must run.
        let empty = table([], columns: ["owner", "amount", "closed"])
        let yaml = """
          deals:
            ingest: { path: deals.csv }
          f:
            filter: { input: deals, where: "amount > 10 and closed >= '2024-01-01'" }
          d:
            derive: { input: deals, columns: { twice: "amount * 2", who: "upper(owner)" } }
          a:
            aggregate: { input: deals, aggregates: { n: count(*), total: sum(amount) } }
        """ + "\n"
        let (report, outputs) = try runStages(yaml, given: ["deals": empty], keep: ["f", "d", "a"])
        #expect(report.exitStatus == 0, "\(report.stages.map(\.status))")
        #expect(outputs["d"]?.column(named: "twice")?.type == .double)
        #expect(rendered(outputs["a"]) == [["0", "null"]])
    }

    @Test func ingestAppliesAliasesDeclaredTypesAndRenames() throws {
        let yaml = """
          c:
            ingest:
              path: sample-data/salesforce/contacts.csv
              aliases: { email: [E-mail, EMAIL address], zip: [Mailing Zip] }
              columns:
                Created Date: { type: date, format: "%Y-%m-%d", rename: created }
                Annual Revenue: "money:USD"
        """ + "\n"
        let (report, outputs) = try runStages(yaml, given: ["deals": deals, "people": people], keep: ["c"])
        let t = try #require(outputs["c"])
        #expect(t.schema.names == ["Id", "First Name", "Last Name", "email", "Phone", "Account Name", "zip", "created", "Lead Source", "Annual Revenue"])
        #expect(t.column(named: "created")?.type == .date)
        #expect(t.column(named: "Annual Revenue")?.value(at: 0) == .money(120_000_000, "USD"))
        #expect(t.column(named: "zip")?.value(at: 0) == .string("02139"))
        let r = try #require(report.stages.first { $0.id == "c" })
        #expect(r.accounting == Accounting(rowsIn: 10, rowsOut: 9, rejected: 1))
    }
}
