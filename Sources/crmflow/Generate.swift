import ArgumentParser
import CRMFlowCore
import CRMFlowIO
import CRMFlowStages

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write seeded, realistic, messy CRM data for demos and benchmarks.",
        discussion: "The same seed and size always give the same bytes.")

    @Argument(help: "What to generate: contacts; people (customer records with duplicates and an entity_id ground-truth column, for entity resolution); or customers (a second, independent entity-resolution set: mostly one record per person, --duplicates more records carrying one to four corruptions each, households, a person ground-truth column).") var kind: String
    @Option(help: "Number of rows.") var rows: Int = 1000
    @Option(help: "Target size instead of --rows, e.g. 1G, 200M.") var size: String?
    @Option(help: "customers: how many of the records are duplicates of another (default: a tenth of --rows).") var duplicates: Int?
    @Option(help: "Random seed.") var seed: UInt64 = 42
    @Option(help: "Output file (written atomically).") var out: String

    func run() throws {
        if kind == "people" {
            // About 2.05 records per person.
            let (rows, count) = PeopleGenerator.generate(people: max(1, rows * 1000 / 2045), seed: seed)
            let output = try AtomicOutput(path: out)
            try output.write(PeopleGenerator.csv(rows))
            try output.commit()
            FileHandle.standardError.write("wrote \(count) people records to \(out)\n")
            return
        }
        if kind == "customers" {
            let extra = duplicates ?? rows / 10
            guard rows >= 1, extra >= 0, extra < rows else { throw CRMFlowError(.usage, "--duplicates must be at least 0 and less than --rows (\(rows))") }
            let records = CustomerSetGenerator.generate(records: rows, duplicates: extra, seed: seed)
            let output = try AtomicOutput(path: out)
            try output.write(CustomerSetGenerator.csv(records))
            try output.commit()
            FileHandle.standardError.write("wrote \(records.count) customer records (\(extra) duplicates) to \(out)\n")
            return
        }
        guard kind == "contacts" else { throw CRMFlowError(.usage, "unknown kind '\(kind)'", hint: "use: contacts, people or customers") }
        var target: Int? = nil
        if let size {
            let unit = size.last.map { String($0).uppercased() } ?? ""
            let scale = unit == "G" ? 1 << 30 : unit == "M" ? 1 << 20 : unit == "K" ? 1 << 10 : 1
            guard let n = Int(scale == 1 ? size : String(size.dropLast())) else { throw CRMFlowError(.usage, "invalid --size '\(size)'") }
            target = n * scale
        }
        let output = try AtomicOutput(path: out)
        var rng = SplitMix(seed: seed)
        try output.write("contact_id,first_name,last_name,email,phone,company,title,country,postal_code,created_at,lifetime_value,notes\n")
        var written = 0
        var row = 0
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 20)
        while target.map({ written < $0 }) ?? (row < rows) {
            let line = ContactFaker.row(row, rng: &rng)
            buffer.append(contentsOf: line.utf8)
            written += line.utf8.count
            row += 1
            if buffer.count > 1 << 20 {
                try output.write(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        try output.write(buffer)
        try output.commit()
        FileHandle.standardError.write("wrote \(row) contacts (\(written) bytes) to \(out)\n")
    }
}

/// `crmflow generate`'s deterministic source: the shared SplitMix64 with two helpers.
typealias SplitMix = SplitMix64

extension SplitMix64 {
    mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func pick<T>(_ a: [T]) -> T { a[int(a.count)] }
}

enum ContactFaker {
    static let first = ["James", "María", "Robert", "Zoë", "Jürgen", "Aiko", "Chloé", "Liam", "Olivia", "Noah", "Søren", "Ana", "José", "Fatima", "Wei", "Emma", "Lucas", "Ines", "Bob", "Élodie"]
    static let last = ["Smith", "O'Neil", "García", "Müller", "Dubois", "Tanaka", "Kowalski", "Nguyen", "Johnson", "Rossi", "Øvergaard", "Silva", "Brown", "Lefèvre", "Khan", "Murphy"]
    static let companies = ["Acme Inc.", "Globex, Ltd", "Initech", "Umbrella Corp", "Stark Industries", "Wayne Enterprises", "Hooli", "Soylent \"Green\" Co", "Müller GmbH", "Société Générale"]
    static let titles = ["VP Sales", "Account Executive", "CTO", "Head of Ops", "Procurement Manager", "CEO", "Analyst", "Director, Marketing"]
    static let countries = ["US", "United States", "DE", "Germany", "FR", "France", "UK", "GB", "JP", "ES"]
    static let domains = ["gmail.com", "acme.com", "example.org", "globex.co.uk", "hooli.io", "web.de"]
    static let notes = ["", "", "", "Met at trade show, follow up in Q3", "Prefers email, not phone", "Renewal due\nCall before the 15th", "Asked about pricing, \"enterprise\" tier", "Décideur; budget validé", "=HYPERLINK(\"x\")"]

    static func quoted(_ s: String) -> String {
        s.contains(",") || s.contains("\"") || s.contains("\n") ? "\"" + s.replacingQuotes() + "\"" : s
    }

    static func row(_ i: Int, rng: inout SplitMix) -> String {
        let f = rng.pick(first), l = rng.pick(last)
        let email = rng.int(20) == 0 ? "" : (rng.int(10) == 0 ? " \(f.uppercased()).\(l.uppercased())@\(rng.pick(domains)) " : "\(f.lowercased()).\(l.lowercased().filter { $0.isLetter })\(rng.int(100))@\(rng.pick(domains))")
        let phone: String
        switch rng.int(4) {
        case 0: phone = "+1 555 \(100 + rng.int(900)) \(1000 + rng.int(9000))"
        case 1: phone = "(555) \(100 + rng.int(900))-\(1000 + rng.int(9000))"
        case 2: phone = "+49 30 \(1_000_000 + rng.int(9_000_000))"
        default: phone = "555.\(100 + rng.int(900)).\(1000 + rng.int(9000))"
        }
        let y = 2018 + rng.int(7), m = 1 + rng.int(12), d = 1 + rng.int(28)
        let created: String
        switch rng.int(3) {
        case 0: created = "\(y)-\(pad(m))-\(pad(d))"
        case 1: created = "\(y)-\(pad(m))-\(pad(d)) \(pad(rng.int(24))):\(pad(rng.int(60))):\(pad(rng.int(60)))"
        default: created = "\(y)/\(pad(m))/\(pad(d))"
        }
        let postal = String(rng.int(100_000)).leftPadded(5)
        let value = "\(rng.int(50_000)).\(pad(rng.int(100)))"
        return "\(i + 1),\(f),\(quoted(l)),\(email),\(phone),\(quoted(rng.pick(companies))),\(quoted(rng.pick(titles))),\(rng.pick(countries)),\(postal),\(created),\(value),\(quoted(rng.pick(notes)))\n"
    }

    static func pad(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
}

extension String {
    func replacingQuotes() -> String { split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") }
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
