import ArgumentParser
import CRMFlowCore
import CRMFlowIO

/// Loads a file into the in-memory table and reports its shape; used by `make bench` to time ingest alone.
struct Load: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Read a file into crmflow's columnar table and print its row count, columns and types (times ingest alone).")

    @Argument(help: "The file to load.") var input: String
    @OptionGroup var reader: ReaderOptions

    func run() throws {
        let loaded = try reader.load(input)
        let t = loaded.table
        let total = t.columns.reduce(0) { $0 + $1.byteSize }
        var s = "\(input): \(t.rowCount) row(s), \(t.columns.count) column(s), \(loaded.rejects.count) rejected; \(total >> 20) MiB in memory\n"
        for (f, c) in zip(t.schema.fields, t.columns) { s += "  \(f.name): \(f.type.rawValue), \(c.byteSize >> 20) MiB\n" }
        FileHandle.standardOutput.write(s)
    }
}
