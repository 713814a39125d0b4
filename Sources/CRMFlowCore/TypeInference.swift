/// Evidence about one text column's values, gathered cell by cell and merged across chunks.
public struct ColumnEvidence: Sendable, Hashable {
    /// Candidate types still possible: bit per `Candidate`.
    public var candidates: UInt8 = Candidate.all
    public var nonNull = 0
    public var nulls = 0
    /// Numeric dates whose first / second number exceeds 12.
    public var firstOver12 = 0
    public var secondOver12 = 0
    public var numericDates = 0
    public var withTime = 0
    /// Numeric dates that are not real dates when read day-first / month-first (`31/02/2024`).
    public var invalidIfDayFirst = 0
    public var invalidIfMonthFirst = 0
    /// All-digit values that look like identifiers: leading zero, a `+`, or more than 15 digits.
    public var identifierLike = 0
    public var example: String? = nil
    /// Every value so far is a date, or has a date's digits and separators (`2024-02-30`, a day no calendar has).
    public var dateLike = true
    public var notRealDates = 0
    public var notRealDateExample: String? = nil

    public enum Candidate {
        public static let integer: UInt8 = 1
        public static let double: UInt8 = 2
        public static let boolean: UInt8 = 4
        public static let date: UInt8 = 8
        public static let all: UInt8 = 15
    }

    public init() {}

    /// Records one non-null cell.
    @inline(__always)
    public mutating func observe(_ p: UnsafeBufferPointer<UInt8>) {
        nonNull += 1
        guard candidates != 0 || dateLike, p.count > 0 else {
            candidates = 0
            dateLike = false
            return
        }
        let c0 = p[0]
        if candidates & (Candidate.integer | Candidate.double) != 0 {
            if c0 &- 48 < 10 || c0 == UInt8(ascii: "-") || c0 == UInt8(ascii: "+") || c0 == UInt8(ascii: ".") {
                if Scalars.strictInteger(p) == nil {
                    candidates &= ~Candidate.integer
                    if isDigitString(p) {
                        // NB: all digits yet not an integer: a leading zero, a '+' or too long — an identifier, never a number.
                        candidates &= ~Candidate.double
                        noteIdentifier(p)
                    } else if candidates & Candidate.double != 0, Scalars.double(p) == nil {
                        candidates &= ~Candidate.double
                        noteIdentifier(p)
                    }
                }
            } else {
                candidates &= ~(Candidate.integer | Candidate.double)
            }
        }
        if candidates & Candidate.boolean != 0, Scalars.boolean(p) == nil { candidates &= ~Candidate.boolean }
        if candidates & Candidate.date != 0 || dateLike {
            if let s = DateParsing.scan(p) {
                if candidates & Candidate.date != 0 {
                    if s.shape == .numeric {
                        numericDates += 1
                        if s.first > 12 { firstOver12 += 1 }
                        if s.second > 12 { secondOver12 += 1 }
                        if s.days(order: .dayFirst) == nil { invalidIfDayFirst += 1 }
                        if s.days(order: .monthFirst) == nil { invalidIfMonthFirst += 1 }
                    }
                    if s.hasTime { withTime += 1 }
                } else if s.shape == .numeric, s.days(order: .dayFirst) == nil, s.days(order: .monthFirst) == nil {
                    notRealDates += 1
                }
            } else {
                candidates &= ~Candidate.date
                // NB: kept counting while the column still looks like dates, so the note can say why it is text.
                if dateLike, Self.hasDateShape(p) {
                    notRealDates += 1
                    if notRealDateExample == nil { notRealDateExample = String(decoding: p, as: UTF8.self) }
                } else {
                    dateLike = false
                }
            }
        }
    }

    /// Digits and separators of a date, whether or not the calendar has the day: `2024-02-30`, `31/04/2024`,
    /// `2024-02-30T10:00`.
    public static func hasDateShape(_ p: UnsafeBufferPointer<UInt8>) -> Bool {
        var groups: [Int] = [0]
        var separator: UInt8 = 0
        var k = 0
        while k < p.count {
            let c = p[k]
            if c &- 48 < 10 {
                groups[groups.count - 1] += 1
            } else if (c == UInt8(ascii: "-") || c == UInt8(ascii: "/") || c == UInt8(ascii: ".")) && groups.count < 3 && (separator == 0 || separator == c) {
                separator = c
                groups.append(0)
            } else if groups.count == 3, c == UInt8(ascii: "T") || c == 32 {
                break  // a time of day follows
            } else {
                return false
            }
            k += 1
        }
        guard groups.count == 3 else { return false }
        let (a, b, c) = (groups[0], groups[1], groups[2])
        return (a == 4 && (1...2).contains(b) && (1...2).contains(c)) || ((1...2).contains(a) && (1...2).contains(b) && (c == 2 || c == 4))
    }

    @inline(__always)
    func isDigitString(_ p: UnsafeBufferPointer<UInt8>) -> Bool {
        var start = 0
        if p[0] == UInt8(ascii: "+") || p[0] == UInt8(ascii: "-") { start = 1 }
        guard start < p.count else { return false }
        for k in start..<p.count where p[k] &- 48 >= 10 { return false }
        return true
    }

    @inline(__always)
    mutating func noteIdentifier(_ p: UnsafeBufferPointer<UInt8>) {
        var digits = 0, other = 0
        for (k, c) in p.enumerated() {
            if c &- 48 < 10 { digits += 1 } else if !(k == 0 && c == UInt8(ascii: "+")) { other += 1 }
        }
        if other == 0, digits > 0 { identifierLike += 1 }
    }

    public mutating func observeNull() { nulls += 1 }

    public mutating func merge(_ o: ColumnEvidence) {
        candidates &= o.candidates
        nonNull += o.nonNull
        nulls += o.nulls
        firstOver12 += o.firstOver12
        secondOver12 += o.secondOver12
        numericDates += o.numericDates
        withTime += o.withTime
        identifierLike += o.identifierLike
        invalidIfDayFirst += o.invalidIfDayFirst
        invalidIfMonthFirst += o.invalidIfMonthFirst
        if example == nil { example = o.example }
        dateLike = dateLike && o.dateLike
        notRealDates += o.notRealDates
        if notRealDateExample == nil { notRealDateExample = o.notRealDateExample }
    }
}

/// How one column is to be converted from text.
public struct ColumnPlan: Sendable, Hashable {
    public var type: DataType
    public var dayOrder: DayOrder?
    /// An explicit format (`%d/%m/%Y`) for dates and timestamps.
    public var format: String?
    /// Currency for money values that name none.
    public var currency: String
    /// True when the type was declared by the user rather than inferred.
    public var isDeclared: Bool
    /// True when an empty value (a quoted `""` in CSV, `""` in JSON) of a non-text column is null rather than a value
    /// that does not convert, as readers treat it; `cast('' as double)` in an expression keeps it false.
    public var emptyIsNull: Bool

    public init(type: DataType, dayOrder: DayOrder? = nil, format: String? = nil, currency: String = "", isDeclared: Bool = false,
                emptyIsNull: Bool = true) {
        self.emptyIsNull = emptyIsNull
        self.type = type
        self.dayOrder = dayOrder
        self.format = format
        self.currency = currency
        self.isDeclared = isDeclared
    }
}

/// The outcome of inference for one column: a plan and, when the evidence was not decisive, a note for the user.
public struct InferenceResult: Sendable, Hashable {
    public var plan: ColumnPlan
    public var note: String?
    public init(plan: ColumnPlan, note: String?) {
        self.plan = plan
        self.note = note
    }
}

/// Decides column types from evidence. Identifiers are never turned into numbers.
public enum TypeInference {
    /// Column names that hold identifiers, codes or phone numbers, whatever their digits look like.
    public static func isIdentifierName(_ name: String) -> Bool {
        let n = name.lowercased()
        let words = n.split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map(String.init)
        let camelTail = name.last.map { _ in name.hasSuffix("Id") || name.hasSuffix("ID") } ?? false
        if camelTail { return true }
        let markers: Set<String> = ["id", "ids", "zip", "zipcode", "postal", "postcode", "plz", "phone", "mobile", "fax", "tel", "telephone",
                                    "sku", "code", "number", "no", "nr", "iban", "account", "ssn", "vat", "ean", "upc", "isbn", "uuid", "guid", "key", "ref"]
        if words.contains(where: { markers.contains($0) }) { return true }
        return n.hasSuffix("_id") || n.hasSuffix("id") && n.count > 2 && !n.hasSuffix("paid") && !n.hasSuffix("valid")
            || n.contains("zip") || n.contains("postcode") || n.contains("phone")
    }

    /// Chooses a plan for a column from its name and evidence.
    public static func decide(name: String, evidence e: ColumnEvidence, dayOrder declaredOrder: DayOrder? = nil) -> InferenceResult {
        let c = e.candidates
        if e.nonNull == 0 { return InferenceResult(plan: ColumnPlan(type: .string), note: e.nulls > 0 ? "all values empty" : nil) }
        if c & (ColumnEvidence.Candidate.integer | ColumnEvidence.Candidate.double) != 0 {
            if isIdentifierName(name) {
                return InferenceResult(plan: ColumnPlan(type: .string), note: "digits kept as text: '\(name)' names an identifier")
            }
            return InferenceResult(plan: ColumnPlan(type: c & ColumnEvidence.Candidate.integer != 0 ? .integer : .double), note: nil)
        }
        if c & ColumnEvidence.Candidate.boolean != 0 { return InferenceResult(plan: ColumnPlan(type: .boolean), note: nil) }
        if c & ColumnEvidence.Candidate.date != 0 {
            let type: DataType = e.withTime > 0 ? .timestamp : .date
            if e.numericDates == 0 { return InferenceResult(plan: ColumnPlan(type: type), note: nil) }
            if let declaredOrder {
                let invalid = declaredOrder == .dayFirst ? e.invalidIfDayFirst : e.invalidIfMonthFirst
                if invalid > 0 { return InferenceResult(plan: ColumnPlan(type: .string), note: "kept as text: \(invalid) value(s) are not real dates in \(declaredOrder.rawValue) order") }
                return InferenceResult(plan: ColumnPlan(type: type, dayOrder: declaredOrder), note: nil)
            }
            switch (e.firstOver12 > 0, e.secondOver12 > 0) {
            case (true, false) where e.invalidIfDayFirst > 0, (false, true) where e.invalidIfMonthFirst > 0:
                return InferenceResult(plan: ColumnPlan(type: .string), note: "kept as text: some values are not real calendar dates")
            case (true, false):
                return InferenceResult(plan: ColumnPlan(type: type, dayOrder: .dayFirst), note: "day/month order: day first (\(e.firstOver12) value(s) have a first number above 12)")
            case (false, true):
                return InferenceResult(plan: ColumnPlan(type: type, dayOrder: .monthFirst), note: "day/month order: month first (\(e.secondOver12) value(s) have a second number above 12)")
            case (true, true):
                return InferenceResult(plan: ColumnPlan(type: .string), note: "kept as text: dates disagree on day/month order (\(e.firstOver12) day-first, \(e.secondOver12) month-first); clean them or declare a format")
            case (false, false):
                return InferenceResult(plan: ColumnPlan(type: .string), note: "kept as text: day/month order is ambiguous (no day above 12 in \(e.numericDates) value(s)); declare --date-order dmy|mdy or a format")
            }
        }
        if e.dateLike, e.notRealDates > 0 {
            return InferenceResult(plan: ColumnPlan(type: .string),
                                   note: "kept as text: \(e.notRealDates) value(s) look like dates but are not real calendar dates (e.g. \(e.notRealDateExample ?? "?")); fix them, or declare the column a date so those rows are rejected with the reason")
        }
        if e.identifierLike > 0 {
            return InferenceResult(plan: ColumnPlan(type: .string), note: "identifier-like digits (leading zeros, '+' or long numbers) kept as text")
        }
        return InferenceResult(plan: ColumnPlan(type: .string), note: nil)
    }
}
