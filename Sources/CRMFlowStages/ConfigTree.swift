import CRMFlowCore

/// A position in a pipeline file (1-based line and column, columns counted in characters).
public struct SourceLocation: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }
    public var description: String { "\(file):\(line):\(column)" }
    public static func < (a: SourceLocation, b: SourceLocation) -> Bool {
        (a.file, a.line, a.column) < (b.file, b.line, b.column)
    }
}

/// A YAML node copied into a `Sendable` tree that keeps where every key and value was written.
public struct ConfigNode: Sendable {
    public enum Content: Sendable {
        case scalar(String)
        case mapping([ConfigEntry])
        case sequence([ConfigNode])
        case null
    }
    public var content: Content
    public var location: SourceLocation
    /// True for `'quoted'` and `"quoted"` scalars (their text starts one column after `location`).
    public var isQuoted: Bool
    /// True when the value took text from `${env:...}`: never print it.
    public var containsSecret: Bool
    /// The scalar as written, before `${...}` substitution (what logs and messages show).
    public var rawText: String?

    public init(content: Content, location: SourceLocation, isQuoted: Bool = false, containsSecret: Bool = false, rawText: String? = nil) {
        self.content = content
        self.location = location
        self.isQuoted = isQuoted
        self.containsSecret = containsSecret
        self.rawText = rawText
    }

    public var scalar: String? { if case .scalar(let s) = content { return s }; return nil }
    public var entries: [ConfigEntry]? { if case .mapping(let e) = content { return e }; return nil }
    public var items: [ConfigNode]? { if case .sequence(let i) = content { return i }; return nil }
    public var isNull: Bool { if case .null = content { return true }; return false }

    /// The value of `key` in a mapping (the first, when a key is repeated).
    public subscript(key: String) -> ConfigNode? { entries?.first { $0.key == key }?.value }

    /// What kind of node this is, for "expected ... but found ..." messages.
    public var shapeName: String {
        switch content {
        case .scalar: return "a value"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .null: return "nothing"
        }
    }

    /// The location of the scalar's first character of text (after an opening quote).
    public var textLocation: SourceLocation {
        var l = location
        if isQuoted { l.column += 1 }
        return l
    }

    /// What to show of the value in messages: the text as written when it holds a secret.
    public var displayText: String {
        if containsSecret { return rawText ?? "***" }
        return scalar ?? shapeName
    }
}

/// A key of a mapping with its location and value.
public struct ConfigEntry: Sendable {
    public var key: String
    public var keyLocation: SourceLocation
    public var value: ConfigNode
    public init(key: String, keyLocation: SourceLocation, value: ConfigNode) {
        self.key = key
        self.keyLocation = keyLocation
        self.value = value
    }
}

/// A problem in a pipeline file: a stable code, where, what, and what to do.
public struct Diagnostic: Sendable, Hashable {
    public var code: DiagnosticCode
    public var message: String
    public var location: SourceLocation?
    /// Characters to underline from `location` (at least 1).
    public var length: Int
    public var hint: String?

    public init(_ code: DiagnosticCode, _ message: String, at location: SourceLocation?, length: Int = 1, hint: String? = nil) {
        self.code = code
        self.message = message
        self.location = location
        self.length = max(length, 1)
        self.hint = hint
    }
}

/// Stable diagnostic codes, in numbered ranges: 0xx file, 1xx top level and variables, 2xx stages and options,
/// 3xx graph, 4xx expressions, 5xx data files, 6xx tests.
public struct DiagnosticCode: Sendable, Hashable, CustomStringConvertible {
    public let number: Int
    public let name: String
    public var description: String { String(format: "CF%03d", number) }

    init(_ number: Int, _ name: String) {
        self.number = number
        self.name = name
    }

    public static let yamlSyntax = DiagnosticCode(1, "yaml-syntax")
    public static let wrongShape = DiagnosticCode(100, "wrong-shape")
    public static let unknownTopLevelKey = DiagnosticCode(101, "unknown-top-level-key")
    public static let missingTopLevelKey = DiagnosticCode(102, "missing-top-level-key")
    public static let duplicateKey = DiagnosticCode(103, "duplicate-key")
    public static let undefinedVariable = DiagnosticCode(110, "undefined-variable")
    public static let missingEnvironment = DiagnosticCode(111, "missing-environment-variable")
    public static let unknownKind = DiagnosticCode(200, "unknown-stage-kind")
    public static let kindCount = DiagnosticCode(201, "stage-kind-count")
    public static let duplicateStage = DiagnosticCode(202, "duplicate-stage-id")
    public static let invalidStageID = DiagnosticCode(203, "invalid-stage-id")
    public static let unknownOption = DiagnosticCode(210, "unknown-option")
    public static let missingOption = DiagnosticCode(211, "missing-option")
    public static let optionShape = DiagnosticCode(212, "option-shape")
    public static let invalidValue = DiagnosticCode(213, "invalid-value")
    public static let outputOutsideOut = DiagnosticCode(214, "output-outside-out")
    public static let unknownInput = DiagnosticCode(300, "unknown-input")
    public static let cycle = DiagnosticCode(301, "cycle")
    public static let inputCount = DiagnosticCode(302, "input-count")
    public static let expressionSyntax = DiagnosticCode(400, "expression-syntax")
    public static let expressionType = DiagnosticCode(401, "expression-type")
    public static let unknownColumn = DiagnosticCode(402, "unknown-column")
    public static let unknownFunction = DiagnosticCode(403, "unknown-function")
    public static let inputFileMissing = DiagnosticCode(500, "input-file-missing")
    public static let inputFileUnreadable = DiagnosticCode(501, "input-file-unreadable")
    public static let testProblem = DiagnosticCode(600, "test-definition")

    public static let all: [DiagnosticCode] = [
        yamlSyntax, wrongShape, unknownTopLevelKey, missingTopLevelKey, duplicateKey, undefinedVariable, missingEnvironment,
        unknownKind, kindCount, duplicateStage, invalidStageID, unknownOption, missingOption, optionShape, invalidValue, outputOutsideOut,
        unknownInput, cycle, inputCount, expressionSyntax, expressionType, unknownColumn, unknownFunction,
        inputFileMissing, inputFileUnreadable, testProblem,
    ]
}

import Foundation

/// Collects diagnostics; shared by the phases of loading so every problem is reported at once.
public final class DiagnosticLog: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Diagnostic] = []
    public init() {}

    public func add(_ d: Diagnostic) {
        lock.lock()
        defer { lock.unlock() }
        if !items.contains(d) { items.append(d) }
    }

    public func add(_ code: DiagnosticCode, _ message: String, at location: SourceLocation?, length: Int = 1, hint: String? = nil) {
        add(Diagnostic(code, message, at: location, length: length, hint: hint))
    }

    /// Every diagnostic, in file order.
    public var all: [Diagnostic] {
        lock.lock()
        defer { lock.unlock() }
        return items.enumerated().sorted { a, b in
            switch (a.element.location, b.element.location) {
            case (let x?, let y?): return x != y ? x < y : a.offset < b.offset
            case (nil, _?): return false
            case (_?, nil): return true
            default: return a.offset < b.offset
            }
        }.map(\.element)
    }

    /// Diagnostics added so far (insertion order), for "since this point" checks.
    public var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return items.count
    }

    /// Diagnostics added after the first `count`, in insertion order.
    public func added(since count: Int) -> [Diagnostic] {
        lock.lock()
        defer { lock.unlock() }
        return Array(items.dropFirst(count))
    }

    public var isEmpty: Bool {
        lock.lock()
        defer { lock.unlock() }
        return items.isEmpty
    }
}

/// Renders diagnostics with the offending line and a caret under the spot.
public enum DiagnosticRenderer {
    /// `sources` maps a file name to its text.
    public static func render(_ d: Diagnostic, sources: [String: String]) -> String {
        var out = ""
        if let loc = d.location { out += "\(loc): " }
        out += "error[\(d.code)]: \(d.message)\n"
        if let loc = d.location, let text = sources[loc.file] {
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            if loc.line >= 1, loc.line <= lines.count {
                let line = lines[loc.line - 1].replacingOccurrences(of: "\r", with: "").replacingOccurrences(of: "\t", with: " ")
                let gutter = String(loc.line)
                let pad = String(repeating: " ", count: gutter.count)
                out += " \(gutter) | \(line)\n"
                let width = max(1, min(d.length, max(1, line.count - loc.column + 1)))
                out += " \(pad) | " + String(repeating: " ", count: max(0, loc.column - 1)) + String(repeating: "^", count: width) + "\n"
            }
        }
        if let hint = d.hint { out += "  = hint: \(hint)\n" }
        return out
    }

    public static func render(_ ds: [Diagnostic], sources: [String: String]) -> String {
        ds.map { render($0, sources: sources) }.joined(separator: "\n")
    }
}
