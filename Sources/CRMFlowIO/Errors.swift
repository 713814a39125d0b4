import CRMFlowCore

/// Process exit codes (DESIGN §7).
public enum ExitStatus: Int32, Sendable {
    case ok = 0
    case stageFailed = 1
    case usage = 2
    case badData = 65
    case inputMissing = 66
    case cannotWrite = 73
    case badPipeline = 78
}

/// An error for the person running crmflow: what happened, where, and what to do.
public struct CRMFlowError: Error, Sendable, CustomStringConvertible, Equatable {
    public var status: ExitStatus
    public var message: String
    /// `file`, `file:line` or `file:line:column`, when known.
    public var location: String?
    public var hint: String?

    public init(_ status: ExitStatus, _ message: String, at location: String? = nil, hint: String? = nil) {
        self.status = status
        self.message = message
        self.location = location
        self.hint = hint
    }

    public var description: String {
        var s = "error: "
        if let location { s += "\(location): " }
        s += message
        if let hint { s += "\n  hint: \(hint)" }
        return s
    }
}

/// A row that could not be used, kept with where it came from and why.
public struct Reject: Sendable, Hashable {
    public var source: String
    /// Physical line number where the record starts (1-based); 0 when not from a line-based file.
    public var line: Int
    public var code: String
    public var reason: String
    /// The record as read (re-encoded as CSV when it came from CSV).
    public var record: String

    public init(source: String, line: Int, code: String, reason: String, record: String) {
        self.source = source
        self.line = line
        self.code = code
        self.reason = reason
        self.record = record
    }

    public static let columnNames = ["source", "line", "code", "reason", "record"]
}
