import Foundation
import Testing
@testable import CRMFlowCore
@testable import CRMFlowIO

struct QuoteCase: CustomTestStringConvertible, Sendable {
    var value: String
    var csv: String
    var testDescription: String { value.debugDescription }
}

@Suite struct WriterTests {
    static let sample = Table(
        names: ["name", "amount", "when", "ok", "note"],
        types: [.string, .double, .date, .boolean, .string],
        rows: [
            [.string("Zoë, \"Z\""), .double(12.5), .date(19782), .boolean(true), .string("line1\nline2")],
            [.string(""), .null, .null, .boolean(false), .string("=SUM(A1)")],
        ])

    static let quoting: [QuoteCase] = [
        QuoteCase(value: "plain", csv: "plain"),
        QuoteCase(value: "a,b", csv: "\"a,b\""),
        QuoteCase(value: "say \"hi\"", csv: "\"say \"\"hi\"\"\""),
        QuoteCase(value: "two\nlines", csv: "\"two\nlines\""),
        QuoteCase(value: " padded ", csv: "\" padded \""),
        QuoteCase(value: "", csv: "\"\""),
        QuoteCase(value: "@SUM(1)", csv: "'@SUM(1)"),
        QuoteCase(value: "-2+3", csv: "'-2+3"),
        QuoteCase(value: "\tx", csv: "'\tx"),
    ]

    @Test(arguments: quoting)
    func csvQuotesOnlyWhenNeeded(_ c: QuoteCase) {
        let t = Table(names: ["v"], types: [.string], rows: [[.string(c.value)]])
        let out = String(decoding: TableEncoder(format: .csv, schema: t.schema).rows(t), as: UTF8.self)
        #expect(out == c.csv + "\n")
    }

    @Test func formulaGuardCanBeTurnedOff() {
        var o = WriterOptions()
        o.formulaGuard = false
        let t = Table(names: ["v"], types: [.string], rows: [[.string("=1+1")]])
        #expect(String(decoding: TableEncoder(format: .csv, schema: t.schema, options: o).rows(t), as: UTF8.self) == "=1+1\n")
    }

    @Test func allFormatsRender() throws {
        let dir = Scratch.path("out")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var semicolon = WriterOptions()
        semicolon.delimiter = UInt8(ascii: ";")
        semicolon.bom = true
        try TableFileWriter.write(Self.sample, to: dir + "/a.csv", format: .csv, options: semicolon)
        try TableFileWriter.write(Self.sample, to: dir + "/a.json", format: .json)
        try TableFileWriter.write(Self.sample, to: dir + "/a.ndjson", format: .ndjson)
        try TableFileWriter.write(Self.sample, to: dir + "/a.md", format: .markdown)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/a.csv")).prefix(3) == Data([0xEF, 0xBB, 0xBF]))
        #expect(Scratch.read(dir + "/a.csv").replacingOccurrences(of: "\u{FEFF}", with: "") == "name;amount;when;ok;note\n\"Zoë, \"\"Z\"\"\";12.5;2024-02-29;true;\"line1\nline2\"\n\"\";;;false;'=SUM(A1)\n")
        #expect(Scratch.read(dir + "/a.json") == """
        [
        {"name":"Zoë, \\"Z\\"","amount":12.5,"when":"2024-02-29","ok":true,"note":"line1\\nline2"},
        {"name":"","amount":null,"when":null,"ok":false,"note":"=SUM(A1)"}
        ]

        """)
        #expect(Scratch.read(dir + "/a.ndjson").split(separator: "\n").count == 2)
        #expect(Scratch.read(dir + "/a.md") == """
        | name | amount | when | ok | note |
        | --- | ---: | --- | --- | --- |
        | Zoë, "Z" | 12.5 | 2024-02-29 | true | line1<br>line2 |
        |  |  |  | false | =SUM(A1) |

        """)
        let parsed = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/a.json"))) as? [[String: Any]]
        #expect(parsed?.count == 2)
    }

    /// JSON keeps a money value's currency with its amount ("1234.50 USD", exact); CSV writes it when currencies mix.
    @Test func moneyKeepsItsCurrencyInJSON() throws {
        let one = Table(names: ["amount"], types: [.money], rows: [[.money(123_450, "USD")], [.null], [.money(-5, "USD")]])
        let mixed = Table(names: ["amount"], types: [.money], rows: [[.money(100, "EUR")], [.money(250, "USD")]])
        let p = Scratch.path("m.ndjson"), q = Scratch.path("m.csv"), r = Scratch.path("x.csv")
        try TableFileWriter.write(one, to: p, format: .ndjson)
        try TableFileWriter.write(one, to: q, format: .csv)
        try TableFileWriter.write(mixed, to: r, format: .csv)
        #expect(Scratch.read(p) == "{\"amount\":\"1234.50 USD\"}\n{\"amount\":null}\n{\"amount\":\"-0.05 USD\"}\n")
        #expect(Scratch.read(q) == "amount\n1234.50\n\n-0.05\n")
        #expect(Scratch.read(r) == "amount\n1.00 EUR\n2.50 USD\n")
    }

    @Test func emptyJSONIsAnEmptyArray() throws {
        let p = Scratch.path("e.json")
        try TableFileWriter.write(Table(emptyWith: Self.sample.schema), to: p, format: .json)
        #expect(Scratch.read(p) == "[]\n")
    }

    /// A table written a slice of rows at a time (more rows than one slice) is the whole-table encoding, in every format
    /// (JSON: one opening bracket, no comma before the first row of the first slice only).
    @Test(arguments: [FileFormat.csv, .json, .ndjson, .markdown])
    func slicedWriteEqualsTheWholeEncoding(format: FileFormat) throws {
        var rows: [[Value]] = []
        for i in 0..<40_000 {
            let n: Value = i % 7 == 0 ? .null : .integer(Int64(i))
            let note: Value = .string(i % 3 == 0 ? "a,\"b\"" : "")
            rows.append([.string("name \(i)"), n, note])
        }
        let table = Table(names: ["name", "n", "note"], types: [.string, .integer, .string], rows: rows)
        let p = Scratch.path("sliced.\(format)")
        try TableFileWriter.write(table, to: p, format: format)
        let encoder = TableEncoder(format: format, schema: table.schema)
        var whole = encoder.prologue()
        let body = encoder.rows(table)
        whole += format == .json ? Array(body.dropFirst(1)) : body
        whole += encoder.epilogue(wroteRows: true)
        let written = try #require(FileManager.default.contents(atPath: p))
        #expect(written.count == whole.count)
        #expect([UInt8](written) == whole)
    }

    @Test func abandonedWriteLeavesThePreviousFile() throws {
        let p = Scratch.write("old contents\n", name: "keep.csv")
        let w = try TableFileWriter(path: p, encoder: TableEncoder(format: .csv, schema: Self.sample.schema), inputs: [])
        try w.write(Self.sample)
        w.abandon()
        #expect(Scratch.read(p) == "old contents\n")
        let name = URL(fileURLWithPath: p).lastPathComponent
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: Scratch.root).filter { $0.hasPrefix(".\(name).tmp-") }
        #expect(leftovers.isEmpty, "no temporary file is left behind")
    }

    @Test func refusesToOverwriteAnInput() {
        let p = Scratch.write("a\n1\n")
        #expect { try TableFileWriter.write(Self.sample, to: p, format: .csv, inputs: [p]) } throws: { ($0 as? CRMFlowError)?.status == .cannotWrite }
        #expect(Scratch.read(p) == "a\n1\n")
    }

    @Test func missingFolderIsExit73() {
        #expect { try TableFileWriter.write(Self.sample, to: "/nonexistent-dir/x.csv", format: .csv) } throws: { ($0 as? CRMFlowError)?.status == .cannotWrite }
    }
}

@Suite struct RoundTripTests {
    /// Random text with the characters that break naive CSV and JSON code.
    static func randomText(_ rng: inout SystemRandomNumberGenerator) -> String {
        let alphabet: [String] = ["a", "Z", "0", "7", ",", ";", "\"", "'", "\n", "\r\n", " ", "\t", "é", "東", "😀", "\\", "{", "|", "=", "-"]
        return (0..<Int.random(in: 1...12, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }.joined()
    }

    @Test func writeThenReadGivesTheSameTable() throws {
        var rng = SystemRandomNumberGenerator()
        for round in 0..<30 {
            let columns = Int.random(in: 1...5, using: &rng)
            let rows: [[Value]] = (0..<Int.random(in: 0...40, using: &rng)).map { _ in
                (0..<columns).map { _ in Int.random(in: 0..<6, using: &rng) == 0 ? .null : .string(Self.randomText(&rng)) }
            }
            let names = (0..<columns).map { "c\($0)" }
            let table = Table(names: names, types: Array(repeating: .string, count: columns), rows: rows)
            var o = WriterOptions()
            o.formulaGuard = false
            for format in [FileFormat.csv, .json, .ndjson] {
                let path = Scratch.path("rt\(round).\(format == .csv ? "csv" : format.rawValue)")
                try TableFileWriter.write(table, to: path, format: format, options: o)
                let back: LoadedTable
                if format == .csv {
                    var ro = CSVOptions()
                    ro.allStrings = true
                    ro.delimiter = UInt8(ascii: ",")
                    back = try CSVFile.open(path, options: ro).load()
                } else {
                    back = try JSONReader.read(path: path, ndjson: format == .ndjson)
                }
                if format == .csv || !rows.isEmpty {
                    let expected = format == .csv ? rows : rows
                    // JSON drops columns that never appear; compare the columns it has.
                    let got = back.table.rows
                    if format == .csv || back.table.columns.count == columns {
                        #expect(got == expected, "round \(round) via \(format)")
                    }
                }
            }
        }
    }

    @Test func csvToJSONToCSVIsStable() throws {
        let src = Scratch.write("id,name,amount,joined\n00042,\"Smith, J\",12.50,2024-01-31\n00043,Zoë,,2024-02-01\n")
        let json = Scratch.path("mid.json")
        var o = CSVOptions()
        o.delimiter = UInt8(ascii: ",")
        let first = try CSVFile.open(src, options: o).load()
        try TableFileWriter.write(first.table, to: json, format: .json)
        let second = try JSONReader.read(path: json, ndjson: false)
        let out = Scratch.path("back.csv")
        try TableFileWriter.write(second.table, to: out, format: .csv)
        #expect(Scratch.read(out) == "id,name,amount,joined\n00042,\"Smith, J\",12.5,2024-01-31\n00043,Zoë,,2024-02-01\n")
    }
}
