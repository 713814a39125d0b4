/// Day/month order for numeric dates such as `03/04/2024`.
public enum DayOrder: String, Sendable, Hashable {
    case dayFirst = "dmy"
    case monthFirst = "mdy"
}

/// What a cell looks like as a date or timestamp, before the day/month order is known.
public struct DateScan: Sendable, Equatable {
    public enum Shape: Sendable, Equatable {
        /// Year first: `2024-03-05`, `2024/03/05`.
        case iso
        /// A month name: `5 Mar 2024`, `Mar 5, 2024`, `05-Mar-2024`.
        case textual
        /// `a/b/yyyy` where a, b are day and month in an order to be decided.
        case numeric
    }
    public var shape: Shape
    public var year: Int
    /// For `.numeric`, the first number; otherwise the month.
    public var first: Int
    /// For `.numeric`, the second number; otherwise the day.
    public var second: Int
    public var hasTime: Bool = false
    public var microsOfDay: Int64 = 0
    /// Seconds east of UTC given in the text, if any.
    public var utcOffsetSeconds: Int = 0
    /// The text named its zone (`Z` or an offset); otherwise the time is local time of an unknown zone.
    public var hasZone: Bool = false

    /// Days since the epoch, using `order` for numeric dates; nil if the date is invalid.
    public func days(order: DayOrder?) -> Int? {
        var month = first, day = second
        if shape == .numeric {
            guard let order else { return nil }
            if order == .dayFirst { (day, month) = (first, second) }
        }
        guard CivilDate.isValid(year: year, month: month, day: day) else { return nil }
        return CivilDate.days(year: year, month: month, day: day)
    }

    /// Microseconds since the epoch in UTC.
    public func micros(order: DayOrder?) -> Int64? {
        guard let d = days(order: order) else { return nil }
        return Int64(d) * 86_400_000_000 + microsOfDay - Int64(utcOffsetSeconds) * 1_000_000
    }
}

/// Recognises the date and timestamp shapes CRM exports use, on raw UTF-8 bytes.
public enum DateParsing {
    static let monthNames: [[UInt8]] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"].map { Array($0.utf8) }

    @inline(__always) static func isDigit(_ c: UInt8) -> Bool { c &- 48 < 10 }

    static let isoFormat = Array("%Y-%m-%d".utf8)

    /// Days since the epoch of exactly `yyyy-mm-dd` (a valid date); nil for any other text.
    @inline(__always)
    public static func isoDay(_ p: UnsafeBufferPointer<UInt8>) -> Int? {
        guard p.count == 10, p[4] == 45, p[7] == 45 else { return nil }
        var year = 0, month = 0, day = 0
        for i in 0..<4 { let d = p[i] &- 48; guard d < 10 else { return nil }; year = year * 10 + Int(d) }
        for i in 5..<7 { let d = p[i] &- 48; guard d < 10 else { return nil }; month = month * 10 + Int(d) }
        for i in 8..<10 { let d = p[i] &- 48; guard d < 10 else { return nil }; day = day * 10 + Int(d) }
        guard year >= 1, CivilDate.isValid(year: year, month: month, day: day) else { return nil }
        return CivilDate.days(year: year, month: month, day: day)
    }

    /// Reads up to `max` digits at `i`.
    @inline(__always)
    static func digits(_ p: UnsafeBufferPointer<UInt8>, _ i: inout Int, max: Int) -> (value: Int, count: Int) {
        var v = 0, c = 0
        while i < p.count, c < max, isDigit(p[i]) {
            v = v * 10 + Int(p[i] &- 48)
            i += 1
            c += 1
        }
        return (v, c)
    }

    static func monthName(_ p: UnsafeBufferPointer<UInt8>, _ i: inout Int) -> Int? {
        let start = i
        while i < p.count, (p[i] | 0x20) >= UInt8(ascii: "a"), (p[i] | 0x20) <= UInt8(ascii: "z") { i += 1 }
        let len = i - start
        guard len >= 3 else { return nil }
        for (m, name) in monthNames.enumerated() where (p[start] | 0x20) == name[0] && (p[start + 1] | 0x20) == name[1] && (p[start + 2] | 0x20) == name[2] {
            if len == 3 || len == 4 && (p[start + 3] | 0x20) == UInt8(ascii: "t") { return m + 1 }
            let full = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"][m]
            if len == full.utf8.count, zip(full.utf8, p[start..<i]).allSatisfy({ $0 == ($1 | 0x20) }) { return m + 1 }
            return nil
        }
        return nil
    }

    /// Scans a whole cell as a date or timestamp; nil when it is neither.
    public static func scan(_ p: UnsafeBufferPointer<UInt8>) -> DateScan? {
        let n = p.count
        guard n >= 6, n <= 40 else { return nil }
        var i = 0
        var result: DateScan
        if isDigit(p[0]) {
            let a = digits(p, &i, max: 4)
            guard i < n else { return nil }
            let sep = p[i]
            guard sep == UInt8(ascii: "-") || sep == UInt8(ascii: "/") || sep == UInt8(ascii: ".") || sep == UInt8(ascii: " ") else { return nil }
            i += 1
            if a.count == 4 {
                let m = digits(p, &i, max: 2)
                guard m.count >= 1, i < n, p[i] == sep else { return nil }
                i += 1
                let d = digits(p, &i, max: 2)
                guard d.count >= 1 else { return nil }
                result = DateScan(shape: .iso, year: a.value, first: m.value, second: d.value)
            } else if a.count <= 2 {
                if i < n, isDigit(p[i]) {
                    let b = digits(p, &i, max: 2)
                    guard b.count >= 1, i < n, p[i] == sep, sep != UInt8(ascii: " ") else { return nil }
                    i += 1
                    let y = digits(p, &i, max: 4)
                    guard y.count == 4 else { return nil }
                    result = DateScan(shape: .numeric, year: y.value, first: a.value, second: b.value)
                } else {
                    guard let m = monthName(p, &i), i < n, p[i] == sep || (sep == UInt8(ascii: " ") && p[i] == UInt8(ascii: " ")) else { return nil }
                    i += 1
                    let y = digits(p, &i, max: 4)
                    guard y.count == 4 else { return nil }
                    result = DateScan(shape: .textual, year: y.value, first: m, second: a.value)
                }
            } else {
                return nil
            }
        } else {
            guard let m = monthName(p, &i), i < n, p[i] == UInt8(ascii: " ") else { return nil }
            i += 1
            let d = digits(p, &i, max: 2)
            guard d.count >= 1, i < n else { return nil }
            if p[i] == UInt8(ascii: ",") { i += 1 }
            guard i < n, p[i] == UInt8(ascii: " ") else { return nil }
            i += 1
            let y = digits(p, &i, max: 4)
            guard y.count == 4 else { return nil }
            result = DateScan(shape: .textual, year: y.value, first: m, second: d.value)
        }
        if i == n { return plausible(result) ? result : nil }
        // Time part: [T| ]HH:MM[:SS[.f+]][Z|±HH[:MM]]
        guard p[i] == UInt8(ascii: "T") || p[i] == UInt8(ascii: " ") else { return nil }
        i += 1
        let h = digits(p, &i, max: 2)
        guard h.count >= 1, h.value < 24, i < n, p[i] == UInt8(ascii: ":") else { return nil }
        i += 1
        let mi = digits(p, &i, max: 2)
        guard mi.count == 2, mi.value < 60 else { return nil }
        var seconds = 0
        var micros: Int64 = 0
        if i < n, p[i] == UInt8(ascii: ":") {
            i += 1
            let s = digits(p, &i, max: 2)
            guard s.count == 2, s.value < 61 else { return nil }
            seconds = min(s.value, 59)
            if i < n, p[i] == UInt8(ascii: ".") || p[i] == UInt8(ascii: ",") {
                i += 1
                var scale: Int64 = 100_000
                var any = false
                while i < n, isDigit(p[i]) {
                    micros += Int64(p[i] &- 48) * scale
                    scale /= 10
                    i += 1
                    any = true
                }
                guard any else { return nil }
            }
        }
        var offset = 0
        let zoned = i < n
        if i < n {
            if p[i] == UInt8(ascii: "Z") {
                i += 1
            } else if p[i] == UInt8(ascii: "+") || p[i] == UInt8(ascii: "-") {
                let sign = p[i] == UInt8(ascii: "-") ? -1 : 1
                i += 1
                let oh = digits(p, &i, max: 2)
                guard oh.count == 2 else { return nil }
                if i < n, p[i] == UInt8(ascii: ":") { i += 1 }
                let om = digits(p, &i, max: 2)
                offset = sign * (oh.value * 3600 + om.value * 60)
            }
        }
        guard i == n else { return nil }
        result.hasTime = true
        result.microsOfDay = Int64(h.value * 3600 + mi.value * 60 + seconds) * 1_000_000 + micros
        result.utcOffsetSeconds = offset
        result.hasZone = zoned
        return plausible(result) ? result : nil
    }

    static func plausible(_ s: DateScan) -> Bool {
        guard s.year >= 1 else { return false }
        switch s.shape {
        case .iso, .textual: return CivilDate.isValid(year: s.year, month: s.first, day: s.second)
        case .numeric:
            return (1...31).contains(s.first) && (1...31).contains(s.second) && (s.first <= 12 || s.second <= 12)
        }
    }

    /// Parses with an explicit strftime-like format: `%Y %m %d %H %M %S %b`; other characters must match.
    public static func parse(_ p: UnsafeBufferPointer<UInt8>, format: [UInt8]) -> DateScan? {
        var i = 0, f = 0
        var y = 1970, m = 1, d = 1, h = 0, mi = 0, s = 0
        var hasTime = false
        while f < format.count {
            if format[f] == UInt8(ascii: "%"), f + 1 < format.count {
                let spec = format[f + 1]
                f += 2
                switch spec {
                case UInt8(ascii: "Y"):
                    let v = digits(p, &i, max: 4); guard v.count == 4 else { return nil }; y = v.value
                case UInt8(ascii: "y"):
                    let v = digits(p, &i, max: 2); guard v.count == 2 else { return nil }; y = v.value < 70 ? 2000 + v.value : 1900 + v.value
                case UInt8(ascii: "m"):
                    let v = digits(p, &i, max: 2); guard v.count >= 1 else { return nil }; m = v.value
                case UInt8(ascii: "d"):
                    let v = digits(p, &i, max: 2); guard v.count >= 1 else { return nil }; d = v.value
                case UInt8(ascii: "H"):
                    let v = digits(p, &i, max: 2); guard v.count >= 1 else { return nil }; h = v.value; hasTime = true
                case UInt8(ascii: "M"):
                    let v = digits(p, &i, max: 2); guard v.count == 2 else { return nil }; mi = v.value; hasTime = true
                case UInt8(ascii: "S"):
                    let v = digits(p, &i, max: 2); guard v.count == 2 else { return nil }; s = v.value; hasTime = true
                case UInt8(ascii: "b"), UInt8(ascii: "B"):
                    guard let v = monthName(p, &i) else { return nil }; m = v
                default: return nil
                }
            } else {
                guard i < p.count, p[i] == format[f] else { return nil }
                i += 1
                f += 1
            }
        }
        guard i == p.count, CivilDate.isValid(year: y, month: m, day: d), h < 24, mi < 60, s < 60 else { return nil }
        var r = DateScan(shape: .iso, year: y, first: m, second: d)
        r.hasTime = hasTime
        r.microsOfDay = Int64(h * 3600 + mi * 60 + s) * 1_000_000
        return r
    }
}
