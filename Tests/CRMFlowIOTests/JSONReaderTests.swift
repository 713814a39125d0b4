import Foundation
import Testing
@testable import CRMFlowCore
@testable import CRMFlowIO

func readJSON(_ text: String, ndjson: Bool = false) throws -> LoadedTable {
    try JSONReader.read(path: Scratch.write(text, name: ndjson ? "in.ndjson" : "in.json"), ndjson: ndjson)
}

struct JSONErrorCase: CustomTestStringConvertible, Sendable {
    var input: String
    var line: Int
    var column: Int
    var message: String
    var testDescription: String { input }
}

@Suite struct JSONReaderTests {
    @Test func arrayOfObjectsFlattensNestedObjects() throws {
        let t = try readJSON(#"[{"id": 1, "name": "Zoë", "address": {"city": "Paris", "geo": {"lat": 48.8}}, "tags": ["a", "b"], "vip": true},"#
            + #" {"id": 2, "address": {"city": null}, "tags": [], "extra": "x"}]"#).table
        #expect(t.schema.names == ["id", "name", "address.city", "address.geo.lat", "tags", "vip", "extra"])
        #expect(t.schema.fields.map(\.type) == [.integer, .string, .string, .double, .string, .boolean, .string])
        #expect(cells(t) == [["1", "Zoë", "Paris", "48.8", #"["a","b"]"#, "true", nil], ["2", nil, nil, nil, "[]", nil, "x"]])
    }

    @Test func topLevelValuesBecomeOneValueColumn() throws {
        #expect(cells(try readJSON("42").table) == [["42"]])
        #expect(cells(try readJSON(#"[1, "two", [3], null]"#).table) == [["1"], ["two"], ["[3]"], [nil]])
        #expect(try readJSON(#"{"a": 1}"#).table.rowCount == 1)
        #expect(try readJSON("[]").table.rowCount == 0)
    }

    @Test func escapesAndSurrogates() throws {
        let t = try readJSON(#"[{"s": "a\"b\\c\/d\n\u00e9\ud83d\ude00", "lone": "\ud800x"}]"#).table
        #expect(cells(t) == [["a\"b\\c/d\né😀", "\u{FFFD}x"]])
    }

    @Test func bigNumbersAreDocumented() throws {
        // A number beyond a double's range keeps its column numeric: its row is rejected with the reason, whole.
        let loaded = try readJSON(#"[{"big": 123456789012345678901234567890, "huge": 1e400, "small": 1}, {"big": 1, "huge": 2.5, "small": 2}]"#)
        let t = loaded.table
        #expect(t.schema.fields.map(\.type) == [.double, .double, .integer])
        #expect(cells(t) == [["1.0", "2.5", "2"]])
        #expect(loaded.rejects.count == 1 && loaded.rejects[0].line == 1 && loaded.rejects[0].code == "E_NUMBER_RANGE")
        #expect(loaded.rejects[0].reason.contains("1e400 in 'huge' is beyond the range of a double"))
        #expect(loaded.rejects[0].record == #"{"big": 123456789012345678901234567890, "huge": 1e400, "small": 1}"#)
        #expect(loaded.recordsRead == 2 && loaded.rowLines == [2])
        let nd = try readJSON("{\"v\": 1}\n{\"v\": -1e999}\n\n{\"v\": 3.5}\n", ndjson: true)
        #expect(nd.table.schema.fields.map(\.type) == [.double] && cells(nd.table) == [["1.0"], ["3.5"]])
        #expect(nd.rejects.map(\.line) == [2] && nd.rowLines == [1, 4])
        let extremes = try readJSON(#"[{"n": 9223372036854775807, "m": -9223372036854775808, "dup": 1, "dup": 2}]"#).table
        #expect(extremes.rows == [[.integer(Int64.max), .integer(Int64.min), .integer(2)]])
    }

    @Test func mixedKindsBecomeTextWithSourceNumbers() throws {
        let t = try readJSON(#"[{"v": 1.50}, {"v": "x"}, {"v": true}, {}, {"v": [1, {"a": 2}]}]"#).table
        #expect(t.schema.fields.map(\.type) == [.string])
        #expect(cells(t) == [["1.50"], ["x"], ["true"], [nil], [#"[1,{"a":2}]"#]])
    }

    @Test func deepNestingDoesNotOverflowTheStack() throws {
        let deep = String(repeating: "[", count: 200_000) + String(repeating: "]", count: 200_000)
        #expect(try readJSON(deep).table.rowCount == 1)
        let deepObject = String(repeating: #"{"a":"#, count: 50_000) + "1" + String(repeating: "}", count: 50_000)
        #expect(try readJSON(deepObject).table.columns.count == 1)
        #expect(throws: CRMFlowError.self) { try readJSON(String(repeating: "[", count: 100_000)) }
    }

    static let errors: [JSONErrorCase] = [
        JSONErrorCase(input: "[1,]", line: 1, column: 4, message: "unexpected character ']'"),
        JSONErrorCase(input: "{\"a\":1,}", line: 1, column: 8, message: "expected a string key"),
        JSONErrorCase(input: "['x']", line: 1, column: 2, message: "unexpected character '''"),
        JSONErrorCase(input: "[NaN]", line: 1, column: 2, message: "unexpected character 'N'"),
        JSONErrorCase(input: "[01]", line: 1, column: 2, message: "numbers cannot have leading zeros"),
        JSONErrorCase(input: "[\n  \"a\\x\"]", line: 2, column: 5, message: "invalid escape '\\x'"),
        JSONErrorCase(input: "[\"tab\there\"]", line: 1, column: 6, message: "control character U+009 must be escaped inside a string"),
        JSONErrorCase(input: "// c\n[]", line: 1, column: 1, message: "unexpected character '/'"),
        JSONErrorCase(input: "[1] x", line: 1, column: 5, message: "unexpected data after the JSON value"),
        JSONErrorCase(input: "", line: 1, column: 1, message: "empty input: expected a JSON value"),
        JSONErrorCase(input: "{\"a\" 1}", line: 1, column: 6, message: "expected ':' after key"),
    ]

    @Test(arguments: errors)
    func strictErrorsNamePosition(_ c: JSONErrorCase) {
        #expect { try readJSON(c.input) } throws: { error in
            guard let e = error as? CRMFlowError else { return false }
            return e.status == .badData && e.location?.hasSuffix(":\(c.line):\(c.column)") == true && e.message == c.message
        }
    }

    @Test func invalidUTF8IsRefused() {
        let path = Scratch.write([0x5B, 0x22, 0xFF, 0x22, 0x5D], name: "bad.json")
        #expect { try JSONReader.read(path: path, ndjson: false) } throws: { ($0 as? CRMFlowError)?.message.contains("invalid UTF-8") == true }
    }

    @Test func ndjsonRejectsBadLinesWithTheirNumbers() throws {
        let loaded = try readJSON("{\"a\": 1}\n\n{\"a\": 2,}\n{\"a\": 3}\r\n[1,2]\nnot json\n", ndjson: true)
        #expect(cells(loaded.table) == [["1", nil], ["3", nil], [nil, "[1,2]"]])
        #expect(loaded.rejects.map(\.line) == [3, 6])
        #expect(loaded.rejects[0].record == "{\"a\": 2,}")
        #expect(loaded.recordsRead == 5)
    }
}
