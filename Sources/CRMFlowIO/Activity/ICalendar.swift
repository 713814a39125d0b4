import CRMFlowCore
import Foundation

/// iCalendar (RFC 5545) events as activities: each VEVENT a meeting, with its organiser and attendees, start and end
/// in UTC (from `Z` times, `TZID=` zones — IANA names, or the Windows names Outlook writes — or floating times read in
/// `timezone`), all-day events from midnight to midnight in that zone. Recurring events (RRULE with FREQ, INTERVAL,
/// COUNT, UNTIL, BYDAY, BYMONTHDAY, BYMONTH; EXDATE; RDATE; RECURRENCE-ID overrides) are expanded within `window`.
/// An event that cannot be read (no DTSTART, a bad date, an unknown zone, a rule part not supported) is a reject with
/// the line of its BEGIN:VEVENT and the event's text as its record.
public enum ICalendar {
    struct Property {
        var name: String
        var parameters: [String: String]
        var value: String
    }

    struct Event {
        var line: Int
        var properties: [Property] = []
        var raw: [String] = []
        func first(_ name: String) -> Property? { properties.first { $0.name == name } }
        func all(_ name: String) -> [Property] { properties.filter { $0.name == name } }
    }

    /// Lines unfolded (a line starting with a space or tab continues the one before), with the line number each
    /// starts on.
    static func unfolded(_ text: String) -> [(line: Int, text: String)] {
        var out: [(Int, String)] = []
        var number = 0
        // NB: "\r\n" is one Character in Swift, so lines split on either form.
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            number += 1
            var l = Substring(raw)
            if l.hasSuffix("\r") { l = l.dropLast() }
            if let f = l.first, f == " " || f == "\t", !out.isEmpty {
                out[out.count - 1].1 += l.dropFirst()
            } else if !l.isEmpty {
                out.append((number, String(l)))
            }
        }
        return out
    }

    /// `NAME;P1=a;P2="b;c":value`.
    static func property(_ line: String) -> Property? {
        var name = "", params: [String: String] = [:]
        var i = line.startIndex
        var inQuote = false
        var segment = ""
        var segments: [String] = []
        while i < line.endIndex {
            let c = line[i]
            if c == "\"" { inQuote.toggle() } else if !inQuote, c == ";" || c == ":" {
                segments.append(segment)
                segment = ""
                if c == ":" { break }
                i = line.index(after: i)
                continue
            }
            segment.append(c)
            i = line.index(after: i)
        }
        guard i < line.endIndex else { return nil }
        let value = String(line[line.index(after: i)...])
        name = segments.first?.uppercased() ?? ""
        for s in segments.dropFirst() {
            let kv = s.split(separator: "=", maxSplits: 1)
            guard kv.count == 2 else { continue }
            params[kv[0].uppercased()] = kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        guard !name.isEmpty else { return nil }
        return Property(name: name, parameters: params, value: value)
    }

    /// TEXT values: `\n`, `\,`, `\;`, `\\` unescaped.
    static func text(_ v: String) -> String {
        guard v.contains("\\") else { return v }
        var out = "", escape = false
        for c in v {
            if escape {
                out.append(c == "n" || c == "N" ? "\n" : c)
                escape = false
            } else if c == "\\" {
                escape = true
            } else {
                out.append(c)
            }
        }
        return out
    }

    /// Outlook's Windows zone names, as CLDR maps them to IANA zones (the common ones).
    static let windowsZones: [String: String] = [
        "UTC": "UTC", "GMT Standard Time": "Europe/London", "Greenwich Standard Time": "Atlantic/Reykjavik",
        "W. Europe Standard Time": "Europe/Berlin", "Central Europe Standard Time": "Europe/Budapest", "Romance Standard Time": "Europe/Paris",
        "Central European Standard Time": "Europe/Warsaw", "E. Europe Standard Time": "Europe/Chisinau", "FLE Standard Time": "Europe/Kiev",
        "GTB Standard Time": "Europe/Bucharest", "Russian Standard Time": "Europe/Moscow", "Eastern Standard Time": "America/New_York",
        "Central Standard Time": "America/Chicago", "Mountain Standard Time": "America/Denver", "US Mountain Standard Time": "America/Phoenix",
        "Pacific Standard Time": "America/Los_Angeles", "Alaskan Standard Time": "America/Anchorage", "Hawaiian Standard Time": "Pacific/Honolulu",
        "Atlantic Standard Time": "America/Halifax", "E. South America Standard Time": "America/Sao_Paulo", "India Standard Time": "Asia/Kolkata",
        "China Standard Time": "Asia/Shanghai", "Tokyo Standard Time": "Asia/Tokyo", "Singapore Standard Time": "Asia/Singapore",
        "AUS Eastern Standard Time": "Australia/Sydney", "New Zealand Standard Time": "Pacific/Auckland", "Arabian Standard Time": "Asia/Dubai",
        "South Africa Standard Time": "Africa/Johannesburg", "Israel Standard Time": "Asia/Jerusalem", "Korea Standard Time": "Asia/Seoul",
    ]

    static func zone(_ tzid: String) -> TimeZone? {
        let id = tzid.hasPrefix("/") ? String(tzid.drop { $0 == "/" }) : tzid
        return TimeZone(identifier: id) ?? windowsZones[id].flatMap { TimeZone(identifier: $0) }
    }

    /// A DATE or DATE-TIME value with its zone: (the instant in µs since the epoch, all-day, local components).
    struct Moment {
        var micros: Int64
        var allDay: Bool
        var zone: TimeZone
    }

    enum Problem: Error { case message(String) }

    static func moment(_ p: Property, defaultZone: TimeZone) throws(Problem) -> Moment {
        let v = p.value.trimmingCharacters(in: .whitespaces)
        let digits = Array(v.utf8)
        func num(_ a: Int, _ b: Int) -> Int? {
            guard b <= digits.count else { return nil }
            var n = 0
            for k in a..<b { let d = digits[k] &- 48; guard d < 10 else { return nil }; n = n * 10 + Int(d) }
            return n
        }
        guard let y = num(0, 4), let mo = num(4, 6), let d = num(6, 8), CivilDate.isValid(year: y, month: mo, day: d) else {
            throw .message("\(p.name) '\(v)' is not an iCalendar date (YYYYMMDD or YYYYMMDDTHHMMSS)")
        }
        var zone = defaultZone
        if let tzid = p.parameters["TZID"] {
            guard let z = Self.zone(tzid) else { throw .message("\(p.name) names the time zone '\(tzid)', which is not known") }
            zone = z
        }
        if digits.count == 8 || p.parameters["VALUE"] == "DATE" {
            return Moment(micros: instant(y, mo, d, 0, 0, 0, zone), allDay: true, zone: zone)
        }
        guard digits.count >= 15, digits[8] == UInt8(ascii: "T"), let h = num(9, 11), let mi = num(11, 13), let s = num(13, 15), h < 24, mi < 60, s < 61 else {
            throw .message("\(p.name) '\(v)' is not an iCalendar date-time (YYYYMMDDTHHMMSS[Z])")
        }
        if digits.count == 16, digits[15] == UInt8(ascii: "Z") { zone = TimeZone(identifier: "UTC")! }
        return Moment(micros: instant(y, mo, d, h, mi, s, zone), allDay: false, zone: zone)
    }

    /// The instant of a local wall time in `zone`. As RFC 5545 says, a time that occurs twice (the hour repeated when
    /// clocks go back) is the first occurrence, and a time a DST change skips is read with the offset before the change.
    static func instant(_ y: Int, _ mo: Int, _ d: Int, _ h: Int, _ mi: Int, _ s: Int, _ zone: TimeZone) -> Int64 {
        let local = Int64(CivilDate.days(year: y, month: mo, day: d)) * 86_400 + Int64(h * 3600 + mi * 60 + min(s, 59))
        func offset(at utc: Int64) -> Int64 { Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(utc)))) }
        // The offsets in force a day before and a day after: every real zone changes at most once in between.
        let before = offset(at: local - 86_400), after = offset(at: local + 86_400)
        let fits = [before, after].filter { offset(at: local - $0) == $0 }
        let chosen = fits.max() ?? before
        return (local - chosen) * 1_000_000
    }

    /// `P1DT2H30M`, `PT15M`, `P1W`, `-PT5M`.
    static func duration(_ v: String) -> Int64? {
        var s = Substring(v.trimmingCharacters(in: .whitespaces))
        var sign: Int64 = 1
        if s.hasPrefix("-") { sign = -1; s = s.dropFirst() } else if s.hasPrefix("+") { s = s.dropFirst() }
        guard s.hasPrefix("P") else { return nil }
        s = s.dropFirst()
        var seconds: Int64 = 0, n: Int64 = 0, any = false, time = false
        for c in s {
            if let d = c.wholeNumberValue { n = n * 10 + Int64(d); any = true; continue }
            switch c {
            case "T": time = true
            case "W": seconds += n * 604_800
            case "D": seconds += n * 86_400
            case "H" where time: seconds += n * 3600
            case "M" where time: seconds += n * 60
            case "S" where time: seconds += n
            default: return nil
            }
            n = 0
        }
        return any ? sign * seconds * 1_000_000 : nil
    }

    static func email(_ p: Property) -> String { Activities.normalizedEmail(p.value) }

    /// Reads a calendar file. `window` bounds the expansion of recurring events (days since the epoch, inclusive).
    public static func read(path: String, window: ClosedRange<Int>, timezone: String?, keepBodies: Bool, ownDomains: [String],
                            source: String) throws(CRMFlowError) -> LoadedTable {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CRMFlowError(.inputMissing, "the calendar '\(path)' does not exist or cannot be read", hint: "check the path (relative to where crmflow runs)")
        }
        guard let text = String(data: data, encoding: .utf8) ?? String(data: data, encoding: .isoLatin1) else {
            throw CRMFlowError(.badData, "'\(path)' is not text", at: path)
        }
        guard text.contains("BEGIN:VCALENDAR") else {
            throw CRMFlowError(.badData, "'\(path)' is not an iCalendar file (no BEGIN:VCALENDAR)", at: path, hint: "export the calendar as .ics")
        }
        var defaultZone = TimeZone(identifier: "UTC")!
        if let timezone {
            guard let z = zone(timezone) else { throw CRMFlowError(.badPipeline, "unknown time zone '\(timezone)'", hint: "use an IANA name such as Europe/Berlin") }
            defaultZone = z
        }
        var events: [Event] = []
        var current: Event?
        var depth = 0
        var calendarZone: TimeZone?
        for (line, l) in unfolded(text) {
            let upper = l.uppercased()
            if upper == "BEGIN:VEVENT" {
                current = Event(line: line)
                depth = 0
                current?.raw.append(l)
                continue
            }
            if var e = current {
                e.raw.append(l)
                if upper.hasPrefix("BEGIN:") {
                    depth += 1
                } else if upper.hasPrefix("END:") {
                    if depth > 0 { depth -= 1 } else if upper == "END:VEVENT" {
                        events.append(e)
                        current = nil
                        continue
                    }
                } else if depth == 0, let p = property(l) {
                    e.properties.append(p)
                }
                current = e
            } else if upper.hasPrefix("X-WR-TIMEZONE:"), calendarZone == nil {
                calendarZone = zone(String(l.dropFirst("X-WR-TIMEZONE:".count)))
            }
        }
        if timezone == nil, let calendarZone { defaultZone = calendarZone }
        var activities: [Activity] = []
        var rejects: [Reject] = []
        var notes: [String] = []
        if current != nil {
            rejects.append(Reject(source: source, line: current!.line, code: "E_PARSE", reason: "the event has no END:VEVENT (the file ends inside it)",
                                  record: current!.raw.joined(separator: "\n")))
        }
        // Overrides of single occurrences (RECURRENCE-ID), by UID and the original start.
        var overridden: [String: Set<Int64>] = [:]
        for e in events {
            if let rid = e.first("RECURRENCE-ID"), let uid = e.first("UID")?.value, let m = try? moment(rid, defaultZone: defaultZone) {
                overridden[uid, default: []].insert(m.micros)
            }
        }
        var expanded = 0
        for e in events {
            do throws(Problem) {
                let occurrences = try self.activities(of: e, window: window, defaultZone: defaultZone, keepBodies: keepBodies, overridden: overridden)
                if occurrences.count > 1 { expanded += 1 }
                activities.append(contentsOf: occurrences)
                if activities.count > 5_000_000 { break }
            } catch {
                guard case .message(let m) = error else { continue }
                rejects.append(Reject(source: source, line: e.line, code: "E_PARSE", reason: m, record: e.raw.joined(separator: "\n")))
            }
        }
        if activities.count > 5_000_000 {
            throw CRMFlowError(.badData, "the events of '\(path)' expand to more than 5,000,000 meetings", at: path,
                               hint: "narrow the window of recurring events: window: [FIRST_DAY, LAST_DAY]")
        }
        if expanded > 0 {
            var a: [UInt8] = [], b: [UInt8] = []
            CivilDate.appendISO(days: window.lowerBound, to: &a)
            CivilDate.appendISO(days: window.upperBound, to: &b)
            notes.append("\(expanded) recurring events expanded between \(String(decoding: a, as: UTF8.self)) and \(String(decoding: b, as: UTF8.self))")
        }
        activities.sort { ($0.startedAt, $0.id) < ($1.startedAt, $1.id) }
        return Activities.loaded(activities, rejects: rejects, ownDomains: ownDomains, keepBodies: keepBodies, notes: notes)
    }

    static func activities(of e: Event, window: ClosedRange<Int>, defaultZone: TimeZone, keepBodies: Bool,
                           overridden: [String: Set<Int64>]) throws(Problem) -> [Activity] {
        guard let startProperty = e.first("DTSTART") else { throw .message("the event has no DTSTART") }
        let start = try moment(startProperty, defaultZone: defaultZone)
        var length: Int64
        if let endProperty = e.first("DTEND") {
            length = try moment(endProperty, defaultZone: defaultZone).micros - start.micros
            if length < 0 { throw .message("DTEND is before DTSTART") }
        } else if let d = e.first("DURATION") {
            guard let v = duration(d.value) else { throw .message("DURATION '\(d.value)' is not an iCalendar duration (e.g. PT30M)") }
            length = v
        } else {
            length = start.allDay ? 86_400_000_000 : 0
        }
        let uid = e.first("UID")?.value ?? "line-\(e.line)"
        var base = Activity()
        base.kind = "meeting"
        base.organizer = e.first("ORGANIZER").map(email) ?? ""
        base.participants = e.all("ATTENDEE").map(email).filter { !$0.isEmpty && $0 != base.organizer }
        base.subject = text(e.first("SUMMARY")?.value ?? "")
        base.location = text(e.first("LOCATION")?.value ?? "")
        base.status = e.first("STATUS")?.value.uppercased() ?? ""
        base.line = e.line
        if keepBodies { base.body = text(e.first("DESCRIPTION")?.value ?? "") }
        var starts: [Int64] = [start.micros]
        let isOverride = e.first("RECURRENCE-ID") != nil
        if let rule = e.first("RRULE"), !isOverride {
            starts = try expand(rule.value, start: start, window: window)
            for r in e.all("RDATE") {
                for v in r.value.split(separator: ",") {
                    var p = r
                    p.value = String(v)
                    if let m = try? moment(p, defaultZone: start.zone) { starts.append(m.micros) }
                }
            }
            var excluded: Set<Int64> = overridden[uid] ?? []
            for x in e.all("EXDATE") {
                for v in x.value.split(separator: ",") {
                    var p = x
                    p.value = String(v)
                    if p.parameters["TZID"] == nil, start.zone.identifier != "UTC", !v.hasSuffix("Z") { p.parameters["TZID"] = start.zone.identifier }
                    if let m = try? moment(p, defaultZone: start.zone) { excluded.insert(m.micros) }
                }
            }
            starts = Array(Set(starts.filter { !excluded.contains($0) })).sorted()
        }
        return starts.map { s in
            var a = base
            a.startedAt = s
            a.endedAt = s + length
            a.recurring = e.first("RRULE") != nil || isOverride
            a.id = a.recurring ? uid + "@" + String(s / 1_000_000) : uid
            return a
        }
    }

    static let weekdays = ["SU": 1, "MO": 2, "TU": 3, "WE": 4, "TH": 5, "FR": 6, "SA": 7]

    /// The starts of a recurrence rule's occurrences within `window` (and at most 10,000).
    static func expand(_ rule: String, start: Moment, window: ClosedRange<Int>) throws(Problem) -> [Int64] {
        var parts: [String: String] = [:]
        for p in rule.split(separator: ";") {
            let kv = p.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { parts[kv[0].uppercased()] = String(kv[1]).uppercased() }
        }
        let supported: Set<String> = ["FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH", "WKST"]
        if let unsupported = parts.keys.sorted().first(where: { !supported.contains($0) }) {
            throw .message("RRULE part \(unsupported) is not supported (the event's first occurrence is kept here, as a reject, so nothing is lost)")
        }
        guard let freq = parts["FREQ"], ["DAILY", "WEEKLY", "MONTHLY", "YEARLY"].contains(freq) else {
            throw .message("RRULE FREQ '\(parts["FREQ"] ?? "")' is not supported (DAILY, WEEKLY, MONTHLY, YEARLY)")
        }
        let interval = max(1, Int(parts["INTERVAL"] ?? "1") ?? 1)
        let count = parts["COUNT"].flatMap { Int($0) }
        var until: Int64?
        if let u = parts["UNTIL"] {
            until = try moment(Property(name: "UNTIL", parameters: [:], value: u), defaultZone: start.zone).micros
            if u.count == 8 { until! += 86_400_000_000 - 1 }
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = start.zone
        let first = Date(timeIntervalSince1970: TimeInterval(start.micros) / 1e6)
        let wall = calendar.dateComponents([.hour, .minute, .second], from: first)
        var byDay: [Int] = []
        for d in (parts["BYDAY"] ?? "").split(separator: ",") {
            let code = String(d.suffix(2))
            guard let w = weekdays[code], d.count == 2 else { throw .message("RRULE BYDAY '\(d)' is not supported (weekday codes without a number, such as MO,WE)") }
            byDay.append(w)
        }
        let byMonthDay = (parts["BYMONTHDAY"] ?? "").split(separator: ",").compactMap { Int($0) }
        let byMonth = (parts["BYMONTH"] ?? "").split(separator: ",").compactMap { Int($0) }
        let windowEnd = Int64(window.upperBound + 1) * 86_400_000_000
        let windowStart = Int64(window.lowerBound) * 86_400_000_000
        var out: [Int64] = []
        var produced = 0
        var period = 0
        // Candidates per period (a day, a week, a month, a year from the start), in order.
        while period < 100_000 {
            guard let anchor = calendar.date(byAdding: freq == "DAILY" ? .day : freq == "WEEKLY" ? .weekOfYear : freq == "MONTHLY" ? .month : .year,
                                             value: period * interval, to: first) else { break }
            var candidates: [Date] = []
            switch freq {
            case "WEEKLY" where !byDay.isEmpty:
                let weekday = calendar.component(.weekday, from: anchor)
                for w in byDay.sorted(by: { (($0 - weekday + 7) % 7) < (($1 - weekday + 7) % 7) }) {
                    if let d = calendar.date(byAdding: .day, value: (w - weekday + 7) % 7, to: anchor) { candidates.append(d) }
                }
            case "MONTHLY" where !byMonthDay.isEmpty, "YEARLY" where !byMonthDay.isEmpty:
                var c = calendar.dateComponents([.year, .month], from: anchor)
                for md in byMonthDay.sorted() {
                    c.day = md; c.hour = wall.hour; c.minute = wall.minute; c.second = wall.second
                    if let d = calendar.date(from: c), calendar.component(.day, from: d) == md { candidates.append(d) }
                }
            case "MONTHLY" where !byDay.isEmpty:
                // Every such weekday of the month.
                var c = calendar.dateComponents([.year, .month], from: anchor)
                c.hour = wall.hour; c.minute = wall.minute; c.second = wall.second
                for day in 1...31 {
                    c.day = day
                    guard let d = calendar.date(from: c), calendar.component(.day, from: d) == day else { continue }
                    if byDay.contains(calendar.component(.weekday, from: d)) { candidates.append(d) }
                }
            default:
                // A month without the start's day (the 31st, 29 February) has no occurrence.
                if freq == "MONTHLY" || freq == "YEARLY", calendar.component(.day, from: anchor) != calendar.component(.day, from: first) { break }
                candidates.append(anchor)
            }
            var ended = false
            for d in candidates {
                let micros = Int64((d.timeIntervalSince1970 * 1e6).rounded())
                if micros < start.micros { continue }
                if !byMonth.isEmpty, !byMonth.contains(calendar.component(.month, from: d)) { continue }
                if let until, micros > until { ended = true; break }
                if let count, produced >= count { ended = true; break }
                produced += 1
                if micros >= windowEnd { ended = true; break }
                if micros >= windowStart { out.append(micros) }
                if out.count >= 10_000 { ended = true; break }
            }
            if ended { break }
            if let until, Int64(anchor.timeIntervalSince1970 * 1e6) > until { break }
            if Int64(anchor.timeIntervalSince1970 * 1e6) >= windowEnd { break }
            period += 1
        }
        return out
    }
}
