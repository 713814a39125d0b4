import Foundation
import Testing
@testable import CRMFlowCore
@testable import CRMFlowIO
@testable import CRMFlowPipeline
@testable import CRMFlowStages

private let contacts = table([
    ["id": "1", "name": "Dr. María  O'NEIL-smith", "email": " MARIA.ONEIL@GLOBEX.COM ", "phone": "(555) 010-2222", "country": "United States", "company": "Globex Ltd.", "since": "12/03/2023", "budget": "$1,234.50", "stage": "closed-won"],
    ["id": "2", "name": "Müller, Jürgen", "email": "j.mueller@gmial.com", "phone": "030 1234567", "country": "Deutschland", "company": "Müller GmbH", "since": "25/03/2023", "budget": "1.234,50 €", "stage": "WON"],
    ["id": "3", "name": "Acme Holdings Inc.", "email": "not-an-email", "phone": "12345", "country": "Atlantis", "company": "ACME, Inc", "since": "31/02/2023", "budget": "n/a", "stage": "lost"],
    ["id": "4", "name": "li wei", "email": "\"Li Wei\" <li.wei+crm@gmail.com>", "phone": "+86 138 0013 8000 ext. 7", "country": "CN", "company": "Wei Trading Co., Ltd.", "since": nil, "budget": "CNY 5k", "stage": "Open"],
    ["id": "5", "name": "Maria O'Neil-Smith", "email": "maria.oneil@globex.com", "phone": "555.010.2222", "country": "USA", "company": "Globex", "since": "01/04/2023", "budget": "USD 2.5k", "stage": "closed won"],
], columns: ["id", "name", "email", "phone", "country", "company", "since", "budget", "stage"])

private let sources = "  contacts:\n    ingest: { path: contacts.csv }\n"

private func clean(_ steps: String, options: String = "", input: Table = contacts, dir: String? = nil) throws -> (Table, StageReport, String) {
    let out = dir ?? Paths.scratch("clean")
    let yaml = sources + "  c:\n    clean:\n      input: contacts\n" + options + "      steps:\n" + steps
    let (report, outputs) = try runStages(yaml, given: ["contacts": input], keep: ["c"], outputDirectory: out)
    let r = try #require(report.stages.first { $0.id == "c" })
    guard case .succeeded = r.status else { throw TestFailure("c: \(r.status)") }
    #expect(report.accountingProblems.isEmpty)
    return (try #require(outputs["c"]), r, out)
}

private func column(_ t: Table, _ name: String) -> [String] {
    guard let c = t.column(named: name) else { return ["no column \(name)"] }
    return (0..<t.rowCount).map { c.isNull($0) ? "null" : c.value(at: $0).description }
}

private func change(_ r: StageReport, _ step: Int, _ column: String) -> CleanChange? {
    r.changes.first { $0.step == step && $0.column == column }
}

@Suite(.serialized) struct CleanStageTests {
    @Test func trimCaseAndEmailWithEachInvalidPolicy() throws {
        let steps = "        - trim: all\n        - email: { column: email, fix_typos: true, canonical: email_key }\n"
        let (t, r, out) = try clean(steps)
        #expect(column(t, "id") == ["1", "2", "4", "5"])
        #expect(column(t, "email") == ["maria.oneil@globex.com", "j.mueller@gmail.com", "li.wei+crm@gmail.com", "maria.oneil@globex.com"])
        #expect(column(t, "email_key") == ["maria.oneil@globex.com", "jmueller@gmail.com", "liwei@gmail.com", "maria.oneil@globex.com"])
        #expect(r.accounting == Accounting(rowsIn: 5, rowsOut: 4, rejected: 1))
        let rejects = try String(contentsOfFile: out + "/c.rejects.csv", encoding: .utf8)
        #expect(rejects.contains("given.csv,4,c,E_EMAIL,email: 'not-an-email' is not a valid e-mail address: no '@' in e-mail address,"))
        #expect(change(r, 1, "email")?.changed == 1)
        #expect(change(r, 1, "name")?.samples.first == CleanChange.Sample(before: "Dr. María  O'NEIL-smith", after: "Dr. María O'NEIL-smith"))
        #expect(change(r, 2, "email").map { ($0.changed, $0.rejected) } ?? (0, 0) == (3, 1))

        let (nulled, rn, _) = try clean(steps, options: "      on_invalid: null\n")
        #expect(column(nulled, "email")[2] == "null" && nulled.rowCount == 5)
        #expect(change(rn, 2, "email")?.nulled == 1)
        let (kept, rk, _) = try clean("        - email: { column: email, on_invalid: keep }\n", options: "      on_invalid: null\n")
        #expect(column(kept, "email")[2] == "not-an-email")
        #expect(change(rk, 1, "email")?.invalidKept == 1)
    }

    @Test func phoneWithRowRegionsAndExtensions() throws {
        let (t, r, _) = try clean("        - phone: { column: phone, default_region: US, region_column: country }\n", options: "      on_invalid: null\n")
        #expect(column(t, "phone") == ["+15550102222", "+49301234567", "null", "+8613800138000", "+15550102222"])
        #expect(column(t, "phone_ext") == ["null", "null", "null", "7", "null"])
        #expect(change(r, 1, "phone")?.nulled == 1)
    }

    @Test func namesSplitAndCompaniesFlagged() throws {
        let (t, r, _) = try clean("        - name: { column: name, honorific: title }\n")
        #expect(column(t, "first_name") == ["María", "Jürgen", "null", "Li", "Maria"])
        #expect(column(t, "last_name") == ["O'Neil-Smith", "Müller", "null", "Wei", "O'Neil-Smith"])
        #expect(column(t, "title") == ["Dr.", "null", "null", "null", "null"])
        #expect(column(t, "is_company") == ["false", "false", "true", "false", "false"])
        #expect(t.column(named: "is_company")?.type == .boolean)
        #expect(change(r, 1, "name")?.notes == ["1 values look like company names and were not split (flagged in is_company)"])
    }

    @Test func datesAreDetectedPerColumnAndReported() throws {
        let (t, r, _) = try clean("        - date: since\n", options: "      on_invalid: null\n")
        #expect(column(t, "since") == ["2023-03-12", "2023-03-25", "null", "null", "2023-04-01"])
        #expect(t.column(named: "since")?.type == .date)
        let c = try #require(change(r, 1, "since"))
        #expect(c.notes.first?.hasPrefix("day-first: 2 of 4 numeric dates have a first number above 12 (e.g. 25/03/2023)") == true)
        #expect(c.nulled == 1 && c.changed == 3)
        // A declared order wins; with reject, the impossible date is rejected with its reason.
        let (_, _, out) = try clean("        - date: { columns: [since], order: dmy }\n")
        let rejects = try String(contentsOfFile: out + "/c.rejects.csv", encoding: .utf8)
        #expect(rejects.contains("E_DATE,since: '31/02/2023' is not a date"))
    }

    @Test func countryCompanyMoneyAndMap() throws {
        let steps = """
                - country: { column: country }
                - company: { column: company, key: company_key }
                - money: { column: budget, default_currency: EUR, to: USD, rates: sample-data/reference/fx_rates.csv }
                - map: { column: stage, values: { closed won: Closed Won, won: Closed Won, lost: Closed Lost }, unmapped: keep }

        """
        let (t, r, _) = try clean(steps, options: "      on_invalid: null\n")
        #expect(column(t, "country") == ["US", "DE", "null", "CN", "US"])
        #expect(column(t, "company") == ["Globex Ltd.", "Müller GmbH", "ACME, Inc", "Wei Trading Co., Ltd.", "Globex"])
        #expect(column(t, "company_key") == ["globex", "muller", "acme", "wei trading", "globex"])
        #expect(column(t, "budget") == ["1234.50 USD", "1333.26 USD", "null", "null", "2500.00 USD"])
        #expect(column(t, "budget_currency") == ["USD", "USD", "null", "null", "USD"])
        #expect(change(r, 3, "budget")?.notes == ["1 amounts in CNY have no rate"])
        #expect(column(t, "stage") == ["Closed Won", "Closed Won", "Closed Lost", "Open", "Closed Won"])
        #expect(change(r, 2, "company")?.notes == ["5 distinct names give 4 distinct keys in company_key"])
    }

    @Test func regionsTimestampsInAZoneCaseAndStrictMaps() throws {
        let rows = table([
            ["state": "California", "country": "USA", "seen": "2024-07-01 09:30", "tag": "VIP", "city": "NEW YORK"],
            ["state": "Québec", "country": "Canada", "seen": "2024-01-15 09:30", "tag": "vip", "city": "montréal"],
            ["state": "NSW", "country": "Australia", "seen": "2024-01-15T09:30:00+11:00", "tag": "nope", "city": "Sydney"],
            ["state": "Bavaria", "country": "US", "seen": "not a time", "tag": "std", "city": nil],
        ], columns: ["state", "country", "seen", "tag", "city"])
        let steps = """
                - region: { column: state, country: country }
                - timestamp: { columns: [seen], timezone: America/New_York }
                - case: { columns: [city], to: lower }
                - map: { column: tag, values: { vip: VIP, std: Standard }, unmapped: reject }

        """
        let (t, r, out) = try clean(steps, options: "      on_invalid: null\n", input: rows)
        #expect(column(t, "state") == ["US-CA", "CA-QC", "null"])
        // New York is UTC-4 in July and UTC-5 in January; an explicit offset wins.
        #expect(column(t, "seen") == ["2024-07-01T13:30:00Z", "2024-01-15T14:30:00Z", "null"])
        #expect(column(t, "city") == ["new york", "montréal", "null"])
        #expect(column(t, "tag") == ["VIP", "VIP", "Standard"])
        let rejects = try String(contentsOfFile: out + "/c.rejects.csv", encoding: .utf8)
        #expect(rejects.contains("E_MAP,tag: 'nope' is not one of the mapped values"))
        #expect(change(r, 1, "state")?.nulled == 1)
        #expect(change(r, 2, "seen")?.nulled == 1)
    }

    @Test func fillCastDeriveRequireAndValidate() throws {
        let steps = """
                - default: { since: "01/01/2020", stage: unknown }
                - cast: { id: integer }
                - derive: { label: "upper(stage) || '-' || cast(id as string)" }
                - require: [phone]
                - validate: { has_at: "email like '%@%'", not_lost: "stage != 'lost'" }

        """
        let (t, r, out) = try clean(steps)
        #expect(column(t, "id") == ["1", "2", "4", "5"])
        #expect(column(t, "label") == ["CLOSED-WON-1", "WON-2", "OPEN-4", "CLOSED WON-5"])
        #expect(column(t, "since")[2] == "01/01/2020")
        let rejects = try String(contentsOfFile: out + "/c.rejects.csv", encoding: .utf8)
        #expect(rejects.contains("E_RULE,rule 'has_at' failed: email like '%@%'"))
        #expect(change(r, 5, "has_at")?.rejected == 1)
        #expect(change(r, 5, "not_lost")?.rejected == 0, "a row already rejected is not counted twice")
    }

    @Test(arguments: [
        ("first", ["1", "2", "3", "4"], "5", "1"), ("last", ["2", "3", "4", "5"], "1", "5"),
        ("\"latest(since_date)\"", ["2", "3", "4", "5"], "1", "5"), ("most_complete", ["1", "2", "3", "4"], "5", "1"),
    ])
    func dedupeKeepRulesAndLineage(_ keep: String, _ kept: [String], _ removed: String, _ survivor: String) throws {
        let steps = """
                - trim: all
                - email: email
                - date: { columns: [since], order: dmy }
                - derive: { since_date: "since" }
                - dedupe: { keys: [email], keep: \(keep), id: id }

        """
        var input = contacts
        if keep == "most_complete" {
            // Row 5 loses a value so that row 1 is the more complete one.
            input = input.setting("budget", Column.make(.string, [.string("x"), .string("y"), .null, .string("z"), .null]))
        }
        let (t, r, out) = try clean(steps, options: "      on_invalid: null\n", input: input)
        #expect(column(t, "id") == kept)
        #expect(r.accounting?.removed == ["deduplicated": 1])
        let lineage = try String(contentsOfFile: out + "/c.lineage.csv", encoding: .utf8)
        #expect(lineage == "source,line,id,duplicate_of_source,duplicate_of_line,duplicate_of_id,reason\n"
                + "given.csv,\(Int(removed)! + 1),\(removed),given.csv,\(Int(survivor)! + 1),\(survivor),exact duplicate on email\n")
    }

    @Test func dedupeAllColumnsAndNullKeysNeverMatch() throws {
        let rows = table([["a": "1", "b": "x"], ["a": "1", "b": "x"], ["a": nil, "b": "y"], ["a": nil, "b": "y"], ["a": "1", "b": "z"]], columns: ["a", "b"])
        let (t, _, _) = try clean("        - dedupe: all\n", input: rows)
        #expect(rendered(t) == [["1", "x"], ["null", "y"], ["null", "y"], ["1", "z"]])
    }

    @Test func multipleInputsAreStackedWithTheirSource() throws {
        let yaml = """
          a:
            ingest: { path: a.csv }
          b:
            ingest: { path: b.csv }
          c:
            clean:
              input: [a, b]
              source_column: src
              steps:
                - email: e
                - dedupe: { keys: [e] }

        """
        let a = table([["e": "X@Y.COM"]], columns: ["e"]), b = table([["e": "x@y.com", "n": "2"]], columns: ["e", "n"])
        let (report, outputs) = try runStages(yaml, given: ["a": a, "b": b], keep: ["c"], outputDirectory: Paths.scratch("stack"))
        #expect(report.exitStatus == 0)
        #expect(rendered(outputs["c"]) == [["x@y.com", "null", "a"]])
    }

    @Test func piiIsMaskedInSamplesWhenAsked() throws {
        var o = Runner.Options()
        o.maskPII = true
        let (p, _) = load("pipeline: t\nstages:\n" + sources + "  c:\n    clean:\n      input: contacts\n      on_invalid: null\n      steps:\n        - email: email\n        - phone: { column: phone, default_region: US }\n", checkSchemas: false)
        o.given = ["contacts": StageData(table: contacts)]
        o.outputDirectory = Paths.scratch("mask")
        o.environment = asOf
        let runner = Runner(pipeline: try #require(p), options: o)
        let report = runner.run()
        let c = try #require(report.stages.first { $0.id == "c" })
        let samples = c.changes.flatMap(\.samples)
        #expect(!samples.isEmpty)
        for s in samples {
            #expect(s.before.contains("•") && s.after.contains("•"), "\(s)")
            #expect(!s.after.contains("maria") && !s.after.contains("0102222"), "\(s)")
        }
        let text = RunSummary.table(report)
        #expect(text.contains("changes made by c (clean):"))
    }

    // MARK: Properties

    /// Messy contacts from a seed: spaces, case, typo'd domains, phone notations, countries in several languages,
    /// dates in one order, amounts in several notations, duplicates and garbage.
    static func messy(_ n: Int, seed: UInt64) -> Table {
        var state = seed
        func next() -> Int {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int(truncatingIfNeeded: (z ^ (z >> 31)) >> 1)
        }
        func pick<T>(_ xs: [T]) -> T { xs[next() % xs.count] }
        let firsts = ["ann", "BOB", "María", "jürgen", "Li", "o'brien", "Chloé", "  sam  "]
        let lasts = ["smith", "MÜLLER", "van der berg", "McDonald", "O'NEIL-smith", "Wei"]
        let domains = ["gmail.com", "GMIAL.COM", "acme.com", "example.co.uk", "hotmial.com"]
        let phones = ["(555) 010-%04d", "+1 555 010 %04d", "555.010.%04d x12", "+44 20 7946 %04d", "12%04d", "%04d"]
        let countries = ["US", "USA", "Deutschland", "United Kingdom", "France", "Atlantis", " españa "]
        let amounts = ["$1,234.50", "1.234,50 €", "(100.00)", "USD 12k", "n/a", "950", ""]
        var rows: [[String: String?]] = []
        for i in 0..<n {
            let f = pick(firsts), l = pick(lasts)
            let local = (f + "." + l).lowercased().filter { $0.isLetter || $0 == "." }
            let email: String? = next() % 17 == 0 ? nil : (next() % 13 == 0 ? "broken" : " \(local)@\(pick(domains)) ")
            rows.append(["id": "\(i)", "first": f, "last": l, "email": email, "phone": String(format: pick(phones), next() % 10_000),
                         "country": pick(countries), "since": String(format: "%02d/%02d/2023", 1 + next() % 28, 1 + next() % 12),
                         "budget": pick(amounts)])
        }
        return table(rows, columns: ["id", "first", "last", "email", "phone", "country", "since", "budget"])
    }

    static let propertySteps = """
            - trim: all
            - case: { columns: [first, last], to: title }
            - email: { column: email, fix_typos: true, canonical: email_key }
            - phone: { column: phone, default_region: US, region_column: country }
            - country: country
            - date: { columns: [since], order: dmy }
            - money: { column: budget, default_currency: USD }
            - require: [email]
            - dedupe: { keys: [email_key], keep: first, id: id }

    """

    @Test(arguments: [1, 2, 3] as [UInt64], ["reject", "null", "keep"])
    func everyRowIsKeptRejectedOrDeduplicated(_ seed: UInt64, _ policy: String) throws {
        let input = Self.messy(400, seed: seed)
        let (t, r, _) = try clean(Self.propertySteps, options: "      on_invalid: \(policy)\n", input: input)
        let a = try #require(r.accounting)
        #expect(a.rowsIn == 400)
        #expect(t.rowCount + a.rejected + (a.removed["deduplicated"] ?? 0) == 400)
        #expect(a.rejected > 0 && (a.removed["deduplicated"] ?? 0) > 0)
        let perStep = r.changes.reduce(0) { $0 + $1.rejected }
        #expect(perStep == a.rejected, "the change report accounts for every reject")
    }

    @Test(arguments: [7, 8] as [UInt64])
    func cleaningACleanedTableChangesNothing(_ seed: UInt64) throws {
        let (once, _, _) = try clean(Self.propertySteps, options: "      on_invalid: null\n", input: Self.messy(300, seed: seed))
        // The cleaned table goes through the same steps again (its typed columns as they are).
        let (twice, r, _) = try clean(Self.propertySteps, options: "      on_invalid: null\n", input: once)
        #expect(rendered(twice) == rendered(once))
        #expect(r.changes.allSatisfy { $0.changed == 0 && $0.nulled == 0 && $0.rejected == 0 && $0.deduplicated == 0 }, "\(r.changes.filter { !$0.isEmpty })")
    }

    @Test func parallelSlicesEqualOneThread() throws {
        // 120 000 rows: text steps are split into row slices on several threads.
        let base = Self.messy(2_000, seed: 11)
        var big = base
        for _ in 0..<59 { big = Table(schema: big.schema, columns: zip(big.columns, base.columns).map { try! Column.concatenating([$0, $1]) }, rowCount: big.rowCount + base.rowCount) }
        let steps = "        - trim: all\n        - email: { column: email, fix_typos: true }\n        - phone: { column: phone, default_region: US, region_column: country }\n        - country: country\n"
        let yaml = sources + "  c:\n    clean:\n      input: contacts\n      on_invalid: null\n      steps:\n" + steps
        var results: [[[String]]] = []
        for jobs in [1, 4] {
            let (p, _) = load("pipeline: t\nstages:\n" + yaml, checkSchemas: false)
            var o = Runner.Options()
            o.jobs = 1
            o.threadsPerStage = jobs
            o.given = ["contacts": StageData(table: big)]
            o.outputDirectory = Paths.scratch("par\(jobs)")
            o.environment = asOf
            let runner = Runner(pipeline: try #require(p), options: o)
            runner.keep = ["c"]
            #expect(runner.run().exitStatus == 0)
            results.append(rendered(runner.kept["c"]?.table))
        }
        #expect(results[0].count == 120_000)
        #expect(results[0] == results[1])
    }

    @Test func validationNamesBadStepsAndOptions() throws {
        let yaml = """
        pipeline: t
        stages:
          a:
            ingest: { path: sample-data/salesforce/contacts.csv }
          c:
            clean:
              input: a
              steps:
                - emial: Email
                - phone: { column: Phone, default_regoin: US }
                - phone: { column: Phone, default_region: XX }
                - date: { columns: [Created Date], order: ymd }
                - trim: [Emali]
                - validate: { ok: "Email +" }
        """
        let (p, diagnostics) = load(yaml, checkSchemas: true)
        #expect(p == nil)
        let text = DiagnosticRenderer.render(diagnostics, sources: ["t.yaml": yaml])
        #expect(text.contains(":9:11: error[CF210]: unknown clean step 'emial'"))
        #expect(text.contains("did you mean 'email'?"))
        #expect(text.contains("unknown option 'default_regoin' of the phone step"))
        #expect(text.contains("did you mean 'default_region'?"))
        #expect(text.contains("default_region 'XX' is not a region"))
        #expect(text.contains("order must be dmy or mdy"))
        #expect(text.contains("error[CF400]"))
    }

    @Test func validationChecksColumnsAgainstHeaders() throws {
        let yaml = """
        pipeline: t
        stages:
          a:
            ingest: { path: sample-data/salesforce/contacts.csv }
          c:
            clean:
              input: a
              steps:
                - trim: [Emali]
                - dedupe: { keys: [Email], keep: "latest(Created)" }
        """
        let (p, diagnostics) = load(yaml, checkSchemas: true)
        #expect(p == nil)
        let text = DiagnosticRenderer.render(diagnostics, sources: ["t.yaml": yaml])
        #expect(text.contains("unknown column 'Emali' in the trim step"))
        #expect(text.contains("did you mean 'Email'?"))
        #expect(text.contains("unknown column 'Created' in the dedupe step"))
    }
}
