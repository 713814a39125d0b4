/// Dates and timestamps in the forms exports write, detected per column.
public enum DateCleaning {
    public enum Format: Sendable, Equatable {
        /// ISO 8601, named months, and numeric dates in `order` (nil: the column has no numeric dates).
        case text(order: DayOrder?)
        /// Days since 1899-12-30 (Excel and LibreOffice serial numbers), fraction = time of day.
        case excelSerial
        case unixSeconds
        case unixMilliseconds
        /// An explicit strftime-like pattern.
        case pattern([UInt8])
    }

    /// What a column holds, and why that was concluded.
    public struct Detection: Sendable, Equatable {
        public var format: Format
        /// Human-readable evidence ("12 values have a day above 12, e.g. 25/03/2023").
        public var evidence: String?
        /// Numeric dates whose order nothing in the column decides.
        public var ambiguous: Bool

        public init(format: Format, evidence: String?, ambiguous: Bool) {
            self.format = format
            self.evidence = evidence
            self.ambiguous = ambiguous
        }
    }

    static func trimmed(_ p: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> { Scalars.trimmedWhitespace(p) }

    /// Looks at every non-null value of a text column. `order` given by the user wins over the evidence.
    public static func detect(_ buffer: StringBuffer, validity: Bitmap?, order declared: DayOrder?) -> Detection {
        var values = 0, numbers = 0, minNumber = Double.infinity, maxNumber = -Double.infinity, maxDigits = 0
        var dayFirst = 0, monthFirst = 0, dotted = 0, numericDates = 0
        var dayFirstExample = "", monthFirstExample = "", ambiguousExample = ""
        buffer.bytes.withUnsafeBufferPointer { all in
            for row in 0..<buffer.count {
                if let validity, !validity.isSet(row) { continue }
                let cell = trimmed(UnsafeBufferPointer(rebasing: all[buffer.range(row)]))
                if cell.isEmpty { continue }
                values += 1
                if let v = Scalars.double(cell), cell.allSatisfy({ $0 &- 48 < 10 || $0 == UInt8(ascii: ".") }) {
                    numbers += 1
                    minNumber = min(minNumber, v)
                    maxNumber = max(maxNumber, v)
                    maxDigits = max(maxDigits, cell.firstIndex(of: UInt8(ascii: ".")) ?? cell.count)
                    continue
                }
                guard let scan = DateParsing.scan(cell), scan.shape == .numeric else { continue }
                numericDates += 1
                if cell.contains(UInt8(ascii: ".")) { dotted += 1 }
                if scan.first > 12 {
                    dayFirst += 1
                    if dayFirstExample.isEmpty { dayFirstExample = String(decoding: cell, as: UTF8.self) }
                } else if scan.second > 12 {
                    monthFirst += 1
                    if monthFirstExample.isEmpty { monthFirstExample = String(decoding: cell, as: UTF8.self) }
                } else if ambiguousExample.isEmpty, scan.first != scan.second {
                    ambiguousExample = String(decoding: cell, as: UTF8.self)
                }
            }
        }
        if values > 0, numbers == values {
            if maxDigits <= 5, minNumber >= 1, maxNumber < 2_958_466 {
                return Detection(format: .excelSerial, evidence: "all \(values) values are numbers from \(Int(minNumber)) to \(Int(maxNumber)): Excel serial dates", ambiguous: false)
            }
            if maxDigits >= 12, maxDigits <= 13 {
                return Detection(format: .unixMilliseconds, evidence: "all \(values) values are 12-13 digit numbers: Unix time in milliseconds", ambiguous: false)
            }
            if maxDigits >= 9, maxDigits <= 10 {
                return Detection(format: .unixSeconds, evidence: "all \(values) values are 9-10 digit numbers: Unix time in seconds", ambiguous: false)
            }
        }
        if let declared {
            var evidence: String? = nil
            if declared == .monthFirst, dayFirst > 0 { evidence = "order: mdy was set, but \(dayFirst) values have a first number above 12 (e.g. \(dayFirstExample)) and cannot be month-first" }
            if declared == .dayFirst, monthFirst > 0 { evidence = "order: dmy was set, but \(monthFirst) values have a second number above 12 (e.g. \(monthFirstExample)) and cannot be day-first" }
            return Detection(format: .text(order: declared), evidence: evidence, ambiguous: false)
        }
        guard numericDates > 0 else { return Detection(format: .text(order: nil), evidence: nil, ambiguous: false) }
        if dayFirst > 0, monthFirst == 0 {
            return Detection(format: .text(order: .dayFirst), evidence: "day-first: \(dayFirst) of \(numericDates) numeric dates have a first number above 12 (e.g. \(dayFirstExample))", ambiguous: false)
        }
        if monthFirst > 0, dayFirst == 0 {
            return Detection(format: .text(order: .monthFirst), evidence: "month-first: \(monthFirst) of \(numericDates) numeric dates have a second number above 12 (e.g. \(monthFirstExample))", ambiguous: false)
        }
        if dayFirst > 0, monthFirst > 0 {
            let order: DayOrder = dayFirst >= monthFirst ? .dayFirst : .monthFirst
            return Detection(format: .text(order: order),
                             evidence: "mixed orders: \(dayFirst) values can only be day-first (e.g. \(dayFirstExample)) and \(monthFirst) only month-first (e.g. \(monthFirstExample)); read as \(order == .dayFirst ? "day" : "month")-first, the others are invalid",
                             ambiguous: true)
        }
        if dotted == numericDates {
            return Detection(format: .text(order: .dayFirst), evidence: "day-first: dates written dd.mm.yyyy", ambiguous: false)
        }
        return Detection(format: .text(order: .monthFirst),
                         evidence: "ambiguous: \(numericDates) numeric dates (e.g. \(ambiguousExample.isEmpty ? "01/01/2024" : ambiguousExample)) fit both day-first and month-first; read as month-first — set `order: dmy` for European dates",
                         ambiguous: true)
    }

    /// Microseconds since the epoch in UTC for one value, or nil. `naiveOffset` converts a time written without a
    /// zone from local time (seconds east of UTC for that local time).
    public static func micros(_ raw: UnsafeBufferPointer<UInt8>, format: Format, naiveOffset: ((Int64) -> Int)? = nil) -> Int64? {
        let cell = trimmed(raw)
        guard !cell.isEmpty else { return nil }
        switch format {
        case .excelSerial:
            guard let v = Scalars.double(cell), v >= 1, v < 2_958_466 else { return nil }
            let micros = Int64(((v - 25_569) * 86_400 * 1_000_000).rounded())
            return naiveOffset.map { micros - Int64($0(micros)) * 1_000_000 } ?? micros
        case .unixSeconds:
            guard let v = Scalars.double(cell) else { return nil }
            return Int64((v * 1_000_000).rounded())
        case .unixMilliseconds:
            guard let v = Scalars.integer(cell) else { return nil }
            return v * 1000
        case .pattern(let p):
            guard let scan = DateParsing.parse(cell, format: p), let m = scan.micros(order: nil) else { return nil }
            if !scan.hasZone, let naiveOffset { return m - Int64(naiveOffset(m)) * 1_000_000 }
            return m
        case .text(let order):
            guard let scan = DateParsing.scan(cell), let m = scan.micros(order: order ?? .monthFirst) else { return nil }
            if !scan.hasZone, let naiveOffset { return m - Int64(naiveOffset(m)) * 1_000_000 }
            return m
        }
    }

    /// Days since the epoch (the calendar date as written, no zone conversion).
    public static func days(_ raw: UnsafeBufferPointer<UInt8>, format: Format) -> Int32? {
        let cell = trimmed(raw)
        guard !cell.isEmpty else { return nil }
        switch format {
        case .text(let order):
            guard let scan = DateParsing.scan(cell), let d = scan.days(order: order ?? .monthFirst) else { return nil }
            return Int32(d)
        case .pattern(let p):
            guard let scan = DateParsing.parse(cell, format: p), let d = scan.days(order: nil) else { return nil }
            return Int32(d)
        default:
            guard let m = micros(raw, format: format) else { return nil }
            return Int32((m >= 0 ? m : m - 86_399_999_999) / 86_400_000_000)
        }
    }
}

/// Money as exports write it: symbols, codes, both decimal conventions, accounting negatives and `k`/`M` suffixes.
public enum MoneyCleaning {
    /// Parses `$1,234.50`, `1.234,50 €`, `(100.00)`, `USD 12k`, `1.2M EUR`; nil when it is not an amount.
    /// Magnitude suffixes right after the number: 12k, 1.5M, 3bn, 2 mn (before any currency code that follows).
    static let suffixes: [([UInt8], Int64)] = [(Array("bn".utf8), 1_000_000_000), (Array("mn".utf8), 1_000_000), (Array("k".utf8), 1000),
                                               (Array("m".utf8), 1_000_000), (Array("b".utf8), 1_000_000_000)]

    public static func parse(_ raw: UnsafeBufferPointer<UInt8>, defaultCurrency: String = "") -> (minor: Int64, currency: String)? {
        let trimmed = Scalars.trimmedWhitespace(raw)
        // Most amounts have no magnitude letter: parsed in place.
        if !trimmed.contains(where: { let c = $0 | 0x20; return c == UInt8(ascii: "k") || c == UInt8(ascii: "m") || c == UInt8(ascii: "b") }) {
            return Money.parse(trimmed, defaultCurrency: defaultCurrency).map { (minor: $0.0, currency: $0.1) }
        }
        var bytes = Array(trimmed)
        var multiplier: Int64 = 1
        var tail: [UInt8] = []
        // Peel a trailing currency code or symbol to find the suffix before it.
        if let space = bytes.lastIndex(of: 32), bytes.count - space - 1 == 3, bytes[(space + 1)...].allSatisfy({ $0 >= 65 && $0 <= 90 }) {
            tail = Array(bytes[space...])
            bytes.removeSubrange(space...)
        }
        for (s, m) in suffixes where bytes.count > s.count {
            let end = bytes.suffix(s.count).map { $0 | 0x20 }
            let before = bytes[bytes.count - s.count - 1]
            if end == s, before &- 48 < 10 || before == 32 {
                bytes.removeLast(s.count)
                while bytes.last == 32 { bytes.removeLast() }
                multiplier = m
                break
            }
        }
        bytes.append(contentsOf: tail)
        guard let (minor, currency) = bytes.withUnsafeBufferPointer({ Money.parse($0, defaultCurrency: defaultCurrency) }) else { return nil }
        let (scaled, overflow) = minor.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { return nil }
        return (scaled, currency)
    }

    /// `minor` converted by `rate` (target units per source unit, as decimal text), rounded half away from zero.
    public static func convert(_ minor: Int64, rate: (units: Int64, scale: Int64)) -> Int64? {
        let (p, o) = minor.multipliedReportingOverflow(by: rate.units)
        if o {
            let v = (Double(minor) * Double(rate.units) / Double(rate.scale)).rounded()
            return abs(v) < 9.2e18 ? Int64(v) : nil
        }
        let q = p / rate.scale, r = p % rate.scale
        if abs(r) * 2 >= rate.scale { return q + (p < 0 ? -1 : 1) }
        return q
    }

    /// A decimal rate as an exact fraction: "1.08" → (108, 100).
    public static func rate(_ text: String) -> (units: Int64, scale: Int64)? {
        let t = text.trimmingSpaces()
        guard !t.isEmpty, !t.hasPrefix("-") else { return nil }
        let parts = t.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }) else { return nil }
        let fraction = parts.count == 2 ? String(parts[1].prefix(12)) : ""
        guard let units = Int64(String(parts[0]) + fraction), units > 0 else { return nil }
        var scale: Int64 = 1
        for _ in 0..<fraction.count { scale *= 10 }
        return (units, scale)
    }
}
