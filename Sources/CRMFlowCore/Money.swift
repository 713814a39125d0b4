/// Exact currency amounts as Int64 minor units (two decimals).
public enum Money {
    /// Symbols and the ISO code they stand for.
    static let symbols: [(bytes: [UInt8], code: String)] = [
        (Array("US$".utf8), "USD"), (Array("$".utf8), "USD"), (Array("€".utf8), "EUR"), (Array("£".utf8), "GBP"),
        (Array("¥".utf8), "JPY"), (Array("CHF".utf8), "CHF"), (Array("₹".utf8), "INR"),
    ]

    /// Appends `12.34` style text for `minor` cents.
    public static func appendAmount(_ minor: Int64, to out: inout [UInt8]) {
        var v = minor
        if v < 0 {
            out.append(UInt8(ascii: "-"))
            v = v == Int64.min ? Int64.max : -v
        }
        let whole = String(v / 100)
        out.append(contentsOf: whole.utf8)
        out.append(UInt8(ascii: "."))
        let cents = Int(v % 100)
        out.append(UInt8(48 + cents / 10))
        out.append(UInt8(48 + cents % 10))
    }

    /// Parses amounts like `1234.5`, `$1,234.50`, `-€12`, `1.234,50 €`, `USD 99.99`, `(12.00)`.
    /// - Returns: minor units and the currency code found (empty when none), or nil.
    public static func parse(_ input: UnsafeBufferPointer<UInt8>, defaultCurrency: String = "") -> (Int64, String)? {
        var s = Substring(String(decoding: input, as: UTF8.self)).trimmingSpaces()
        var negative = false
        if s.hasPrefix("("), s.hasSuffix(")") {
            negative = true
            s = s.dropFirst().dropLast().trimmingSpaces()
        }
        if s.hasPrefix("-") {
            negative.toggle()
            s = s.dropFirst().trimmingSpaces()
        }
        var currency = ""
        for (sym, code) in symbols {
            let str = String(decoding: sym, as: UTF8.self)
            if s.hasPrefix(str) {
                currency = code
                s = s.dropFirst(str.count).trimmingSpaces()
                break
            }
            if s.hasSuffix(str) {
                currency = code
                s = s.dropLast(str.count).trimmingSpaces()
                break
            }
        }
        if currency.isEmpty, s.count > 4 {
            let head = s.prefix(3), tail = s.suffix(3)
            if head.allSatisfy({ $0.isUppercase && $0.isASCII }), s.dropFirst(3).first == " " {
                currency = String(head)
                s = s.dropFirst(4).trimmingSpaces()
            } else if tail.allSatisfy({ $0.isUppercase && $0.isASCII }), s.dropLast(3).last == " " {
                currency = String(tail)
                s = s.dropLast(4).trimmingSpaces()
            }
        }
        if s.hasPrefix("-") {
            negative.toggle()
            s = s.dropFirst()
        }
        guard !s.isEmpty else { return nil }
        // Decide which of '.' and ',' is the decimal mark: the last one, when followed by 1-2 digits.
        let chars = Array(s.utf8)
        var decimalIndex: Int? = nil
        if let last = chars.lastIndex(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: ",") }) {
            let after = chars.count - last - 1
            let others = chars[..<last].filter { $0 == chars[last] }.count
            if (after == 1 || after == 2) && others == 0 { decimalIndex = last }
            else if after != 3 { return nil }
        }
        var whole: Int64 = 0
        var sawDigit = false
        var groupChar: UInt8? = nil
        var groupDigits = 0
        for (i, c) in chars.enumerated() {
            if i == decimalIndex { break }
            if c >= 48 && c <= 57 {
                groupDigits += 1
                let (m, o1) = whole.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(Int64(c - 48))
                if o1 || o2 { return nil }
                whole = a
                sawDigit = true
            } else if c == UInt8(ascii: ",") || c == UInt8(ascii: ".") || c == UInt8(ascii: " ") || c == UInt8(ascii: "'") {
                // Thousands groups: 1-3 digits first, exactly 3 after each separator.
                if groupChar == nil {
                    guard (1...3).contains(groupDigits) else { return nil }
                    groupChar = c
                } else {
                    guard groupChar == c, groupDigits == 3 else { return nil }
                }
                groupDigits = 0
            } else {
                return nil
            }
        }
        guard sawDigit || decimalIndex != nil else { return nil }
        if groupChar != nil, groupDigits != 3 { return nil }
        var cents: Int64 = 0
        if let d = decimalIndex {
            let frac = chars[(d + 1)...]
            guard frac.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
            for c in frac { cents = cents * 10 + Int64(c - 48) }
            if frac.count == 1 { cents *= 10 }
        }
        let (w, o) = whole.multipliedReportingOverflow(by: 100)
        guard !o else { return nil }
        let total = w + cents
        return (negative ? -total : total, currency.isEmpty ? defaultCurrency : currency)
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\u{a0}" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\u{a0}" { s = s.dropLast() }
        return s
    }
}
