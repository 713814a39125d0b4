import CRMFlowCore
import CRMFlowIO

/// `decrypt`: reverses `protect`'s `encrypt` for named columns, with the same key.
public struct DecryptStage: Stage {
    public static let spec = StageSpec(
        kind: "decrypt",
        summary: "Decrypt columns that `protect` encrypted (enc:v1:...), with the same key. A value that is not encrypted, was altered, or was encrypted with another key sends its row to the rejects with the column and the reason; no row is ever half decrypted.",
        options: [
            OptionSpec("input", .scalar, required: true, isInput: true, "The stage whose columns are decrypted."),
            OptionSpec("columns", .list, required: true, "The encrypted columns."),
            OptionSpec("key", .scalar, "The key, from the environment only: `\"${env:CRMFLOW_KEY}\"`."),
            OptionSpec("key_file", .scalar, "Or a file holding the key."),
        ],
        example: """
        customers_clear:
          decrypt: { input: customers_safe, columns: [email], key: "${env:CRMFLOW_KEY}" }
        """)

    let columns: [(name: String, location: SourceLocation)]
    let key: KeySource

    public init?(_ config: StageConfig) {
        let node = config.node("columns")
        let items = node?.items ?? (node?.scalar != nil ? [node!] : [])
        columns = items.compactMap { i in i.scalar.map { ($0, i.textLocation) } }
        if node != nil, columns.isEmpty { _ = config.strings("columns") }
        guard let key = KeySource(config, required: true), !columns.isEmpty else { return nil }
        self.key = key
    }

    public func outputSchema(_ inputs: [KnownSchema], _ check: SchemaCheck) -> KnownSchema {
        guard let schema = inputs.first ?? nil else { return nil }
        check.checkColumns(columns.map { ($0.name, $0.location) }, in: schema, option: "decrypt")
        return schema
    }

    public func run(_ inputs: [StageData], _ context: RunContext) throws(StageFailure) -> StageResult {
        let input = inputs[0]
        let key = try self.key.load()
        var table = input.table
        var failed: [Int: String] = [:]
        for c in columns {
            guard let column = input.table.column(named: c.name) else {
                throw StageFailure("\(c.location): decrypt names column '\(c.name)', which stage '\(context.stageID)' does not receive",
                                   hint: "columns: " + input.table.schema.names.joined(separator: ", "), status: .badPipeline)
            }
            let (clear, failures) = FieldProtection.decrypted(column, named: c.name, key: key)
            failed.merge(failures) { first, _ in first }
            table = table.setting(c.name, clear)
        }
        let keep = (0..<input.table.rowCount).filter { failed[$0] == nil }
        let rejects = failed.keys.sorted().map { r in input.reject(row: r, stage: context.stageID, code: "E_DECRYPT", reason: failed[r]!) }
        let output = StageData(table: table, origins: input.origins).selecting(keep)
        return StageResult(data: output, rejects: rejects,
                           accounting: Accounting(rowsIn: input.table.rowCount, rowsOut: keep.count, rejected: rejects.count))
    }
}
