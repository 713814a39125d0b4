#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CRMFlowCore
import Foundation
import Synchronization

/// Moves a run's staged files into its output directory once every stage has finished, keeping the files they
/// replace, so a failed or killed run never leaves the directory half old and half new.
///
/// Layout under the output directory: `.crmflow/staging-<pid>-<n>/` while a run writes, `.crmflow/previous/<stamp>/`
/// for the files each of the last runs replaced, `.crmflow/failed/` for what the last failed run wrote.
public enum OutputPublisher {
    public static let stateFolder = ".crmflow"

    /// A new, empty staging directory for a run writing into `directory` (created with its parents).
    public static func makeStaging(for directory: String) throws(CRMFlowError) -> String {
        let root = directory + "/" + stateFolder
        sweepStale(root)
        let path = root + "/staging-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw CRMFlowError(.cannotWrite, "cannot create the output directory '\(directory)'",
                               hint: "check that its parent exists and is writable, or choose another with --out DIR")
        }
        return path
    }

    /// Removes staging directories left by runs that were killed (their process no longer exists).
    static func sweepStale(_ root: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: root) else { return }
        for name in names where name.hasPrefix("staging-") {
            let pid = name.dropFirst("staging-".count).split(separator: "-").first.flatMap { Int32($0) } ?? 0
            if pid > 0, pid != getpid(), kill(pid, 0) == 0 || errno == EPERM { continue }
            try? FileManager.default.removeItem(atPath: root + "/" + name)
        }
    }

    /// Every regular file under `folder`, as paths relative to it, sorted.
    static func files(under folder: String) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: folder) else { return [] }
        var out: [String] = []
        while let rel = walker.nextObject() as? String {
            var st = stat()
            if lstat(folder + "/" + rel, &st) == 0, st.st_mode & S_IFMT == S_IFREG { out.append(rel) }
        }
        return out.sorted()
    }

    /// Moves every staged file to its place under `directory`, and removes `removals` (final paths of files this run
    /// no longer produces, e.g. a rejects file of a stage that now rejects nothing). The files replaced or removed are
    /// kept in `.crmflow/previous/<stamp>/`; only the newest `keepRuns` such folders are kept (0: none).
    /// - Returns: the final paths written.
    @discardableResult
    public static func publish(staging: String, into directory: String, removals: [String] = [], keepRuns: Int) throws(CRMFlowError) -> [String] {
        let fm = FileManager.default
        let root = directory + "/" + stateFolder
        let backup = root + "/previous/" + stamp()
        var backedUp = false
        func keep(_ final: String, _ rel: String) throws(CRMFlowError) {
            guard keepRuns > 0 else { return }
            let copy = backup + "/" + rel
            do { try fm.createDirectory(atPath: (copy as NSString).deletingLastPathComponent, withIntermediateDirectories: true) } catch {
                throw CRMFlowError(.cannotWrite, "cannot keep the previous '\(final)' in '\(backup)'", hint: "check free space and permissions, or run with --keep-runs 0")
            }
            // NB: a hard link keeps the old bytes without copying them; the rename below then replaces the name only.
            if link(final, copy) != 0 {
                do { try fm.copyItem(atPath: final, toPath: copy) } catch {
                    throw CRMFlowError(.cannotWrite, "cannot keep the previous '\(final)' in '\(backup)': \(error.localizedDescription)")
                }
            }
            backedUp = true
        }
        var written: [String] = []
        let staged = files(under: staging)
        // First every folder, before any file moves: a folder that cannot be made (a file in its place, no permission)
        // then fails the publication with nothing replaced.
        for rel in staged {
            let final = directory + "/" + rel
            var isDirectory: ObjCBool = false
            do { try fm.createDirectory(atPath: (final as NSString).deletingLastPathComponent, withIntermediateDirectories: true) } catch {
                throw CRMFlowError(.cannotWrite, "cannot create the folder for '\(final)'", hint: "a file or a read-only folder is in the way")
            }
            if fm.fileExists(atPath: final, isDirectory: &isDirectory), isDirectory.boolValue {
                throw CRMFlowError(.cannotWrite, "cannot write '\(final)': a folder of that name is in the way", hint: "move it, or choose another output path")
            }
        }
        for rel in staged {
            let staged = staging + "/" + rel
            let final = directory + "/" + rel
            if fm.fileExists(atPath: final) { try keep(final, rel) }
            guard rename(staged, final) == 0 else {
                throw CRMFlowError(.cannotWrite, "cannot move the finished file into place: \(String(cString: strerror(errno)))", at: final)
            }
            written.append(final)
        }
        for final in removals where fm.fileExists(atPath: final) {
            let absoluteDirectory = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
            guard final.hasPrefix(absoluteDirectory + "/") else { continue }
            try keep(final, String(final.dropFirst(absoluteDirectory.count + 1)))
            unlink(final)
        }
        try? fm.removeItem(atPath: staging)
        if backedUp || keepRuns == 0 { prune(root + "/previous", keeping: keepRuns) }
        return written
    }

    /// Keeps what a failed run wrote in `.crmflow/failed/` (replacing the last failed run's), leaving every published
    /// file as it was. Returns that folder.
    @discardableResult
    public static func setAside(staging: String, of directory: String) -> String {
        let failed = directory + "/" + stateFolder + "/failed"
        try? FileManager.default.removeItem(atPath: failed)
        if rename(staging, failed) != 0 { try? FileManager.default.removeItem(atPath: staging) }
        return failed
    }

    /// Removes what an interrupted run wrote, and the state folder when nothing else is in it.
    public static func discard(staging: String, of directory: String) {
        try? FileManager.default.removeItem(atPath: staging)
        rmdir(directory + "/" + stateFolder)
    }

    /// Removes all but the newest `keeping` folders of `folder` (their names sort by time).
    static func prune(_ folder: String, keeping: Int) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        for name in names.sorted().dropLast(max(0, keeping)) { try? FileManager.default.removeItem(atPath: folder + "/" + name) }
        if keeping == 0 { rmdir(folder) }
    }

    private static let published = Atomic<Int>(0)

    /// `YYYYMMDDTHHMMSSZ-<pid>-<n>`: sorts by time, unique.
    static func stamp() -> String {
        var t = time(nil)
        var parts = tm()
        gmtime_r(&t, &parts)
        let text = String(format: "%04d%02d%02dT%02d%02d%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                          Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
        let n = published.wrappingAdd(1, ordering: .relaxed).newValue
        return text + String(format: "-%d-%06d", Int(getpid()), n)
    }
}
