import CRMFlowCore
import Foundation

/// Mail archives as activities: an `mbox` file (messages separated by `From ` lines) or one `.eml` message. Only the
/// RFC 5322 headers are read — From, To, Cc, Date, Subject, Message-ID, In-Reply-To, References — with RFC 2047
/// encoded words decoded; bodies are not kept unless `keep_bodies: true` (then the first text/plain part, as sent).
/// A message without a readable Date or From is a reject with the line its headers start on and the headers as
/// its record.
public enum MailArchive {
    /// Headers unfolded (a line starting with space or tab continues the header before), names lower-cased.
    static func headers(_ lines: ArraySlice<Substring>) -> [(name: String, value: String)] {
        var out: [(String, String)] = []
        for l in lines {
            if let f = l.first, f == " " || f == "\t", !out.isEmpty {
                out[out.count - 1].1 += " " + l.trimmingCharacters(in: .whitespaces)
            } else if let colon = l.firstIndex(of: ":") {
                out.append((l[..<colon].trimmingCharacters(in: .whitespaces).lowercased(), l[l.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
            }
        }
        return out
    }

    /// RFC 2047 encoded words (`=?UTF-8?B?...?=`, `=?iso-8859-1?Q?...?=`) decoded; whitespace between adjacent
    /// encoded words dropped.
    static func decodedWords(_ s: String) -> String {
        guard s.contains("=?") else { return s }
        var out = ""
        var rest = Substring(s)
        var lastWasEncoded = false
        while let start = rest.range(of: "=?") {
            let before = rest[..<start.lowerBound]
            let afterStart = rest[start.upperBound...]
            let pieces = afterStart.split(separator: "?", maxSplits: 3, omittingEmptySubsequences: false)
            guard pieces.count == 4, pieces[3].hasPrefix("=") || pieces[3].contains("?="),
                  let end = afterStart.range(of: "?=", range: afterStart.index(afterStart.startIndex, offsetBy: pieces[0].count + pieces[1].count + 2)..<afterStart.endIndex)
            else {
                out += rest[..<start.upperBound]
                rest = afterStart
                lastWasEncoded = false
                continue
            }
            let charset = pieces[0].lowercased().split(separator: "*").first.map(String.init) ?? "utf-8"
            let encoding = pieces[1].uppercased()
            let payloadStart = afterStart.index(afterStart.startIndex, offsetBy: pieces[0].count + pieces[1].count + 2)
            let payload = String(afterStart[payloadStart..<end.lowerBound])
            var bytes: [UInt8]?
            if encoding == "B" {
                var b64 = payload
                while b64.count % 4 != 0 { b64 += "=" }
                bytes = Data(base64Encoded: b64).map { [UInt8]($0) }
            } else if encoding == "Q" {
                bytes = quotedPrintable(payload.replacingOccurrences(of: "_", with: " "))
            }
            if !(lastWasEncoded && before.allSatisfy(\.isWhitespace)) { out += before }
            if let bytes {
                out += decode(bytes, charset: charset)
            } else {
                out += "=?" + afterStart[..<end.upperBound]
            }
            rest = afterStart[end.upperBound...]
            lastWasEncoded = bytes != nil
        }
        return out + rest
    }

    static func quotedPrintable(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        let u = Array(s.utf8)
        var i = 0
        while i < u.count {
            if u[i] == UInt8(ascii: "="), i + 2 < u.count, let h = UInt8(String(decoding: u[(i + 1)...(i + 2)], as: UTF8.self), radix: 16) {
                out.append(h)
                i += 3
            } else if u[i] == UInt8(ascii: "="), i + 1 < u.count, u[i + 1] == 10 || u[i + 1] == 13 {
                i += u[i + 1] == 13 && i + 2 < u.count && u[i + 2] == 10 ? 3 : 2
            } else {
                out.append(u[i])
                i += 1
            }
        }
        return out
    }

    static func decode(_ bytes: [UInt8], charset: String) -> String {
        switch charset {
        case "utf-8", "utf8", "us-ascii": return String(decoding: bytes, as: UTF8.self)
        // NB: mail labelled ISO-8859-1 is read as Windows-1252, as mail clients do (0x80–0x9F are its dashes and quotes).
        case "iso-8859-1", "latin1", "windows-1252", "cp1252": return String(data: Data(bytes), encoding: .windowsCP1252) ?? String(decoding: bytes, as: UTF8.self)
        default: return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// The addresses of an address-list header, lower case: `"Doe, Jane" <jane@x.com>, bob@y.org, team: a@z.com;`.
    static func addresses(_ value: String) -> [String] {
        var out: [String] = []
        var current = ""
        var inQuote = false, inAngle = false, comment = 0
        func flush() {
            let a = Activities.normalizedEmail(current)
            if a.contains("@") { out.append(a) }
            current = ""
        }
        for c in value {
            if inQuote {
                if c == "\"" { inQuote = false }
                current.append(c)
                continue
            }
            switch c {
            case "\"": inQuote = true; current.append(c)
            case "(": comment += 1
            case ")": comment = max(0, comment - 1)
            case "<": inAngle = true; current.append(c)
            case ">": inAngle = false; current.append(c)
            case ":" where !inAngle && comment == 0: current = ""  // a group's name
            case ",", ";":
                if !inAngle, comment == 0 { flush() } else { current.append(c) }
            default: if comment == 0 { current.append(c) }
            }
        }
        flush()
        return out
    }

    /// The display name of `"Jane Doe" <jane@x.com>` (decoded), if any.
    static func displayName(_ value: String) -> String {
        guard let lt = value.firstIndex(of: "<") else { return "" }
        return decodedWords(String(value[..<lt])).trimmingCharacters(in: CharacterSet(charactersIn: " \"\t"))
    }

    static let zones: [String: Int] = ["UT": 0, "GMT": 0, "Z": 0, "UTC": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7]
    static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    /// An RFC 5322 date (`Tue, 5 Mar 2024 10:30:00 +0100`, obsolete zone names and two-digit years too) in µs UTC.
    static func date(_ value: String) -> Int64? {
        var s = value
        if let comma = s.firstIndex(of: ",") { s = String(s[s.index(after: comma)...]) }
        if let paren = s.firstIndex(of: "(") { s = String(s[..<paren]) }
        let parts = s.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard parts.count >= 4, let day = Int(parts[0]), let month = months.firstIndex(of: String(parts[1].prefix(3)).lowercased()),
              var year = Int(parts[2]) else { return nil }
        if parts[2].count == 2 { year += year < 50 ? 2000 : 1900 } else if parts[2].count == 3 { year += 1900 }
        let hms = parts[3].split(separator: ":").compactMap { Int($0) }
        guard hms.count >= 2, hms[0] < 24, hms[1] < 60, hms.count < 3 || hms[2] < 61, CivilDate.isValid(year: year, month: month + 1, day: day) else { return nil }
        var offset = 0
        if parts.count >= 5 {
            let z = parts[4]
            if let sign = z.first, sign == "+" || sign == "-", z.count == 5, let n = Int(z.dropFirst()) {
                offset = (n / 100 * 3600 + n % 100 * 60) * (sign == "-" ? -1 : 1)
            } else if let h = zones[z.uppercased()] {
                offset = h * 3600
            }
        }
        let seconds = Int64(CivilDate.days(year: year, month: month + 1, day: day)) * 86_400 + Int64(hms[0] * 3600 + hms[1] * 60 + (hms.count > 2 ? min(hms[2], 59) : 0)) - Int64(offset)
        return seconds * 1_000_000
    }

    static func messageID(_ v: String) -> String {
        let t = v.trimmingCharacters(in: .whitespaces)
        if let lt = t.firstIndex(of: "<"), let gt = t[lt...].firstIndex(of: ">") { return String(t[t.index(after: lt)..<gt]) }
        return t
    }

    /// Reads an mbox file or one .eml message (told apart by the first line: `From ` starts an mbox).
    public static func read(path: String, keepBodies: Bool, ownDomains: [String], source: String) throws(CRMFlowError) -> LoadedTable {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CRMFlowError(.inputMissing, "the mail archive '\(path)' does not exist or cannot be read", hint: "check the path (relative to where crmflow runs)")
        }
        // NB: headers are ASCII by RFC 5322; 8-bit bytes in the wild are read as UTF-8, else Latin-1.
        let text = String(data: data, encoding: .utf8) ?? String(decoding: data.map { $0 }, as: UTF8.self)
        // NB: "\r\n" is one Character in Swift, so lines split on either form.
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).map { $0.hasSuffix("\r") ? $0.dropLast() : $0 }
        var messages: [Range<Int>] = []
        if lines.first?.hasPrefix("From ") == true {
            var start = 0
            for (k, l) in lines.enumerated() where k > 0 && l.hasPrefix("From ") && (lines[k - 1].isEmpty) {
                messages.append((start + 1)..<(k - 1))
                start = k
            }
            messages.append((start + 1)..<lines.count)
        } else {
            guard lines.contains(where: { $0.lowercased().hasPrefix("from:") }) else {
                throw CRMFlowError(.badData, "'\(path)' is neither an mbox file (it does not start with a 'From ' line) nor an e-mail message (no From: header)",
                                   at: path, hint: "export the mailbox as mbox, or give one .eml file")
            }
            messages.append(0..<lines.count)
        }
        var activities: [Activity] = []
        var rejects: [Reject] = []
        for range in messages {
            let headerEnd = lines[range].firstIndex(where: { $0.isEmpty }) ?? range.upperBound
            let hs = headers(lines[range.lowerBound..<headerEnd])
            func header(_ name: String) -> String? { hs.first { $0.name == name }?.value }
            let record = lines[range.lowerBound..<headerEnd].joined(separator: "\n")
            let line = range.lowerBound + 1
            guard let from = header("from"), let sender = addresses(from).first else {
                rejects.append(Reject(source: source, line: line, code: "E_PARSE", reason: "the message has no From: address", record: record))
                continue
            }
            guard let dateText = header("date"), let sent = date(dateText) else {
                rejects.append(Reject(source: source, line: line, code: "E_PARSE",
                                      reason: header("date").map { "Date: '\($0)' is not an RFC 5322 date" } ?? "the message has no Date: header", record: record))
                continue
            }
            var a = Activity()
            a.kind = "email"
            a.organizer = sender
            a.participants = (hs.filter { $0.name == "to" || $0.name == "cc" }).flatMap { addresses($0.value) }.filter { $0 != sender }
            a.startedAt = sent
            a.endedAt = sent
            a.subject = decodedWords(header("subject") ?? "")
            let id = header("message-id").map(messageID) ?? ""
            a.id = id.isEmpty ? "\(path.split(separator: "/").last ?? ""):\(line)" : id
            a.inReplyTo = header("in-reply-to").map(messageID) ?? ""
            let references = (header("references") ?? "").split(separator: " ").map { messageID(String($0)) }.filter { !$0.isEmpty }
            a.threadID = references.first ?? (a.inReplyTo.isEmpty ? a.id : a.inReplyTo)
            a.line = line
            if keepBodies {
                a.body = lines[min(headerEnd + 1, range.upperBound)..<range.upperBound].map { $0.hasPrefix(">From ") ? String($0.dropFirst()) : String($0) }.joined(separator: "\n")
            }
            activities.append(a)
        }
        activities.sort { ($0.startedAt, $0.id) < ($1.startedAt, $1.id) }
        return Activities.loaded(activities, rejects: rejects, ownDomains: ownDomains, keepBodies: keepBodies, notes: [])
    }
}
