import CRMFlowCore
import Foundation

/// A CSV file opened for reading: its dialect and header are known, its rows not yet read.
public final class CSVFile: @unchecked Sendable {
    // NB: immutable after `open`; `source` is read only by the thread that drives a read.
    public let path: String
    public let dialect: CSVDialect
    public let columnNames: [String]
    /// Header problems that were repaired (blank or duplicate names), for the user.
    public let headerNotes: [String]
    public let options: CSVOptions
    let source: ByteSource
    let dataStart: Int
    /// 1-based physical line of the first data record.
    let dataStartLine: Int
    let encodingWasDetected: Bool

    private init(path: String, dialect: CSVDialect, columnNames: [String], headerNotes: [String], options: CSVOptions,
                 source: ByteSource, dataStart: Int, dataStartLine: Int, encodingWasDetected: Bool) {
        self.path = path
        self.dialect = dialect
        self.columnNames = columnNames
        self.headerNotes = headerNotes
        self.options = options
        self.source = source
        self.dataStart = dataStart
        self.dataStartLine = dataStartLine
        self.encodingWasDetected = encodingWasDetected
    }

    static let headLimit = 1 << 20

    /// Opens `path`, detecting encoding, delimiter and header as `options` allow.
    public static func open(_ path: String, options: CSVOptions = CSVOptions()) throws(CRMFlowError) -> CSVFile {
        let file = try FileInput(path: path)
        var raw: [UInt8] = []
        try file.read(at: 0, count: min(file.size, headLimit), into: &raw)
        var notes: [String] = []
        // Encoding.
        var encoding: TextEncoding
        var bomLength = 0
        var detected = false
        if let (bomEncoding, length) = TextEncoding.bom(raw[...]) {
            encoding = options.encoding ?? bomEncoding
            bomLength = length
            notes.append("encoding \(bomEncoding.rawValue) from its byte-order mark")
        } else if let declared = options.encoding {
            encoding = declared
        } else {
            detected = true
            encoding = .utf8
            let truncatedTail = file.size > raw.count ? 3 : 0
            let census = UTF8Validation.census(raw[..<(raw.count - truncatedTail)])
            if let bad = UTF8Validation.firstInvalid(raw[...]), bad < raw.count - truncatedTail,
               let legacy = utf16Guess(raw) ?? (UTF8Validation.looksLikeUTF8(multibyte: census.multibyte, invalid: census.invalid) ? nil : .windows1252) {
                encoding = legacy
                notes.append("not valid UTF-8 (byte \(bad)); read as \(encoding.rawValue)")
            } else if census.invalid > 0 {
                notes.append("encoding utf-8 (\(census.multibyte) multi-byte characters); records holding bytes that are not valid UTF-8 are rejected")
            } else if let guess = utf16Guess(raw) {
                encoding = guess
                notes.append("NUL bytes between characters; read as \(guess.rawValue)")
            } else {
                notes.append("encoding utf-8 (validated)")
            }
        }
        let source: ByteSource
        var head: [UInt8]
        if encoding == .utf8 {
            source = .file(file)
            head = Array(raw[bomLength...])
        } else {
            let all = try file.readAll()
            do {
                let decoded = try encoding.decodeToUTF8(all[bomLength...])
                source = .memory(decoded)
                head = Array(decoded.prefix(headLimit))
            } catch {
                let (line, _) = lineOf(offset: error.offset, in: all[bomLength...])
                throw CRMFlowError(.badData, "byte \(error.offset + bomLength) (0x\(String(all[error.offset + bomLength], radix: 16))) is not valid \(encoding.rawValue)",
                                   at: "\(path):\(line)", hint: "pass --encoding with the file's real encoding")
            }
        }
        let baseOffset = encoding == .utf8 ? bomLength : 0
        var start = 0
        var line = 1
        // Excel's `sep=;` first line.
        var delimiter = options.delimiter
        var hasSepLine = false
        if head.count >= 5, head[0] | 0x20 == UInt8(ascii: "s"), head[1] | 0x20 == UInt8(ascii: "e"), head[2] | 0x20 == UInt8(ascii: "p"), head[3] == UInt8(ascii: "=") {
            var e = 5
            if e < head.count, head[e] == 13 { e += 1 }
            if e < head.count, head[e] == 10 { e += 1 }
            if e == head.count || head[e - 1] == 10 || head[e - 1] == 13 {
                hasSepLine = true
                if delimiter == nil { delimiter = head[4] }
                start = e
                line = 2
                notes.append("delimiter from Excel's 'sep=' line")
            }
        }
        let body = Array(head[start...])
        if delimiter == nil {
            let (d, note) = DialectSniffer.delimiter(body, quote: options.quote)
            delimiter = d
            notes.append(note)
        }
        let delim = delimiter!
        // Header or first record.
        var names: [String] = []
        var headerNotes: [String] = []
        var dataStart = start
        if !body.isEmpty {
            let recordEnd = body.withUnsafeBufferPointer { RecordScanner.recordEnd($0, from: 0, delimiter: delim, quote: options.quote) }
            let isWholeFile = source.size - baseOffset <= head.count
            guard recordEnd != nil || isWholeFile else {
                throw CRMFlowError(.badData, "the first record does not end within the first \(headLimit >> 20) MiB", at: "\(path):\(line)",
                                   hint: "check the quoting of the header line, or the delimiter (--delimiter)")
            }
            let end = recordEnd?.end ?? body.count
            let fields = parseFields(Array(body[..<end]), delimiter: delim, quote: options.quote)
            if options.hasHeader {
                (names, headerNotes) = uniqueNames(fields)
                dataStart = start + end
                for c in body[..<end] where c == 10 { line += 1 }
                if !body[..<end].contains(10), body[..<end].contains(13) { line += 1 }
            } else {
                names = (1...max(1, fields.count)).map { "column_\($0)" }
            }
        }
        let dialect = CSVDialect(delimiter: delim, quote: options.quote, encoding: encoding, hasBOM: bomLength > 0, hasSepLine: hasSepLine,
                                 hasHeader: options.hasHeader, lineEnding: DialectSniffer.lineEnding(body), notes: notes)
        return CSVFile(path: path, dialect: dialect, columnNames: names, headerNotes: headerNotes, options: options, source: source,
                       dataStart: baseOffset + dataStart, dataStartLine: line, encodingWasDetected: detected)
    }

    static func utf16Guess(_ raw: [UInt8]) -> TextEncoding? {
        guard raw.count >= 4 else { return nil }
        let sample = raw.prefix(4096)
        var evenZero = 0, oddZero = 0
        for (i, b) in sample.enumerated() where b == 0 { if i & 1 == 0 { evenZero += 1 } else { oddZero += 1 } }
        let pairs = sample.count / 2
        if oddZero * 3 > pairs, evenZero * 10 < pairs { return .utf16LE }
        if evenZero * 3 > pairs, oddZero * 10 < pairs { return .utf16BE }
        return nil
    }

    /// Physical line (1-based) and column of a byte offset.
    static func lineOf(offset: Int, in bytes: ArraySlice<UInt8>) -> (Int, Int) {
        var line = 1, lineStart = bytes.startIndex
        var i = bytes.startIndex
        let end = bytes.startIndex + offset
        while i < end {
            if bytes[i] == 10 || (bytes[i] == 13 && !(i + 1 < bytes.endIndex && bytes[i + 1] == 10)) {
                line += 1
                lineStart = i + 1
            }
            i += 1
        }
        return (line, end - lineStart + 1)
    }

    /// Fields of one record, via libcsv.
    public static func parseFields(_ record: [UInt8], delimiter: UInt8, quote: UInt8) -> [String] {
        let state = ChunkParserState(columnCount: 0, delimiter: delimiter, ragged: .pad, rejectInvalidEncoding: false, expectedBytes: 0)
        let parser = LibCSVParser(state: state, delimiter: delimiter, quote: quote)
        record.withUnsafeBytes { _ = parser.parse($0) }
        parser.finish()
        let first = state.capturedRows.first ?? (state.extra.isEmpty ? [] : state.extra)
        return first.map { $0.map { String(decoding: $0, as: UTF8.self) } ?? "" }
    }

    /// Makes header names non-blank and unique, reporting every change.
    public static func uniqueNames(_ raw: [String]) -> ([String], [String]) {
        var notes: [String] = []
        var seen: [String: Int] = [:]
        var names: [String] = []
        for (i, r) in raw.enumerated() {
            var name = r.trimmingCharacters(in: .whitespaces)
            if name.isEmpty {
                name = "column_\(i + 1)"
                notes.append("column \(i + 1) has a blank header; named '\(name)'")
            }
            if let n = seen[name] {
                var k = n + 1
                while seen["\(name)_\(k)"] != nil { k += 1 }
                let renamed = "\(name)_\(k)"
                notes.append("duplicate header '\(name)' in column \(i + 1); renamed '\(renamed)'")
                seen[name] = k
                seen[renamed] = 1
                name = renamed
            } else {
                seen[name] = 1
            }
            names.append(name)
        }
        return (names, notes)
    }
}

/// Signals that the chunks must be re-read differently.
enum ReadRestart: Error {
    /// A chunk boundary fell inside a record (stray quotes): read sequentially.
    case sequential
    /// Invalid UTF-8 appeared after the sampled head: re-read as Windows-1252.
    case reencode
}

extension CSVFile {
    struct ChunkResult<R: Sendable>: Sendable {
        var value: R
        var lineCount: Int
        var endedClean: Bool
        var invalidUTF8Line: Int?
        var ragged: RawReject?
        var overflowed: Bool
    }

    var threadCount: Int { options.threads > 0 ? options.threads : defaultThreadCount() }

    /// Reads every record in chunks, runs `process` on each (concurrently), and hands the results to `consume` in order
    /// with the absolute line number of the chunk's first line.
    func readChunks<R: Sendable>(sequential: Bool, maxChunks: Int = .max, process: @escaping @Sendable (RawChunk) -> R,
                                 consume: (R, Int) throws -> Void) throws {
        let columnCount = columnNames.count
        let delimiter = dialect.delimiter, quote = dialect.quote, ragged = options.ragged
        // NB: a file detected as UTF-8 that has stray invalid bytes keeps its good rows; the bad ones are rejected.
        let rejectInvalid = options.onInvalidEncoding == .reject || (encodingWasDetected && dialect.encoding == .utf8)
        var decidedUTF8 = false
        // At least one column is stored, so rows keep a count (and a one-column file its blank-line-as-null rule).
        let skip = options.skipColumns.count < columnCount ? options.skipColumns : options.skipColumns.subtracting([0])
        let work = OrderedWork<ChunkResult<R>>(threads: threadCount, limit: threadCount + 1)
        // NB: the workers must be stopped on every way out (an empty file returns early, a read can throw); a pool left
        // running keeps its threads, and itself, alive for the rest of the process.
        defer { work.abandon() }
        var lineBase = dataStartLine
        let path = self.path
        let encodingWasDetected = self.encodingWasDetected && dialect.encoding == .utf8
        let handle: (ChunkResult<R>) throws -> Void = { r in
            guard r.endedClean else { throw ReadRestart.sequential }
            if r.overflowed {
                throw CRMFlowError(.badData, "a record holds more than 4 GiB of text in one column", at: "\(path):\(lineBase)",
                                   hint: "check the file's quoting: an unbalanced quote can swallow the rest of the file into one field")
            }
            if let l = r.invalidUTF8Line {
                if encodingWasDetected, !decidedUTF8 {
                    // Invalid bytes past the sampled head: decide on the whole file whether it is UTF-8 at all.
                    if !self.wholeFileLooksLikeUTF8() { throw ReadRestart.reencode }
                    decidedUTF8 = true
                }
                if !rejectInvalid {
                    let where_ = self.firstInvalidUTF8Offset().map { " (byte offset \($0))" } ?? ""
                    throw CRMFlowError(.badData, "the record is not valid UTF-8\(where_)", at: "\(path):\(lineBase + l)",
                                       hint: "pass --encoding windows-1252 (or the file's real encoding), or --on-invalid-encoding reject")
                }
            }
            if ragged == .error, let bad = r.ragged {
                throw CRMFlowError(.badData, bad.reason, at: "\(path):\(lineBase + bad.line)", hint: "fix the record, or pass --ragged reject|pad")
            }
            try consume(r.value, lineBase)
            lineBase += r.lineCount
        }
        let wrap: @Sendable (RawChunk) -> ChunkResult<R> = { raw in
            ChunkResult(value: process(raw), lineCount: raw.lineCount, endedClean: raw.endedClean, invalidUTF8Line: raw.invalidUTF8Line,
                        ragged: raw.rejects.first { $0.code.hasPrefix("E_TOO") }, overflowed: raw.overflowed)
        }
        let total = source.size
        var offset = dataStart
        let chunkSize = max(options.chunkSize, 1024)
        if columnCount == 0 || offset >= total {
            return
        }
        // NB: a sample (`maxChunks`) stops submitting, so the workers do not parse chunks ahead that nobody reads.
        var submitted = 0
        if sequential {
            let state = ChunkParserState(columnCount: columnCount, delimiter: delimiter, ragged: ragged, rejectInvalidEncoding: rejectInvalid, expectedBytes: chunkSize,
                                         skip: skip)
            let parser = LibCSVParser(state: state, delimiter: delimiter, quote: quote)
            var block: [UInt8] = []
            while offset < total {
                block.removeAll(keepingCapacity: true)
                let n = try source.read(at: offset, count: chunkSize, into: &block)
                if n == 0 { break }
                offset += n
                guard block.withUnsafeBytes({ parser.parse($0) }) else { throw CRMFlowError(.badData, "out of memory while parsing", at: path) }
                if offset >= total { parser.finish() }
                let chunk = state.detach(endedClean: true)
                try work.submit({ wrap(chunk) }, consume: handle)
                submitted += 1
                if submitted >= maxChunks { break }
            }
            try work.finish(consume: handle)
            return
        }
        var carry: [UInt8] = []
        while true {
            var block = carry
            carry = []
            let n = try source.read(at: offset, count: chunkSize, into: &block)
            offset += n
            let isFinal = offset >= total || n == 0
            if !isFinal {
                guard let cut = Self.findCut(block, quote: quote) else {
                    carry = block
                    continue
                }
                carry = Array(block[cut...])
                block.removeSubrange(cut...)
            }
            let bytes = block
            try work.submit({
                let state = ChunkParserState(columnCount: columnCount, delimiter: delimiter, ragged: ragged, rejectInvalidEncoding: rejectInvalid,
                                             expectedBytes: bytes.count, skip: skip)
                state.plainText = bytes.withUnsafeBytes { isPlainText($0, quote: quote) }
                let parser = LibCSVParser(state: state, delimiter: delimiter, quote: quote, mayHoldBlanks: bytes.withUnsafeBytes { blanksMatter($0, delimiter: delimiter, quote: quote) })
                _ = bytes.withUnsafeBytes { parser.parse($0) }
                let clean = parser.isAtRecordBoundary
                if isFinal { parser.finish() }
                return wrap(state.detach(endedClean: isFinal || clean))
            }, consume: handle)
            submitted += 1
            if isFinal || submitted >= maxChunks { break }
        }
        try work.finish(consume: handle)
    }

    /// Whether the whole file reads best as UTF-8 (see `UTF8Validation.looksLikeUTF8`); an error path.
    func wholeFileLooksLikeUTF8() -> Bool {
        guard case .file(let input) = source else { return true }
        var offset = dataStart
        let block = 8 << 20
        var multibyte = 0, invalid = 0
        while offset < input.size {
            var buffer: [UInt8] = []
            guard let n = try? input.read(at: offset, count: block, into: &buffer), n > 0 else { break }
            let c = UTF8Validation.census(buffer[...])
            multibyte += c.multibyte
            invalid += c.invalid
            offset += n
        }
        return UTF8Validation.looksLikeUTF8(multibyte: multibyte, invalid: invalid)
    }

    /// The file offset of the first byte that is not valid UTF-8 (an error path: reads the file again in blocks).
    func firstInvalidUTF8Offset() -> Int? {
        guard case .file(let input) = source else { return nil }
        var offset = dataStart
        let block = 8 << 20
        while offset < input.size {
            var buffer: [UInt8] = []
            guard let n = try? input.read(at: offset, count: block + 3, into: &buffer), n > 0 else { return nil }
            if let bad = UTF8Validation.firstInvalid(buffer[...]) {
                // A sequence cut by the block end is not an error unless it is the end of the file.
                if bad < min(n, block) || offset + n >= input.size { return offset + bad }
            }
            offset += block
        }
        return nil
    }

    /// The offset just after the last line end at which the quote count from the block start is even; nil if none.
    static func findCut(_ block: [UInt8], quote: UInt8) -> Int? {
        block.withUnsafeBufferPointer { p -> Int? in
            // Without a quote in the block, the last line end is the cut (memchr and a backward scan, no counting).
            if let base = p.baseAddress, memchr(base, Int32(quote), p.count) == nil {
                var i = p.count - 1
                while i > 0 {
                    let c = p[i]
                    if c == 10 || (c == 13 && i + 1 < p.count && p[i + 1] != 10) { return i + 1 }
                    i -= 1
                }
                return nil
            }
            // Count quotes 8 bytes at a time: a zero byte in (word ^ quotes) marks a quote.
            var quotes = 0
            var k = 0
            let pattern = UInt64(quote) &* 0x0101_0101_0101_0101
            if let base = p.baseAddress {
                let raw = UnsafeRawPointer(base)
                while k + 8 <= p.count {
                    let x = raw.loadUnaligned(fromByteOffset: k, as: UInt64.self) ^ pattern
                    // Exact per-byte zero test (no false positives from borrows).
                    let t = ((x & 0x7F7F_7F7F_7F7F_7F7F) &+ 0x7F7F_7F7F_7F7F_7F7F) | x
                    quotes &+= (~t & 0x8080_8080_8080_8080).nonzeroBitCount
                    k += 8
                }
            }
            while k < p.count {
                if p[k] == quote { quotes &+= 1 }
                k += 1
            }
            var parity = quotes & 1
            var i = p.count - 1
            while i > 0 {
                let c = p[i]
                if parity == 0, c == 10 || (c == 13 && i + 1 < p.count && p[i + 1] != 10) { return i + 1 }
                if c == quote { parity ^= 1 }
                i -= 1
            }
            return nil
        }
    }

    /// Runs a read, retrying sequentially or re-encoded when the fast path cannot be trusted.
    func readRobustly(_ body: (CSVFile, Bool) throws -> Void) throws {
        do {
            try body(self, false)
        } catch ReadRestart.sequential {
            do { try body(self, true) } catch ReadRestart.reencode { try reencoded().readRobustly(body) }
        } catch ReadRestart.reencode {
            try reencoded().readRobustly(body)
        }
    }

    /// The same file read with another chunk size.
    func withChunkSize(_ size: Int) -> CSVFile {
        var o = options
        o.chunkSize = size
        return CSVFile(path: path, dialect: dialect, columnNames: columnNames, headerNotes: headerNotes, options: o, source: source,
                       dataStart: dataStart, dataStartLine: dataStartLine, encodingWasDetected: encodingWasDetected)
    }

    func reencoded() throws(CRMFlowError) -> CSVFile {
        var o = options
        o.encoding = .windows1252
        let f = try CSVFile.open(path, options: o)
        var d = f.dialect
        d.notes = ["not valid UTF-8 past the first MiB; read as windows-1252"] + d.notes.filter { !$0.hasPrefix("encoding") }
        return CSVFile(path: f.path, dialect: d, columnNames: f.columnNames, headerNotes: f.headerNotes, options: f.options, source: f.source,
                       dataStart: f.dataStart, dataStartLine: f.dataStartLine, encodingWasDetected: true)
    }
}
