import CRMFlowCore
import CRMFlowIO
import CRMFlowStages
import Crypto
import Foundation
import Yams

/// A stage as declared in a pipeline file, built from its options.
public struct StageDeclaration: Sendable {
    public var id: String
    public var kind: String
    public var config: StageConfig
    /// Nil when its options were invalid (the diagnostics say why).
    public var stage: (any Stage)?
    public var inputs: [String] { config.inputs }
    public var onError: ErrorPolicy
    /// Error budget: a count, or a share of the stage's input rows.
    public var maxRejects: RejectBudget?
}

/// `max_rejects`: a count or a percentage.
public enum RejectBudget: Sendable, Equatable, CustomStringConvertible {
    case count(Int)
    case share(Double)

    public func allowed(of rows: Int) -> Int {
        switch self {
        case .count(let n): return n
        case .share(let p): return Int((Double(rows) * p / 100).rounded(.down))
        }
    }

    public var description: String {
        switch self {
        case .count(let n): return "\(n)"
        case .share(let p): return p == p.rounded() ? "\(Int(p))%" : "\(p)%"
        }
    }
}

/// Loads pipeline files: YAML with locations, variables, stage specs, graph, and schema checks — every problem at once.
public enum PipelineLoader {
    static let topLevelKeys = ["pipeline", "description", "vars", "stages", "tests", "allow_outside_out", "mask_pii"]

    public struct Options: Sendable {
        public var variables: [String: String] = [:]
        public var environment: [String: String] = ProcessInfo.processInfo.environment
        public var evalEnvironment = EvalEnvironment.now()
        /// Relative input paths are resolved against this directory.
        public var baseDirectory = FileManager.default.currentDirectoryPath
        /// Check schemas against input headers (off for `plan` of a pipeline whose inputs are elsewhere).
        public var checkSchemas = true
        /// Directories outside the output directory that output paths may name (`--allow-write DIR`).
        public var allowedWriteRoots: [String] = []
        public init() {}
    }

    /// The file's text for rendering diagnostics (empty when unreadable).
    public static func readText(_ path: String) -> String {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// Loads and validates `path`. Problems go to `log`; the pipeline is returned only when there are none.
    /// - Throws: `CRMFlowError` when the file cannot be read.
    public static func load(path: String, options: Options = Options(), log: DiagnosticLog) throws(CRMFlowError) -> Pipeline? {
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw CRMFlowError(exists ? .cannotWrite : .inputMissing, exists ? "cannot read pipeline file '\(path)'" : "pipeline file '\(path)' does not exist",
                               hint: exists ? "check its permissions" : "run it from the project directory, e.g. crmflow run pipelines/nightly.yaml")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CRMFlowError(.badPipeline, "pipeline file '\(path)' is not UTF-8 text", hint: "save it as UTF-8")
        }
        let digest = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        return load(text: text, path: path, sha256: digest, options: options, log: log)
    }

    public static func load(text: String, path: String, sha256: String = "", options: Options = Options(), log: DiagnosticLog) -> Pipeline? {
        if let problem = nestingProblem(text, file: path) {
            log.add(problem)
            return nil
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let e as YamlError {
            log.add(yamlDiagnostic(e, file: path))
            return nil
        } catch {
            log.add(.yamlSyntax, "cannot parse the YAML: \(error)", at: SourceLocation(file: path, line: 1, column: 1))
            return nil
        }
        guard let root else {
            log.add(.missingTopLevelKey, "the pipeline file is empty", at: SourceLocation(file: path, line: 1, column: 1),
                    hint: "start with `pipeline: my-pipeline` and a `stages:` mapping")
            return nil
        }
        var budget = maxNodes
        let tree = located(root, file: path, budget: &budget)
        if budget < 0 {
            log.add(.yamlSyntax, "the file expands to more than \(maxNodes) YAML values (aliases that repeat aliases?)",
                    at: SourceLocation(file: path, line: 1, column: 1), hint: "a pipeline file needs far fewer; write the values out or use fewer aliases")
            return nil
        }
        var builder = Builder(path: path, log: log, options: options)
        return builder.build(tree, text: text, sha256: sha256)
    }

    static func yamlDiagnostic(_ e: YamlError, file: String) -> Diagnostic {
        switch e {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            var hint: String?
            if problem.contains("mapping values are not allowed") { hint = "quote values that contain ': ' (e.g. where: \"a: b\")" }
            if problem.contains("found character that cannot start any token") { hint = "tabs cannot indent YAML; use spaces, and quote values starting with @ or `" }
            let what = context.map { "\(problem) (\($0.text))" } ?? problem
            return Diagnostic(.yamlSyntax, "invalid YAML: \(what)", at: SourceLocation(file: file, line: mark.line, column: mark.column), hint: hint)
        case .reader(let problem, _, _, _):
            return Diagnostic(.yamlSyntax, "invalid YAML: \(problem)", at: SourceLocation(file: file, line: 1, column: 1), hint: "save the file as UTF-8")
        default:
            return Diagnostic(.yamlSyntax, "invalid YAML: \(e)", at: SourceLocation(file: file, line: 1, column: 1))
        }
    }

    /// Values a pipeline file may hold once its aliases are expanded (a pipeline of a hundred stages has a few thousand).
    static let maxNodes = 200_000
    /// Nesting the loader accepts: flow collections (`[`, `{`) inside each other, and block indentation in columns.
    static let maxFlowNesting = 200
    static let maxIndentation = 1_000

    /// A diagnostic when the text nests deeper than any pipeline needs (the YAML parser and the copy into the located
    /// tree recurse, so such a file would exhaust the stack).
    static func nestingProblem(_ text: String, file: String) -> Diagnostic? {
        var line = 1, column = 0, flow = 0, indent = 0, atLineStart = true
        for c in text.utf8 {
            column += 1
            if atLineStart, c == 32 || c == UInt8(ascii: "-") {
                indent += 1
                if indent > maxIndentation {
                    return Diagnostic(.yamlSyntax, "the file is indented or nested more than \(maxIndentation) levels deep",
                                      at: SourceLocation(file: file, line: line, column: column), hint: "a pipeline needs a few levels; check the file is a pipeline")
                }
                continue
            }
            switch c {
            case 10:
                line += 1
                column = 0
                indent = 0
                atLineStart = true
                continue
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                flow += 1
                if flow > maxFlowNesting {
                    return Diagnostic(.yamlSyntax, "the file nests [ ] and { } more than \(maxFlowNesting) levels deep",
                                      at: SourceLocation(file: file, line: line, column: column), hint: "a pipeline needs a few levels; check the brackets")
                }
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                flow = max(0, flow - 1)
            default: break
            }
            atLineStart = false
        }
        return nil
    }

    /// Copies a Yams node into the `Sendable` located tree, spending one of `budget` per value (aliases expand).
    static func located(_ node: Node, file: String, budget: inout Int) -> ConfigNode {
        func loc(_ m: Mark?) -> SourceLocation { SourceLocation(file: file, line: m?.line ?? 1, column: m?.column ?? 1) }
        budget -= 1
        if budget < 0 { return ConfigNode(content: .null, location: loc(node.mark)) }
        switch node {
        case .scalar(let s):
            let quoted = s.style == .singleQuoted || s.style == .doubleQuoted
            if !quoted, s.style != .literal, s.style != .folded, ["", "~", "null", "Null", "NULL"].contains(s.string) {
                return ConfigNode(content: .null, location: loc(s.mark))
            }
            return ConfigNode(content: .scalar(s.string), location: loc(s.mark), isQuoted: quoted, rawText: s.string)
        case .mapping(let m):
            var entries: [ConfigEntry] = []
            for pair in m where budget >= 0 {
                let keyNode = located(pair.key, file: file, budget: &budget)
                entries.append(ConfigEntry(key: keyNode.scalar ?? "", keyLocation: keyNode.location, value: located(pair.value, file: file, budget: &budget)))
            }
            return ConfigNode(content: .mapping(entries), location: loc(m.mark))
        case .sequence(let s):
            var items: [ConfigNode] = []
            for item in s where budget >= 0 { items.append(located(item, file: file, budget: &budget)) }
            return ConfigNode(content: .sequence(items), location: loc(s.mark))
        }
    }
}

/// The phases of loading, each collecting diagnostics before the next runs.
struct Builder {
    let path: String
    let log: DiagnosticLog
    let options: PipelineLoader.Options
    var variables: [String: String] = [:]

    init(path: String, log: DiagnosticLog, options: PipelineLoader.Options) {
        self.path = path
        self.log = log
        self.options = options
    }

    mutating func build(_ root: ConfigNode, text: String, sha256: String) -> Pipeline? {
        guard let top = root.entries else {
            log.add(.wrongShape, "a pipeline file is a mapping with `pipeline:` and `stages:`, but this one is \(root.shapeName)", at: root.location,
                    hint: "start with `pipeline: my-pipeline` and a `stages:` mapping")
            return nil
        }
        reportDuplicates(top, what: "top-level key")
        for e in top where !PipelineLoader.topLevelKeys.contains(e.key) {
            let near = Suggest.nearest(e.key, among: PipelineLoader.topLevelKeys)
            log.add(.unknownTopLevelKey, "unknown top-level key '\(e.key)'", at: e.keyLocation, length: e.key.count,
                    hint: near.map { "did you mean '\($0)'?" } ?? "a pipeline file has " + PipelineLoader.topLevelKeys.joined(separator: ", "))
        }
        let rootMap = root
        var name = "pipeline"
        if let n = rootMap["pipeline"] {
            if let s = n.scalar { name = s } else { log.add(.wrongShape, "`pipeline:` is the pipeline's name, a single value", at: n.location) }
        } else {
            log.add(.missingTopLevelKey, "the pipeline has no name", at: root.location, hint: "add `pipeline: my-pipeline` at the top")
        }
        if !name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) {
            log.add(.invalidValue, "pipeline name '\(name)' may only hold letters, digits, '-', '_' and '.' (it names the output directory)",
                    at: rootMap["pipeline"]?.textLocation, length: name.count)
        }
        // Variables: file values, then --var overrides; a value may use earlier variables and the environment.
        if let vars = rootMap["vars"] {
            if let entries = vars.entries {
                reportDuplicates(entries, what: "variable")
                for e in entries {
                    if let override = options.variables[e.key] { variables[e.key] = override; continue }
                    guard var v = e.value.scalar ?? (e.value.isNull ? "" : nil) else {
                        log.add(.wrongShape, "variable '\(e.key)' must be a single value", at: e.value.location)
                        continue
                    }
                    var node = e.value
                    node.content = .scalar(v)
                    node = substitute(node)
                    v = node.scalar ?? v
                    variables[e.key] = v
                }
            } else if !vars.isNull {
                log.add(.wrongShape, "`vars:` must be a mapping of names to values", at: vars.location)
            }
        }
        for (k, v) in options.variables where variables[k] == nil { variables[k] = v }
        var stages: [StageDeclaration] = []
        if let stagesNode = rootMap["stages"] {
            if let entries = stagesNode.entries {
                stages = buildStages(entries)
            } else {
                log.add(.wrongShape, "`stages:` must be a mapping from stage id to its kind, but is \(stagesNode.shapeName)", at: stagesNode.location,
                        hint: "write each stage as `id:` followed by an indented kind, e.g. `contacts:` / `  ingest: { path: contacts.csv }`")
            }
        } else {
            log.add(.missingTopLevelKey, "the pipeline has no `stages:`", at: root.location, hint: "add a `stages:` mapping")
        }
        // Two emits to one file would race (the later rename wins): each output path belongs to one stage.
        var writers: [String: String] = [:]
        for s in stages where s.kind == "emit" {
            guard let path = s.config.string("path") else { continue }
            var key = (path as NSString).standardizingPath
            while key.hasPrefix("./") { key.removeFirst(2) }
            if let first = writers[key] {
                log.add(.invalidValue, "stages '\(first)' and '\(s.id)' both write '\(path)'", at: s.config.node("path")?.textLocation, length: path.count,
                        hint: "give each emit its own path")
            } else {
                writers[key] = s.id
            }
        }
        func flag(_ key: String) -> Bool {
            guard let node = rootMap[key] else { return false }
            switch node.scalar?.lowercased() {
            case "true", "yes": return true
            case "false", "no": return false
            default:
                log.add(.invalidValue, "`\(key):` is true or false", at: node.textLocation)
                return false
            }
        }
        let allowsOutside = flag("allow_outside_out")
        let masksPII = flag("mask_pii")
        checkOutputPaths(stages, allowsOutside: allowsOutside)
        let (ordered, graphIsValid) = checkGraph(stages)
        var known: [String: ExprSchema] = [:]
        // Schemas are checked for every stage the graph can order, even when other parts of it are broken.
        if options.checkSchemas {
            let check = SchemaCheck(log: log, environment: options.evalEnvironment, baseDirectory: options.baseDirectory)
            var schemas: [String: KnownSchema] = [:]
            for decl in ordered {
                guard let stage = decl.stage else { schemas[decl.id] = .some(nil); continue }
                let inputs = decl.inputs.map { schemas[$0] ?? nil }
                let out = stage.outputSchema(inputs, check)
                schemas[decl.id] = out
                if let out { known[decl.id] = out }
            }
        }
        var tests = rootMap["tests"]
        if let t = tests { tests = substitute(t) }
        guard graphIsValid else { return nil }
        var pipeline = Pipeline(name: name, description: rootMap["description"]?.scalar, path: path, text: text, sha256: sha256, stages: ordered,
                                knownSchemas: known, tests: tests, variables: variables, allowsOutsideOut: allowsOutside, masksPII: masksPII)
        // The tests: block is part of the file: its problems are reported with the others.
        pipeline.testCases = PipelineTestRunner.cases(pipeline, log: log)
        guard log.isEmpty else { return nil }
        return pipeline
    }

    /// Output paths stay inside the output directory (`--out`) unless the pipeline or the command line allows more.
    func checkOutputPaths(_ stages: [StageDeclaration], allowsOutside: Bool) {
        for s in stages {
            guard let spec = StageRegistry.spec(s.kind) else { continue }
            for option in spec.options where option.isOutputPath {
                guard let node = s.config.node(option.name), let path = node.scalar else { continue }
                guard let problem = OutputSpace.lexicalProblem(path, allowsOutside: allowsOutside, allowedRoots: options.allowedWriteRoots,
                                                               baseDirectory: options.baseDirectory) else { continue }
                log.add(.outputOutsideOut, "\(s.kind) path: \(Secrets.redact(problem))", at: node.textLocation, length: node.displayText.count,
                        hint: "output paths are relative to --out; to write elsewhere add `allow_outside_out: true` at the top of the pipeline, or run with --allow-write DIR")
            }
        }
    }

    func reportDuplicates(_ entries: [ConfigEntry], what: String) {
        var seen: [String: SourceLocation] = [:]
        for e in entries {
            if let first = seen[e.key] {
                log.add(what == "stage id" ? .duplicateStage : .duplicateKey, "duplicate \(what) '\(e.key)' (first defined at line \(first.line))",
                        at: e.keyLocation, length: e.key.count, hint: "each \(what) may appear once; rename or remove one")
            } else {
                seen[e.key] = e.keyLocation
            }
        }
    }

    /// Replaces `${name}` and `${env:NAME}` in every scalar below `node`.
    func substitute(_ node: ConfigNode) -> ConfigNode {
        var node = node
        switch node.content {
        case .scalar(let s):
            guard s.contains("${") else { return node }
            var out = ""
            var rest = Substring(s)
            var secret = false
            var offset = 0
            while let open = rest.range(of: "${") {
                out += rest[..<open.lowerBound]
                offset += rest[..<open.lowerBound].count
                guard let close = rest[open.upperBound...].firstIndex(of: "}") else {
                    log.add(.undefinedVariable, "unclosed '${' in '\(node.displayText)'", at: position(node, offset), hint: "write ${name}")
                    out += rest[open.lowerBound...]
                    rest = ""
                    break
                }
                let name = String(rest[open.upperBound..<close])
                let width = name.count + 3
                if name.hasPrefix("env:") {
                    let key = String(name.dropFirst(4))
                    if let v = options.environment[key] {
                        out += v
                        secret = true
                        Secrets.register(v, name: key)
                    } else {
                        log.add(.missingEnvironment, "environment variable '\(key)' is not set", at: position(node, offset), length: width,
                                hint: "export \(key)=... before running (secrets come only from the environment)")
                    }
                } else if let v = variables[name] {
                    out += v
                } else {
                    let near = Suggest.nearest(name, among: variables.keys.sorted())
                    log.add(.undefinedVariable, "undefined variable '\(name)'", at: position(node, offset), length: width,
                            hint: near.map { "did you mean '\($0)'?" } ?? "define it under vars: or pass --var \(name)=VALUE")
                }
                offset += width
                rest = rest[rest.index(after: close)...]
            }
            out += rest
            node.content = .scalar(out)
            node.containsSecret = node.containsSecret || secret
            node.rawText = s
            return node
        case .mapping(let entries):
            node.content = .mapping(entries.map { ConfigEntry(key: $0.key, keyLocation: $0.keyLocation, value: substitute($0.value)) })
            return node
        case .sequence(let items):
            node.content = .sequence(items.map(substitute))
            return node
        case .null:
            return node
        }
    }

    func position(_ node: ConfigNode, _ offset: Int) -> SourceLocation {
        var l = node.textLocation
        if !(node.rawText ?? "").contains("\n") { l.column += offset }
        return l
    }

    func buildStages(_ entries: [ConfigEntry]) -> [StageDeclaration] {
        reportDuplicates(entries, what: "stage id")
        var seen = Set<String>()
        var out: [StageDeclaration] = []
        for e in entries {
            let id = e.key
            if seen.contains(id) { continue }
            seen.insert(id)
            if id.isEmpty || !id.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) || id.first!.isNumber {
                log.add(.invalidStageID, "stage id '\(id)' must start with a letter and hold only letters, digits, '_' and '-'", at: e.keyLocation,
                        length: max(id.count, 1), hint: "it names rejects files and appears in expressions of later stages")
            }
            guard let body = e.value.entries, !body.isEmpty else {
                log.add(.kindCount, "stage '\(id)' needs a kind, e.g. `\(id): { filter: { input: ..., where: ... } }`", at: e.value.isNull ? e.keyLocation : e.value.location,
                        hint: "kinds: " + StageRegistry.kinds.joined(separator: ", "))
                continue
            }
            if body.count > 1 {
                let kinds = body.map(\.key)
                let isOptionsLike = kinds.contains { k in StageRegistry.kinds.contains(k) == false }
                log.add(.kindCount, "stage '\(id)' has \(body.count) keys (\(kinds.joined(separator: ", "))); a stage has exactly one kind", at: body[1].keyLocation,
                        length: body[1].key.count,
                        hint: isOptionsLike ? "indent the options under the kind: `\(id):` / `  \(kinds.first { StageRegistry.kinds.contains($0) } ?? "kind"):` / `    option: value`"
                            : "split it into two stages")
                continue
            }
            let kindEntry = body[0]
            guard let type = StageRegistry.type(kindEntry.key) else {
                let near = Suggest.nearest(kindEntry.key, among: StageRegistry.kinds)
                log.add(.unknownKind, "unknown stage kind '\(kindEntry.key)'", at: kindEntry.keyLocation, length: kindEntry.key.count,
                        hint: (near.map { "did you mean '\($0)'? " } ?? "") + "kinds: " + StageRegistry.kinds.joined(separator: ", "))
                continue
            }
            let spec = type.spec
            let optionsNode = substitute(kindEntry.value)
            let optionEntries: [ConfigEntry]
            if let entries = optionsNode.entries {
                optionEntries = entries
            } else if optionsNode.isNull {
                optionEntries = []
            } else {
                log.add(.wrongShape, "the options of \(spec.kind) stage '\(id)' must be a mapping, but are \(optionsNode.shapeName)", at: optionsNode.location,
                        hint: "write `\(spec.kind): { option: value }` or indent `option: value` lines under it")
                continue
            }
            let errorsBefore = log.count
            reportDuplicates(optionEntries, what: "option")
            for o in optionEntries {
                guard let os = spec.option(o.key) else {
                    let near = Suggest.nearest(o.key, among: spec.options.map(\.name))
                    log.add(.unknownOption, "unknown option '\(o.key)' for \(spec.kind) stage '\(id)'", at: o.keyLocation, length: o.key.count,
                            hint: (near.map { "did you mean '\($0)'? " } ?? "") + "options: " + spec.options.map(\.name).joined(separator: ", "))
                    continue
                }
                checkShape(o, os, kind: spec.kind, id: id)
            }
            for os in spec.options where os.isRequired && !optionEntries.contains(where: { $0.key == os.name }) {
                log.add(.missingOption, "\(spec.kind) stage '\(id)' is missing required option '\(os.name)'", at: kindEntry.keyLocation,
                        length: kindEntry.key.count, hint: "\(os.name): \(os.summary)")
            }
            let config = StageConfig(id: id, kind: spec.kind, location: e.keyLocation, kindLocation: kindEntry.keyLocation, options: optionEntries, log: log)
            // Unknown options are reported but do not stop the stage from being built, so its expressions and columns
            // are still checked; wrong shapes and missing options do.
            let blocking = log.added(since: errorsBefore).contains { $0.code != .unknownOption }
            let stage: (any Stage)? = blocking ? nil : type.init(config)
            let policy = config.node("on_error")?.scalar.flatMap(ErrorPolicy.init(rawValue:)) ?? .reject
            var budget: RejectBudget?
            if let b = config.string("max_rejects") {
                let t = b.trimmingCharacters(in: .whitespaces)
                if t.hasSuffix("%"), let p = Double(t.dropLast().trimmingCharacters(in: .whitespaces)), p >= 0, p <= 100 {
                    budget = .share(p)
                } else if let n = Int(t), n >= 0 {
                    budget = .count(n)
                } else {
                    log.add(.invalidValue, "max_rejects must be a count (100) or a percentage (2%), got '\(b)'", at: config.node("max_rejects")?.textLocation, length: b.count)
                }
            }
            out.append(StageDeclaration(id: id, kind: spec.kind, config: config, stage: stage, onError: policy, maxRejects: budget))
        }
        return out
    }

    func checkShape(_ o: ConfigEntry, _ spec: OptionSpec, kind: String, id: String) {
        let v = o.value
        let ok: Bool
        switch spec.shape {
        case .scalar: ok = v.scalar != nil || v.isNull
        case .list: ok = v.items != nil || v.scalar != nil || v.isNull
        case .mapping: ok = v.entries != nil || v.isNull
        case .scalarOrList: ok = v.scalar != nil || v.items != nil || v.isNull
        case .any: ok = true
        }
        if !ok {
            log.add(.optionShape, "option '\(o.key)' of \(kind) stage '\(id)' expects \(spec.shape == .scalar ? "a single value" : "a \(spec.shape.rawValue)") but found \(v.shapeName)",
                    at: v.location, hint: spec.summary)
            return
        }
        if let allowed = spec.allowed, let s = v.scalar, !allowed.contains(s) {
            let near = Suggest.nearest(s, among: allowed)
            log.add(.invalidValue, "'\(v.displayText)' is not a valid \(o.key) for \(kind)", at: v.textLocation, length: s.count,
                    hint: (near.map { "did you mean '\($0)'? " } ?? "") + "use one of: " + allowed.joined(separator: ", "))
        }
    }

    /// Unknown inputs, input counts and cycles; returns the stages that can be ordered, in a deterministic topological
    /// order, and whether the whole graph is valid.
    func checkGraph(_ stages: [StageDeclaration]) -> ([StageDeclaration], Bool) {
        let ids = stages.map(\.id)
        var ok = true
        for s in stages {
            guard let spec = StageRegistry.spec(s.kind) else { continue }
            for input in s.inputs where !ids.contains(input) {
                ok = false
                if input == s.id {
                    log.add(.cycle, "stage '\(s.id)' reads its own output", at: s.config.location(ofInput: input), length: input.count)
                    continue
                }
                let near = Suggest.nearest(input, among: ids.filter { $0 != s.id })
                log.add(.unknownInput, "unknown input '\(input)' in stage '\(s.id)'", at: s.config.location(ofInput: input), length: input.count,
                        hint: near.map { "did you mean '\($0)'?" } ?? "stages: " + ids.joined(separator: ", "))
            }
            if s.inputs.contains(s.id), ids.contains(s.id) {
                ok = false
                log.add(.cycle, "stage '\(s.id)' reads its own output", at: s.config.location(ofInput: s.id), length: s.id.count)
            }
            let n = s.inputs.count
            if n < spec.minInputs || n > spec.maxInputs, spec.options.contains(where: \.isInput), s.stage != nil || n > spec.maxInputs {
                ok = false
                let want = spec.minInputs == spec.maxInputs ? "\(spec.minInputs)" : (spec.maxInputs == Int.max ? "at least \(spec.minInputs)" : "\(spec.minInputs) to \(spec.maxInputs)")
                log.add(.inputCount, "\(s.kind) stage '\(s.id)' takes \(want) input\(spec.maxInputs == 1 ? "" : "s"), got \(n)", at: s.config.kindLocation,
                        length: s.kind.count, hint: s.kind == "filter" || spec.maxInputs == 1 ? "to combine several stages, union them first" : nil)
            }
        }
        // Kahn's algorithm; ties in file order.
        var remaining = stages.filter { s in s.inputs.allSatisfy { ids.contains($0) } && !s.inputs.contains(s.id) }
        var done = Set<String>()
        var order: [StageDeclaration] = []
        while true {
            guard let i = remaining.firstIndex(where: { $0.inputs.allSatisfy(done.contains) }) else { break }
            let s = remaining.remove(at: i)
            done.insert(s.id)
            order.append(s)
        }
        if !remaining.isEmpty {
            ok = false
            // Report each cycle once, as the chain of stage ids.
            var reported = Set<String>()
            for s in remaining where !reported.contains(s.id) {
                if let chain = cycle(from: s.id, stages: remaining) {
                    chain.forEach { reported.insert($0) }
                    let first = stages.first { $0.id == chain[0] }!
                    let next = chain.count > 1 ? chain[1] : chain[0]
                    log.add(.cycle, "stages form a cycle: " + (chain + [chain[0]]).joined(separator: " → "),
                            at: first.config.location(ofInput: next) ?? first.config.location, length: next.count,
                            hint: "a stage cannot depend on its own output; break the chain by reading a file or another stage")
                }
            }
        }
        return (order, ok)
    }

    /// A cycle through `start` among `stages` (ids in dependency order: each reads the next), if any.
    func cycle(from start: String, stages: [StageDeclaration]) -> [String]? {
        let byID = Dictionary(uniqueKeysWithValues: stages.map { ($0.id, $0) })
        var path: [String] = []
        var onPath = Set<String>()
        var visited = Set<String>()
        func dfs(_ id: String) -> [String]? {
            if onPath.contains(id) { return Array(path[path.firstIndex(of: id)!...]) }
            if visited.contains(id) { return nil }
            visited.insert(id)
            onPath.insert(id)
            path.append(id)
            for input in byID[id]?.inputs.sorted() ?? [] where byID[input] != nil {
                if let c = dfs(input) { return c }
            }
            path.removeLast()
            onPath.remove(id)
            return nil
        }
        guard let c = dfs(start) else { return nil }
        // Rotate so the chain starts at the stage written first in the file.
        let firstIndex = c.indices.min { a, b in
            (stages.firstIndex { $0.id == c[a] } ?? 0) < (stages.firstIndex { $0.id == c[b] } ?? 0)
        } ?? 0
        return Array(c[firstIndex...] + c[..<firstIndex])
    }
}
