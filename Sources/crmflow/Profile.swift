import ArgumentParser
import CRMFlowCore
import CRMFlowIO

struct Profile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a file: dialect, encoding, rows, and per column the type, nulls, distinct values, range, top values and shapes.")

    @Argument(help: "The file to profile (.csv, .tsv, .json, .ndjson).") var input: String
    @OptionGroup var reader: ReaderOptions
    @Flag(help: "Print the profile as JSON.") var json = false

    func run() throws {
        let format = try reader.inputFormat(for: input)
        let loaded = try reader.load(input)
        Trace.mark("profile: loaded")
        let profile = Profiler.profile(loaded, path: input, format: format)
        Trace.mark("profile: columns")
        FileHandle.standardOutput.write(json ? ProfileRendering.json(profile) : ProfileRendering.text(profile))
        if !json {
            let suggestions = CleanSuggestions.suggest(loaded.table)
            Trace.mark("profile: suggestions")
            if !suggestions.isEmpty { FileHandle.standardOutput.write("\n" + CleanSuggestions.yaml(suggestions, input: stageName(input))) }
        }
    }
}

/// A stage id for a file: its base name, letters, digits and underscores.
func stageName(_ path: String) -> String {
    let base = path.split(separator: "/").last.map(String.init) ?? path
    let stem = base.split(separator: ".").first.map(String.init) ?? base
    let id = String(stem.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
    return id.first?.isLetter == true ? id : "source_" + id
}

enum ProfileRendering {
    static func text(_ p: FileProfile) -> String {
        var s = "\(p.path)\n"
        s += "  format: \(p.format.rawValue)\n"
        if let d = p.dialect {
            s += "  encoding: \(d.encoding.rawValue)\(d.hasBOM ? " (with BOM)" : "")\n"
            s += "  delimiter: \(d.delimiterName)   header: \(d.hasHeader ? "yes" : "no")   line endings: \(d.lineEnding)\(d.hasSepLine ? "   sep= line: yes" : "")\n"
            for n in d.notes { s += "  detected: \(n)\n" }
        }
        for n in p.headerNotes { s += "  header: \(n)\n" }
        s += "  rows: \(p.rows)   rejected: \(p.rejected)   columns: \(p.columns.count)\n\n"
        let header = ["column", "type", "null %", "distinct", "min", "max", "top values", "shapes"]
        var rows: [[String]] = []
        for c in p.columns {
            let nullPct = p.rows == 0 ? "0.0" : String(format1: Double(c.nulls) * 100 / Double(p.rows))
            let top = c.topValues.prefix(3).map { "\(clip($0.0, 18)) (\($0.1))" }.joined(separator: ", ")
            let total = max(1, c.shapes.reduce(0) { $0 + $1.1 })
            let shapes = c.shapes.prefix(2).map { "\($0.0) \(String(format1: Double($0.1) * 100 / Double(total)))%" }.joined(separator: ", ")
            rows.append([c.name, c.type.rawValue, nullPct, String(c.distinct), clip(c.min ?? "", 20), clip(c.max ?? "", 20), top, shapes])
        }
        s += table(header, rows)
        let notes = p.columns.compactMap { c in c.note.map { "  \(c.name): \($0)" } }
        if !notes.isEmpty { s += "\ntype notes:\n" + notes.joined(separator: "\n") + "\n" }
        return s
    }

    static func clip(_ s: String, _ n: Int) -> String {
        let flat = s.replacingNewlines()
        return flat.count <= n ? flat : String(flat.prefix(n - 1)) + "…"
    }

    static func table(_ header: [String], _ rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for r in rows { for (i, v) in r.enumerated() { widths[i] = max(widths[i], v.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, v in v + String(repeating: " ", count: widths[i] - v.count) }.joined(separator: "  ").trimmingTrailingSpaces() + "\n"
        }
        return line(header) + line(widths.map { String(repeating: "-", count: $0) }) + rows.map(line).joined()
    }

    static func json(_ p: FileProfile) -> String {
        var o: [String] = []
        o.append("\"path\": \(q(p.path))")
        o.append("\"format\": \(q(p.format.rawValue))")
        if let d = p.dialect {
            o.append("\"dialect\": {\"encoding\": \(q(d.encoding.rawValue)), \"bom\": \(d.hasBOM), \"delimiter\": \(q(String(UnicodeScalar(d.delimiter)))), \"header\": \(d.hasHeader), \"line_ending\": \(q(d.lineEnding)), \"sep_line\": \(d.hasSepLine), \"notes\": [\(d.notes.map(q).joined(separator: ", "))]}")
        }
        o.append("\"rows\": \(p.rows)")
        o.append("\"rejected\": \(p.rejected)")
        o.append("\"header_notes\": [\(p.headerNotes.map(q).joined(separator: ", "))]")
        let cols = p.columns.map { c -> String in
            var f: [String] = []
            f.append("\"name\": \(q(c.name))")
            f.append("\"type\": \(q(c.type.rawValue))")
            f.append("\"nulls\": \(c.nulls)")
            f.append("\"null_pct\": \(p.rows == 0 ? "0.0" : String(format1: Double(c.nulls) * 100 / Double(p.rows)))")
            f.append("\"distinct\": \(c.distinct)")
            f.append("\"min\": \(c.min.map(q) ?? "null")")
            f.append("\"max\": \(c.max.map(q) ?? "null")")
            f.append("\"top_values\": [\(c.topValues.map { "{\"value\": \(q($0.0)), \"count\": \($0.1)}" }.joined(separator: ", "))]")
            f.append("\"shapes\": [\(c.shapes.map { "{\"shape\": \(q($0.0)), \"count\": \($0.1)}" }.joined(separator: ", "))]")
            f.append("\"note\": \(c.note.map(q) ?? "null")")
            return "    {" + f.joined(separator: ", ") + "}"
        }
        o.append("\"columns\": [\n" + cols.joined(separator: ",\n") + "\n  ]")
        return "{\n  " + o.joined(separator: ",\n  ") + "\n}\n"
    }

    static func q(_ s: String) -> String { JSONText.quoted(s) }

}

extension String {
    init(format1 v: Double) {
        let scaled = (v * 10).rounded()
        self = "\(Int(scaled) / 10).\(abs(Int(scaled)) % 10)"
    }

    func replacingNewlines() -> String { String(map { $0 == "\n" || $0 == "\r" || $0 == "\r\n" ? "⏎" : $0 }) }

    func trimmingTrailingSpaces() -> String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}
