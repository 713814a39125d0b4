import CRMFlowCore
#if canImport(Glibc)
import Glibc
#endif

/// Minimal unbuffered stderr/stdout access without Foundation's FileHandle.
enum FileHandle {
    struct Stream {
        let fd: Int32
        /// Writes `s` with every secret from the environment replaced by its `${env:NAME}` (see `Secrets`).
        func write(_ s: String) {
            var s = Secrets.redact(s)
            s.withUTF8 { buf in
                var off = 0
                while off < buf.count {
                    let n = Glibc.write(fd, buf.baseAddress! + off, buf.count - off)
                    if n <= 0 { return }
                    off += n
                }
            }
        }
    }
    static let standardError = Stream(fd: 2)
    static let standardOutput = Stream(fd: 1)
}
