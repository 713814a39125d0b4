import Testing
@testable import CRMFlowCore

/// Table-driven cases for the cleaning primitives behind the `clean` stage's steps.
@Suite struct CleaningTests {
    static func trimmed(_ s: String, collapse: Bool = true) -> String {
        var out: [UInt8] = []
        let bytes = Array(s.utf8)
        let changed = bytes.withUnsafeBufferPointer { TextCleaning.trim($0, collapse: collapse, into: &out) }
        return changed ? String(decoding: out, as: UTF8.self) : s
    }

    @Test(arguments: [
        ("  Ann  ", "Ann"), ("Ann", "Ann"), ("Ann   Lee", "Ann Lee"), ("\tAnn\nLee\r\n", "Ann Lee"),
        ("\u{A0}Chloé\u{A0}", "Chloé"), ("Zero\u{200B}Width", "ZeroWidth"), ("\u{FEFF}bom", "bom"), ("a\u{3000}b", "a b"),
        ("   ", ""), ("", ""), ("a\u{2009}\u{2009}b", "a b"), ("x\u{7}y", "xy"),
    ])
    func trim(_ input: String, _ expected: String) {
        #expect(Self.trimmed(input) == expected)
    }

    @Test func trimWithoutCollapseKeepsInnerSpaces() {
        #expect(Self.trimmed("  a   b  ", collapse: false) == "a   b")
        #expect(Self.trimmed("a\u{200B} b", collapse: false) == "a b")
    }

    @Test(arguments: [
        ("JOHN SMITH", "John Smith"), ("john smith", "John Smith"), ("mcdonald", "McDonald"), ("McDonald", "McDonald"),
        ("o'brien", "O'Brien"), ("O'NEIL-smith", "O'Neil-Smith"), ("maria van der berg", "Maria van der Berg"),
        ("van der berg", "van der Berg"), ("DeShawn", "DeShawn"), ("JOSÉ ÁLVAREZ", "José Álvarez"), ("d'angelo", "D'Angelo"),
        ("jean-luc picard", "Jean-Luc Picard"), ("ÉMILE ZOLA", "Émile Zola"), ("ludwig VON beethoven", "Ludwig von Beethoven"),
    ])
    func titleCaseNames(_ input: String, _ expected: String) {
        #expect(TextCleaning.titleCaseName(input) == expected)
    }

    @Test(arguments: [
        ("JOHN.DOE@GMAIL.COM ", "john.doe@gmail.com"), ("mailto:ann@x.com", "ann@x.com"), ("MAILTO:Ann@X.com?subject=hi", "ann@x.com"),
        ("\"Ann Lee\" <ANN@Example.COM>", "ann@example.com"), ("Ann Lee <ann@example.com>", "ann@example.com"), ("<ann@example.com>", "ann@example.com"),
        ("ann+crm@gmail.com", "ann+crm@gmail.com"), ("o'brien@example.ie", "o'brien@example.ie"), ("user@münchen.de", "user@münchen.de"),
        ("ÜSER@BÜCHER.DE", "üser@bücher.de"), ("a@xn--mnchen-3ya.de", "a@xn--mnchen-3ya.de"), ("first.last@sub.example.co.uk", "first.last@sub.example.co.uk"),
    ])
    func validEmails(_ input: String, _ expected: String) {
        #expect(EmailCleaning.normalise(input) == .valid(expected))
    }

    @Test(arguments: [
        ("plainaddress", "no '@'"), ("a@@b.com", "more than one '@'"), ("@example.com", "nothing before '@'"), ("ann@", "nothing after '@'"),
        ("ann@localhost", "has no '.'"), ("ann..lee@x.com", "'..'"), (".ann@x.com", "starts or ends with '.'"), ("ann@x..com", "empty label"),
        ("ann@-x.com", "starts or ends with '-'"), ("ann lee@x.com", "not allowed before '@'"), ("ann@x.c0m", "not a name"), ("ann@x_y.com", "not allowed in domain"),
        ("=cmd|' /C calc'!A0", "no '@'"), ("", "empty"),
    ])
    func invalidEmails(_ input: String, _ why: String) {
        guard case .invalid(let reason) = EmailCleaning.normalise(input) else {
            Issue.record("'\(input)' accepted")
            return
        }
        #expect(reason.contains(why), "\(reason)")
    }

    @Test func emailTypoDomainsAndCanonicalKeys() {
        #expect(EmailCleaning.normalise("Ann@GMIAL.COM", typos: EmailCleaning.commonTypos) == .valid("ann@gmail.com"))
        #expect(EmailCleaning.normalise("ann@hotmial.com", typos: EmailCleaning.commonTypos) == .valid("ann@hotmail.com"))
        #expect(EmailCleaning.normalise("ann@gmial.com") == .valid("ann@gmial.com"), "no fixes unless asked")
        #expect(EmailCleaning.canonicalKey("j.o.h.n+promo@gmail.com") == "john@gmail.com")
        #expect(EmailCleaning.canonicalKey("john+x@googlemail.com") == "john@gmail.com")
        #expect(EmailCleaning.canonicalKey("john+x@outlook.com") == "john@outlook.com")
        #expect(EmailCleaning.canonicalKey("j.ohn+x@acme.com") == "j.ohn+x@acme.com", "unknown providers keep dots and tags")
    }

    @Test(arguments: [
        ("(555) 010-1234", "US", "+15550101234", nil), ("555.010.1234", "US", "+15550101234", nil), ("1-555-010-1234", "US", "+15550101234", nil),
        ("+1 555 010 1234", nil, "+15550101234", nil), ("(555) 010-1234 ext. 12", "US", "+15550101234", "12"), ("555-010-1234 x204", "US", "+15550101234", "204"),
        ("+1 (555) 010-1234 #7", "US", "+15550101234", "7"), ("011 44 20 7946 0958", "US", "+442079460958", nil), ("+44 (0)20 7946 0958", nil, "+442079460958", nil),
        ("020 7946 0958", "GB", "+442079460958", nil), ("0044 20 7946 0958", "DE", "+442079460958", nil), ("030 1234567", "DE", "+49301234567", nil),
        ("+49 (0)30 1234567", nil, "+49301234567", nil), ("06 12 34 56 78", "FR", "+33612345678", nil), ("+33 1 23 45 67 89", nil, "+33123456789", nil),
        ("06 12345678", "NL", "+31612345678", nil), ("02 1234 5678", "AU", "+61212345678", nil), ("+61 4 1234 5678", nil, "+61412345678", nil),
        ("06 1234 5678", "IT", "+390612345678", nil), ("+39 06 1234 5678", nil, "+390612345678", nil), ("8 (495) 123-45-67", "RU", "+74951234567", nil),
        ("090-1234-5678", "JP", "+819012345678", nil), ("138 0013 8000", "CN", "+8613800138000", nil), ("+91 98765 43210", nil, "+919876543210", nil),
        ("(11) 91234-5678", "BR", "+5511912345678", nil), ("+353 1 234 5678", nil, "+35312345678", nil), ("+1 555 010 1234;ext=99", nil, "+15550101234", "99"),
        ("+880 1712 345678", nil, "+8801712345678", nil), ("+852 2123 4567", nil, "+85221234567", nil), ("+297 582 1234", nil, "+2975821234", nil),
        ("０３０ １２３４５６７", "DE", "+49301234567", nil),
    ] as [(String, String?, String, String?)])
    func validPhones(_ input: String, _ region: String?, _ e164: String, _ ext: String?) {
        guard case .valid(let p) = PhoneNumbers.parse(input, defaultRegion: region) else {
            Issue.record("'\(input)' (\(region ?? "-")) rejected: \(PhoneNumbers.parse(input, defaultRegion: region))")
            return
        }
        #expect(p.e164 == e164)
        #expect(p.extension == ext)
    }

    @Test(arguments: [
        ("12345", "US", "too short"), ("555 010 12345", "US", "too long"), ("(055) 010-1234", "US", "do not start with 0"),
        ("555-CALL-NOW", "US", "is not part of a phone number"), ("555 010 1234", nil, "no default_region"), ("", "US", "no digits"),
        ("+49 30", nil, "too short"), ("+1234567890123456", nil, "too long"), ("+999 1234", nil, "8 to 15"),
    ] as [(String, String?, String)])
    func invalidPhones(_ input: String, _ region: String?, _ why: String) {
        guard case .invalid(let reason) = PhoneNumbers.parse(input, defaultRegion: region) else {
            Issue.record("'\(input)' accepted")
            return
        }
        #expect(reason.contains(why), "\(reason)")
    }

    @Test func phonePlansCoverAtLeastSixtyCountries() {
        #expect(PhoneNumbers.plans.count >= 60)
        #expect(Set(PhoneNumbers.plans.map(\.region)).count == PhoneNumbers.plans.count)
        for p in PhoneNumbers.plans {
            #expect(p.minLength <= p.maxLength && p.minLength >= 4 && p.maxLength <= 14, "\(p.region)")
            #expect(Countries.code(p.region) == p.region, "\(p.region) is in the country table")
        }
    }

    @Test(arguments: [
        ("John Smith", "John", nil, "Smith"), ("Dr. María  O'NEIL-smith", "María", nil, "O'Neil-Smith"), ("Smith, John", "John", nil, "Smith"),
        ("Smith, John Paul", "John", "Paul", "Smith"), ("Mr. John Smith Jr.", "John", nil, "Smith"), ("John Ronald Reuel Tolkien", "John", "Ronald Reuel", "Tolkien"),
        ("Ludwig van Beethoven", "Ludwig", nil, "van Beethoven"), ("anna van der berg", "Anna", nil, "van der Berg"), ("van der Berg, Anna", "Anna", nil, "van der Berg"),
        ("Prof. Dr. Hans Müller", "Hans", nil, "Müller"), ("Martin Luther King, Jr.", "Martin", "Luther", "King"), ("Jane Doe PhD", "Jane", nil, "Doe"),
        ("Cher", "Cher", nil, nil), ("HENRY FORD III", "Henry", nil, "Ford"), ("seán mcdonald", "Seán", nil, "McDonald"),
    ] as [(String, String?, String?, String?)])
    func splitNames(_ input: String, _ first: String?, _ middle: String?, _ last: String?) {
        let p = PersonNames.split(input)
        #expect(!p.isCompany)
        #expect(p.first == first)
        #expect(p.middle == middle)
        #expect(p.last == last)
    }

    @Test func honorificsSuffixesAndCompanies() {
        let p = PersonNames.split("Mrs. Jane Doe-Smith, PhD")
        #expect(p.honorific == "Mrs.")
        #expect(p.suffix == "PhD")
        #expect(p.last == "Doe-Smith")
        for company in ["Acme Holdings Inc.", "Smith & Sons", "Müller GmbH", "3M", "Initech Solutions", "Bank of Springfield"] {
            #expect(PersonNames.split(company).isCompany, "\(company)")
        }
        for person in ["Costa Rica", "Anna Cohen", "Coco Chanel"] { #expect(!PersonNames.split(person).isCompany, "\(person)") }
    }

    @Test(arguments: [
        ("Germany", "DE"), ("Deutschland", "DE"), ("DE", "DE"), ("deu", "DE"), ("Allemagne", "DE"), ("United States", "US"), ("U.S.A.", "US"),
        ("usa", "US"), ("Estados Unidos", "US"), ("UK", "GB"), ("Royaume-Uni", "GB"), ("England", "GB"), ("Österreich", "AT"), ("Oesterreich", "AT"),
        ("Suisse", "CH"), ("  the netherlands ", "NL"), ("Holland", "NL"), ("España", "ES"), ("Espana", "ES"), ("Côte d'Ivoire", nil), ("日本", "JP"),
        ("Türkiye", "TR"), ("Turkey", "TR"), ("South Korea", "KR"), ("Atlantis", nil), ("Česko", "CZ"), ("Brasil", "BR"), ("México", "MX"),
    ] as [(String, String?)])
    func countries(_ input: String, _ code: String?) {
        #expect(Countries.code(input) == code)
    }

    @Test func subdivisions() {
        #expect(Countries.subdivision("California", country: "US") == "US-CA")
        #expect(Countries.subdivision("CA", country: "US") == "US-CA")
        #expect(Countries.subdivision("Calif.", country: nil) == "US-CA")
        #expect(Countries.subdivision("Québec", country: "CA") == "CA-QC")
        #expect(Countries.subdivision("Quebec", country: nil) == "CA-QC")
        #expect(Countries.subdivision("NSW", country: "AU") == "AU-NSW")
        #expect(Countries.subdivision("WA", country: "AU") == "AU-WA")
        #expect(Countries.subdivision("WA", country: nil) == "US-WA")
        #expect(Countries.subdivision("Bavaria", country: "US") == nil)
        #expect(Countries.subdivision("Texas", country: "CA") == nil)
    }

    @Test(arguments: [
        ("Acme Inc.", "acme"), ("ACME, Inc", "acme"), ("Acme Incorporated", "acme"), ("The Acme Company", "acme"), ("Müller GmbH", "muller"),
        ("Müller GmbH & Co. KG", "muller"), ("Société Générale S.A.", "societe generale"), ("Smith & Sons LLC", "smith and sons"),
        ("Smith and Sons, L.L.C.", "smith and sons"), ("Wei Trading Co., Ltd.", "wei trading"), ("Van der Berg B.V.", "van der berg"),
        ("Globex Pty Ltd", "globex"), ("O'Reilly Media", "oreilly media"), ("Initech", "initech"), ("The Company", "company"),
    ])
    func companyKeys(_ input: String, _ key: String) {
        #expect(CompanyNames.matchingKey(input) == key)
    }

    static func money(_ s: String, _ currency: String = "") -> String? {
        let bytes = Array(s.utf8)
        guard let (minor, cur) = bytes.withUnsafeBufferPointer({ MoneyCleaning.parse($0, defaultCurrency: currency) }) else { return nil }
        var out: [UInt8] = []
        Money.appendAmount(minor, to: &out)
        return String(decoding: out, as: UTF8.self) + (cur.isEmpty ? "" : " " + cur)
    }

    @Test(arguments: [
        ("$1,234.50", "1234.50 USD"), ("1.234,50 €", "1234.50 EUR"), ("(100.00)", "-100.00"), ("USD 12k", "12000.00 USD"), ("1.2M EUR", "1200000.00 EUR"),
        ("€ 950", "950.00 EUR"), ("12000 EUR", "12000.00 EUR"), ("-£5.25", "-5.25 GBP"), ("2.5k", "2500.00"), ("CHF 1'000.00", "1000.00 CHF"), ("n/a", nil),
        ("3bn", "3000000000.00"), ("1 234,56 €", "1234.56 EUR"), ("0.99", "0.99"),
    ] as [(String, String?)])
    func moneyAmounts(_ input: String, _ expected: String?) {
        #expect(Self.money(input) == expected)
    }

    @Test func moneyConversionIsExactAndRoundsHalfAway() {
        #expect(MoneyCleaning.rate("1.08")! == (108, 100))
        #expect(MoneyCleaning.convert(123_450, rate: (108, 100)) == 133_326)  // 1234.50 × 1.08 = 1333.26
        #expect(MoneyCleaning.convert(5, rate: (1, 2)) == 3)
        #expect(MoneyCleaning.convert(-5, rate: (1, 2)) == -3)
        #expect(MoneyCleaning.rate("-1") == nil && MoneyCleaning.rate("abc") == nil)
    }

    static func detect(_ values: [String?], order: DayOrder? = nil) -> DateCleaning.Detection {
        var b = StringBuffer()
        var v = Bitmap()
        for x in values { if let x { b.append(x); v.append(true) } else { b.appendEmpty(); v.append(false) } }
        return DateCleaning.detect(b, validity: v, order: order)
    }

    static func day(_ s: String, _ f: DateCleaning.Format) -> String? {
        let bytes = Array(s.utf8)
        guard let d = bytes.withUnsafeBufferPointer({ DateCleaning.days($0, format: f) }) else { return nil }
        return Value.date(d).description
    }

    @Test func dateColumnsAreDetectedWithTheirEvidence() {
        let eu = Self.detect(["12/03/2023", "25/03/2023", nil, "01/04/2023"])
        #expect(eu.format == .text(order: .dayFirst))
        #expect(eu.evidence?.contains("25/03/2023") == true && !eu.ambiguous)
        let us = Self.detect(["03/12/2023", "03/25/2023"])
        #expect(us.format == .text(order: .monthFirst))
        let ambiguous = Self.detect(["03/04/2023", "05/06/2023"])
        #expect(ambiguous.ambiguous && ambiguous.evidence?.contains("ambiguous") == true)
        #expect(Self.detect(["03/04/2023"], order: .dayFirst).format == .text(order: .dayFirst))
        let mixed = Self.detect(["25/03/2023", "03/25/2023", "26/03/2023"])
        #expect(mixed.format == .text(order: .dayFirst) && mixed.ambiguous)
        #expect(Self.detect(["01.02.2023", "03.04.2023"]).format == .text(order: .dayFirst))
        #expect(Self.detect(["44927", "45000"]).format == .excelSerial)
        #expect(Self.detect(["1700000000", "1600000000"]).format == .unixSeconds)
        #expect(Self.detect(["1700000000000"]).format == .unixMilliseconds)
        #expect(Self.detect(["2024-01-05", "5 Mar 2024", "March 7, 2024"]).format == .text(order: nil))
    }

    @Test(arguments: [
        ("2024-03-05", DateCleaning.Format.text(order: nil), "2024-03-05"), ("05/03/2024", .text(order: .dayFirst), "2024-03-05"),
        ("05/03/2024", .text(order: .monthFirst), "2024-05-03"), ("5 Mar 2024", .text(order: nil), "2024-03-05"), ("March 5, 2024", .text(order: nil), "2024-03-05"),
        ("05.03.2024", .text(order: .dayFirst), "2024-03-05"), ("44927", .excelSerial, "2023-01-01"), ("45000.75", .excelSerial, "2023-03-15"),
        ("1700000000", .unixSeconds, "2023-11-14"), ("1700000000000", .unixMilliseconds, "2023-11-14"), ("31/02/2024", .text(order: .dayFirst), nil),
        ("2024-03-05T23:30:00-05:00", .text(order: nil), "2024-03-05"), ("12.03.2023", .pattern(Array("%d.%m.%Y".utf8)), "2023-03-12"),
        ("2023-13-01", .text(order: nil), nil), ("soon", .text(order: nil), nil),
    ] as [(String, DateCleaning.Format, String?)])
    func dates(_ input: String, _ format: DateCleaning.Format, _ expected: String?) {
        #expect(Self.day(input, format) == expected)
    }

    @Test func timestampsToUTC() {
        func micros(_ s: String, _ offset: Int? = nil) -> String? {
            let bytes = Array(s.utf8)
            let zone: ((Int64) -> Int)? = offset.map { o in { _ in o } }
            return bytes.withUnsafeBufferPointer { DateCleaning.micros($0, format: .text(order: nil), naiveOffset: zone) }.map { Value.timestamp($0).description }
        }
        #expect(micros("2024-06-01T09:00:00-05:00") == "2024-06-01T14:00:00Z")
        #expect(micros("2024-06-01 09:00", 7200) == "2024-06-01T07:00:00Z")
        #expect(micros("2024-06-01T09:00:00Z", 7200) == "2024-06-01T09:00:00Z", "an explicit zone wins")
    }

    @Test func groupingTextKeysWithNullsBeforeNewValues() {
        // A null key takes a code from the same counter as the values; codes must still find their first row.
        var b = StringBuffer()
        var v = Bitmap()
        for x in [nil, "a", "b", "a", nil, "c", "b"] as [String?] { if let x { b.append(x); v.append(true) } else { b.appendEmpty(); v.append(false) } }
        let g = Grouping.make(keys: [Column(storage: .string(b), validity: v)], rowCount: 7)
        #expect(g.groupOfRow == [0, 1, 2, 1, 0, 3, 2])
        #expect(g.groupCount == 4)
    }

    @Test(arguments: [
        (1234567.891, "1,234,568"), (1234.5, "1,234.50"), (0.55556, "0.5556"), (0.5, "0.5"), (5, "5"), (-1234.5, "-1,234.50"),
        (150000, "150,000"), (12.345, "12.35"), (0, "0"), (-0.00001, "0"),
    ] as [(Double, String)])
    func humanNumbers(_ v: Double, _ text: String) {
        #expect(HumanNumbers.format(v) == text)
    }

    @Test func humanPercentagesAndMoney() {
        #expect(HumanNumbers.percent(0.5652) == "56.5%")
        #expect(HumanNumbers.money(1234.5, currency: "USD") == "USD 1,234.50")
    }
}
