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
        // NB: byte-level (no String per cell): this runs for every money cell of a file.
        var lo = 0
        var hi = input.count
        func trim() {
            while lo < hi {
                if input[lo] == 32 { lo += 1 } else if input[lo] == 0xC2, lo + 1 < hi, input[lo + 1] == 0xA0 { lo += 2 } else { break }
            }
            while hi > lo {
                if input[hi - 1] == 32 { hi -= 1 } else if hi - 2 >= lo, input[hi - 2] == 0xC2, input[hi - 1] == 0xA0 { hi -= 2 } else { break }
            }
        }
        func hasPrefix(_ p: [UInt8]) -> Bool { hi - lo >= p.count && (0..<p.count).allSatisfy { input[lo + $0] == p[$0] } }
        func hasSuffix(_ p: [UInt8]) -> Bool { hi - lo >= p.count && (0..<p.count).allSatisfy { input[hi - p.count + $0] == p[$0] } }
        func isUpper(_ c: UInt8) -> Bool { c >= 65 && c <= 90 }
        trim()
        var negative = false
        if hi - lo >= 2, input[lo] == UInt8(ascii: "("), input[hi - 1] == UInt8(ascii: ")") {
            negative = true
            lo += 1
            hi -= 1
            trim()
        }
        if lo < hi, input[lo] == UInt8(ascii: "-") {
            negative.toggle()
            lo += 1
            trim()
        }
        var currency = ""
        for (sym, code) in symbols {
            if hasPrefix(sym) {
                currency = code
                lo += sym.count
                trim()
                break
            }
            if hasSuffix(sym) {
                currency = code
                hi -= sym.count
                trim()
                break
            }
        }
        if currency.isEmpty, hi - lo > 4 {
            if isUpper(input[lo]), isUpper(input[lo + 1]), isUpper(input[lo + 2]), input[lo + 3] == 32 {
                currency = String(decoding: UnsafeBufferPointer(rebasing: input[lo..<(lo + 3)]), as: UTF8.self)
                lo += 4
                trim()
            } else if isUpper(input[hi - 1]), isUpper(input[hi - 2]), isUpper(input[hi - 3]), input[hi - 4] == 32 {
                currency = String(decoding: UnsafeBufferPointer(rebasing: input[(hi - 3)..<hi]), as: UTF8.self)
                hi -= 4
                trim()
            }
        }
        if lo < hi, input[lo] == UInt8(ascii: "-") {
            negative.toggle()
            lo += 1
        }
        guard lo < hi else { return nil }
        let chars = UnsafeBufferPointer(rebasing: input[lo..<hi])
        let dot = UInt8(ascii: "."), comma = UInt8(ascii: ",")
        // Decide which of '.' and ',' is the decimal mark: the last one, when followed by 1-2 digits.
        var decimalIndex: Int? = nil
        if let last = chars.lastIndex(where: { $0 == dot || $0 == comma }) {
            let after = chars.count - last - 1
            var others = 0
            for i in 0..<last where chars[i] == chars[last] { others += 1 }
            if (after == 1 || after == 2) && others == 0 { decimalIndex = last }
            else if after != 3 { return nil }
        }
        var whole: Int64 = 0
        var sawDigit = false
        var groupChar: UInt8? = nil
        var groupDigits = 0
        for i in 0..<chars.count {
            if i == decimalIndex { break }
            let c = chars[i]
            if c >= 48 && c <= 57 {
                groupDigits += 1
                let (m, o1) = whole.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(Int64(c - 48))
                if o1 || o2 { return nil }
                whole = a
                sawDigit = true
            } else if c == comma || c == dot || c == UInt8(ascii: " ") || c == UInt8(ascii: "'") {
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
            let count = chars.count - d - 1
            for i in (d + 1)..<chars.count {
                let c = chars[i]
                guard c >= 48 && c <= 57 else { return nil }
                cents = cents * 10 + Int64(c - 48)
            }
            if count == 1 { cents *= 10 }
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
