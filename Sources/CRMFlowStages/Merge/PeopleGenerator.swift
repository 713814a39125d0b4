import CRMFlowCore
import CRMFlowIO
import Foundation

/// Seeded customer records with ground truth, for testing and benchmarking entity resolution: several records per
/// person from different sources, each a little different (typos, transpositions, nicknames, swapped first and last
/// names, missing values, changed e-mails and addresses, phone formats), and households (different people sharing a
/// surname, an address and a phone number) who must stay apart.
public enum PeopleGenerator {
    public static let header = ["record_id", "source", "first_name", "last_name", "email", "phone", "street", "city", "postal_code", "birth_date", "updated_at", "entity_id"]

    static let firstNames = [
        "robert", "william", "elizabeth", "margaret", "james", "john", "michael", "david", "richard", "joseph", "thomas", "charles", "christopher",
        "daniel", "matthew", "anthony", "mark", "donald", "steven", "paul", "andrew", "joshua", "kenneth", "kevin", "brian", "george", "timothy",
        "ronald", "edward", "jason", "jeffrey", "ryan", "jacob", "gary", "nicholas", "eric", "jonathan", "stephen", "larry", "justin", "scott",
        "brandon", "benjamin", "samuel", "gregory", "alexander", "patrick", "frank", "raymond", "jack", "dennis", "jerry", "tyler", "aaron",
        "mary", "patricia", "jennifer", "linda", "barbara", "susan", "jessica", "sarah", "karen", "lisa", "nancy", "betty", "sandra", "ashley",
        "kimberly", "emily", "donna", "michelle", "carol", "amanda", "melissa", "deborah", "stephanie", "rebecca", "sharon", "laura", "cynthia",
        "kathleen", "amy", "angela", "shirley", "anna", "brenda", "pamela", "emma", "nicole", "helen", "samantha", "katherine", "christine",
        "debra", "rachel", "carolyn", "janet", "catherine", "maria", "heather", "diane", "ruth", "julie", "olivia", "joyce", "virginia", "victoria",
        "kelly", "lauren", "christina", "joan", "evelyn", "judith", "megan", "andrea", "cheryl", "hannah", "jacqueline", "martha", "gloria",
    ]
    static let lastNames = [
        "smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis", "rodriguez", "martinez", "hernandez", "lopez", "gonzalez",
        "wilson", "anderson", "thomas", "taylor", "moore", "jackson", "martin", "lee", "perez", "thompson", "white", "harris", "sanchez", "clark",
        "ramirez", "lewis", "robinson", "walker", "young", "allen", "king", "wright", "scott", "torres", "nguyen", "hill", "flores", "green",
        "adams", "nelson", "baker", "hall", "rivera", "campbell", "mitchell", "carter", "roberts", "gomez", "phillips", "evans", "turner", "diaz",
        "parker", "cruz", "edwards", "collins", "reyes", "stewart", "morris", "morales", "murphy", "cook", "rogers", "gutierrez", "ortiz", "morgan",
        "cooper", "peterson", "bailey", "reed", "kelly", "howard", "ramos", "kim", "cox", "ward", "richardson", "watson", "brooks", "chavez",
        "wood", "james", "bennett", "gray", "mendoza", "ruiz", "hughes", "price", "alvarez", "castillo", "sanders", "patel", "myers", "long",
        "ross", "foster", "jimenez", "powell", "jenkins", "perry", "russell", "sullivan", "bell", "coleman", "butler", "henderson", "barnes",
        "gonzales", "fisher", "vasquez", "simmons", "romero", "jordan", "patterson", "alexander", "hamilton", "graham", "reynolds", "griffin",
        "wallace", "moreno", "west", "cole", "hayes", "bryant", "herrera", "gibson", "ellis", "tran", "medina", "aguilar", "stevens", "murray",
        "ford", "castro", "marshall", "owens", "harrison", "fernandez", "mcdonald", "woods", "washington", "kennedy", "wells", "vargas", "henry",
        "chen", "freeman", "webb", "tucker", "guzman", "burns", "crawford", "olson", "simpson", "porter", "hunter", "gordon", "mendez", "silva",
        "shaw", "snyder", "mason", "dixon", "munoz", "hunt", "hicks", "holmes", "palmer", "wagner", "black", "robertson", "boyd", "rose", "stone",
        "salazar", "fox", "warren", "mills", "meyer", "rice", "schmidt", "garza", "daniels", "ferguson", "nichols", "stephens", "soto", "weaver",
    ]
    static let streets = ["Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Sunset", "Lincoln", "Church",
                          "Willow", "Jackson", "River", "Highland", "Meadow", "Forest", "Spring", "Valley", "Ridge", "Chestnut", "Walnut"]
    static let streetTypes = [("Street", "St"), ("Avenue", "Ave"), ("Road", "Rd"), ("Drive", "Dr"), ("Lane", "Ln"), ("Boulevard", "Blvd")]
    static let cities = ["Springfield", "Riverside", "Franklin", "Greenville", "Bristol", "Clinton", "Fairview", "Salem", "Madison", "Georgetown",
                         "Arlington", "Ashland", "Dover", "Oxford", "Jackson", "Burlington", "Manchester", "Milton", "Newport", "Auburn"]
    static let domains = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com", "proton.me", "acme.com", "globex.com", "initech.com"]
    static let sources = ["salesforce", "hubspot", "legacy"]

    struct Person {
        var first: String, last: String, email: String, phone: String, street: (Int, String, Int), city: String, postcode: String, dob: (Int, Int, Int)
    }

    /// Records for `people` people (households included), CSV rows without the header, in a shuffled order, and the
    /// number of records.
    public static func generate(people: Int, seed: UInt64) -> (rows: [[String]], records: Int) {
        var rng = SplitMix64(seed: seed)
        func int(_ n: Int) -> Int { Int(rng.next() % UInt64(max(n, 1))) }
        func chance(_ p: Double) -> Bool { Double(rng.next() % 1_000_000) / 1_000_000 < p }
        func pick<T>(_ a: [T]) -> T { a[int(a.count)] }
        // Zipf-like surnames: common ones (Smith) far more often, so term frequencies matter.
        func surname() -> String { lastNames[min(lastNames.count - 1, Int(Double(lastNames.count) * pow(Double(int(1_000_000)) / 1_000_000, 2.2)))] }
        func pad(_ v: Int, _ w: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
        func phone() -> String { "\(200 + int(800))\(pad(int(10_000_000), 7))" }
        func email(_ first: String, _ last: String) -> String {
            switch int(4) {
            case 0: return "\(first).\(last)@\(pick(domains))"
            case 1: return "\(first.prefix(1))\(last)@\(pick(domains))"
            case 2: return "\(first)\(last)\(int(100))@\(pick(domains))"
            default: return "\(first)_\(last)@\(pick(domains))"
            }
        }
        func address() -> ((Int, String, Int), String, String) { ((1 + int(9_999), pick(streets), int(streetTypes.count)), pick(cities), pad(10_000 + int(89_999), 5)) }
        var persons: [Person] = []
        while persons.count < people {
            let last = surname()
            let (street, city, postcode) = address()
            let home = phone()
            let size = chance(0.25) ? 2 + int(3) : 1
            var used: Set<String> = []
            for _ in 0..<min(size, people - persons.count) {
                var first = pick(firstNames)
                // Household members have first names that are not nicknames of each other.
                while used.contains(where: { Nicknames.equivalent($0, first) }) { first = pick(firstNames) }
                used.insert(first)
                persons.append(Person(first: first, last: last, email: email(first, last), phone: size > 1 && chance(0.8) ? home : phone(),
                                      street: street, city: city, postcode: postcode, dob: (1940 + int(65), 1 + int(12), 1 + int(28))))
            }
        }
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        func typo(_ s: String) -> String {
            var c = Array(s)
            guard c.count > 3 else { return s }
            let i = 1 + int(c.count - 2)
            switch int(4) {
            case 0: c[i] = pick(letters)
            case 1: c.swapAt(i, i - 1)
            case 2: c.remove(at: i)
            default: c.insert(pick(letters), at: i)
            }
            return String(c)
        }
        func nickname(_ first: String) -> String {
            guard let line = Nicknames.table.split(separator: "\n").first(where: { $0.split(separator: ",").first.map(String.init) == first }) else { return first }
            let names = line.split(separator: ",").dropFirst().map(String.init)
            return names.isEmpty ? first : pick(names)
        }
        func cased(_ s: String) -> String {
            switch int(10) {
            case 0: return s.uppercased()
            case 1: return s
            default: return s.prefix(1).uppercased() + s.dropFirst()
            }
        }
        func phoneText(_ p: String) -> String {
            let d = Array(p)
            let (a, b, c) = (String(d[0..<3]), String(d[3..<6]), String(d[6..<10]))
            switch int(5) {
            case 0: return "(\(a)) \(b)-\(c)"
            case 1: return "+1 \(a) \(b) \(c)"
            case 2: return "\(a)-\(b)-\(c)"
            case 3: return "\(a).\(b).\(c)"
            default: return p
            }
        }
        var rows: [[String]] = []
        var nextID = 1
        for (e, person) in persons.enumerated() {
            let copies = chance(0.45) ? 1 : chance(0.5) ? 2 : chance(0.6) ? 3 : 4 + int(2)
            for _ in 0..<copies {
                var first = person.first, last = person.last
                if chance(0.2) { first = nickname(first) }
                if chance(0.08) { first = typo(first) }
                if chance(0.08) { last = typo(last) }
                if chance(0.03) { swap(&first, &last) }
                var em = person.email
                if chance(0.12) { em = email(person.first, person.last) } else if chance(0.05) { em = typo(em) }
                var ph = person.phone
                if chance(0.05) { ph = phone() }
                var (number, street, type) = person.street
                var city = person.city, postcode = person.postcode
                if chance(0.08) { let a = address(); (number, street, type) = a.0; city = a.1; postcode = a.2 }
                let typeText = chance(0.5) ? streetTypes[type].0 : streetTypes[type].1
                var streetText = "\(number) \(street) \(typeText)"
                if chance(0.05) { streetText = typo(streetText) }
                var (y, m, d) = person.dob
                if chance(0.03), d <= 12 { swap(&m, &d) }
                let dob = "\(y)-\(pad(m, 2))-\(pad(d, 2))"
                y = 2021 + int(4)
                let updated = "\(y)-\(pad(1 + int(12), 2))-\(pad(1 + int(28), 2))"
                let source = pick(sources)
                rows.append([
                    "\(source.prefix(2).uppercased())\(pad(nextID, 7))", source,
                    chance(0.04) ? "" : cased(first), chance(0.02) ? "" : cased(last), chance(0.15) ? "" : em,
                    chance(0.15) ? "" : phoneText(ph), chance(0.1) ? "" : streetText, city, chance(0.05) ? "" : postcode,
                    chance(0.25) ? "" : dob, updated, "P\(pad(e + 1, 7))",
                ])
                nextID += 1
            }
        }
        // Shuffle (Fisher–Yates) so duplicates are not adjacent.
        for i in stride(from: rows.count - 1, to: 0, by: -1) { rows.swapAt(i, int(i + 1)) }
        return (rows, rows.count)
    }

    /// The records as CSV text (RFC 4180, quotes where needed).
    public static func csv(_ rows: [[String]], header: [String] = header) -> String {
        var out = Array((header.joined(separator: ",") + "\n").utf8)
        for r in rows {
            for (i, v) in r.enumerated() {
                if i > 0 { out.append(44) }
                CSVQuoting.appendField(Array(v.utf8)[...], delimiter: 44, to: &out)
            }
            out.append(10)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Pairwise precision, recall and F1 of a clustering against the truth: over pairs of records put in one cluster.
    public static func pairwiseScores(truth: [String], predicted: [String]) -> (precision: Double, recall: Double, f1: Double, truePairs: Int, predictedPairs: Int) {
        func pairs(_ labels: [String]) -> [String: [Int]] { Dictionary(grouping: labels.indices, by: { labels[$0] }) }
        var tp = 0, predictedPairs = 0, truePairs = 0
        let truthGroups = pairs(truth)
        for (_, members) in truthGroups { truePairs += members.count * (members.count - 1) / 2 }
        for (_, members) in pairs(predicted) {
            predictedPairs += members.count * (members.count - 1) / 2
            var byTruth: [String: Int] = [:]
            for m in members { byTruth[truth[m], default: 0] += 1 }
            for (_, n) in byTruth { tp += n * (n - 1) / 2 }
        }
        let p = predictedPairs == 0 ? 1 : Double(tp) / Double(predictedPairs)
        let r = truePairs == 0 ? 1 : Double(tp) / Double(truePairs)
        return (p, r, p + r == 0 ? 0 : 2 * p * r / (p + r), truePairs, predictedPairs)
    }
}
