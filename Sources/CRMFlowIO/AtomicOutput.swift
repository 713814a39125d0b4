#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CRMFlowCore

/// A file written to a temporary name beside its target and renamed into place only on `commit()`;
/// an abandoned or failed write leaves the previous file untouched.
public final class AtomicOutput {
    public let path: String
    let tempPath: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    private var committed = false

    /// - Parameter inputs: the run's input files; writing over one of them is refused.
    public init(path: String, inputs: [String] = []) throws(CRMFlowError) {
        self.path = path
        for input in inputs where Self.sameFile(input, path) {
            throw CRMFlowError(.cannotWrite, "refusing to overwrite the input file '\(input)'", at: path, hint: "choose another output path")
        }
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { String(path[..<$0]) } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        var st = stat()
        if !dir.isEmpty, stat(dir, &st) != 0 {
            throw CRMFlowError(.cannotWrite, "the folder '\(dir)' does not exist", at: path, hint: "create it first, or choose another output path")
        }
        tempPath = (dir.isEmpty ? "" : dir + "/") + ".\(base).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        fd = open(tempPath, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else {
            throw CRMFlowError(.cannotWrite, "cannot create a file in '\(dir)': \(String(cString: strerror(errno)))", at: path)
        }
        buffer.reserveCapacity(1 << 20)
    }

    deinit {
        if !committed { abandon() }
    }

    static func sameFile(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        guard stat(a, &sa) == 0, stat(b, &sb) == 0 else { return false }
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }

    public func write(_ bytes: [UInt8]) throws(CRMFlowError) {
        if bytes.count >= 1 << 20 {
            // NB: large blocks go straight to the file instead of through the buffer.
            try flush()
            try writeAll(bytes)
            return
        }
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 20 { try flush() }
    }

    public func write(_ text: String) throws(CRMFlowError) { try write(Array(text.utf8)) }

    func flush() throws(CRMFlowError) {
        try writeAll(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: [UInt8]) throws(CRMFlowError) {
        var written = 0
        var failure: Int32 = 0
        let fd = self.fd
        bytes.withUnsafeBytes { raw in
            while written < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                written += n
            }
        }
        if failure != 0 {
            abandon()
            throw CRMFlowError(.cannotWrite, "write failed: \(String(cString: strerror(failure)))", at: path)
        }
    }

    /// Discards what was written so far and starts again (used when a read must be redone).
    public func truncate() throws(CRMFlowError) {
        buffer.removeAll(keepingCapacity: true)
        guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else {
            throw CRMFlowError(.cannotWrite, "cannot rewind the temporary file", at: path)
        }
    }

    /// Flushes, syncs and renames the temporary file over the target.
    public func commit() throws(CRMFlowError) {
        try flush()
        fsync(fd)
        close(fd)
        fd = -1
        guard rename(tempPath, path) == 0 else {
            let e = errno
            unlink(tempPath)
            committed = true
            throw CRMFlowError(.cannotWrite, "cannot move the finished file into place: \(String(cString: strerror(e)))", at: path)
        }
        committed = true
    }

    /// Removes the temporary file; the target is left as it was.
    public func abandon() {
        if fd >= 0 {
            close(fd)
            fd = -1
        }
        unlink(tempPath)
        committed = true
    }
}
