import Foundation
import Testing
@testable import CRMFlowCore
@testable import CRMFlowIO

struct CSVCase: CustomTestStringConvertible, Sendable {
    var name: String
    var input: String
    var columns: [String]
    var rows: [[String?]]
    var rejectLines: [Int] = []
    var testDescription: String { name }
}

@Suite struct CSVReaderTests {
    static let cases: [CSVCase] = [
        CSVCase(name: "simple", input: "a,b\n1,2\n", columns: ["a", "b"], rows: [["1", "2"]]),
        CSVCase(name: "quoted delimiter", input: "a,b\n\"x,y\",2\n", columns: ["a", "b"], rows: [["x,y", "2"]]),
        CSVCase(name: "doubled quotes", input: "a,b\n\"say \"\"hi\"\"\",2\n", columns: ["a", "b"], rows: [["say \"hi\"", "2"]]),
        CSVCase(name: "embedded newline", input: "a,b\n\"line1\nline2\",2\n3,4\n", columns: ["a", "b"], rows: [["line1\nline2", "2"], ["3", "4"]]),
        CSVCase(name: "CRLF", input: "a,b\r\n1,2\r\n3,4\r\n", columns: ["a", "b"], rows: [["1", "2"], ["3", "4"]]),
        CSVCase(name: "CR only", input: "a,b\r1,2\r3,4\r", columns: ["a", "b"], rows: [["1", "2"], ["3", "4"]]),
        CSVCase(name: "embedded CRLF kept", input: "a,b\r\n\"x\r\ny\",2\r\n", columns: ["a", "b"], rows: [["x\r\ny", "2"]]),
        CSVCase(name: "empty field is null, quoted empty is empty", input: "a,b,c\n,\"\",x\n", columns: ["a", "b", "c"], rows: [[nil, "", "x"]]),
        CSVCase(name: "no final newline", input: "a,b\n1,2", columns: ["a", "b"], rows: [["1", "2"]]),
        CSVCase(name: "header only", input: "a,b\n", columns: ["a", "b"], rows: []),
        CSVCase(name: "header only without newline", input: "a,b", columns: ["a", "b"], rows: []),
        CSVCase(name: "empty file", input: "", columns: [], rows: []),
        CSVCase(name: "one byte", input: "a", columns: ["a"], rows: []),
        CSVCase(name: "spaces kept byte-exact", input: "a,b\n  x , \ty\t\n", columns: ["a", "b"], rows: [["  x ", " \ty\t"]]),
        CSVCase(name: "blank lines skipped", input: "a,b\n\n1,2\n\n\n3,4\n", columns: ["a", "b"], rows: [["1", "2"], ["3", "4"]]),
        CSVCase(name: "too many fields rejected", input: "a,b\n1,2\n1,2,3\n4,5\n", columns: ["a", "b"], rows: [["1", "2"], ["4", "5"]], rejectLines: [3]),
        CSVCase(name: "too few fields rejected", input: "a,b\n1\n4,5\n", columns: ["a", "b"], rows: [["4", "5"]], rejectLines: [2]),
        CSVCase(name: "physical line after multi-line record", input: "a,b\n\"x\n\ny\",1\nbad\n", columns: ["a", "b"], rows: [["x\n\ny", "1"]], rejectLines: [5]),
        CSVCase(name: "line numbers count CRLF once", input: "a,b\r\n1,2\r\n\r\nbad\r\n", columns: ["a", "b"], rows: [["1", "2"]], rejectLines: [4]),
        CSVCase(name: "unterminated quote at end", input: "a,b\n1,2\n3,\"open\n", columns: ["a", "b"], rows: [["1", "2"]], rejectLines: [3]),
        CSVCase(name: "NUL byte rejected", input: "a,b\n1,x\u{0}y\n3,4\n", columns: ["a", "b"], rows: [["3", "4"]], rejectLines: [2]),
        CSVCase(name: "one column: a blank line is a null", input: "a\n1\n\n2\n", columns: ["a"], rows: [["1"], [nil], ["2"]]),
        CSVCase(name: "utf8 kept", input: "name,city\nZoë,Kraków\n", columns: ["name", "city"], rows: [["Zoë", "Kraków"]]),
    ]

    @Test(arguments: cases)
    func parses(_ c: CSVCase) throws {
        let loaded = try loadCSV(c.input) { $0.delimiter = UInt8(ascii: ",") }
        #expect(loaded.table.schema.names == c.columns)
        #expect(cells(loaded.table) == c.rows)
        #expect(loaded.rejects.map(\.line) == c.rejectLines)
        #expect(loaded.recordsRead == c.rows.count + c.rejectLines.count, "every record is kept or rejected")
    }

    /// Found by the CSV fuzz target: a header-only file returned before its worker threads were stopped, so every such
    /// read left its threads (and their stacks) behind; 8,000 reads ran the fuzzer out of memory.
    @Test func readsLeaveNoWorkerThreadsBehind() throws {
        let dir = NSTemporaryDirectory() + "crmflow-threads-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let files = ["id,name\n", "\u{C6}\u{FF}\n", "id,name\n1,a\n2,b\n", ""]
        var options = CSVOptions()
        options.threads = 4
        for (k, text) in files.enumerated() {
            let path = dir + "/f\(k).csv"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            for _ in 0..<100 { _ = try? CSVFile.open(path, options: options).load() }
        }
        // 1,600 threads were left before the fix; other tests running meanwhile hold a few.
        #expect(WorkerThreads.count < 64, "\(WorkerThreads.count) worker threads still running")
    }

    @Test func rejectsKeepTheRecordAndReason() throws {
        let loaded = try loadCSV("a,b\n1,2,\"x,y\"\n")
        let r = try #require(loaded.rejects.first)
        #expect(r.code == "E_TOO_MANY_FIELDS")
        #expect(r.reason == "expected 2 field(s), found 3")
        #expect(r.record == "1,2,\"x,y\"")
        #expect(r.source.hasSuffix("input.csv"))
    }

    @Test func raggedPadPolicy() throws {
        let loaded = try loadCSV("a,b,c\n1\n1,2,3,4\n") { $0.ragged = .pad }
        #expect(cells(loaded.table) == [["1", nil, nil], ["1", "2", "3"]])
        #expect(loaded.adjustedRows == 2)
        #expect(loaded.rejects.isEmpty)
    }

    @Test func raggedErrorPolicyNamesTheLine() throws {
        #expect { try loadCSV("a,b\n1,2\n\"q\nq\",2\n3\n") { $0.ragged = .error } } throws: { error in
            guard let e = error as? CRMFlowError else { return false }
            return e.status == .badData && e.location?.hasSuffix("input.csv:5") == true
        }
    }

    @Test func headersAreMadeUniqueAndReported() throws {
        let loaded = try loadCSV("id,,id,name,id\n1,2,3,4,5\n")
        #expect(loaded.table.schema.names == ["id", "column_2", "id_2", "name", "id_3"])
        #expect(loaded.headerNotes.count == 3)
    }

    @Test func noHeader() throws {
        let loaded = try loadCSV("1,2\n3,4\n") { $0.hasHeader = false }
        #expect(loaded.table.schema.names == ["column_1", "column_2"])
        #expect(cells(loaded.table) == [["1", "2"], ["3", "4"]])
    }

    @Test(arguments: [(";", UInt8(ascii: ";")), ("\t", 9), ("|", UInt8(ascii: "|")), (",", UInt8(ascii: ","))])
    func sniffsDelimiter(_ d: String, _ byte: UInt8) throws {
        let text = ["name\(d)note\(d)n", "\"a,b;c|d\"\(d)x\(d)1", "e\(d)\"f\tg\"\(d)2"].joined(separator: "\n") + "\n"
        let loaded = try loadCSV(text)
        #expect(loaded.dialect?.delimiter == byte)
        #expect(cells(loaded.table) == [["a,b;c|d", "x", "1"], ["e", "f\tg", "2"]])
    }

    @Test func excelSepLine() throws {
        let loaded = try loadCSV("sep=;\r\na;b\r\n1,5;2\r\nbad\r\n")
        #expect(loaded.dialect?.hasSepLine == true)
        #expect(cells(loaded.table) == [["1,5", "2"]])
        #expect(loaded.rejects.map(\.line) == [4])
    }

    @Test func utf8BOM() throws {
        let loaded = try loadCSV([0xEF, 0xBB, 0xBF] + Array("name\nZoë\n".utf8))
        #expect(loaded.table.schema.names == ["name"])
        #expect(loaded.dialect?.hasBOM == true)
        #expect(cells(loaded.table) == [["Zoë"]])
    }

    @Test func windows1252IsDetected() throws {
        // "Müller;Köln €" as Excel on Windows writes it.
        let bytes: [UInt8] = Array("name;city\n".utf8) + [0x4D, 0xFC] + Array("ller;K".utf8) + [0xF6] + Array("ln ".utf8) + [0x80, 0x0A]
        let loaded = try loadCSV(bytes)
        #expect(loaded.dialect?.encoding == .windows1252)
        #expect(cells(loaded.table) == [["Müller", "Köln €"]])
    }

    @Test func declaredLatin1() throws {
        let loaded = try loadCSV([0x61, 0x0A, 0xE9, 0x0A]) { $0.encoding = .latin1 }
        #expect(cells(loaded.table) == [["é"]])
    }

    @Test(arguments: [TextEncoding.utf16LE, .utf16BE])
    func utf16WithBOM(_ encoding: TextEncoding) throws {
        let text = "name,city\nZoë,東京\n"
        var bytes: [UInt8] = encoding == .utf16LE ? [0xFF, 0xFE] : [0xFE, 0xFF]
        for u in text.utf16 { bytes += encoding == .utf16LE ? [UInt8(u & 0xFF), UInt8(u >> 8)] : [UInt8(u >> 8), UInt8(u & 0xFF)] }
        let loaded = try loadCSV(bytes)
        #expect(loaded.dialect?.encoding == encoding)
        #expect(cells(loaded.table) == [["Zoë", "東京"]])
    }

    @Test func invalidUTF8InDeclaredEncodingNamesLineAndByte() throws {
        let bytes = Array("a,b\n1,2\n3,".utf8) + [0xFF] + Array("\n".utf8)
        #expect { try loadCSV(bytes) { $0.encoding = .utf8 } } throws: { error in
            guard let e = error as? CRMFlowError else { return false }
            return e.status == .badData && e.location?.hasSuffix(":3") == true && e.message.contains("byte offset 10")
        }
        let rejected = try loadCSV(bytes) {
            $0.encoding = .utf8
            $0.onInvalidEncoding = .reject
        }
        #expect(cells(rejected.table) == [["1", "2"]])
        #expect(rejected.rejects.map(\.code) == ["E_ENCODING"])
        #expect(rejected.rejects.map(\.line) == [3])
    }

    @Test func invalidBytesInDeclaredSingleByteEncodingNamesOffset() throws {
        // 0x81 is undefined in Windows-1252.
        #expect { try loadCSV(Array("a\nx\n".utf8) + [0x81]) { $0.encoding = .windows1252 } } throws: { error in
            guard let e = error as? CRMFlowError else { return false }
            return e.message.contains("byte 4") && e.location?.hasSuffix(":3") == true
        }
    }

    @Test func largeSingleField() throws {
        let big = String(repeating: "x,\"y\"\n", count: 2_000_000)  // 12 MB inside one quoted field
        let quoted = "\"" + big.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        let loaded = try loadCSV("a,b\n\(quoted),1\n2,3\n") { $0.chunkSize = 1 << 20 }
        #expect(loaded.table.rowCount == 2)
        #expect(loaded.table.columns[0].value(at: 0) == .string(big))
        #expect(cells(loaded.table)[1] == ["2", "3"])
    }

    @Test func missingFileIsExit66() {
        #expect { try CSVFile.open("/nonexistent/x.csv") } throws: { ($0 as? CRMFlowError)?.status == .inputMissing }
    }
}

@Suite struct ParallelReadTests {
    static func messyCSV(rows: Int, seed: UInt64) -> String {
        var rng = seed
        func next() -> Int {
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            return Int(rng >> 33)
        }
        var s = "id,name,note,amount\n"
        for i in 0..<rows {
            let note: String
            switch next() % 6 {
            case 0: note = "\"multi\nline, \"\"quoted\"\"\""
            case 1: note = ""
            case 2: note = "plain"
            case 3: note = "\"a,b\""
            case 4: note = "Zoë ✓"
            default: note = "\"\r\n\""
            }
            s += "\(i),name\(next() % 1000),\(note),\(next() % 100000).\(next() % 100)\n"
            if next() % 97 == 0 { s += "ragged,row\n" }
        }
        return s
    }

    @Test(arguments: [1, 2, 4, 8])
    func anyThreadCountGivesTheSameTable(_ threads: Int) throws {
        let text = Self.messyCSV(rows: 20_000, seed: 7)
        let reference = try loadCSV(text) {
            $0.threads = 1
            $0.chunkSize = 1 << 30
            $0.allStrings = false
        }
        let parallel = try loadCSV(text) {
            $0.threads = threads
            $0.chunkSize = 4096
            $0.allStrings = false
        }
        #expect(parallel.table == reference.table)
        #expect(parallel.rejects.map { "\($0.line) \($0.code) \($0.record)" } == reference.rejects.map { "\($0.line) \($0.code) \($0.record)" })
        #expect(parallel.recordsRead == 20_000 + reference.rejects.count)
        #expect(reference.table.schema.fields.map(\.type) == [.string, .string, .string, .double])
    }

    @Test func strayQuotesFallBackToSequentialWithIdenticalResult() throws {
        // Inch marks in unquoted fields make quote parity lie about record boundaries.
        var text = "id,height,note\n"
        for i in 0..<5000 { text += "\(i),5'10\",\(i % 3 == 0 ? "\"q\nq\"" : "x")\n" }
        let one = try loadCSV(text) { $0.threads = 1; $0.chunkSize = 1 << 30 }
        let many = try loadCSV(text) { $0.threads = 4; $0.chunkSize = 2048 }
        #expect(many.table == one.table)
        #expect(one.table.rowCount == 5000)
        #expect(one.table.columns[1].value(at: 0) == .string("5'10\""))
    }
}

@Suite struct InferenceEndToEndTests {
    @Test func identifiersStayTextAndDatesAreDecided() throws {
        let text = """
        id,zip,phone,close_date,amount,active,ambiguous
        00742,02139,5550101234,03/04/2024,12.5,true,01/02/2024
        00743,94105,5550109999,25/12/2024,7,false,03/04/2024

        """
        let loaded = try loadCSV(text) { $0.allStrings = false }
        #expect(loaded.table.schema.fields.map(\.type) == [.string, .string, .string, .date, .double, .boolean, .string])
        #expect(loaded.table.row(0)[3].description == "2024-04-03")
        #expect(loaded.columnNotes["ambiguous"]?.contains("ambiguous") == true)
        #expect(loaded.columnNotes["close_date"]?.contains("day first") == true)
    }

    /// A date column with a day no calendar has stays text, and says why (the run summary repeats it).
    @Test func aColumnOfDatesWithAnImpossibleDaySaysWhyItIsText() throws {
        let text = "id,signed,note\n1,2024-02-28,a\n2,2024-02-30,b\n3,2024-03-01,c\n4,31/04/2024,d\n"
        let loaded = try loadCSV(text) { $0.allStrings = false }
        #expect(loaded.table.schema.fields[1].type == .string)
        #expect(loaded.columnNotes["signed"] == "kept as text: 2 value(s) look like dates but are not real calendar dates (e.g. 2024-02-30); fix them, or declare the column a date so those rows are rejected with the reason")
        // Plain text that is not date-like says nothing.
        #expect(loaded.columnNotes["note"] == nil)
        let clean = try loadCSV("d\n2024-02-28\n2024-02-29\n") { $0.allStrings = false }
        #expect(clean.table.schema.fields[0].type == .date && clean.columnNotes["d"] == nil)
        #expect(Array("2024-02-30".utf8).withUnsafeBufferPointer(ColumnEvidence.hasDateShape) && !Array("2024-02-30x".utf8).withUnsafeBufferPointer(ColumnEvidence.hasDateShape))
    }

    @Test func declaredTypesOverrideAndRejectMisfits() throws {
        let text = "id,close,amount\n1,05/03/2024,\"$1,200.50\"\n2,not a date,€3\n3,06/03/2024,abc\n"
        let loaded = try loadCSV(text) {
            $0.allStrings = false
            $0.declared["close"] = ColumnPlan(type: .date, format: "%d/%m/%Y", isDeclared: true)
            $0.declared["amount"] = ColumnPlan(type: .money, currency: "USD", isDeclared: true)
        }
        #expect(cells(loaded.table) == [["1", "2024-03-05", "1200.50 USD"]])
        #expect(loaded.rejects.map(\.line) == [3, 4])
        #expect(loaded.rejects.allSatisfy { $0.code == "E_TYPE" })
        #expect(loaded.rejects[0].reason.contains("column 'close'"))
        #expect(loaded.recordsRead == 3)
    }

    @Test func dayOrderCanBeDeclared() throws {
        let loaded = try loadCSV("d\n01/02/2024\n") {
            $0.allStrings = false
            $0.dayOrder = .dayFirst
        }
        #expect(cells(loaded.table) == [["2024-02-01"]])
    }
}

@Suite struct SkippedColumnTests {
    /// Skipping columns changes nothing but those columns: same rows, same rejects (with whole records), any chunking.
    @Test(arguments: [1, 2])
    func skippedColumnsReadAsNullAndRejectsKeepEveryField(threads: Int) throws {
        var text = "id,name,notes,amount\n"
        for i in 0..<3_000 {
            switch i % 97 {
            case 5: text += "\(i),N\(i)\n"                                   // too few fields
            case 9: text += "\(i),\"multi\nline \(i)\",\"a, b\",\(i)\n"     // quoted newline and comma
            default: text += "\(i),N\(i),\"note \(i)\",\(i * 2)\n"
            }
        }
        func load(skip: Set<Int>) throws -> LoadedTable {
            try loadCSV(text) {
                $0.allStrings = true
                $0.threads = threads
                $0.chunkSize = 4_096
                $0.skipColumns = skip
            }
        }
        let full = try load(skip: [])
        let skipped = try load(skip: [1, 2])
        #expect(skipped.table.rowCount == full.table.rowCount)
        #expect(skipped.table.columns[0] == full.table.columns[0])
        #expect(skipped.table.columns[3] == full.table.columns[3])
        #expect(skipped.table.columns[1].nullCount == skipped.table.rowCount)
        #expect(skipped.rejects.map { "\($0.line) \($0.code) \($0.record)" } == full.rejects.map { "\($0.line) \($0.code) \($0.record)" })
        #expect(full.rejects.first?.record == "5,N5")
    }
}

/// What `profile` calls a value: record ids are not phones, dates are not phones, phones with extensions are.
@Suite struct ProfileShapeTests {
    @Test(arguments: [
        ("001500000123456QAX", "word"),           // Salesforce 18-character id with few letters
        ("0035e000008ASPMAAX", "word"),
        ("a0B5e00000Xk1pQEAR", "word"),
        ("+1 (555) 010-2222", "phone (international)"),
        ("555.010.3333", "phone"),
        ("(555) 010-2222 x12", "phone"),
        ("+49 30 1234567 ext. 3", "phone (international)"),
        ("030/1234567", "phone"),
        ("2024-01-31", "date (YYYY-MM-DD)"),
        ("5550102222", "digits"),
        ("ABC-1234567", "word"),
        // Extension markers, compared on the bytes whatever their case.
        ("(555) 010-2222 EXT 12", "phone"),
        ("555-010-2222 Extension: 7", "phone"),
        ("555 010 2222 #45", "phone"),
        ("555-010-2222 X9", "phone"),
        ("555-010-2222 ext", "text with spaces"),
        ("Té 555-010-2222 x12", "text with spaces"),
    ])
    func shapes(_ value: String, _ shape: String) {
        let got = Array(value.utf8).withUnsafeBufferPointer { Profiler.shape($0) }
        #expect(got == shape, "\(value)")
    }

    /// Phone numbers as `isPhone` reads them (table-driven): an extension in any case, never a letter elsewhere.
    @Test(arguments: [
        ("555-010-2222 x12", true), ("555-010-2222 EXT. 12", true), ("555-010-2222 Extension 12", true), ("555-010-2222 #12", true),
        ("555-010-2222", true), ("+15550102222", true), ("5550102222", false), ("555-010-2222 y12", false),
        ("Tél 555-010-2222 x12", false), ("555-010-2222 x1234567", false), ("12-34", false),
    ])
    func phones(_ value: String, _ phone: Bool) {
        #expect(Array(value.utf8).withUnsafeBufferPointer { Profiler.isPhone($0) } == phone, "\(value)")
    }

    /// A text column's range, distinct count, top values and shapes, read from each distinct value once, are those of
    /// the rows: the smallest and largest in byte order, however often and wherever they occur.
    @Test func aTextColumnsRangeAndCountsComeFromItsDistinctValues() {
        let values = ["m", "b", "zz", "b", "a", "zz", "q", "a", "b"] + (0..<500).map { "v\($0 % 37)" }
        let column = Column.make(.string, values.map { .string($0) } + [.null])
        let p = Profiler.profileColumn(column, name: "c", note: nil)
        #expect(p.min == "a" && p.max == "zz" && p.distinct == Set(values).count && p.nulls == 1)
        #expect(p.topValues.first?.0 == "v0" && p.topValues.first?.1 == 14)
        #expect(p.shapes.map(\.1).reduce(0, +) == values.count)
    }
}

/// The chunk scan that lets libcsv keep its inline space test (instead of a call per character) is exact: wherever it
/// says blanks cannot matter, libcsv's default parse gives the very fields the byte-exact parse gives. Random CSV
/// text from the bytes that decide it (blanks, quotes, delimiters, line ends), comma- and tab-delimited.
@Suite struct BlankScanTests {
    static func fields(_ text: [UInt8], delimiter: UInt8, byteExact: Bool) -> [[[UInt8]?]] {
        let state = ChunkParserState(columnCount: 0, delimiter: delimiter, ragged: .pad, rejectInvalidEncoding: false, expectedBytes: 0)
        let parser = LibCSVParser(state: state, delimiter: delimiter, quote: 34, mayHoldBlanks: byteExact)
        text.withUnsafeBytes { _ = parser.parse($0) }
        parser.finish()
        return state.capturedRows + (state.extra.isEmpty ? [] : [state.extra])
    }

    @Test(arguments: [UInt8(ascii: ","), 9])
    func whereTheScanSaysBlanksDoNotMatterBothParsesAgree(delimiter: UInt8) {
        var rng = SystemRandomNumberGenerator()
        let alphabet: [UInt8] = [97, 98, 32, 32, 9, 34, 34, delimiter, delimiter, 10, 13, 0xC3, 0xA9]
        var harmless = 0, harmlessWithBlanks = 0, differing = 0
        for _ in 0..<20_000 {
            let text = (0..<Int.random(in: 0...24, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            let matters = text.withUnsafeBytes { blanksMatter($0, delimiter: delimiter, quote: 34) }
            let exact = Self.fields(text, delimiter: delimiter, byteExact: true)
            let trimmed = Self.fields(text, delimiter: delimiter, byteExact: false)
            if matters {
                if exact != trimmed { differing += 1 }
                continue
            }
            harmless += 1
            if text.contains(32) || (delimiter != 9 && text.contains(9)) { harmlessWithBlanks += 1 }
            #expect(exact == trimmed, "\(String(decoding: text, as: UTF8.self).debugDescription)")
        }
        // The property is not vacuous: many texts with blanks pass the scan, and the scan does catch texts libcsv's
        // trimming would change.
        #expect(harmlessWithBlanks > 1000)
        #expect(differing > 100)
        #expect(harmless > harmlessWithBlanks)
    }

    @Test func aQuotedExportWithSpacesInsideFieldsNeedsNoByteExactParse() {
        let export = Array("\"100\",\"  ann@x.org\",\"Hugo Novak\",\"New business – 0\"\r\n\"101\",\"b@y.fi \",\"Mia\",\"x\"\r\n".utf8)
        #expect(!export.withUnsafeBytes { blanksMatter($0, delimiter: 44, quote: 34) })
        for risky in ["a, b\n", "a ,b\n", " a,b\n", "\"a\" ,b\n", "a, \"b\"\n", "a b \n", "a\"b ,c\n"] {
            #expect(Array(risky.utf8).withUnsafeBytes { blanksMatter($0, delimiter: 44, quote: 34) }, "\(risky.debugDescription)")
        }
    }
}

/// `load` types chunks as they are parsed when the first chunk's plans hold for the whole file: the table, its rejects
/// and its rows' lines must be the ones the text-then-type path (`loadTextThenType`) builds.
@Suite struct OnePassTypedLoadTests {
    /// Every inferred type (money is only declared), nulls, quoted commas and line breaks, a ragged row now and then.
    static func typedCSV(rows: Int, seed: UInt64, lateText: Bool = false) -> String {
        var rng = SplitMix64(seed: seed)
        func next(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        var s = "n,score,ratio,closed,created,amount,active,note,visits\n"
        for i in 0..<rows {
            let score = next(10) == 0 ? "" : String(next(100_000) - 50_000)
            let ratio = next(10) == 0 ? "" : "\(next(1000)).\(next(100))"
            let closed = "20\(10 + next(15))-\(String(1 + next(12)).leftPad)-\(String(1 + next(28)).leftPad)"
            let created = "\(closed) \(String(next(24)).leftPad):\(String(next(60)).leftPad):\(String(next(60)).leftPad)"
            let amount = ["$\(next(9)),\(100 + next(900)).50", "$\(next(5000)).25", "$\(next(100)).00"][next(3)]
            let active = next(2) == 0 ? "true" : "false"
            let note = ["plain", "\"a,b\"", "\"two\nlines\"", "", "Zoë ✓"][next(5)]
            let visits = lateText && i == rows - 3 ? "many" : String(next(500))
            s += "\(i),\(score),\(ratio),\(closed),\(created),\"\(amount)\",\(active),\(note),\(visits)\n"
            if next(211) == 0 { s += "ragged,row\n" }
        }
        return s
    }

    /// `load`'s table, the text-then-type path's, and the one-pass path's alone (nil when it gave up).
    func bothWays(_ text: String, chunk: Int, threads: Int, _ configure: (inout CSVOptions) -> Void = { _ in }) throws
        -> (onePass: LoadedTable, twoPass: LoadedTable, served: LoadedTable?) {
        var o = CSVOptions()
        o.chunkSize = chunk
        o.threads = threads
        configure(&o)
        let file = try CSVFile.open(Scratch.write(text), options: o)
        return (try file.load(), try file.loadTextThenType(progress: nil, expect: nil), try file.loadTypedInOnePass(progress: nil, expect: nil))
    }

    /// A pipeline's ingest: some columns declared (one of them failing on some rows), the rest inferred, and every
    /// kept row's line kept for the rejects of later stages.
    @Test(arguments: [(4096, 1), (4096, 3), (1 << 30, 2)])
    func declaredColumnsAndRowLinesAsThePipelineReadsThem(_ chunk: Int, _ threads: Int) throws {
        var text = Self.typedCSV(rows: 5_000, seed: 23)
        // Two rows whose declared amount is not money: E_TYPE rejects with their lines, the rows gone from the table.
        text = text.replacingOccurrences(of: "\"$7.00\"", with: "\"seven\"")
        let (one, two, served) = try bothWays(text, chunk: chunk, threads: threads) {
            $0.keepRowLines = true
            $0.declared["amount"] = ColumnPlan(type: .money, currency: "USD", isDeclared: true)
            $0.declared["closed"] = ColumnPlan(type: .string, isDeclared: true)
        }
        #expect(one.table.schema.fields.map(\.type) == [.integer, .integer, .double, .string, .timestamp, .money, .boolean, .string, .integer])
        #expect(one.table == two.table)
        #expect(one.rowLines == two.rowLines)
        #expect(one.rowLines?.count == one.table.rowCount)
        #expect(served?.rowLines == two.rowLines)
        #expect(one.rejects.map { "\($0.line) \($0.code) \($0.reason) \($0.record)" } == two.rejects.map { "\($0.line) \($0.code) \($0.reason) \($0.record)" })
        #expect(one.rejects.contains { $0.code == "E_TYPE" })
        #expect(one.table.rowCount + one.rejects.count == one.recordsRead)
        // Lines are the file's: a row after two-line notes and rejected rows is further down than its index says.
        #expect((one.rowLines?.first ?? 0) >= 2)
        #expect((one.rowLines?.last ?? 0) > one.table.rowCount + 1)
    }

    @Test(arguments: [(4096, 1), (4096, 4), (64 << 10, 2), (1 << 30, 2)])
    func oneChunkAtATimeGivesTheTwoPassTable(_ chunk: Int, _ threads: Int) throws {
        let text = Self.typedCSV(rows: 6_000, seed: 11)
        let (one, two, served) = try bothWays(text, chunk: chunk, threads: threads)
        #expect(one.table.schema == two.table.schema)
        #expect(one.table.schema.fields.map(\.type) == [.integer, .integer, .double, .date, .timestamp, .string, .boolean, .string, .integer])
        #expect(one.table == two.table)
        #expect(one.columnNotes == two.columnNotes)
        #expect(one.recordsRead == two.recordsRead)
        #expect(one.rejects.map { "\($0.line) \($0.code) \($0.record)" } == two.rejects.map { "\($0.line) \($0.code) \($0.record)" })
        #expect(one.rejects.count > 10)
        #expect(one.table.rowCount + one.rejects.count == one.recordsRead)
        #expect(one.table.columns[1].nullCount > 0)
        // The one-pass path served it (it gives up, and `load` reads the text first, when the plans change).
        #expect(served?.table == two.table)
        #expect(one.rowLines == nil)
    }

    @Test func aTypeThatChangesLateIsDecidedFromTheWholeFile() throws {
        // The visits column looks like integers until three rows before the end.
        let text = Self.typedCSV(rows: 6_000, seed: 5, lateText: true)
        let (one, two, served) = try bothWays(text, chunk: 4096, threads: 2)
        #expect(one.table.schema.fields.last?.type == .string)
        #expect(one.table == two.table)
        #expect(one.rejects.map(\.line) == two.rejects.map(\.line))
        #expect(served == nil)
    }
}

private extension String {
    var leftPad: String { count < 2 ? "0" + self : self }
}
