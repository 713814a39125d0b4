import ArgumentParser
import CRMFlowCore
import CRMFlowIO
#if canImport(Glibc)
import Glibc
#endif

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert between CSV, JSON, NDJSON and Markdown; rows that cannot be read go to a rejects file.",
        discussion: """
        CSV is streamed (bounded memory) and typed by the whole file's evidence: chunks are converted with the types of \
        the first 4 MiB while the whole file's evidence is gathered, and the file is converted a second time only when \
        the two differ.
        CSV output guards against spreadsheet formula injection by prefixing text cells that start with = + - @, \
        tab or CR with a single quote; --no-formula-guard turns that off.
        """)

    @Argument(help: "Input file (.csv, .tsv, .json, .ndjson, .jsonl).") var input: String
    @Argument(help: "Output file (.csv, .json, .ndjson, .md); written atomically.") var output: String
    @OptionGroup var reader: ReaderOptions

    @Option(help: "Output format: csv, json, ndjson, markdown (default: from the extension).") var to: String?
    @Option(help: "Delimiter of CSV output (default ',').") var outDelimiter: String?
    @Flag(help: "Start CSV output with a UTF-8 byte-order mark (for Excel).") var bom = false
    @Flag(help: "Write text cells starting with = + - @ as they are (unsafe for spreadsheets).") var noFormulaGuard = false
    @Option(help: "Where rejected rows go (default: OUTPUT.rejects.csv, written only when there are rejects).") var rejects: String?
    @Flag(help: "Print nothing but errors.") var quiet = false

    func run() throws {
        let inFormat = try reader.inputFormat(for: input)
        let outFormat: FileFormat
        if let to {
            guard let f = FileFormat(userName: to) else { throw CRMFlowError(.usage, "unknown output format '\(to)'", hint: "use csv, json, ndjson or markdown") }
            outFormat = f
        } else {
            guard let f = FileFormat(path: output) else {
                throw CRMFlowError(.usage, "cannot tell the output format of '\(output)' from its extension", hint: "pass --to csv|json|ndjson|markdown")
            }
            outFormat = f
        }
        var writerOptions = WriterOptions()
        writerOptions.bom = bom
        writerOptions.formulaGuard = !noFormulaGuard
        if let d = outDelimiter { writerOptions.delimiter = try ReaderOptions.parseDelimiter(d) } else if output.lowercased().hasSuffix(".tsv") { writerOptions.delimiter = 9 }
        let rejectsPath = rejects ?? output + ".rejects.csv"
        let inputs = [input]

        var allRejects: [Reject] = []
        var recordsRead = 0
        var written = 0
        var notes: [String] = []
        if inFormat == .csv {
            let file = try CSVFile.open(input, options: reader.csvOptions())
            try reader.checkDeclared(file)
            // One pass where it can be: the chunks are typed with the plans of the first 4 MiB while the whole file's
            // evidence is gathered; when the whole file's plans are the same, the output is what a pass to decide the
            // types and a pass to convert would have written. Otherwise it is converted again with the whole file's.
            var plans = try file.inferColumns(sampleBytes: 4 << 20).map(\.plan)
            var inference: [InferenceResult] = []
            var second = false
            while true {
                let schema = Schema(zip(file.columnNames, plans).map { Field(name: $0, type: $1.type) })
                let encoder = TableEncoder(format: outFormat, schema: schema, options: writerOptions)
                let writer = try TableFileWriter(path: output, encoder: encoder, inputs: inputs)
                allRejects = []
                recordsRead = 0
                do {
                    inference = try file.streamGatheringEvidence(plans: plans, process: { chunk in (encoder.rows(chunk.table), chunk.table.rowCount, chunk.recordsRead) },
                                    consume: { encoded, rejects in
                                        try writer.write(encodedRows: encoded.0, rowCount: encoded.1)
                                        recordsRead += encoded.2
                                        allRejects.append(contentsOf: rejects)
                                    }, reset: {
                                        try writer.restart()
                                        allRejects = []
                                        recordsRead = 0
                                    })
                    if !second, inference.map(\.plan) != plans {
                        writer.abandon()
                        plans = inference.map(\.plan)
                        notes = ["the first 4 MiB suggested other column types than the whole file: converted a second time"]
                        second = true
                        continue
                    }
                    written = writer.rowsWritten
                    try checkAccounting(read: recordsRead, written: written, rejected: allRejects.count)
                    try writer.commit()
                } catch {
                    writer.abandon()
                    throw error
                }
                break
            }
            for (c, r) in inference.enumerated() { if let n = r.note { notes.append("\(file.columnNames[c]): \(n)") } }
            notes.append(contentsOf: file.headerNotes)
            let d = file.dialect
            notes.insert("read as \(d.encoding.rawValue)\(d.hasBOM ? " with BOM" : ""), \(d.delimiterName)-delimited, \(d.hasHeader ? "with" : "without") header\(d.hasSepLine ? ", Excel sep= line" : "")", at: 0)
        } else {
            let loaded = try reader.load(input)
            recordsRead = loaded.recordsRead
            allRejects = loaded.rejects
            try TableFileWriter.write(loaded.table, to: output, format: outFormat, options: writerOptions, inputs: inputs)
            written = loaded.table.rowCount
            try checkAccounting(read: recordsRead, written: written, rejected: allRejects.count)
        }
        if !allRejects.isEmpty {
            try RejectsWriter.write(allRejects, to: rejectsPath, inputs: inputs)
        } else if rejects == nil {
            // NB: a rejects file left by an earlier run of the same conversion would now be misleading.
            _ = unlink(rejectsPath)
        }
        if !quiet {
            var summary = "\(input): read \(recordsRead) record(s); wrote \(written) row(s) to \(output)"
            if allRejects.isEmpty { summary += "; rejected 0" } else { summary += "; rejected \(allRejects.count) (see \(rejectsPath))" }
            FileHandle.standardError.write(summary + "\n")
            for n in notes { FileHandle.standardError.write("  note: \(n)\n") }
        }
    }

    func checkAccounting(read: Int, written: Int, rejected: Int) throws {
        guard read == written + rejected else {
            throw CRMFlowError(.badData, "row accounting failed: read \(read) but wrote \(written) and rejected \(rejected)", at: input,
                               hint: "this is a bug in crmflow; please report it with the input file")
        }
    }
}
