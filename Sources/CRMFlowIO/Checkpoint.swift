import CRMFlowCore
import Foundation

/// A compact binary form of a table (and a few things around it) for run checkpoints: `crmflow run --checkpoint`
/// keeps each finished stage's rows so that `--resume` after a failure does not compute them again. Exact: every type,
/// null and money currency comes back as it was. Not an exchange format (only the crmflow that wrote it reads it).
public struct ByteWriter {
    public private(set) var bytes: [UInt8] = []
    public init() {}

    public mutating func int(_ v: Int64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func int(_ v: Int) { int(Int64(v)) }
    public mutating func string(_ s: String) {
        int(s.utf8.count)
        bytes.append(contentsOf: s.utf8)
    }
    public mutating func raw<T: FixedWidthInteger>(_ a: [T]) {
        int(a.count)
        for v in a { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    }
    public mutating func strings(_ a: [String]) {
        int(a.count)
        for s in a { string(s) }
    }

    public mutating func table(_ t: Table) {
        strings(t.schema.names)
        int(t.rowCount)
        for c in t.columns {
            if let v = c.validity {
                int(1)
                int(v.count)
                raw(v.words)
            } else {
                int(0)
            }
            switch c.storage {
            case .string(let b): int(0); raw(b.bytes); raw(b.offsets)
            case .integer(let a): int(1); raw(a)
            case .double(let a): int(2); raw(a.map(\.bitPattern))
            case .boolean(let a): int(3); raw(a.map { $0 ? UInt8(1) : 0 })
            case .date(let a): int(4); raw(a)
            case .timestamp(let a): int(5); raw(a)
            case .money(let m, let c, let codes): int(6); raw(m); raw(c); strings(codes)
            }
        }
    }
}

public struct ByteReader {
    let bytes: [UInt8]
    var i = 0
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    struct Truncated: Error {}

    public mutating func int() throws -> Int {
        guard i + 8 <= bytes.count else { throw Truncated() }
        var v: Int64 = 0
        withUnsafeMutableBytes(of: &v) { $0.copyBytes(from: bytes[i..<(i + 8)]) }
        i += 8
        return Int(Int64(littleEndian: v))
    }
    public mutating func count(_ size: Int) throws -> Int {
        let n = try int()
        guard n >= 0, n <= (bytes.count - i) / max(1, size) else { throw Truncated() }
        return n
    }
    public mutating func string() throws -> String {
        let n = try count(1)
        defer { i += n }
        return String(decoding: bytes[i..<(i + n)], as: UTF8.self)
    }
    public mutating func raw<T: FixedWidthInteger>(_: T.Type) throws -> [T] {
        let size = MemoryLayout<T>.size
        let n = try count(size)
        var out = [T](repeating: 0, count: n)
        out.withUnsafeMutableBytes { $0.copyBytes(from: bytes[i..<(i + n * size)]) }
        i += n * size
        return out.map { T(littleEndian: $0) }
    }
    public mutating func strings() throws -> [String] {
        let n = try count(8)
        return try (0..<n).map { _ in try string() }
    }

    public mutating func table() throws -> Table {
        let names = try strings()
        let rows = try int()
        var columns: [Column] = []
        for _ in names {
            var validity: Bitmap?
            if try int() == 1 {
                let n = try int()
                guard let v = Bitmap(words: try raw(UInt64.self), count: n) else { throw Truncated() }
                validity = v
            }
            let storage: ColumnStorage
            switch try int() {
            case 0:
                let bytes = try raw(UInt8.self), offsets = try raw(UInt32.self)
                guard offsets.count == rows + 1, offsets.first == 0, offsets.last.map({ Int($0) == bytes.count }) ?? false,
                      zip(offsets, offsets.dropFirst()).allSatisfy({ $0 <= $1 }) else { throw Truncated() }
                storage = .string(StringBuffer(bytes: bytes, offsets: offsets))
            case 1: storage = .integer(try raw(Int64.self))
            case 2: storage = .double(try raw(UInt64.self).map { Double(bitPattern: $0) })
            case 3: storage = .boolean(try raw(UInt8.self).map { $0 != 0 })
            case 4: storage = .date(try raw(Int32.self))
            case 5: storage = .timestamp(try raw(Int64.self))
            case 6: storage = .money(minor: try raw(Int64.self), currency: try raw(UInt8.self), currencies: try strings())
            default: throw Truncated()
            }
            let column = Column(storage: storage, validity: validity)
            guard column.count == rows, validity.map({ $0.count == rows }) ?? true else { throw Truncated() }
            columns.append(column)
        }
        return Table(schema: Schema(zip(names, columns).map { Field(name: $0, type: $1.type) }), columns: columns, rowCount: rows)
    }
}
