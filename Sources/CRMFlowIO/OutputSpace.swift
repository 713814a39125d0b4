#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CRMFlowCore

/// Where a run may write: inside its output directory (after `..` and symlinks are resolved), or under a directory the
/// user allowed. Files under the output directory are first written to a staging directory and moved into place
/// together when the run is published (`OutputPublisher`), so the output directory is never left half-replaced.
public struct OutputSpace: Sendable {
    /// The output directory as given (messages show it).
    public let directory: String
    /// Its absolute, normalised form.
    public let absoluteDirectory: String
    /// Where files for the output directory are written until the run is published; nil: written in place.
    public let staging: String?
    /// The pipeline opted in to writing anywhere (`allow_outside_out: true`).
    public let allowsOutside: Bool
    /// Directories named with `--allow-write DIR` (absolute, normalised).
    public let allowedRoots: [String]

    public init(directory: String, baseDirectory: String, staging: String? = nil, allowsOutside: Bool = false, allowedRoots: [String] = []) {
        self.directory = directory
        absoluteDirectory = Self.normalized(Self.absolute(directory, base: baseDirectory))
        self.staging = staging
        self.allowsOutside = allowsOutside
        self.allowedRoots = allowedRoots.map { Self.normalized(Self.absolute($0, base: baseDirectory)) }
    }

    /// The final location of `path` (relative paths are relative to the output directory), checked: a path that leaves
    /// the output directory is refused unless the pipeline allows it.
    public func target(_ path: String) throws(CRMFlowError) -> String {
        let full = Self.normalized(Self.absolute(path, base: absoluteDirectory))
        if Self.isInside(full, absoluteDirectory) {
            // NB: lexically inside, but a symlinked folder on the way could still lead out.
            let real = Self.physical(full), realRoot = Self.physical(absoluteDirectory)
            if Self.isInside(real, realRoot) || allows(real) { return full }
            throw CRMFlowError(.cannotWrite, "'\(path)' leads outside the output directory '\(directory)' through a symbolic link (to '\(real)')",
                               hint: "write inside the output directory, or allow the target with --allow-write DIR")
        }
        if allows(full) || allows(Self.physical(full)) { return full }
        throw CRMFlowError(.cannotWrite, "'\(path)' is outside the output directory '\(directory)'",
                           hint: "output paths are relative to --out; to write elsewhere, add `allow_outside_out: true` to the pipeline or run with --allow-write DIR")
    }

    /// Where to write `path` now: its place in the staging directory, or its final place when it is not staged.
    public func writePath(_ path: String) throws(CRMFlowError) -> String {
        let full = try target(path)
        guard let staging, Self.isInside(full, absoluteDirectory) else { return full }
        return staging + String(full.dropFirst(absoluteDirectory.count))
    }

    /// The final place of a file written at `written` (a staging path maps back to the output directory).
    public func finalPath(ofWritten written: String) -> String {
        guard let staging, written.hasPrefix(staging + "/") else { return written }
        return absoluteDirectory + String(written.dropFirst(staging.count))
    }

    /// `path` as messages show it: relative to where crmflow runs when it is under the output directory as given.
    public func display(_ absolute: String) -> String {
        guard Self.isInside(absolute, absoluteDirectory) else { return absolute }
        let rest = String(absolute.dropFirst(absoluteDirectory.count))
        return directory.hasSuffix("/") && rest.hasPrefix("/") ? directory + rest.dropFirst() : directory + rest
    }

    func allows(_ full: String) -> Bool {
        if allowsOutside { return true }
        return allowedRoots.contains { Self.isInside(full, $0) || Self.isInside(full, Self.physical($0)) }
    }

    /// Why an output path written in a pipeline leaves the output directory whatever `--out` is, or nil. Symbolic links
    /// are checked when the run writes.
    public static func lexicalProblem(_ path: String, allowsOutside: Bool, allowedRoots: [String], baseDirectory: String) -> String? {
        if allowsOutside { return nil }
        if path.hasPrefix("/") {
            let full = normalized(path)
            let roots = allowedRoots.map { normalized(absolute($0, base: baseDirectory)) }
            if roots.contains(where: { isInside(full, $0) }) { return nil }
            return "the absolute path '\(path)' is outside the output directory"
        }
        let parts = normalizedComponents(path)
        // NB: with --allow-write, where a climbing path lands depends on --out: the run checks it.
        if parts.first == "..", allowedRoots.isEmpty { return "'\(path)' climbs out of the output directory" }
        return nil
    }

    // MARK: paths

    static func absolute(_ path: String, base: String) -> String {
        if path.hasPrefix("/") { return path }
        return base.hasSuffix("/") ? base + path : base + "/" + path
    }

    /// Components after removing `.`, empty parts and `..` where it has a parent; leading `..` are kept.
    static func normalizedComponents(_ path: String) -> [Substring] {
        var out: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == "..", let last = out.last, last != ".." {
                out.removeLast()
                continue
            }
            out.append(part)
        }
        return out
    }

    /// An absolute path with `.` and `..` resolved lexically (`/..` is `/`).
    static func normalized(_ path: String) -> String {
        let parts = normalizedComponents(path).filter { $0 != ".." || !path.hasPrefix("/") }
        return "/" + parts.joined(separator: "/")
    }

    static func isInside(_ path: String, _ root: String) -> Bool {
        root == "/" || path == root || path.hasPrefix(root + "/")
    }

    /// The path with every symbolic link in its existing part resolved; the part that does not exist yet is appended.
    static func physical(_ path: String) -> String {
        var existing = path
        var rest: [String] = []
        while existing != "/" {
            if let r = realpath(existing, nil) {
                defer { free(r) }
                let resolved = String(cString: r)
                return rest.isEmpty ? resolved : normalized(resolved + "/" + rest.reversed().joined(separator: "/"))
            }
            guard let slash = existing.lastIndex(of: "/") else { break }
            rest.append(String(existing[existing.index(after: slash)...]))
            existing = slash == existing.startIndex ? "/" : String(existing[..<slash])
        }
        return normalized("/" + rest.reversed().joined(separator: "/"))
    }
}
