/// Notes of one stage run in several partitions (on Spark), as one run would word them: notes that differ only in
/// their whole numbers are one note with the numbers added ("ann: fired for 12 rows" and "… for 30 rows" give "… for 42
/// rows"); a count of distinct values cannot be added, so where the partitions differ it is each partition's largest,
/// said so. Other notes are kept once each, in the order first seen.
public enum PartitionNotes {
    public static func combine(_ notes: [String]) -> [String] {
        var order: [String] = [], numbers: [String: [[Int]]] = [:], first: [String: String] = [:]
        for note in notes {
            let (template, values) = split(note)
            if numbers[template] == nil { order.append(template); first[template] = note }
            numbers[template, default: []].append(values)
        }
        return order.map { template in
            let all = numbers[template]!
            if all.count == 1 || Set(all).count == 1 { return first[template]! }
            let distinct = template.contains("distinct")
            let merged = (0..<all[0].count).map { k in distinct ? all.map { $0[k] }.max()! : all.reduce(0) { $0 + $1[k] } }
            return (distinct ? "per partition, up to: " : "") + fill(template, merged)
        }
    }

    /// The note with its whole numbers taken out (each a \u{0} in the template), and the numbers.
    static func split(_ note: String) -> (String, [Int]) {
        var template = "", values: [Int] = [], digits = ""
        var previous: Character = " "
        func flush() {
            guard !digits.isEmpty else { return }
            values.append(Int(digits) ?? 0)
            template.append("\u{0}")
            digits = ""
        }
        for c in note {
            // A number inside a word or after a decimal point is text (an id, "v2", "0.5").
            if c.isASCII, c.isNumber, digits.isEmpty ? !(previous.isLetter || previous == "." || previous == "_") : true {
                digits.append(c)
            } else if !digits.isEmpty, c == "." || c.isLetter || c == "_" {
                template += digits
                digits = ""
                template.append(c)
            } else {
                flush()
                template.append(c)
            }
            previous = c
        }
        flush()
        return (template, values)
    }

    static func fill(_ template: String, _ values: [Int]) -> String {
        var out = "", k = 0
        for c in template {
            if c == "\u{0}" { out += String(values[k]); k += 1 } else { out.append(c) }
        }
        return out
    }
}
