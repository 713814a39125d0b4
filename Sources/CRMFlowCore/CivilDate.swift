/// Calendar arithmetic on days since 1970-01-01 (proleptic Gregorian), without Foundation.
public enum CivilDate {
    /// Days since the epoch of a year, month (1-12) and day (1-31).
    @inline(__always)
    public static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    /// Year, month and day of a day count.
    @inline(__always)
    public static func components(days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    public static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    public static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    public static func isValid(year: Int, month: Int, day: Int) -> Bool {
        (1...12).contains(month) && day >= 1 && day <= daysInMonth(year: year, month: month) && (1...9999).contains(year)
    }

    /// `YYYY-MM-DD` bytes of a day count, appended to `out`.
    @inline(__always)
    public static func appendISO(days: Int, to out: inout [UInt8]) {
        let (y, m, d) = components(days: days)
        appendPadded(y, width: 4, to: &out)
        out.append(UInt8(ascii: "-"))
        appendPadded(m, width: 2, to: &out)
        out.append(UInt8(ascii: "-"))
        appendPadded(d, width: 2, to: &out)
    }

    /// `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` of microseconds since the epoch.
    public static func appendISO(micros: Int64, to out: inout [UInt8]) {
        var days = Int(micros / 86_400_000_000)
        var rem = micros % 86_400_000_000
        if rem < 0 {
            rem += 86_400_000_000
            days -= 1
        }
        appendISO(days: days, to: &out)
        out.append(UInt8(ascii: "T"))
        let secs = Int(rem / 1_000_000)
        let frac = Int(rem % 1_000_000)
        appendPadded(secs / 3600, width: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        appendPadded((secs / 60) % 60, width: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        appendPadded(secs % 60, width: 2, to: &out)
        if frac != 0 {
            out.append(UInt8(ascii: "."))
            if frac % 1000 == 0 { appendPadded(frac / 1000, width: 3, to: &out) } else { appendPadded(frac, width: 6, to: &out) }
        }
        out.append(UInt8(ascii: "Z"))
    }

    @inline(__always)
    static func appendPadded(_ value: Int, width: Int, to out: inout [UInt8]) {
        var v = value
        if v < 0 {
            out.append(UInt8(ascii: "-"))
            v = -v
        }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        withUnsafeMutableBytes(of: &digits) { buf in
            repeat {
                buf[n] = UInt8(48 + v % 10)
                v /= 10
                n += 1
            } while v > 0 && n < 8
            var pad = width - n
            while pad > 0 {
                out.append(48)
                pad -= 1
            }
            while n > 0 {
                n -= 1
                out.append(buf[n])
            }
        }
    }
}
