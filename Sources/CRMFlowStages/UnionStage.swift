import CRMFlowCore
import CRMFlowIO

/// `union`: stacks several inputs, matching columns by name.
public struct UnionStage: Stage {
    public static let spec = StageSpec(
        kind: "union", summary: "Stack the rows of several inputs, matching columns by name (first appearance order). A column missing from an input is null there; numbers of different kinds widen (integer → double → money), other differing types become text.",
        minInputs: 1, maxInputs: Int.max,
        options: [
            OptionSpec("input", .list, required: true, isInput: true, "The stages to stack, in order."),
            OptionSpec("source_column", .scalar, "Name of a column to add holding each row's input stage id."),
        ],
        example: """
        all_contacts:
          union: { input: [sf_contacts, hs_contacts, legacy], source_column: source }
        """)

    let inputNames: [String]
    let sourceColumn: String?

    public init?(_ config: StageConfig) {
        guard let inputs = config.strings("input") else { return nil }
        inputNames = inputs
        sourceColumn = config.string("source_column")
    }

    /// The type two inputs' columns of one name stack into (nil: not known), for engines other than crmflow's too.
    public static func widened(_ a: DataType?, _ b: DataType?) -> DataType? {
        guard let a else { return b }
        guard let b else { return a }
        return widened(a, b)
    }

    static func widened(_ a: DataType, _ b: DataType) -> DataType {
        if a == b { return a }
        let numeric: [DataType] = [.integer, .double, .money]
        if let i = numeric.firstIndex(of: a), let j = numeric.firstIndex(of: b) { return numeric[max(i, j)] }
        if Set([a, b]) == [.date, .timestamp] { return .timestamp }
        return .string
    }

    public func outputSchema(_ inputs: [KnownSchema], _ check: SchemaCheck) -> KnownSchema {
        Self.unionSchema(inputs, sourceColumn: sourceColumn)
    }

    /// The schema of inputs stacked by column name, with the source column appended when asked for.
    static func unionSchema(_ inputs: [KnownSchema], sourceColumn: String?) -> KnownSchema {
        var names: [String] = []
        var types: [DataType?] = []
        for s in inputs {
            guard let s else { return nil }
            for (n, t) in zip(s.names, s.types) {
                if let i = names.firstIndex(of: n) {
                    if let a = types[i], let t { types[i] = Self.widened(a, t) } else { types[i] = nil }
                } else {
                    names.append(n)
                    types.append(t)
                }
            }
        }
        if let sourceColumn, !names.contains(sourceColumn) {
            names.append(sourceColumn)
            types.append(.string)
        }
        return ExprSchema(names: names, types: types)
    }

    public func inputColumns(forOutput needed: Set<String>?) -> [Set<String>?] {
        let perInput = needed.map { n -> Set<String> in var m = n; if let s = sourceColumn { m.remove(s) }; return m }
        return inputNames.map { _ in perInput }
    }

    public func run(_ inputs: [StageData], _ context: RunContext) throws(StageFailure) -> StageResult {
        let (data, notes) = try Self.stack(inputs, names: inputNames, sourceColumn: sourceColumn, stageID: context.stageID)
        let total = data.table.rowCount
        return StageResult(data: data, accounting: Accounting(rowsIn: total, rowsOut: total), notes: notes)
    }

    /// Stacks inputs by column name (types widened), origins kept; notes say which columns had differing types.
    static func stack(_ inputs: [StageData], names inputNames: [String], sourceColumn: String?, stageID: String) throws(StageFailure) -> (StageData, [String]) {
        var fields: [Field] = []
        for data in inputs {
            for f in data.table.schema.fields {
                if let i = fields.firstIndex(where: { $0.name == f.name }) { fields[i].type = Self.widened(fields[i].type, f.type) } else { fields.append(f) }
            }
        }
        if let sourceColumn {
            if fields.contains(where: { $0.name == sourceColumn }) {
                throw StageFailure("source_column '\(sourceColumn)' of stage '\(stageID)' is already a column of an input",
                                   hint: "choose another name", status: .badPipeline)
            }
            fields.append(Field(name: sourceColumn, type: .string))
        }
        var columns: [Column] = []
        for f in fields {
            var parts: [Column] = []
            for (k, data) in inputs.enumerated() {
                if f.name == sourceColumn {
                    var b = StringBuffer()
                    for _ in 0..<data.table.rowCount { b.append(inputNames[k]) }
                    parts.append(Column(storage: .string(b), validity: nil))
                } else if let c = data.table.column(named: f.name) {
                    parts.append(c.converted(to: f.type))
                } else {
                    parts.append(Column.nulls(f.type, count: data.table.rowCount))
                }
            }
            do { columns.append(try Column.concatenating(parts)) } catch {
                throw StageFailure("union of stage '\(stageID)': \(error)")
            }
        }
        let total = inputs.reduce(0) { $0 + $1.table.rowCount }
        let table = Table(schema: Schema(fields), columns: columns, rowCount: total)
        let origins = RowOrigins.concatenating(inputs.map(\.origins), counts: inputs.map(\.table.rowCount))
        var notes: [String] = []
        for f in fields where f.name != sourceColumn {
            let kinds = Set(inputs.compactMap { $0.table.schema.fields.first { $0.name == f.name }?.type })
            if kinds.count > 1 { notes.append("column '\(f.name)' has types \(kinds.map(\.rawValue).sorted().joined(separator: ", ")) across inputs; unioned as \(f.type.rawValue)") }
        }
        return (StageData(table: table, origins: origins), notes)
    }
}
