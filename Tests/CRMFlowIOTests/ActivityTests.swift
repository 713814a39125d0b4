import Foundation
import Testing
@testable import CRMFlowCore
@testable import CRMFlowIO

/// Calendars and mail archives as activities: the pieces table-driven, whole files through the readers.
struct ActivityTests {
    static func iso(_ micros: Int64) -> String {
        var out: [UInt8] = []
        CivilDate.appendISO(micros: micros, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func calendar(_ events: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.path + "/crmflow-ics-\(UUID().uuidString).ics"
        try ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n" + events.replacingOccurrences(of: "\n", with: "\r\n") + "END:VCALENDAR\r\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static let window = CivilDate.days(year: 2024, month: 1, day: 1)...CivilDate.days(year: 2025, month: 12, day: 31)

    static func starts(_ event: String) throws -> [String] {
        let loaded = try ICalendar.read(path: calendar(event), window: window, timezone: nil, keepBodies: false, ownDomains: [], source: "t.ics")
        #expect(loaded.rejects.isEmpty, "\(loaded.rejects.map(\.reason))")
        return (0..<loaded.table.rowCount).map { r -> String in
            if case .timestamp(let m) = loaded.table.columns[2].value(at: r) { return iso(m) }
            return ""
        }
    }

    @Test(arguments: [
        // UTC, a named zone, a Windows zone name, a floating time (UTC here), an all-day date.
        ("DTSTART:20240105T103000Z", "2024-01-05T10:30:00Z"),
        ("DTSTART;TZID=America/New_York:20240105T103000", "2024-01-05T15:30:00Z"),
        ("DTSTART;TZID=America/New_York:20240705T103000", "2024-07-05T14:30:00Z"),
        ("DTSTART;TZID=\"Pacific Standard Time\":20240105T080000", "2024-01-05T16:00:00Z"),
        // 02:30 on 31 March does not exist in Berlin (read with the winter offset); 02:30 on 27 October occurs twice
        // (the first, summer-time one).
        ("DTSTART;TZID=/Europe/Berlin:20240331T023000", "2024-03-31T01:30:00Z"),
        ("DTSTART;TZID=Europe/Berlin:20241027T023000", "2024-10-27T00:30:00Z"),
        ("DTSTART:20240105T103000", "2024-01-05T10:30:00Z"),
        ("DTSTART;VALUE=DATE:20240229", "2024-02-29T00:00:00Z"),
    ])
    func startTimes(_ line: String, _ expected: String) throws {
        #expect(try Self.starts("BEGIN:VEVENT\nUID:a\n\(line)\nEND:VEVENT\n") == [expected])
    }

    @Test(arguments: [
        // A weekly meeting keeps its wall time across the DST change (10:00 New York: 15:00Z, then 14:00Z).
        ("DTSTART;TZID=America/New_York:20240305T100000\nRRULE:FREQ=WEEKLY;COUNT=3",
         ["2024-03-05T15:00:00Z", "2024-03-12T14:00:00Z", "2024-03-19T14:00:00Z"]),
        ("DTSTART:20240101T090000Z\nRRULE:FREQ=DAILY;INTERVAL=2;UNTIL=20240107T090000Z",
         ["2024-01-01T09:00:00Z", "2024-01-03T09:00:00Z", "2024-01-05T09:00:00Z", "2024-01-07T09:00:00Z"]),
        ("DTSTART:20240101T090000Z\nRRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=5",
         ["2024-01-01T09:00:00Z", "2024-01-03T09:00:00Z", "2024-01-05T09:00:00Z", "2024-01-08T09:00:00Z", "2024-01-10T09:00:00Z"]),
        // The 31st: months without one have no occurrence (RFC 5545).
        ("DTSTART:20240131T120000Z\nRRULE:FREQ=MONTHLY;COUNT=4",
         ["2024-01-31T12:00:00Z", "2024-03-31T12:00:00Z", "2024-05-31T12:00:00Z", "2024-07-31T12:00:00Z"]),
        ("DTSTART:20240229T120000Z\nRRULE:FREQ=YEARLY;COUNT=2", ["2024-02-29T12:00:00Z"]),
        ("DTSTART:20240115T120000Z\nRRULE:FREQ=MONTHLY;BYMONTHDAY=1,15;COUNT=3",
         ["2024-01-15T12:00:00Z", "2024-02-01T12:00:00Z", "2024-02-15T12:00:00Z"]),
        ("DTSTART:20240101T090000Z\nRRULE:FREQ=DAILY;COUNT=4\nEXDATE:20240102T090000Z,20240103T090000Z\nRDATE:20240110T090000Z",
         ["2024-01-01T09:00:00Z", "2024-01-04T09:00:00Z", "2024-01-10T09:00:00Z"]),
        // Occurrences outside the window are not expanded (the rule runs from 2023).
        ("DTSTART:20231230T090000Z\nRRULE:FREQ=DAILY;COUNT=4", ["2024-01-01T09:00:00Z", "2024-01-02T09:00:00Z"]),
    ])
    func recurrences(_ lines: String, _ expected: [String]) throws {
        #expect(try Self.starts("BEGIN:VEVENT\nUID:r\n\(lines)\nDURATION:PT30M\nEND:VEVENT\n") == expected)
    }

    @Test func anOverriddenOccurrenceReplacesTheRuleOne() throws {
        let starts = try Self.starts("""
        BEGIN:VEVENT\nUID:x\nDTSTART:20240101T090000Z\nRRULE:FREQ=DAILY;COUNT=3\nEND:VEVENT
        BEGIN:VEVENT\nUID:x\nRECURRENCE-ID:20240102T090000Z\nDTSTART:20240102T150000Z\nEND:VEVENT\n
        """)
        #expect(starts == ["2024-01-01T09:00:00Z", "2024-01-02T15:00:00Z", "2024-01-03T09:00:00Z"])
    }

    @Test(arguments: [("PT15M", 15 * 60), ("P1DT2H30M", 86_400 + 9_000), ("P1W", 604_800), ("-PT5M", -300), ("PT1H0M10S", 3_610)])
    func durations(_ text: String, _ seconds: Int) {
        #expect(ICalendar.duration(text) == Int64(seconds) * 1_000_000)
    }

    @Test func eventsThatCannotBeReadAreRejectsWithTheirLineAndText() throws {
        let path = try Self.calendar("""
        BEGIN:VEVENT\nUID:ok\nDTSTART:20240105T103000Z\nSUMMARY:Fine\\, really\nORGANIZER;CN="Doe, Jane":mailto:Jane@X.com\nATTENDEE:MAILTO:bob@y.org\nEND:VEVENT
        BEGIN:VEVENT\nUID:bad-date\nDTSTART:20241332T000000Z\nEND:VEVENT
        BEGIN:VEVENT\nUID:no-start\nSUMMARY:x\nEND:VEVENT
        BEGIN:VEVENT\nUID:zone\nDTSTART;TZID=Mars/Olympus:20240105T103000\nEND:VEVENT
        BEGIN:VEVENT\nUID:rule\nDTSTART:20240105T103000Z\nRRULE:FREQ=MONTHLY;BYSETPOS=-1;BYDAY=MO\nEND:VEVENT\n
        """)
        let loaded = try ICalendar.read(path: path, window: Self.window, timezone: nil, keepBodies: false, ownDomains: ["x.com"], source: "t.ics")
        #expect(loaded.table.rowCount == 1)
        #expect(loaded.recordsRead == 5)
        #expect(loaded.table.columns[11].value(at: 0) == .string("Fine, really"))
        #expect(loaded.table.columns[5].value(at: 0) == .string("jane@x.com"))
        #expect(loaded.table.columns[7].value(at: 0) == .string("bob@y.org"))
        #expect(loaded.rejects.map(\.line) == [10, 14, 18, 22])
        #expect(loaded.rejects[0].reason.contains("'20241332T000000Z' is not an iCalendar date"))
        #expect(loaded.rejects[1].reason == "the event has no DTSTART")
        #expect(loaded.rejects[2].reason.contains("'Mars/Olympus', which is not known"))
        #expect(loaded.rejects[3].reason.contains("RRULE part BYSETPOS is not supported"))
        #expect(loaded.rejects[3].record.contains("UID:rule"))
    }

    @Test(arguments: [
        ("Tue, 5 Mar 2024 10:30:00 +0100", "2024-03-05T09:30:00Z"), ("5 Mar 2024 10:30 -0800", "2024-03-05T18:30:00Z"),
        ("Mon, 02 Dec 2024 09:15:00 EST", "2024-12-02T14:15:00Z"), ("Wed, 1 Jan 97 00:00:00 GMT", "1997-01-01T00:00:00Z"),
        ("Thu, 29 Feb 2024 23:59:59 +0000 (UTC)", "2024-02-29T23:59:59Z"),
    ])
    func mailDates(_ text: String, _ expected: String) {
        #expect(MailArchive.date(text).map(Self.iso) == expected)
    }

    @Test func mailDatesThatAreNotDates() {
        for t in ["yesterday", "31 Feb 2024 10:00:00 +0000", "Tue, 5 Foo 2024 10:30:00 +0100", ""] { #expect(MailArchive.date(t) == nil, "\(t)") }
    }

    @Test(arguments: [
        ("\"Smith, Bob\" <Bob.Smith@Acme.com>, ann@x.org", ["bob.smith@acme.com", "ann@x.org"]),
        ("team: a@z.com, b@z.com;, c@y.com", ["a@z.com", "b@z.com", "c@y.com"]),
        ("Jane (the boss) <jane@x.com>", ["jane@x.com"]),
        ("undisclosed-recipients:;", []),
    ])
    func addressLists(_ text: String, _ expected: [String]) {
        #expect(MailArchive.addresses(text) == expected)
    }

    @Test(arguments: [
        ("=?UTF-8?B?R2xvYmV4OiBuw6RjaHN0ZSBTY2hyaXR0ZQ==?=", "Globex: nächste Schritte"),
        ("=?iso-8859-1?Q?M=FCller_GmbH_=96_Angebot?=", "Müller GmbH – Angebot"),
        ("=?utf-8?q?a?= =?utf-8?q?b?= c", "ab c"),
        ("plain text", "plain text"), ("=?broken", "=?broken"),
    ])
    func encodedWords(_ text: String, _ expected: String) {
        #expect(MailArchive.decodedWords(text) == expected)
    }

    @Test func mboxMessagesWithCRLFAndOneEml() throws {
        let dir = FileManager.default.temporaryDirectory.path + "/crmflow-mail-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let mbox = """
        From a@us.com Mon Dec  2 09:15:00 2024\r\nFrom: A <a@us.com>\r\nTo: b@them.com\r\nDate: Mon, 02 Dec 2024 09:15:00 +0000\r\nSubject: one\r\n \
        folded\r\nMessage-ID: <1@us>\r\n\r\nbody\r\n\r\nFrom b@them.com Mon Dec  2 10:00:00 2024\r\nFrom: b@them.com\r\nTo: a@us.com\r\n\
        Date: Mon, 02 Dec 2024 10:00:00 +0000\r\nIn-Reply-To: <1@us>\r\nReferences: <1@us>\r\n\r\n>From here\r\n\r\nFrom x Mon Dec  2 11:00:00 2024\r\nTo: a@us.com\r\n\r\n
        """
        try mbox.write(toFile: dir + "/m.mbox", atomically: true, encoding: .utf8)
        let loaded = try MailArchive.read(path: dir + "/m.mbox", keepBodies: true, ownDomains: ["us.com"], source: "m.mbox")
        #expect(loaded.table.rowCount == 2)
        #expect(loaded.rejects.count == 1 && loaded.rejects[0].reason == "the message has no From: address" && loaded.rejects[0].line == 21)
        let t = loaded.table
        func col(_ name: String, _ r: Int) -> Value { t.columns[t.schema.names.firstIndex(of: name)!].value(at: r) }
        #expect(col("subject", 0) == .string("one folded"))
        #expect(col("direction", 0) == .string("outbound") && col("direction", 1) == .string("inbound"))
        #expect(col("contact_email", 0) == .string("b@them.com") && col("contact_email", 1) == .string("b@them.com"))
        #expect(col("thread_id", 1) == .string("1@us"))
        #expect(col("body", 1) == .string("From here"))
        try "From: Jane <jane@x.com>\nTo: b@y.com\nDate: Tue, 5 Mar 2024 10:30:00 +0100\nSubject: hi\n\nbody\n".write(toFile: dir + "/one.eml", atomically: true, encoding: .utf8)
        let eml = try MailArchive.read(path: dir + "/one.eml", keepBodies: false, ownDomains: [], source: "one.eml")
        #expect(eml.table.rowCount == 1 && eml.table.schema.names == Activities.columns)
    }
}
