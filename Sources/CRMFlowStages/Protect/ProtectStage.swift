import CRMFlowCore
import CRMFlowIO
import Foundation

/// `protect`: encrypts, pseudonymises, redacts or truncates named columns of personal data.
public struct ProtectStage: Stage {
    public static let spec = StageSpec(
        kind: "protect",
        summary: "Protect personal data column by column: `encrypt` (AES-256-GCM, reversible with the key: `decrypt` stage or `crmflow decrypt`), `pseudonymise` (a keyed HMAC-SHA-256 token, the same for the same value and key, so joins still work), `redact` (a fixed mask) or `truncate` (keep the e-mail domain, or the first / last characters). Nulls stay null.",
        options: [
            OptionSpec("input", .scalar, required: true, isInput: true, "The stage whose columns are protected."),
            OptionSpec("columns", .mapping, required: true, "`column: method` (encrypt, pseudonymise, redact, truncate), or `column: { method: truncate, keep: domain | first: N | last: N }`, `{ method: redact, mask: TEXT }`."),
            OptionSpec("key", .scalar, "The key for encrypt and pseudonymise, from the environment only: `\"${env:CRMFLOW_KEY}\"` (64 hex digits or base64 of 32 bytes; `crmflow keygen` makes one)."),
            OptionSpec("key_file", .scalar, "Or a file holding the key (read when the stage runs)."),
        ],
        example: """
        customers_safe:
          protect:
            input: golden_customers
            key: "${env:CRMFLOW_KEY}"
            columns:
              email: encrypt
              phone: pseudonymise
              last_name: redact
              email_domain: { method: truncate, keep: domain }
        """)

    enum Method: Sendable {
        case encrypt, pseudonymise
        case redact(mask: String)
        case keepDomain, keepFirst(Int), keepLast(Int)

        var needsKey: Bool {
            switch self {
            case .encrypt, .pseudonymise: return true
            default: return false
            }
        }
    }

    let columns: [(name: String, method: Method, location: SourceLocation)]
    let key: KeySource?

    public init?(_ config: StageConfig) {
        var ok = true
        var columns: [(String, Method, SourceLocation)] = []
        for entry in config.mapping("columns") ?? [] {
            let methodNode = entry.value.scalar != nil ? entry.value : entry.value["method"]
            guard let name = methodNode?.scalar else {
                config.log.add(.optionShape, "column '\(entry.key)' needs a method: encrypt, pseudonymise, redact or truncate", at: entry.value.location)
                ok = false
                continue
            }
            let method: Method
            switch name {
            case "encrypt": method = .encrypt
            case "pseudonymise", "pseudonymize", "hmac": method = .pseudonymise
            case "redact": method = .redact(mask: entry.value["mask"]?.scalar ?? "[redacted]")
            case "truncate":
                if entry.value["keep"]?.scalar == "domain" {
                    method = .keepDomain
                } else if let n = entry.value["first"]?.scalar.flatMap({ Int($0) }), n >= 0 {
                    method = .keepFirst(n)
                } else if let n = entry.value["last"]?.scalar.flatMap({ Int($0) }), n >= 0 {
                    method = .keepLast(n)
                } else {
                    config.log.add(.optionShape, "truncate needs `keep: domain`, `first: N` or `last: N` for column '\(entry.key)'", at: entry.value.location,
                                   hint: "e.g. \(entry.key): { method: truncate, keep: domain }")
                    ok = false
                    continue
                }
            default:
                config.log.add(.invalidValue, "unknown protection method '\(name)' for column '\(entry.key)'", at: methodNode?.textLocation, length: name.count,
                               hint: (Suggest.nearest(name, among: ["encrypt", "pseudonymise", "redact", "truncate"]).map { "did you mean '\($0)'? " } ?? "")
                                   + "use encrypt, pseudonymise, redact or truncate")
                ok = false
                continue
            }
            columns.append((entry.key, method, entry.keyLocation))
        }
        self.columns = columns
        let needsKey = columns.contains { $0.1.needsKey }
        key = KeySource(config, required: needsKey)
        if needsKey, key == nil { ok = false }
        if !ok { return nil }
    }

    public func outputSchema(_ inputs: [KnownSchema], _ check: SchemaCheck) -> KnownSchema {
        guard let schema = inputs.first ?? nil else { return nil }
        check.checkColumns(columns.map { ($0.name, $0.location) }, in: schema, option: "protect")
        var types = schema.types
        for c in columns { if let i = schema.index(of: c.name) { types[i] = .string } }
        return ExprSchema(names: schema.names, types: types)
    }

    public func run(_ inputs: [StageData], _ context: RunContext) throws(StageFailure) -> StageResult {
        let input = inputs[0]
        var table = input.table
        let key = try self.key?.load()
        for c in columns {
            guard let column = table.column(named: c.name) else {
                throw StageFailure("\(c.location): protect names column '\(c.name)', which stage '\(context.stageID)' does not receive",
                                   hint: "columns: " + table.schema.names.joined(separator: ", "), status: .badPipeline)
            }
            var out = StringBuffer()
            var validity = Bitmap()
            for r in 0..<table.rowCount {
                let v = column.value(at: r)
                guard !v.isNull else {
                    out.appendEmpty()
                    validity.append(false)
                    continue
                }
                let text: String
                if case .string(let s) = v { text = s } else { text = v.description }
                out.append(try protect(text, c.method, key))
                validity.append(true)
            }
            table = table.setting(c.name, Column(storage: .string(out), validity: validity))
        }
        return StageResult(data: StageData(table: table, origins: input.origins), accounting: Accounting(rowsIn: input.table.rowCount, rowsOut: table.rowCount))
    }

    func protect(_ text: String, _ method: Method, _ key: ProtectionKey?) throws(StageFailure) -> String {
        switch method {
        case .encrypt:
            do { return try FieldProtection.encrypt(text, key: key!) } catch { throw StageFailure(error) }
        case .pseudonymise: return FieldProtection.pseudonym(text, key: key!)
        case .redact(let mask): return mask
        case .keepDomain:
            guard let at = text.lastIndex(of: "@") else { return "" }
            return String(text[text.index(after: at)...])
        case .keepFirst(let n): return String(text.prefix(n))
        case .keepLast(let n): return String(text.suffix(n))
        }
    }
}

/// Where `protect` and `decrypt` read their key: `key: "${env:NAME}"` or `key_file: PATH`. A key written into the
/// pipeline file itself is refused (validation error), so it never lands in version control.
struct KeySource: Sendable {
    let text: String?
    let file: String?

    init?(_ config: StageConfig, required: Bool) {
        if let node = config.node("key") {
            guard node.containsSecret else {
                config.log.add(.invalidValue, "the key is written in the pipeline file; it must come from the environment or a key file", at: node.textLocation,
                               length: 1, hint: "write key: \"${env:CRMFLOW_KEY}\" and export CRMFLOW_KEY, or use key_file: PATH")
                return nil
            }
            text = node.scalar
            file = nil
        } else if let path = config.string("key_file") {
            text = nil
            file = path
        } else {
            if required {
                config.log.add(.missingOption, "stage '\(config.id)' needs a key for encrypt / pseudonymise / decrypt", at: config.kindLocation,
                               hint: "add key: \"${env:CRMFLOW_KEY}\" (or key_file: PATH); `crmflow keygen` makes a key")
            }
            return nil
        }
    }

    func load() throws(StageFailure) -> ProtectionKey {
        do {
            if let text { return try ProtectionKey(text: text) }
            return try ProtectionKey(file: file ?? "")
        } catch {
            throw StageFailure(error)
        }
    }
}
