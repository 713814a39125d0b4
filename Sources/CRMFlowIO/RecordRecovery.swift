import CRMFlowCore

extension CSVFile {
    /// The records that start on the physical lines `lines`, exactly as the file holds them (every field, in the file's
    /// column order and dialect, decoded to UTF-8, without the line end), so a reject can be fixed and re-imported
    /// whatever columns the run kept. Lines that start no record are missing from the result.
    /// - Complexity: one pass over the file up to the last line asked for; used only when there are rejects.
    public func records(atLines lines: Set<Int>) throws(CRMFlowError) -> [Int: String] {
        guard let last = lines.max() else { return [:] }
        var found: [Int: String] = [:]
        let delimiter = dialect.delimiter, quote = dialect.quote
        let block = 4 << 20
        var offset = dataStart
        var line = dataStartLine
        var pending: [UInt8] = []
        let total = source.size
        while line <= last {
            var bytes = pending
            pending = []
            let n = try source.read(at: offset, count: block, into: &bytes)
            offset += n
            let isFinal = n == 0 || offset >= total
            let consumed: Int = bytes.withUnsafeBufferPointer { p in
                var i = 0
                while i < p.count, line <= last {
                    let end: Int
                    if let r = RecordScanner.recordEnd(p, from: i, delimiter: delimiter, quote: quote) {
                        end = r.end
                    } else if isFinal {
                        end = p.count
                    } else {
                        break
                    }
                    var bodyEnd = end
                    while bodyEnd > i, p[bodyEnd - 1] == 10 || p[bodyEnd - 1] == 13 { bodyEnd -= 1 }
                    if lines.contains(line), bodyEnd > i {
                        found[line] = String(decoding: UnsafeBufferPointer(rebasing: p[i..<bodyEnd]), as: UTF8.self)
                    }
                    var k = i
                    while k < end {
                        if p[k] == 10 { line += 1 } else if p[k] == 13, !(k + 1 < end && p[k + 1] == 10) { line += 1 }
                        k += 1
                    }
                    if end == p.count, p.last != 10, p.last != 13 { line += 1 }
                    i = end
                }
                return i
            }
            if isFinal { break }
            pending = Array(bytes[consumed...])
        }
        return found
    }
}

extension CSVFile {
    /// The physical line each of `records` starts on, found by comparing fields (`records` are field lists, as another
    /// reader of this file parsed them; an empty field matches an empty one whether quoted or not). Records that occur
    /// several times take their lines in file order; one not found gets 0.
    /// - Complexity: one pass over the file, parsing each record's fields; used only when another engine's rejects
    ///   need their line numbers.
    public func lines(ofRecords records: [[String]]) throws(CRMFlowError) -> [Int] {
        var wanted: [[String]: [Int]] = [:]
        for (k, r) in records.enumerated() { wanted[r, default: []].append(k) }
        var out = [Int](repeating: 0, count: records.count)
        guard !wanted.isEmpty else { return out }
        let delimiter = dialect.delimiter, quote = dialect.quote
        let firsts = Set(records.compactMap { $0.first.map { Array($0.utf8) } })
        var offset = dataStart
        var line = dataStartLine
        var pending: [UInt8] = []
        let total = source.size
        var remaining = records.count
        while remaining > 0 {
            var bytes = pending
            pending = []
            let n = try source.read(at: offset, count: 4 << 20, into: &bytes)
            offset += n
            let isFinal = n == 0 || offset >= total
            let consumed: Int = bytes.withUnsafeBufferPointer { p in
                var i = 0
                while i < p.count, remaining > 0 {
                    let end: Int
                    if let r = RecordScanner.recordEnd(p, from: i, delimiter: delimiter, quote: quote) {
                        end = r.end
                    } else if isFinal {
                        end = p.count
                    } else {
                        break
                    }
                    var bodyEnd = end
                    while bodyEnd > i, p[bodyEnd - 1] == 10 || p[bodyEnd - 1] == 13 { bodyEnd -= 1 }
                    // Cheap test first: the record's first field, unquoted, must be some wanted record's first field.
                    var firstEnd = i
                    while firstEnd < bodyEnd, p[firstEnd] != delimiter { firstEnd += 1 }
                    let head = Array(UnsafeBufferPointer(rebasing: p[i..<firstEnd]))
                    if bodyEnd > i, firsts.contains(head) || (head.first == quote) || head.isEmpty {
                        let fields = CSVFile.parseFields(Array(UnsafeBufferPointer(rebasing: p[i..<bodyEnd])), delimiter: delimiter, quote: quote)
                        if var ks = wanted[fields], !ks.isEmpty {
                            out[ks.removeFirst()] = line
                            wanted[fields] = ks
                            remaining -= 1
                        }
                    }
                    var k = i
                    while k < end {
                        if p[k] == 10 { line += 1 } else if p[k] == 13, !(k + 1 < end && p[k + 1] == 10) { line += 1 }
                        k += 1
                    }
                    if end == p.count, p.last != 10, p.last != 13 { line += 1 }
                    i = end
                }
                return i
            }
            if isFinal { break }
            pending = Array(bytes[consumed...])
        }
        return out
    }
}
