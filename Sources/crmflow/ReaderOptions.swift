import ArgumentParser
import CRMFlowCore
import CRMFlowIO

/// Options every command that reads a file shares.
struct ReaderOptions: ParsableArguments {
    @Option(help: "Input format: csv, json or ndjson (default: from the extension).")
    var from: String?

    @Option(help: "Field delimiter of CSV input: ',', ';', 'tab', '|' (default: sniffed).")
    var delimiter: String?

    @Option(help: "Input encoding: utf-8, windows-1252, iso-8859-1, utf-16le, utf-16be (default: detected).")
    var encoding: String?

    @Flag(help: "The CSV has no header line; columns are named column_1, column_2, ...")
    var noHeader = false

    @Flag(help: "Skip type inference: every column is text.")
    var allStrings = false

    @Option(name: .customLong("type"), help: ArgumentHelp("Declare a column's type: NAME=TYPE[:FORMAT], e.g. close_date=date:%d/%m/%Y, amount=money:EUR (repeatable).", valueName: "name=type"))
    var types: [String] = []

    @Option(help: "Day/month order for numeric dates the data cannot decide: dmy or mdy.")
    var dateOrder: String?

    @Option(help: "Records with too many or too few fields: reject (default, to the rejects file), pad (fill/truncate with a warning) or error.")
    var ragged: String = "reject"

    @Option(help: "Bytes invalid in the encoding: error (default) or reject the record.")
    var onInvalidEncoding: String = "error"

    @Option(help: "Worker threads (default: number of cores).")
    var threads: Int?

    func inputFormat(for path: String) throws -> FileFormat {
        if let from {
            guard let f = FileFormat(userName: from), f != .markdown else {
                throw CRMFlowError(.usage, "unknown input format '\(from)'", hint: "use csv, json or ndjson")
            }
            return f
        }
        guard let f = FileFormat(path: path), f != .markdown else {
            throw CRMFlowError(.usage, "cannot tell the format of '\(path)' from its extension", hint: "pass --from csv|json|ndjson")
        }
        return f
    }

    static func parseDelimiter(_ s: String) throws -> UInt8 { try CSVOptions.parseDelimiter(s) }

    func csvOptions() throws -> CSVOptions {
        var o = CSVOptions()
        if let delimiter { o.delimiter = try Self.parseDelimiter(delimiter) }
        if let encoding {
            guard let e = TextEncoding(userName: encoding) else {
                throw CRMFlowError(.usage, "unknown encoding '\(encoding)'", hint: "use one of: " + TextEncoding.allCases.map(\.rawValue).joined(separator: ", "))
            }
            o.encoding = e
        }
        o.hasHeader = !noHeader
        o.allStrings = allStrings
        guard let r = RaggedPolicy(rawValue: ragged) else { throw CRMFlowError(.usage, "unknown --ragged '\(ragged)'", hint: "use reject, pad or error") }
        o.ragged = r
        guard let p = EncodingErrorPolicy(rawValue: onInvalidEncoding) else {
            throw CRMFlowError(.usage, "unknown --on-invalid-encoding '\(onInvalidEncoding)'", hint: "use error or reject")
        }
        o.onInvalidEncoding = p
        if let dateOrder {
            guard let d = DayOrder(rawValue: dateOrder.lowercased()) else { throw CRMFlowError(.usage, "unknown --date-order '\(dateOrder)'", hint: "use dmy or mdy") }
            o.dayOrder = d
        }
        if let threads {
            guard threads > 0 else { throw CRMFlowError(.usage, "--threads must be at least 1") }
            o.threads = threads
        }
        for spec in types {
            guard let eq = spec.firstIndex(of: "=") else {
                throw CRMFlowError(.usage, "--type '\(spec)' is not NAME=TYPE[:FORMAT]", hint: "for example --type close_date=date:%d/%m/%Y")
            }
            let name = String(spec[..<eq])
            let rest = spec[spec.index(after: eq)...]
            let plan: ColumnPlan
            do { plan = try ColumnPlan.parse(declaration: String(rest)) } catch {
                throw CRMFlowError(.usage, "\(error.message) in --type \(spec)", hint: error.hint)
            }
            o.declared[name] = plan
        }
        return o
    }

    /// Loads the whole input as a table (profile and non-streaming conversions).
    func load(_ path: String, keepRowLines: Bool = false) throws -> LoadedTable {
        switch try inputFormat(for: path) {
        case .json: return try JSONReader.read(path: path, ndjson: false)
        case .ndjson: return try JSONReader.read(path: path, ndjson: true)
        default:
            var options = try csvOptions()
            options.keepRowLines = keepRowLines
            let file = try CSVFile.open(path, options: options)
            try checkDeclared(file)
            return try file.load()
        }
    }

    func checkDeclared(_ file: CSVFile) throws {
        for spec in types {
            let name = String(spec.prefix { $0 != "=" })
            if !file.columnNames.contains(name) {
                let near = file.columnNames.min { Suggest.distance(Array($0.lowercased().utf8), Array(name.lowercased().utf8)) < Suggest.distance(Array($1.lowercased().utf8), Array(name.lowercased().utf8)) }
                throw CRMFlowError(.usage, "--type names a column '\(name)' that is not in \(file.path)",
                                   hint: near.map { "did you mean '\($0)'? columns: " + file.columnNames.joined(separator: ", ") })
            }
        }
    }
}
