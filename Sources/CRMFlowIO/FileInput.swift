#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CRMFlowCore

/// Reads a file sequentially in large blocks with POSIX I/O (no Foundation on the hot path).
final class FileInput {
    let path: String
    private let fd: Int32
    let size: Int

    init(path: String) throws(CRMFlowError) {
        self.path = path
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw CRMFlowError(.inputMissing, "cannot open '\(path)': \(String(cString: strerror(errno)))", hint: "check the path; it is resolved from the current directory")
        }
        guard (st.st_mode & S_IFMT) != S_IFDIR else { throw CRMFlowError(.inputMissing, "'\(path)' is a directory, not a file") }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw CRMFlowError(.inputMissing, "cannot open '\(path)': \(String(cString: strerror(errno)))", hint: "check the path and its permissions")
        }
        self.fd = fd
        size = Int(st.st_size)
    }

    deinit { close(fd) }

    /// Reads up to `count` bytes at `offset`, appending to `buffer`; returns the number read.
    @discardableResult
    func read(at offset: Int, count requested: Int, into buffer: inout [UInt8]) throws(CRMFlowError) -> Int {
        let count = max(0, min(requested, size - offset))
        guard count > 0 else { return 0 }
        let start = buffer.count
        var total = 0
        var failure: Int32 = 0
        let fd = self.fd
        // NB: read straight into the array's spare capacity; no zero-filling of a buffer about to be overwritten.
        var grown = [UInt8](unsafeUninitializedCapacity: start + count) { raw, initialized in
            if start > 0 { raw.baseAddress!.update(from: buffer, count: start) }
            while total < count {
                let n = pread(fd, raw.baseAddress! + start + total, count - total, off_t(offset + total))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    break
                }
                if n == 0 { break }
                total += n
            }
            initialized = start + total
        }
        swap(&buffer, &grown)
        if failure != 0 { throw CRMFlowError(.badData, "read error in '\(path)': \(String(cString: strerror(failure)))") }
        return total
    }

    /// The whole file.
    func readAll() throws(CRMFlowError) -> [UInt8] {
        var out: [UInt8] = []
        try read(at: 0, count: size, into: &out)
        return out
    }
}

/// Where a file's bytes come from once decoded: the file itself (UTF-8) or a decoded copy in memory.
enum ByteSource: @unchecked Sendable {
    // NB: FileInput is used only from the producer thread; the enum is handed to it, never shared with workers.
    case file(FileInput)
    case memory([UInt8])

    var size: Int {
        switch self {
        case .file(let f): return f.size
        case .memory(let m): return m.count
        }
    }

    func read(at offset: Int, count: Int, into buffer: inout [UInt8]) throws(CRMFlowError) -> Int {
        switch self {
        case .file(let f): return try f.read(at: offset, count: count, into: &buffer)
        case .memory(let m):
            let end = min(m.count, offset + count)
            guard offset < end else { return 0 }
            buffer.append(contentsOf: m[offset..<end])
            return end - offset
        }
    }
}
