import CRMFlowCore
import Foundation

/// A second, independent customer set with ground truth for entity resolution, written from a list of the
/// corruptions real CRM data carries rather than from `PeopleGenerator`, so a default configuration is not tuned to
/// one generator. Its shape follows a nightly consolidation: most people have one record (about 9 in 10 records are
/// the only one of their person), duplicates carry one to four corruptions each, and 3% of people live in households
/// that share a last name, an address and usually a phone. Its own column names, name pools, nickname list and
/// formats: nothing is shared with `PeopleGenerator` but the random number generator.
public enum CustomerSetGenerator {
    public static let header = ["crm_id", "system", "given_name", "family_name", "company", "email_address", "phone_number", "address_line",
                                "town", "zip", "dob", "modified", "person"]

    /// Given names by sex, most common first (drawn with Zipf-like weights), and the short forms people use.
    static let female = [
        "mary", "jennifer", "linda", "patricia", "susan", "deborah", "barbara", "debra", "karen", "nancy", "donna", "cynthia", "sandra",
        "pamela", "sharon", "kathleen", "carol", "diane", "brenda", "cheryl", "janet", "elizabeth", "kimberly", "laura", "julie",
        "lisa", "michelle", "christine", "teresa", "margaret", "amy", "rebecca", "angela", "melissa", "jessica", "ashley", "stephanie",
        "heather", "nicole", "emily", "sarah", "megan", "rachel", "lauren", "hannah", "samantha", "olivia", "emma", "abigail",
        "madison", "sophia", "isabella", "victoria", "natalie", "alexandra", "katherine", "catherine", "judith", "joan", "frances",
        "theresa", "gloria", "evelyn", "jean", "alice", "ruth", "virginia", "martha", "beverly", "dorothy", "helen", "marie", "ann",
        "joyce", "diana", "rose", "tammy", "wendy", "tina", "kelly", "erin", "andrea", "monica", "vanessa", "priya", "mei", "fatima",
        "aisha", "yuki", "ana", "lucia", "carmen", "rosa", "ines", "sofia", "chloe", "zoe", "grace", "lily", "ella",
    ]
    static let male = [
        "james", "john", "robert", "michael", "william", "david", "richard", "thomas", "charles", "joseph", "christopher", "daniel",
        "paul", "mark", "donald", "george", "kenneth", "steven", "edward", "brian", "ronald", "anthony", "kevin", "jason", "matthew",
        "gary", "timothy", "jose", "larry", "jeffrey", "frank", "scott", "eric", "stephen", "andrew", "raymond", "gregory", "joshua",
        "jerry", "dennis", "walter", "patrick", "peter", "harold", "douglas", "henry", "carl", "arthur", "ryan", "roger", "joe",
        "juan", "jack", "albert", "jonathan", "justin", "terry", "gerald", "keith", "samuel", "willie", "ralph", "lawrence",
        "nicholas", "roy", "benjamin", "bruce", "brandon", "adam", "harry", "fred", "wayne", "billy", "steve", "louis", "jeremy",
        "aaron", "randy", "howard", "eugene", "carlos", "russell", "bobby", "victor", "martin", "ernest", "phillip", "todd", "jesse",
        "craig", "alan", "shawn", "clarence", "sean", "philip", "chris", "johnny", "earl", "jimmy", "antonio", "luis", "mike",
        "stanley", "leonard", "nathan", "dale", "manuel", "rodney", "curtis", "norman", "allen", "marvin", "vincent", "glenn",
        "jeffery", "travis", "jeff", "chad", "jacob", "lee", "melvin", "alfred", "kyle", "francis", "bradley", "jesus", "herbert",
        "wei", "hiroshi", "raj", "ahmed", "omar", "diego", "mateo", "liam", "noah", "ethan", "lucas", "oliver",
    ]
    /// Short forms, as a person might give them on a web form or a business card.
    static let shortForms: [String: [String]] = [
        "mary": ["molly", "mae"], "jennifer": ["jen", "jenny"], "patricia": ["pat", "patty", "tricia"], "susan": ["sue", "susie"],
        "deborah": ["deb", "debbie"], "debra": ["deb", "debbie"], "barbara": ["barb"], "nancy": ["nan"], "cynthia": ["cindy"],
        "sandra": ["sandy"], "pamela": ["pam"], "kathleen": ["kathy", "kate"], "carol": ["carrie"], "elizabeth": ["liz", "beth", "betty", "lizzie"],
        "kimberly": ["kim"], "christine": ["chris", "tina"], "teresa": ["terri", "tess"], "margaret": ["maggie", "peggy", "meg"],
        "rebecca": ["becky", "becca"], "melissa": ["missy", "mel"], "jessica": ["jess", "jessie"], "stephanie": ["steph"],
        "samantha": ["sam"], "abigail": ["abby"], "victoria": ["vicky", "tori"], "natalie": ["nat"], "alexandra": ["alex", "lexi"],
        "katherine": ["kate", "katie", "kathy"], "catherine": ["cathy", "cat", "kate"], "judith": ["judy"], "frances": ["fran"],
        "theresa": ["terri"], "dorothy": ["dot", "dottie"], "virginia": ["ginny"], "beverly": ["bev"], "andrea": ["andi"],
        "james": ["jim", "jimmy", "jamie"], "john": ["jack", "johnny"], "robert": ["bob", "rob", "bobby", "bert"], "michael": ["mike", "mikey"],
        "william": ["bill", "will", "billy", "liam"], "david": ["dave"], "richard": ["rick", "dick", "rich"], "thomas": ["tom", "tommy"],
        "charles": ["charlie", "chuck"], "joseph": ["joe", "joey"], "christopher": ["chris", "kit"], "daniel": ["dan", "danny"],
        "donald": ["don"], "kenneth": ["ken", "kenny"], "steven": ["steve"], "edward": ["ed", "eddie", "ted"], "ronald": ["ron", "ronnie"],
        "anthony": ["tony"], "matthew": ["matt"], "timothy": ["tim"], "jeffrey": ["jeff"], "stephen": ["steve"], "andrew": ["andy", "drew"],
        "raymond": ["ray"], "gregory": ["greg"], "joshua": ["josh"], "gerald": ["gerry", "jerry"], "patrick": ["pat"], "peter": ["pete"],
        "harold": ["hal", "harry"], "douglas": ["doug"], "henry": ["hank", "harry"], "lawrence": ["larry"], "nicholas": ["nick"],
        "benjamin": ["ben"], "samuel": ["sam"], "jonathan": ["jon"], "alfred": ["alf", "fred"], "frederick": ["fred"], "bradley": ["brad"],
        "leonard": ["len", "lenny"], "vincent": ["vince"], "phillip": ["phil"], "philip": ["phil"], "francis": ["frank"], "nathan": ["nate"],
        "eugene": ["gene"], "russell": ["russ"], "stanley": ["stan"], "herbert": ["herb"], "jacob": ["jake"], "alexander": ["alex"],
    ]
    static let surnames = [
        "smith", "johnson", "williams", "jones", "brown", "davis", "miller", "wilson", "moore", "taylor", "anderson", "thomas", "jackson",
        "white", "harris", "martin", "thompson", "garcia", "martinez", "robinson", "clark", "rodriguez", "lewis", "lee", "walker", "hall",
        "allen", "young", "hernandez", "king", "wright", "lopez", "hill", "scott", "green", "adams", "baker", "gonzalez", "nelson",
        "carter", "mitchell", "perez", "roberts", "turner", "phillips", "campbell", "parker", "evans", "edwards", "collins", "stewart",
        "sanchez", "morris", "rogers", "reed", "cook", "morgan", "bell", "murphy", "bailey", "rivera", "cooper", "richardson", "cox",
        "howard", "ward", "torres", "peterson", "gray", "ramirez", "james", "watson", "brooks", "kelly", "sanders", "price", "bennett",
        "wood", "barnes", "ross", "henderson", "coleman", "jenkins", "perry", "powell", "long", "patterson", "hughes", "flores",
        "washington", "butler", "simmons", "foster", "gonzales", "bryant", "alexander", "russell", "griffin", "diaz", "hayes", "myers",
        "ford", "hamilton", "graham", "sullivan", "wallace", "woods", "cole", "west", "jordan", "owens", "reynolds", "fisher", "ellis",
        "harrison", "gibson", "mcdonald", "cruz", "marshall", "ortiz", "gomez", "murray", "freeman", "wells", "webb", "simpson",
        "stevens", "tucker", "porter", "hunter", "hicks", "crawford", "henry", "boyd", "mason", "morales", "kennedy", "warren", "dixon",
        "ramos", "reyes", "burns", "gordon", "shaw", "holmes", "rice", "robertson", "hunt", "black", "daniels", "palmer", "mills",
        "nichols", "grant", "knight", "ferguson", "rose", "stone", "hawkins", "dunn", "perkins", "hudson", "spencer", "gardner",
        "stephens", "payne", "pierce", "berry", "matthews", "arnold", "wagner", "willis", "ray", "watkins", "olson", "carroll",
        "duncan", "snyder", "hart", "cunningham", "bradley", "lane", "andrews", "ruiz", "harper", "fox", "riley", "armstrong",
        "carpenter", "weaver", "greene", "lawrence", "elliott", "chavez", "sims", "austin", "peters", "kelley", "franklin", "lawson",
        "fields", "gutierrez", "ryan", "schmidt", "carr", "vasquez", "castillo", "wheeler", "chapman", "oliver", "montgomery",
        "richards", "williamson", "johnston", "banks", "meyer", "bishop", "mccoy", "howell", "alvarez", "morrison", "hansen",
        "fernandez", "garza", "harvey", "little", "burton", "stanley", "nguyen", "george", "jacobs", "reid", "fuller", "lynch", "dean",
        "gilbert", "garrett", "romero", "welch", "larson", "frazier", "burke", "hanson", "day", "mendoza", "moreno", "bowman", "medina",
        "fowler", "brewer", "hoffman", "carlson", "silva", "pearson", "holland", "douglas", "fleming", "jensen", "vargas", "byrd",
        "davidson", "hopkins", "may", "terry", "herrera", "wade", "soto", "walters", "curtis", "neal", "caldwell", "lowe", "jennings",
        "barnett", "graves", "jimenez", "horton", "shelton", "barrett", "obrien", "castro", "sutton", "gregory", "mckinney", "lucas",
        "miles", "craig", "rodriquez", "chambers", "holt", "lambert", "fletcher", "watts", "bates", "hale", "rhodes", "pena", "beck",
        "newman", "haynes", "mcdaniel", "mendez", "bush", "vaughn", "parks", "dawson", "santiago", "norris", "hardy", "love", "steele",
        "curry", "powers", "schultz", "barker", "guzman", "page", "munoz", "ball", "keller", "chandler", "weber", "leonard", "walsh",
        "lyons", "ramsey", "wolfe", "schneider", "mullins", "benson", "sharp", "bowen", "daniel", "barber", "cummings", "hines",
        "baldwin", "griffith", "valdez", "hubbard", "salazar", "reeves", "warner", "stevenson", "burgess", "santos", "tate", "cross",
        "garner", "mann", "mack", "moss", "thornton", "dennis", "mcgee", "farmer", "delgado", "aguilar", "vega", "glover", "manning",
        "cohen", "harmon", "rodgers", "robbins", "newton", "todd", "blair", "higgins", "ingram", "reese", "cannon", "strickland",
        "townsend", "potter", "goodwin", "walton", "rowe", "hampton", "ortega", "patton", "swanson", "joseph", "francis", "goodman",
        "maldonado", "yates", "becker", "erickson", "hodges", "rios", "conner", "adkins", "webster", "norman", "malone", "hammond",
        "flowers", "cobb", "moody", "quinn", "blake", "maxwell", "pope", "floyd", "osborne", "paul", "mccarthy", "guerrero", "lindsey",
        "estrada", "sandoval", "gibbs", "tyler", "gross", "fitzgerald", "stokes", "doyle", "sherman", "saunders", "wise", "colon",
        "gill", "alvarado", "greer", "padilla", "simon", "waters", "nunez", "ballard", "schwartz", "mcbride", "houston", "christensen",
        "klein", "pratt", "briggs", "parsons", "mclaughlin", "zimmerman", "french", "buchanan", "moran", "copeland", "roy", "pittman",
        "brady", "mccormick", "holloway", "brock", "poole", "frank", "logan", "owen", "bass", "marsh", "drake", "wong", "jefferson",
        "park", "morton", "abbott", "sparks", "patrick", "norton", "huff", "clayton", "massey", "lloyd", "figueroa", "carson", "bowers",
        "roberson", "barton", "tran", "lamb", "harrington", "casey", "boone", "cortez", "clarke", "mathis", "singleton", "wilkins",
        "cain", "bryan", "underwood", "hogan", "mckenzie", "collier", "luna", "phelps", "mcguire", "allison", "bridges", "wilkerson",
        "nash", "summers", "atkins", "patel", "kim", "chen", "wang", "singh", "kowalski", "nowak", "muller", "rossi", "dubois",
    ]
    static let streetNames = [
        "Main", "Oak", "Maple", "Cedar", "Pine", "Elm", "Washington", "Lake", "Hill", "Park", "Walnut", "Spruce", "Birch", "Sycamore",
        "Lincoln", "Jefferson", "Madison", "Franklin", "Adams", "Jackson", "Center", "Church", "Mill", "River", "Spring", "Highland",
        "Forest", "Meadow", "Sunset", "Ridge", "Valley", "Prospect", "Union", "Liberty", "Broad", "Market", "Front", "Water", "High",
        "School", "North", "South", "Railroad", "Chestnut", "Hickory", "Willow", "Dogwood", "Magnolia", "Laurel", "Holly", "Poplar",
        "Ash", "Locust", "Fairview", "Woodland", "Grove", "Orchard", "Cherry", "Colonial", "Heritage", "Summit", "Vista", "Harbor",
    ]
    static let streetTypes: [(full: String, short: [String])] = [
        ("Street", ["St", "St."]), ("Avenue", ["Ave", "Ave.", "Av"]), ("Road", ["Rd", "Rd."]), ("Drive", ["Dr", "Dr."]), ("Lane", ["Ln"]),
        ("Boulevard", ["Blvd"]), ("Court", ["Ct"]), ("Place", ["Pl"]), ("Circle", ["Cir"]), ("Way", ["Way"]), ("Terrace", ["Ter"]),
    ]
    static let towns = [
        "Springfield", "Franklin", "Clinton", "Greenville", "Bristol", "Fairview", "Salem", "Madison", "Georgetown", "Arlington",
        "Ashland", "Dover", "Oxford", "Burlington", "Manchester", "Milton", "Newport", "Auburn", "Centerville", "Clayton", "Dayton",
        "Lexington", "Milford", "Winchester", "Hudson", "Kingston", "Marion", "Mount Vernon", "Riverside", "Chester", "Jackson",
        "Lebanon", "Plymouth", "Hanover", "Troy", "Columbia", "Princeton", "Cleveland", "Dublin", "Oakland", "Portland", "Richmond",
        "Lancaster", "Monroe", "Washington", "Camden", "Florence", "Warren", "Jamestown", "Bedford", "Woodstock", "Glendale",
        "Brookfield", "Farmington", "Hamilton", "Harrison", "Lakewood", "Mansfield", "Newton", "Quincy", "Shelby", "Sterling",
    ]
    static let providers = ["gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "aol.com", "icloud.com", "comcast.net", "msn.com",
                            "live.com", "att.net", "verizon.net", "protonmail.com", "mail.com", "ymail.com", "sbcglobal.net"]
    static let companyWords = [
        "Acme", "Apex", "Summit", "Pioneer", "Keystone", "Liberty", "Evergreen", "Northwind", "Bluewater", "Redwood", "Granite",
        "Silverline", "Brightpath", "Cornerstone", "Horizon", "Lighthouse", "Meridian", "Oakridge", "Pinnacle", "Riverbend",
        "Sterling", "Trident", "Vanguard", "Westfield", "Ironclad", "Golden Gate", "Blue Sky", "Crescent", "Falcon", "Harbor",
    ]
    static let companyKinds = ["Logistics", "Software", "Foods", "Health", "Industries", "Consulting", "Media", "Partners", "Labs",
                               "Manufacturing", "Financial", "Energy", "Systems", "Designs", "Outfitters", "Realty", "Dental", "Bakery"]
    /// Legal-form suffixes and the variants a record may carry for the same company.
    static let suffixes: [[String]] = [
        ["Inc", "Inc.", ", Inc.", "Incorporated"], ["LLC", "L.L.C.", ", LLC"], ["Ltd", "Ltd.", "Limited"], ["Corp", "Corp.", "Corporation"],
        ["Co", "Co.", "Company"], ["Group", "Grp"], ["", ""],
    ]

    /// Two given names for one person: equal, one a short form of the other, or sharing a short form.
    static func sameName(_ a: String, _ b: String) -> Bool {
        if a == b { return true }
        let x = shortForms[a] ?? [], y = shortForms[b] ?? []
        return x.contains(b) || y.contains(a) || x.contains { y.contains($0) }
    }

    struct Person {
        var given: String, family: String, female: Bool
        var company: (name: String, suffix: Int)?
        var email: String, phone: String
        var number: Int, street: String, type: Int, unit: String?
        var town: Int, zip: String
        var dob: (y: Int, m: Int, d: Int)
    }

    /// `records` customer records: `records − duplicates` people, one clean record each, and `duplicates` more records
    /// of some of them. Rows without the header, shuffled; the last column is the person (ground truth).
    public static func generate(records: Int, duplicates: Int, seed: UInt64) -> [[String]] {
        var rng = SplitMix64(seed: seed ^ 0x5EED_B0B0)
        func int(_ n: Int) -> Int { Int(rng.next() % UInt64(max(n, 1))) }
        func chance(_ p: Double) -> Bool { Double(rng.next() >> 11) / Double(1 << 53) < p }
        func pick<T>(_ a: [T]) -> T { a[int(a.count)] }
        /// A Zipf-like draw: rank r with weight about 1 / (r + 1)^0.9 over the list (inverse of the continuous CDF).
        func zipf<T>(_ a: [T]) -> T {
            let n = Double(a.count), s = 0.9
            let u = Double(rng.next() >> 11) / Double(1 << 53)
            let x = pow(u * (pow(n + 1, 1 - s) - 1) + 1, 1 / (1 - s)) - 1
            return a[min(a.count - 1, max(0, Int(x)))]
        }
        func pad(_ v: Int, _ w: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
        func digits(_ n: Int) -> String { String((0..<n).map { _ in Character(String(int(10))) }) }
        func zipOf(_ town: Int) -> String {
            // Each town has its own band of 12 zip codes.
            let base = 10_000 + (town * 7_919) % 80_000
            return String(base + int(12))
        }
        func newPhone() -> String { "\(2 + int(8))\(digits(2))\(2 + int(8))\(digits(6))" }
        func personalEmail(_ given: String, _ family: String) -> String {
            let local: String
            switch int(6) {
            case 0: local = "\(given).\(family)"
            case 1: local = "\(given.prefix(1))\(family)"
            case 2: local = "\(given)\(family)\(int(90) + 10)"
            case 3: local = "\(given)_\(family)"
            case 4: local = "\(family)\(given.prefix(1))\(int(10))"
            default: local = "\(given)\(int(1000))"
            }
            return "\(local)@\(pick(providers))"
        }
        func companyDomain(_ name: String) -> String { name.lowercased().replacingOccurrences(of: " ", with: "") + ".com" }
        func unit() -> String? {
            guard chance(0.2) else { return nil }
            switch int(3) {
            case 0: return "Apt \(1 + int(40))"
            case 1: return "Unit \(1 + int(12))\(pick(["", "A", "B"]))"
            default: return "#\(100 + int(400))"
            }
        }
        var people: [Person] = []
        var emails: Set<String> = []
        let count = records - duplicates
        people.reserveCapacity(count)
        while people.count < count {
            let family = zipf(surnames)
            let town = int(towns.count)
            let address = (1 + int(4_999), zipf(streetNames), int(streetTypes.count), unit(), town, zipOf(town))
            // 3% of people in households of 2 to 4: a shared family name, address and (mostly) landline.
            let size = chance(0.03 / 2.6) ? 2 + int(3) : 1
            let landline = newPhone()
            var givens: [String] = []
            let householdYear = 1945 + int(50)
            for member in 0..<min(size, count - people.count) {
                let isFemale = chance(0.5)
                var given = zipf(isFemale ? female : male)
                // Members of one household go by different names: not the same name, nor two forms of one.
                while givens.contains(where: { sameName($0, given) }) { given = zipf(isFemale ? female : male) }
                givens.append(given)
                let company: (String, Int)? = chance(0.55) ? ("\(pick(companyWords)) \(pick(companyKinds))", int(suffixes.count)) : nil
                var email = company != nil && chance(0.25) ? "\(given).\(family)@\(companyDomain(company!.0))" : personalEmail(given, family)
                // An address belongs to one person: a taken one gets a number, as a mail provider would insist.
                while !emails.insert(email).inserted {
                    let at = email.firstIndex(of: "@")!
                    email = "\(email[..<at])\(int(100))\(email[at...])"
                }
                let y = size > 1 ? (member < 2 ? householdYear + int(5) : householdYear + 22 + int(15)) : 1945 + int(60)
                people.append(Person(given: given, family: family, female: isFemale, company: company, email: email,
                                     phone: size > 1 && chance(0.8) ? landline : newPhone(),
                                     number: address.0, street: address.1, type: address.2, unit: address.3, town: address.4, zip: address.5,
                                     dob: (min(y, 2006), 1 + int(12), 1 + int(28))))
            }
        }
        // Who has duplicates: most of them one more record, some two or three.
        var extra = [Int](repeating: 0, count: people.count)
        var left = duplicates
        while left > 0 {
            let p = int(people.count)
            let n = min(left, chance(0.8) ? 1 : chance(0.7) ? 2 : 3)
            if extra[p] > 0 { continue }
            extra[p] = n
            left -= n
        }

        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        let keyboard: [Character: String] = [
            "a": "qwsz", "b": "vghn", "c": "xdfv", "d": "serfcx", "e": "wsdr", "f": "drtgvc", "g": "ftyhbv", "h": "gyujnb", "i": "ujko",
            "j": "huikmn", "k": "jiolm", "l": "kop", "m": "njk", "n": "bhjm", "o": "iklp", "p": "ol", "q": "wa", "r": "edft", "s": "awedxz",
            "t": "rfgy", "u": "yhji", "v": "cfgb", "w": "qase", "x": "zsdc", "y": "tghu", "z": "asx",
        ]
        func mistype(_ s: String) -> String {
            var c = Array(s)
            guard c.count >= 3 else { return s }
            let i = 1 + int(c.count - 1)
            switch int(5) {
            case 0: c[i] = keyboard[c[i]].map { Character(String(pick(Array($0)))) } ?? pick(letters)  // a neighbouring key
            case 1: if i < c.count - 1 { c.swapAt(i, i + 1) } else { c.swapAt(i, i - 1) }       // transposed
            case 2: c.remove(at: i)                                                                // dropped
            case 3: c.insert(c[i], at: i)                                                          // doubled
            default: c[i] = pick(letters)
            }
            return String(c)
        }
        func mistypeDigits(_ s: String) -> String {
            var c = Array(s)
            guard c.count >= 2 else { return s }
            let i = int(c.count)
            if chance(0.5), i + 1 < c.count { c.swapAt(i, i + 1) } else { c[i] = Character(String((Int(String(c[i]))! + 1 + int(9)) % 10)) }
            return String(c)
        }

        /// One record of a person as a system would hold it (independent formatting per record).
        struct Draft {
            var given: String, family: String, company: String?, email: String?, phone: String?, line: String?, town: String, zip: String?
            var dob: (Int, Int, Int)?
        }
        func render(_ p: Person) -> Draft {
            let type = streetTypes[p.type]
            let line = "\(p.number) \(p.street) \(chance(0.6) ? type.full : pick(type.short))" + (p.unit.map { " " + $0 } ?? "")
            let company = p.company.map { name, s in (name + " " + suffixes[s][0]).trimmingCharacters(in: .whitespaces) }
            return Draft(given: p.given, family: p.family, company: company, email: p.email, phone: p.phone, line: line, town: towns[p.town],
                         zip: p.zip, dob: p.dob)
        }
        var rows: [[String]] = []
        rows.reserveCapacity(records)
        let systems = ["salesforce", "hubspot", "erp", "webshop"]
        let formats = 6
        func phoneText(_ d: String, _ style: Int) -> String {
            let c = Array(d)
            guard c.count == 10 else { return d }
            let (a, b, e) = (String(c[0..<3]), String(c[3..<6]), String(c[6..<10]))
            switch style {
            case 0: return "(\(a)) \(b)-\(e)"
            case 1: return "\(a)-\(b)-\(e)"
            case 2: return "+1 \(a) \(b) \(e)"
            case 3: return "\(a).\(b).\(e)"
            case 4: return "1-\(a)-\(b)-\(e)"
            default: return d
            }
        }
        func emit(_ d: Draft, person: Int, noisyCase: Bool) {
            func cased(_ s: String) -> String {
                guard noisyCase else { return s.split(separator: " ").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined(separator: " ") }
                switch int(3) {
                case 0: return s.uppercased()
                case 1: return s.lowercased()
                default: return String(s.enumerated().map { i, ch in i % 2 == 0 ? Character(ch.uppercased()) : ch })
                }
            }
            let dob = d.dob.map { y, m, day in "\(pad(y, 4))-\(pad(m, 2))-\(pad(day, 2))" }
            let system = pick(systems)
            rows.append([
                "\(system.prefix(3).uppercased())-\(pad(rows.count + 1, 7))", system,
                cased(d.given), cased(d.family), d.company ?? "", d.email.map { noisyCase && chance(0.5) ? $0.uppercased() : $0 } ?? "",
                d.phone.map { phoneText($0, int(formats)) } ?? "", d.line ?? "", d.town, d.zip ?? "", dob ?? "",
                "20\(19 + int(7))-\(pad(1 + int(12), 2))-\(pad(1 + int(28), 2))", "C\(pad(person + 1, 7))",
            ])
        }
        for (k, p) in people.enumerated() {
            // Baseline gaps every source has: not every record carries every field.
            var original = render(p)
            if chance(0.08) { original.email = nil }
            if chance(0.10) { original.phone = nil }
            if chance(0.25) { original.dob = nil }
            if chance(0.04) { original.zip = nil }
            emit(original, person: k, noisyCase: false)
            for _ in 0..<extra[k] {
                var d = render(p)
                var corruptions = 1 + (chance(0.45) ? 1 + (chance(0.45) ? 1 + (chance(0.35) ? 1 : 0) : 0) : 0)
                var noisy = false
                var tried = 0
                while corruptions > 0 && tried < 20 {
                    tried += 1
                    switch int(13) {
                    case 0: if chance(0.5) { d.given = mistype(d.given) } else { d.family = mistype(d.family) }
                    case 1:
                        if chance(0.6), let forms = shortForms[p.given] { d.given = pick(forms) } else { d.given = String(p.given.prefix(1)) + (chance(0.5) ? "." : "") }
                    case 2: swap(&d.given, &d.family)
                    case 3:
                        guard p.female, p.dob.y < 1998 else { continue }
                        var married = zipf(surnames)
                        while married == p.family { married = zipf(surnames) }
                        d.family = chance(0.2) ? "\(p.family)-\(married)" : married
                    case 4:
                        // Missing values: one or two fields blank.
                        for _ in 0..<(1 + int(2)) {
                            switch int(5) {
                            case 0: d.email = nil
                            case 1: d.phone = nil
                            case 2: d.dob = nil
                            case 3: d.line = nil
                            default: d.company = nil
                            }
                        }
                    case 5:
                        guard let ph = d.phone else { continue }
                        d.phone = chance(0.5) ? mistypeDigits(ph) : newPhone()
                    case 6:
                        switch int(3) {
                        case 0: d.email = d.email.map { e in String(e.split(separator: "@")[0]) + "@" + pick(providers) }
                        case 1: d.email = d.email.map(mistype)
                        default:
                            if let c = p.company { d.email = "\(p.given.prefix(1))\(p.family)@\(companyDomain(c.name))" } else { d.email = personalEmail(p.given, p.family) }
                        }
                    case 7:
                        // Street abbreviated differently, or the unit dropped.
                        let type = streetTypes[p.type]
                        d.line = "\(p.number) \(p.street) \(pick(type.short))" + (p.unit != nil && chance(0.3) ? " " + p.unit! : "")
                    case 8:
                        // Moved: a new address, often a new phone.
                        let town = chance(0.5) ? p.town : int(towns.count)
                        d.line = "\(1 + int(4_999)) \(zipf(streetNames)) \(streetTypes[int(streetTypes.count)].full)"
                        d.town = towns[town]
                        d.zip = zipOf(town)
                        if chance(0.5) { d.phone = newPhone() }
                    case 9: d.zip = d.zip.map(mistypeDigits)
                    case 10:
                        guard var (y, m, day) = d.dob else { continue }
                        if chance(0.5), day <= 12, day != m { swap(&m, &day) } else { y += chance(0.5) ? 1 : -1 }
                        d.dob = (y, m, day)
                    case 11:
                        guard let c = p.company else { continue }
                        let variants = suffixes[c.suffix]
                        d.company = (c.name + (variants[0].hasPrefix(",") ? "" : " ") + pick(variants)).trimmingCharacters(in: .whitespaces)
                        if chance(0.3) { d.company = d.company!.uppercased() }
                    default: noisy = true
                    }
                    corruptions -= 1
                }
                emit(d, person: k, noisyCase: noisy)
            }
        }
        for i in stride(from: rows.count - 1, to: 0, by: -1) { rows.swapAt(i, int(i + 1)) }
        return rows
    }

    /// The records as CSV text with the header (RFC 4180, quotes where needed).
    public static func csv(_ rows: [[String]]) -> String { PeopleGenerator.csv(rows, header: header) }
}
