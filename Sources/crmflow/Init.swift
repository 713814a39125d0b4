import ArgumentParser
import CRMFlowCore
import CRMFlowIO
import CRMFlowPipeline
import CRMFlowStages
import Foundation

/// `crmflow init DIR`: a starter pipeline for the exports in a folder, from what `profile` finds in each file.
struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a starter pipeline for the files in a folder: an ingest, a suggested clean stage and an emit for each export.",
        discussion: """
        Reads every CSV / TSV, JSON / NDJSON, Excel workbook, SQLite database (each table), calendar (.ics) and mailbox (.mbox) under DIR as `profile`
        does, and writes a pipeline that ingests each one (the dialect and types are detected again at run time), cleans
        it with the steps `profile` suggests (trim, e-mails, phones, names, dates, companies, duplicates; invalid values
        are kept and counted, not dropped) and emits the cleaned rows to out/<name>/. The file is validated before it is
        written. Then: crmflow run <file>.
        """)

    @Argument(help: "The folder of exports.") var directory: String
    @Option(name: [.short, .customLong("output")], help: "The pipeline file to write (default: <folder name>.yaml in the current directory).") var output: String?
    @Option(help: "The pipeline's name (default: the folder's name).") var name: String?
    @Flag(help: "Overwrite the output file if it exists.") var force = false

    func run() throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw CRMFlowError(.inputMissing, "'\(directory)' is not a folder", hint: "pass the folder that holds the exports")
        }
        let folder = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
        let base = URL(fileURLWithPath: folder).standardizedFileURL.lastPathComponent
        let pipelineName = name ?? Self.identifier(base, fallback: "exports").replacingOccurrences(of: "_", with: "-")
        let target = output ?? "\(pipelineName).yaml"
        if FileManager.default.fileExists(atPath: target), !force {
            throw CRMFlowError(.usage, "'\(target)' exists", hint: "pass --force to replace it, or -o another file")
        }
        let files = Self.files(in: folder)
        var sections: [String] = []
        var skipped: [String] = []
        var used: Set<String> = []
        var included = 0
        for relative in files {
            let full = folder + "/" + relative
            let ext = (relative as NSString).pathExtension.lowercased()
            var id = Self.identifier((relative as NSString).deletingPathExtension, fallback: "source")
            while used.contains(id) { id += "_2" }
            used.insert(id)
            do {
                if ["ics", "mbox", "eml"].contains(ext) {
                    sections.append(Self.activityStages(id: id, relative: relative))
                    included += 1
                    continue
                }
                if ["db", "sqlite", "sqlite3"].contains(ext) {
                    // A SQLite database: a source per table.
                    let names = try SQLiteStore.read(path: full, table: nil, query: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
                                                     source: full).table
                    for r in 0..<names.rowCount {
                        let table = names.columns[0].value(at: r).description
                        var tid = id + "_" + Self.identifier(table, fallback: "table")
                        while used.contains(tid) { tid += "_2" }
                        used.insert(tid)
                        let loaded = try SQLiteStore.read(path: full, table: table, query: nil, source: full)
                        sections.append(Self.stages(id: tid, relative: relative, loaded: loaded, table: table))
                        included += 1
                    }
                    continue
                }
                guard let format = FileFormat(path: relative), format != .markdown else { skipped.append(relative); continue }
                let loaded: LoadedTable
                switch format {
                case .json, .ndjson: loaded = try JSONReader.read(path: full, ndjson: format == .ndjson)
                case .xlsx: loaded = try XLSXReader.read(path: full, sheet: nil, headerRow: nil, source: full)
                default: loaded = try CSVFile.open(full, options: CSVOptions()).load()
                }
                sections.append(Self.stages(id: id, relative: relative, loaded: loaded))
                included += 1
            } catch {
                // NB: a file that cannot be read is named in the pipeline as a comment, not silently left out.
                let reason = (error as? CRMFlowError)?.message ?? "\(error)"
                sections.append("  # \(relative): not included, it could not be read: \(reason.replacingNewlines())\n")
                used.remove(id)
            }
        }
        guard included > 0 else {
            throw CRMFlowError(.inputMissing, "no CSV, JSON, Excel, calendar or mailbox files under '\(folder)'",
                               hint: skipped.isEmpty ? "put the exports in the folder first" : "found only: " + skipped.prefix(5).joined(separator: ", "))
        }
        var text = "# Starter pipeline written by `crmflow init \(folder)`: review the clean steps, then `crmflow run \(target)`.\n"
        text += "# For completion and checks in editors: `crmflow schema -o crmflow.schema.json` and the line\n"
        text += "# `# yaml-language-server: $schema=crmflow.schema.json` at the top of this file.\n"
        text += "pipeline: \(pipelineName)\n\nvars:\n  data: \(Self.quoted(folder))\n\nstages:\n" + sections.joined(separator: "\n")
        if !skipped.isEmpty { text += "\n# Not read (no reader for them): " + skipped.joined(separator: ", ") + "\n" }
        // The file must be one the validator accepts, before it is written.
        let log = DiagnosticLog()
        var options = PipelineLoader.Options()
        options.checkSchemas = true
        let loaded = PipelineLoader.load(text: text, path: target, options: options, log: log)
        guard loaded != nil, log.isEmpty else {
            FileHandle.standardError.write(DiagnosticRenderer.render(log.all, sources: [target: text]))
            throw CRMFlowError(.badPipeline, "the starter pipeline did not validate (a crmflow bug: please report it with the folder's file names)")
        }
        let out = try AtomicOutput(path: target)
        try out.write(text)
        try out.commit()
        let stages = loaded?.stages.count ?? 0
        FileHandle.standardOutput.write("wrote \(target): \(stages) stages for \(included) source\(included == 1 ? "" : "s")\n")
        FileHandle.standardOutput.write("next: crmflow run \(target)   (outputs and rejects in out/\(pipelineName)/)\n")
    }

    /// The files under `folder`, relative and sorted; hidden files and folders are skipped.
    static func files(in folder: String) -> [String] {
        var out: [String] = []
        let e = FileManager.default.enumerator(atPath: folder)
        while let f = e?.nextObject() as? String {
            if f.split(separator: "/").contains(where: { $0.hasPrefix(".") }) { continue }
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: folder + "/" + f, isDirectory: &isDir), !isDir.boolValue { out.append(f) }
        }
        return out.sorted()
    }

    /// A stage id: lower case letters, digits and underscores, starting with a letter.
    static func identifier(_ s: String, fallback: String) -> String {
        var id = String(Folding.fold(s).map { $0.isLetter || $0.isNumber ? $0 : "_" })
        while id.contains("__") { id = id.replacingOccurrences(of: "__", with: "_") }
        id = id.trimmingCharacters(in: CharacterSet(charactersIn: "_"))
        if id.isEmpty { return fallback }
        return id.first!.isLetter ? id : fallback + "_" + id
    }

    static func quoted(_ s: String) -> String {
        s.allSatisfy { $0.isLetter || $0.isNumber || "/._-".contains($0) } ? s : "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    static func stages(id: String, relative: String, loaded: LoadedTable, table: String? = nil) -> String {
        let t = loaded.table
        var s = "  # \(relative)\(table.map { ", table \($0)" } ?? ""): \(t.rowCount) rows, \(t.schema.fields.count) columns"
        if let d = loaded.dialect { s += "; \(d.encoding.rawValue), \(d.delimiterName)-separated\(d.hasHeader ? "" : ", no header")" }
        if !loaded.rejects.isEmpty { s += "; \(loaded.rejects.count) malformed rows go to \(id).rejects.csv" }
        if let table {
            s += "\n  \(id):\n    ingest: { sqlite: \(quoted("${data}/" + relative)), table: \(quoted(table)) }\n"
        } else {
            s += "\n  \(id):\n    ingest: { path: \(quoted("${data}/" + relative)) }\n"
        }
        let suggestions = CleanSuggestions.suggest(t)
        var last = id
        if !suggestions.isEmpty {
            last = id + "_clean"
            s += "\n  \(last):\n    clean:\n      input: \(id)\n      # Invalid values are kept as they were and counted in the run's change report; reject sends their rows to\n"
            s += "      # \(last).rejects.csv instead.\n      on_invalid: keep\n      steps:\n"
            let width = min(70, suggestions.map { $0.step.count }.max() ?? 0)
            for x in suggestions {
                let pad = String(repeating: " ", count: max(0, width - x.step.count))
                s += "        - " + x.step + pad + "  # " + x.reason + "\n"
            }
        }
        s += "\n  emit_\(id):\n    emit: { input: \(last), path: \(id).csv }\n"
        return s
    }

    static func activityStages(id: String, relative: String) -> String {
        var s = "  # \(relative): activities (one row per meeting or message); own_domains marks your colleagues' addresses\n"
        s += "  \(id):\n    ingest: { path: \(quoted("${data}/" + relative)), own_domains: [] }\n"
        s += "\n  emit_\(id):\n    emit: { input: \(id), path: \(id).csv }\n"
        return s
    }
}
