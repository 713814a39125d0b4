import CRMFlowCore
import Foundation

/// Sales activity read from calendars (`.ics`) and mail archives (`mbox`, `.eml`), as one table shape so both can be
/// stacked with `union` and linked to contacts by e-mail:
///
/// | column | meaning |
/// |---|---|
/// | activity_id | the event's UID (plus the occurrence's start for a recurring event) or the message's Message-ID |
/// | kind | `meeting` or `email` |
/// | started_at, ended_at | UTC timestamps (a message's Date is both) |
/// | duration_minutes | the meeting's length (0 for mail) |
/// | organizer_email | the organiser, or the sender |
/// | participant_emails | attendees, or To and Cc, `;`-separated, lower case |
/// | contact_email | the first participant outside `own_domains` (the customer side), lower case |
/// | contact_domain | its domain: the key to link activity to accounts |
/// | external_count | participants outside `own_domains` |
/// | direction | mail: `outbound` (sent from an own domain), `inbound`, `internal`; meetings: empty |
/// | subject, location, status | SUMMARY / Subject, LOCATION, STATUS (a cancelled meeting stays a row, `status` CANCELLED) |
/// | thread_id, in_reply_to | mail threading: the first References id (else In-Reply-To, else its own id) |
/// | recurring | true for occurrences of a recurring event |
/// | body | only with `keep_bodies: true`: DESCRIPTION, or the message's first text part |
public struct Activity: Sendable {
    public var id = ""
    public var kind = ""
    public var startedAt: Int64 = 0
    public var endedAt: Int64 = 0
    public var organizer = ""
    public var participants: [String] = []
    public var direction = ""
    public var subject = ""
    public var location = ""
    public var status = ""
    public var threadID = ""
    public var inReplyTo = ""
    public var recurring = false
    public var body: String?
    /// The line where the event or message starts.
    public var line = 0
}

public enum Activities {
    public static let columns = ["activity_id", "kind", "started_at", "ended_at", "duration_minutes", "organizer_email", "participant_emails",
                                 "contact_email", "contact_domain", "external_count", "direction", "subject", "location", "status", "thread_id",
                                 "in_reply_to", "recurring"]

    static func domain(_ email: String) -> String { email.split(separator: "@").last.map(String.init) ?? "" }

    static func isOwn(_ email: String, _ ownDomains: Set<String>) -> Bool {
        let d = domain(email)
        return ownDomains.contains(d) || ownDomains.contains { d.hasSuffix("." + $0) }
    }

    /// The activities as a table, plus the rejects (with `source`) of what could not be read.
    public static func loaded(_ activities: [Activity], rejects: [Reject], ownDomains: [String], keepBodies: Bool, notes: [String]) -> LoadedTable {
        let own = Set(ownDomains.map { $0.lowercased() })
        var ids = StringBuffer(), kinds = StringBuffer(), organizers = StringBuffer(), participants = StringBuffer(), contacts = StringBuffer(),
            domains = StringBuffer(), directions = StringBuffer(), subjects = StringBuffer(), locations = StringBuffer(), statuses = StringBuffer(),
            threads = StringBuffer(), replies = StringBuffer(), bodies = StringBuffer()
        var starts: [Int64] = [], ends: [Int64] = [], minutes: [Int64] = [], external: [Int64] = []
        var recurring: [Bool] = []
        var contactValid = Bitmap(), bodyValid = Bitmap()
        for a in activities {
            ids.append(a.id)
            kinds.append(a.kind)
            starts.append(a.startedAt)
            ends.append(a.endedAt)
            minutes.append(max(0, (a.endedAt - a.startedAt) / 60_000_000))
            organizers.append(a.organizer)
            participants.append(a.participants.joined(separator: ";"))
            let everyone = ([a.organizer] + a.participants).filter { !$0.isEmpty }
            let outside = own.isEmpty ? everyone : everyone.filter { !isOwn($0, own) }
            var seen: Set<String> = []
            let distinct = outside.filter { seen.insert($0).inserted }
            // NB: the contact is the first external participant; for mail sent from outside, the sender.
            let contact = distinct.first
            contacts.append(contact ?? "")
            contactValid.append(contact != nil)
            domains.append(contact.map(domain) ?? "")
            external.append(Int64(distinct.count))
            var direction = a.direction
            if a.kind == "email", !own.isEmpty {
                let fromOwn = isOwn(a.organizer, own)
                direction = fromOwn ? (a.participants.allSatisfy { isOwn($0, own) } ? "internal" : "outbound") : "inbound"
            }
            directions.append(direction)
            subjects.append(a.subject)
            locations.append(a.location)
            statuses.append(a.status)
            threads.append(a.threadID)
            replies.append(a.inReplyTo)
            recurring.append(a.recurring)
            bodies.append(a.body ?? "")
            bodyValid.append(a.body != nil)
        }
        let n = activities.count
        func text(_ b: StringBuffer, _ valid: Bitmap? = nil) -> Column {
            // Empty text is null here: an activity without a location has none.
            var v = Bitmap()
            for r in 0..<n { v.append(valid.map { $0.isSet(r) } ?? !b.range(r).isEmpty) }
            return Column(storage: .string(b), validity: v)
        }
        var names = columns
        var cols: [Column] = [
            text(ids), text(kinds), Column(storage: .timestamp(starts), validity: nil), Column(storage: .timestamp(ends), validity: nil), Column(storage: .integer(minutes), validity: nil),
            text(organizers), text(participants), text(contacts, contactValid), text(domains, contactValid), Column(storage: .integer(external), validity: nil),
            text(directions), text(subjects), text(locations), text(statuses), text(threads), text(replies), Column(storage: .boolean(recurring), validity: nil),
        ]
        if keepBodies {
            names.append("body")
            cols.append(text(bodies, bodyValid))
        }
        let table = Table(schema: Schema(zip(names, cols).map { Field(name: $0, type: $1.type) }), columns: cols, rowCount: n)
        return LoadedTable(table: table, rejects: rejects, recordsRead: n + rejects.count, adjustedRows: 0, columnNotes: [:], dialect: nil,
                           headerNotes: notes, rowLines: activities.map { Int32(truncatingIfNeeded: $0.line) })
    }

    /// An e-mail address as a link key: the address inside `Name <...>` or `mailto:`, lower case, trimmed.
    static func normalizedEmail(_ text: String) -> String {
        var s = Substring(text.trimmingCharacters(in: .whitespacesAndNewlines))
        if let lt = s.lastIndex(of: "<"), let gt = s.lastIndex(of: ">"), lt < gt { s = s[s.index(after: lt)..<gt] }
        if s.lowercased().hasPrefix("mailto:") { s = s.dropFirst(7) }
        return s.trimmingCharacters(in: .whitespaces).lowercased()
    }
}
