/// A pull scanner over the bytes of an XML part of an Office Open XML package (sheet, shared strings, workbook,
/// styles): start and end tags with their attributes, and text. Enough XML for those parts, and safe on hostile ones:
/// no DTD is read and no entity but the five predefined ones and character references is expanded.
struct XMLScanner {
    enum Token {
        /// `<name attrs>` or `<name attrs/>`.
        case open(name: Range<Int>, attributes: Range<Int>, selfClosing: Bool)
        case close(name: Range<Int>)
        /// Character data between tags (entities not yet decoded), or a CDATA section's content (`cdata`).
        case text(Range<Int>, cdata: Bool)
    }

    let bytes: [UInt8]
    var i = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    @inline(__always) static func isSpace(_ c: UInt8) -> Bool { c == 32 || c == 9 || c == 10 || c == 13 }

    /// The next token; nil at the end of the part.
    mutating func next() -> Token? {
        let n = bytes.count
        while i < n {
            if bytes[i] != UInt8(ascii: "<") {
                let start = i
                while i < n, bytes[i] != UInt8(ascii: "<") { i += 1 }
                return .text(start..<i, cdata: false)
            }
            // '<'
            guard i + 1 < n else { i = n; return nil }
            let c = bytes[i + 1]
            if c == UInt8(ascii: "?") {
                skip(past: [UInt8(ascii: "?"), UInt8(ascii: ">")])
                continue
            }
            if c == UInt8(ascii: "!") {
                if matches("<!--") {
                    skip(past: Array("-->".utf8))
                    continue
                }
                if matches("<![CDATA[") {
                    let start = i + 9
                    i = start
                    let end = find(Array("]]>".utf8)) ?? n
                    i = min(n, end + 3)
                    return .text(start..<end, cdata: true)
                }
                // <!DOCTYPE ...> (with an internal subset in brackets): skipped, never interpreted.
                var depth = 0
                while i < n {
                    if bytes[i] == UInt8(ascii: "[") { depth += 1 } else if bytes[i] == UInt8(ascii: "]") { depth -= 1 } else if bytes[i] == UInt8(ascii: ">"), depth <= 0 { break }
                    i += 1
                }
                i += 1
                continue
            }
            if c == UInt8(ascii: "/") {
                let start = i + 2
                i = start
                while i < n, bytes[i] != UInt8(ascii: ">"), !Self.isSpace(bytes[i]) { i += 1 }
                let name = start..<i
                while i < n, bytes[i] != UInt8(ascii: ">") { i += 1 }
                i += 1
                return .close(name: name)
            }
            let start = i + 1
            i = start
            while i < n, bytes[i] != UInt8(ascii: ">"), bytes[i] != UInt8(ascii: "/"), !Self.isSpace(bytes[i]) { i += 1 }
            let name = start..<i
            let attrStart = i
            var quote: UInt8 = 0
            while i < n {
                let b = bytes[i]
                if quote != 0 {
                    if b == quote { quote = 0 }
                } else if b == 34 || b == 39 {
                    quote = b
                } else if b == UInt8(ascii: ">") {
                    break
                }
                i += 1
            }
            let selfClosing = i > attrStart && bytes[i - 1] == UInt8(ascii: "/")
            let attributes = attrStart..<(selfClosing ? i - 1 : i)
            i += 1
            return .open(name: name, attributes: attributes, selfClosing: selfClosing)
        }
        return nil
    }

    func matches(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard i + u.count <= bytes.count else { return false }
        for k in 0..<u.count where bytes[i + k] != u[k] { return false }
        return true
    }

    func find(_ pattern: [UInt8]) -> Int? {
        var k = i
        while k + pattern.count <= bytes.count {
            if bytes[k] == pattern[0] {
                var all = true
                for j in 1..<pattern.count where bytes[k + j] != pattern[j] { all = false; break }
                if all { return k }
            }
            k += 1
        }
        return nil
    }

    mutating func skip(past pattern: [UInt8]) {
        if let k = find(pattern) { i = k + pattern.count } else { i = bytes.count }
    }

    /// True when the element name (without its namespace prefix) is `local`.
    func isNamed(_ name: Range<Int>, _ local: StaticString) -> Bool {
        var start = name.lowerBound
        for k in name where bytes[k] == UInt8(ascii: ":") { start = k + 1 }
        let count = name.upperBound - start
        guard count == local.utf8CodeUnitCount else { return false }
        let p = local.utf8Start
        for k in 0..<count where bytes[start + k] != p[k] { return false }
        return true
    }

    /// The decoded value of attribute `local` (namespace prefix ignored) in an open tag's attribute range.
    func attribute(_ local: StaticString, in range: Range<Int>) -> String? {
        attributeRange(local, in: range).map { decoded($0) }
    }

    func attributeRange(_ local: StaticString, in range: Range<Int>) -> Range<Int>? {
        var k = range.lowerBound
        let end = range.upperBound
        while k < end {
            while k < end, Self.isSpace(bytes[k]) { k += 1 }
            let nameStart = k
            while k < end, bytes[k] != UInt8(ascii: "="), !Self.isSpace(bytes[k]) { k += 1 }
            let name = nameStart..<k
            while k < end, bytes[k] != 34, bytes[k] != 39 { k += 1 }
            guard k < end else { return nil }
            let quote = bytes[k]
            k += 1
            let valueStart = k
            while k < end, bytes[k] != quote { k += 1 }
            let value = valueStart..<k
            k += 1
            if !name.isEmpty, isNamed(name, local) { return value }
        }
        return nil
    }

    /// Text with the predefined entities and character references decoded.
    func decoded(_ range: Range<Int>) -> String {
        var out: [UInt8] = []
        appendDecoded(range, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    func appendDecoded(_ range: Range<Int>, to out: inout [UInt8]) {
        var k = range.lowerBound
        let end = range.upperBound
        guard bytes[range].contains(UInt8(ascii: "&")) else {
            out.append(contentsOf: bytes[range])
            return
        }
        while k < end {
            let b = bytes[k]
            guard b == UInt8(ascii: "&"), let semi = bytes[k..<min(end, k + 12)].firstIndex(of: UInt8(ascii: ";")) else {
                out.append(b)
                k += 1
                continue
            }
            let entity = String(decoding: bytes[(k + 1)..<semi], as: UTF8.self)
            var scalar: Unicode.Scalar?
            switch entity {
            case "amp": scalar = "&"
            case "lt": scalar = "<"
            case "gt": scalar = ">"
            case "quot": scalar = "\""
            case "apos": scalar = "'"
            default:
                if entity.hasPrefix("#x") || entity.hasPrefix("#X") {
                    scalar = UInt32(entity.dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init)
                } else if entity.hasPrefix("#") {
                    scalar = UInt32(entity.dropFirst(), radix: 10).flatMap(Unicode.Scalar.init)
                }
            }
            if let scalar {
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
                k = semi + 1
            } else {
                out.append(b)
                k += 1
            }
        }
    }
}
