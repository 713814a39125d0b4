/// Double Metaphone (Lawrence Philips, "The Double Metaphone Search Algorithm", C/C++ Users Journal, June 2000): a
/// primary and an alternate phonetic key, so `Smith` (SM0, XMT) and `Schmidt` (XMT, SMT) share one. Keys are not cut to
/// four characters. Letters are folded to ASCII first (`Müller` as `MULLER`), so `Ç` and `Ñ` are read as `C` and `N`.
public enum DoubleMetaphone {
    /// The primary and alternate keys; the alternate is empty when it equals the primary.
    public static func keys(_ s: String) -> (primary: String, alternate: String) {
        var w = Word(Array(Folding.fold(s).uppercased().utf8))
        w.encode()
        let p = String(decoding: w.primary, as: UTF8.self), a = String(decoding: w.alternate, as: UTF8.self)
        return (p, a == p ? "" : a)
    }

    /// True when two values share a key (primary or alternate).
    public static func match(_ a: String, _ b: String) -> Bool {
        let x = keys(a), y = keys(b)
        if x.primary.isEmpty || y.primary.isEmpty { return false }
        let xs = [x.primary, x.alternate].filter { !$0.isEmpty }, ys = [y.primary, y.alternate].filter { !$0.isEmpty }
        return xs.contains { ys.contains($0) }
    }

    struct Word {
        /// The word followed by five spaces, as in Philips' code: rules that look past the end see spaces (so
        /// `JOSE` alone reads as the Spanish name, and a word-final `CH` as in `TEACH` is K).
        let w: [UInt8]
        /// The word's length without the padding.
        let length: Int
        var primary: [UInt8] = [], alternate: [UInt8] = []
        let slavoGermanic: Bool

        init(_ word: [UInt8]) {
            w = word + [UInt8](repeating: 32, count: 5)
            length = word.count
            let text = String(decoding: word, as: UTF8.self)
            slavoGermanic = text.contains("W") || text.contains("K") || text.contains("CZ") || text.contains("WITZ")
        }

        /// The letter at `i` (0 before the word or past the padding).
        func at(_ i: Int) -> UInt8 { i >= 0 && i < w.count ? w[i] : 0 }

        /// True when one of `options` starts at `i`.
        func has(_ i: Int, _ options: StaticString...) -> Bool {
            guard i >= 0 else { return false }
            for o in options {
                let n = o.utf8CodeUnitCount
                guard i + n <= w.count else { continue }
                var same = true
                for k in 0..<n where w[i + k] != o.utf8Start[k] { same = false; break }
                if same { return true }
            }
            return false
        }

        func vowel(_ i: Int) -> Bool {
            switch at(i) {
            case 65, 69, 73, 79, 85, 89: return true
            default: return false
            }
        }

        mutating func add(_ p: StaticString, _ a: StaticString? = nil) {
            primary.append(contentsOf: UnsafeBufferPointer(start: p.utf8Start, count: p.utf8CodeUnitCount))
            let alt = a ?? p
            alternate.append(contentsOf: UnsafeBufferPointer(start: alt.utf8Start, count: alt.utf8CodeUnitCount))
        }

        // swiftlint:disable:next cyclomatic_complexity function_body_length
        mutating func encode() {
            let last = length - 1
            var i = 0
            if has(0, "GN", "KN", "PN", "WR", "PS") { i = 1 }
            if at(0) == UInt8(ascii: "X") { add("S"); i = 1 }
            while i <= last {
                switch at(i) {
                case 65, 69, 73, 79, 85, 89:  // vowels: only a leading one is kept, as A
                    if i == 0 { add("A") }
                    i += 1
                case UInt8(ascii: "B"):
                    add("P")
                    i += at(i + 1) == UInt8(ascii: "B") ? 2 : 1
                case UInt8(ascii: "C"): i = c(i)
                case UInt8(ascii: "D"):
                    if has(i, "DG") {
                        if has(i + 2, "I", "E", "Y") { add("J"); i += 3 } else { add("TK"); i += 2 }
                    } else if has(i, "DT", "DD") { add("T"); i += 2 } else { add("T"); i += 1 }
                case UInt8(ascii: "F"):
                    add("F")
                    i += at(i + 1) == UInt8(ascii: "F") ? 2 : 1
                case UInt8(ascii: "G"): i = g(i)
                case UInt8(ascii: "H"):
                    // Kept first or between vowels.
                    if (i == 0 || vowel(i - 1)) && vowel(i + 1) { add("H"); i += 2 } else { i += 1 }
                case UInt8(ascii: "J"): i = j(i)
                case UInt8(ascii: "K"):
                    add("K")
                    i += at(i + 1) == UInt8(ascii: "K") ? 2 : 1
                case UInt8(ascii: "L"):
                    if at(i + 1) == UInt8(ascii: "L") {
                        // Spanish "cabrillo", "gallegos".
                        if (i == length - 3 && has(i - 1, "ILLO", "ILLA", "ALLE"))
                            || ((has(last - 1, "AS", "OS") || has(last, "A", "O")) && has(i - 1, "ALLE")) {
                            add("L", "")
                        } else { add("L") }
                        i += 2
                    } else { add("L"); i += 1 }
                case UInt8(ascii: "M"):
                    add("M")
                    // "dumb", "thumb".
                    if (has(i - 1, "UMB") && (i + 1 == last || has(i + 2, "ER"))) || at(i + 1) == UInt8(ascii: "M") { i += 2 } else { i += 1 }
                case UInt8(ascii: "N"):
                    add("N")
                    i += at(i + 1) == UInt8(ascii: "N") ? 2 : 1
                case UInt8(ascii: "P"):
                    if at(i + 1) == UInt8(ascii: "H") { add("F"); i += 2 } else {
                        add("P")
                        i += has(i + 1, "P", "B") ? 2 : 1
                    }
                case UInt8(ascii: "Q"):
                    add("K")
                    i += at(i + 1) == UInt8(ascii: "Q") ? 2 : 1
                case UInt8(ascii: "R"):
                    // French "rogier": silent final R after IE, not after MIE / MA.
                    if i == last && !slavoGermanic && has(i - 2, "IE") && !has(i - 4, "ME", "MA") { add("", "R") } else { add("R") }
                    i += at(i + 1) == UInt8(ascii: "R") ? 2 : 1
                case UInt8(ascii: "S"): i = s(i)
                case UInt8(ascii: "T"): i = t(i)
                case UInt8(ascii: "V"):
                    add("F")
                    i += at(i + 1) == UInt8(ascii: "V") ? 2 : 1
                case UInt8(ascii: "W"): i = wLetter(i)
                case UInt8(ascii: "X"):
                    // French final "breaux" is silent.
                    if !(i == last && (has(i - 3, "IAU", "EAU") || has(i - 2, "AU", "OU"))) { add("KS") }
                    i += has(i + 1, "C", "X") ? 2 : 1
                case UInt8(ascii: "Z"):
                    if at(i + 1) == UInt8(ascii: "H") { add("J"); i += 2 } else {
                        if has(i + 1, "ZO", "ZI", "ZA") || (slavoGermanic && i > 0 && at(i - 1) != UInt8(ascii: "T")) { add("S", "TS") } else { add("S") }
                        i += at(i + 1) == UInt8(ascii: "Z") ? 2 : 1
                    }
                default: i += 1
                }
            }
        }

        mutating func c(_ i: Int) -> Int {
            // Germanic "bacher", "macher".
            if i > 1 && !vowel(i - 2) && has(i - 1, "ACH") && at(i + 2) != UInt8(ascii: "I")
                && (at(i + 2) != UInt8(ascii: "E") || has(i - 2, "BACHER", "MACHER")) {
                add("K"); return i + 2
            }
            if i == 0 && has(i, "CAESAR") { add("S"); return i + 2 }
            if has(i, "CHIA") { add("K"); return i + 2 }  // "chianti"
            if has(i, "CH") {
                if i > 0 && has(i, "CHAE") { add("K", "X"); return i + 2 }  // "michael"
                // Greek roots at the start: "chemistry", "chorus", not "chore".
                if i == 0 && (has(i + 1, "HARAC", "HARIS") || has(i + 1, "HOR", "HYM", "HIA", "HEM")) && !has(0, "CHORE") { add("K"); return i + 2 }
                // Germanic, Greek, or otherwise CH for KH.
                if has(0, "VAN ", "VON ") || has(0, "SCH") || has(i - 2, "ORCHES", "ARCHIT", "ORCHID") || has(i + 2, "T", "S")
                    || ((has(i - 1, "A", "O", "U", "E") || i == 0) && has(i + 2, "L", "R", "N", "M", "B", "H", "F", "V", "W", " ")) {
                    add("K")
                } else if i > 0 {
                    if has(0, "MC") { add("K") } else { add("X", "K") }
                } else { add("X") }
                return i + 2
            }
            if has(i, "CZ") && !has(i - 2, "WICZ") { add("S", "X"); return i + 2 }  // "czerny"
            if has(i + 1, "CIA") { add("X"); return i + 3 }  // "focaccia"
            if has(i, "CC") && !(i == 1 && at(0) == UInt8(ascii: "M")) {
                // "bellocchio", not "bacchus".
                if has(i + 2, "I", "E", "H") && !has(i + 2, "HU") {
                    if (i == 1 && at(i - 1) == UInt8(ascii: "A")) || has(i - 1, "UCCEE", "UCCES") { add("KS") } else { add("X") }  // "accident" / "bacci"
                    return i + 3
                }
                add("K")  // Pierce's rule
                return i + 2
            }
            if has(i, "CK", "CG", "CQ") { add("K"); return i + 2 }
            if has(i, "CI", "CE", "CY") {
                if has(i, "CIO", "CIE", "CIA") { add("S", "X") } else { add("S") }
                return i + 2
            }
            add("K")
            if has(i + 1, " C", " Q", " G") { return i + 3 }  // "mac caffrey", "mac gregor"
            if has(i + 1, "C", "K", "Q") && !has(i + 1, "CE", "CI") { return i + 2 }
            return i + 1
        }

        mutating func g(_ i: Int) -> Int {
            if at(i + 1) == UInt8(ascii: "H") {
                if i > 0 && !vowel(i - 1) { add("K"); return i + 2 }
                if i == 0 {
                    // "ghislane", "ghiradelli".
                    if at(i + 2) == UInt8(ascii: "I") { add("J") } else { add("K") }
                    return i + 2
                }
                // Parker's rule: "hugh", "bough", "broughton".
                if (i > 1 && has(i - 2, "B", "H", "D")) || (i > 2 && has(i - 3, "B", "H", "D")) || (i > 3 && has(i - 4, "B", "H")) { return i + 2 }
                if i > 2 && at(i - 1) == UInt8(ascii: "U") && has(i - 3, "C", "G", "L", "R", "T") {
                    add("F")  // "laugh", "cough", "tough"
                } else if i > 0 && at(i - 1) != UInt8(ascii: "I") {
                    add("K")
                }
                return i + 2
            }
            if at(i + 1) == UInt8(ascii: "N") {
                if i == 1 && vowel(0) && !slavoGermanic { add("KN", "N") } else if !has(i + 2, "EY") && at(i + 1) != UInt8(ascii: "Y") && !slavoGermanic {
                    add("N", "KN")
                } else { add("KN") }
                return i + 2
            }
            if has(i + 1, "LI") && !slavoGermanic { add("KL", "L"); return i + 2 }  // "tagliaro"
            // -ges-, -gep-, -gel-, -gie- at the start.
            if i == 0 && (at(i + 1) == UInt8(ascii: "Y") || has(i + 1, "ES", "EP", "EB", "EL", "EY", "IB", "IL", "IN", "IE", "EI", "ER")) { add("K", "J"); return i + 2 }
            // -ger-, -gy-.
            if (has(i + 1, "ER") || at(i + 1) == UInt8(ascii: "Y")) && !has(0, "DANGER", "RANGER", "MANGER") && !has(i - 1, "E", "I") && !has(i - 1, "RGY", "OGY") {
                add("K", "J"); return i + 2
            }
            // Italian "biaggi".
            if has(i + 1, "E", "I", "Y") || has(i - 1, "AGGI", "OGGI") {
                if has(0, "VAN ", "VON ") || has(0, "SCH") || has(i + 1, "ET") { add("K") } else if has(i + 1, "IER ") {
                    add("J")
                } else { add("J", "K") }
                return i + 2
            }
            add("K")
            return at(i + 1) == UInt8(ascii: "G") ? i + 2 : i + 1
        }

        mutating func j(_ i: Int) -> Int {
            // Spanish "jose", "san jacinto".
            if has(i, "JOSE") || has(0, "SAN ") {
                if (i == 0 && at(i + 4) == UInt8(ascii: " ")) || has(0, "SAN ") { add("H") } else { add("J", "H") }
                return i + 1
            }
            if i == 0 && !has(i, "JOSE") {
                add("J", "A")  // "yankelovich" / "jankelowicz"
            } else if vowel(i - 1) && !slavoGermanic && (at(i + 1) == UInt8(ascii: "A") || at(i + 1) == UInt8(ascii: "O")) {
                add("J", "H")  // Spanish "bajador"
            } else if i == length - 1 {
                add("J", " ")
            } else if !has(i + 1, "L", "T", "K", "S", "N", "M", "B", "Z") && !has(i - 1, "S", "K", "L") {
                add("J")
            }
            return at(i + 1) == UInt8(ascii: "J") ? i + 2 : i + 1
        }

        mutating func s(_ i: Int) -> Int {
            if has(i - 1, "ISL", "YSL") { return i + 1 }  // "island", "carlisle"
            if i == 0 && has(i, "SUGAR") { add("X", "S"); return i + 1 }
            if has(i, "SH") {
                if has(i + 1, "HEIM", "HOEK", "HOLM", "HOLZ") { add("S") } else { add("X") }  // Germanic
                return i + 2
            }
            if has(i, "SIO", "SIA") || has(i, "SIAN") {  // Italian and Armenian
                if !slavoGermanic { add("S", "X") } else { add("S") }
                return i + 3
            }
            // German and anglicisations: "smith" / "schmidt", "snider" / "schneider"; also -sz- in Slavic.
            if (i == 0 && has(i + 1, "M", "N", "L", "W")) || has(i + 1, "Z") {
                add("S", "X")
                return has(i + 1, "Z") ? i + 2 : i + 1
            }
            if has(i, "SC") {
                if at(i + 2) == UInt8(ascii: "H") {
                    if has(i + 3, "OO", "ER", "EN", "UY", "ED", "EM") {  // Dutch "school", "schooner"
                        if has(i + 3, "ER", "EN") { add("X", "SK") } else { add("SK") }  // "schermerhorn", "schenker"
                    } else if i == 0 && !vowel(3) && at(3) != UInt8(ascii: "W") { add("X", "S") } else { add("X") }
                    return i + 3
                }
                if has(i + 2, "I", "E", "Y") { add("S"); return i + 3 }
                add("SK")
                return i + 3
            }
            // French "resnais", "artois".
            if i == length - 1 && has(i - 2, "AI", "OI") { add("", "S") } else { add("S") }
            return has(i + 1, "S", "Z") ? i + 2 : i + 1
        }

        mutating func t(_ i: Int) -> Int {
            if has(i, "TION") || has(i, "TIA", "TCH") { add("X"); return i + 3 }
            if has(i, "TH") || has(i, "TTH") {
                // "thomas", "thames", or Germanic.
                if has(i + 2, "OM", "AM") || has(0, "VAN ", "VON ") || has(0, "SCH") { add("T") } else { add("0", "T") }
                return i + 2
            }
            add("T")
            return has(i + 1, "T", "D") ? i + 2 : i + 1
        }

        mutating func wLetter(_ i: Int) -> Int {
            if has(i, "WR") { add("R"); return i + 2 }  // "wright" inside a word
            if i == 0 && (vowel(i + 1) || has(i, "WH")) {
                if vowel(i + 1) { add("A", "F") } else { add("A") }  // "wasserman" / "vasserman"; "uomo" / "womo"
            }
            // Polish "filipowicz"; "arnow" in Germanic names.
            if (i == length - 1 && vowel(i - 1)) || has(i - 1, "EWSKI", "EWSKY", "OWSKI", "OWSKY") || has(0, "SCH") {
                add("", "F")
                return i + 1
            }
            if has(i, "WICZ", "WITZ") { add("TS", "FX"); return i + 4 }
            return i + 1
        }
    }
}
