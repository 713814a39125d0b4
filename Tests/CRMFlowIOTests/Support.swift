import Foundation
@testable import CRMFlowCore
@testable import CRMFlowIO

/// A scratch folder per test, removed at the end of the process run.
enum Scratch {
    static let root: String = {
        let dir = NSTemporaryDirectory() + "crmflow-tests-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }()

    static func path(_ name: String) -> String { root + "/" + UUID().uuidString + "-" + name }

    @discardableResult
    static func write(_ bytes: [UInt8], name: String = "input.csv") -> String {
        let p = path(name)
        _ = FileManager.default.createFile(atPath: p, contents: Data(bytes))
        return p
    }

    @discardableResult
    static func write(_ text: String, name: String = "input.csv") -> String { write(Array(text.utf8), name: name) }

    static func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "<missing>" }
}

func loadCSV(_ text: String, _ configure: (inout CSVOptions) -> Void = { _ in }) throws -> LoadedTable {
    try loadCSV(Array(text.utf8), configure)
}

func loadCSV(_ bytes: [UInt8], _ configure: (inout CSVOptions) -> Void = { _ in }) throws -> LoadedTable {
    var o = CSVOptions()
    o.allStrings = true
    configure(&o)
    return try CSVFile.open(Scratch.write(bytes), options: o).load()
}

/// Rows as optional strings (nil = null), for compact expectations.
func cells(_ t: Table) -> [[String?]] {
    t.rows.map { $0.map { $0.isNull ? nil : $0.description } }
}
