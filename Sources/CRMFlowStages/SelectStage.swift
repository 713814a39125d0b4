import CRMFlowCore
import CRMFlowIO

/// `select`: keeps, drops, renames and reorders columns.
public struct SelectStage: Stage {
    public static let spec = StageSpec(
        kind: "select", summary: "Keep (in the order listed), drop and rename columns. Applied in that order: keep, drop, rename.",
        options: [
            OptionSpec("input", .scalar, required: true, isInput: true, "The stage whose columns are selected."),
            OptionSpec("keep", .list, "Columns to keep, in this order (default: all, in their order)."),
            OptionSpec("drop", .list, "Columns to remove."),
            OptionSpec("rename", .mapping, "`old: new` names."),
        ],
        example: """
        contact_list:
          select:
            input: contacts
            keep: [id, email, "Account Name"]
            rename: { "Account Name": account }
        """)

    let keep: [(String, SourceLocation)]?
    let drop: [(String, SourceLocation)]
    let rename: [(String, String, SourceLocation)]

    public init?(_ config: StageConfig) {
        func located(_ name: String) -> [(String, SourceLocation)]? {
            guard let n = config.node(name) else { return nil }
            guard let items = n.items ?? (n.scalar != nil ? [n] : nil) else { _ = config.strings(name); return nil }
            return items.compactMap { i in i.scalar.map { ($0, i.textLocation) } }
        }
        keep = located("keep")
        drop = located("drop") ?? []
        rename = (config.mapping("rename") ?? []).compactMap { e in e.value.scalar.map { (e.key, $0, e.keyLocation) } }
        if keep == nil, drop.isEmpty, rename.isEmpty {
            config.log.add(.missingOption, "select stage '\(config.id)' needs keep, drop or rename", at: config.kindLocation)
            return nil
        }
    }

    func plan(_ names: [String]) -> (indices: [Int], names: [String], missing: [(String, SourceLocation)]) {
        var missing: [(String, SourceLocation)] = []
        var indices: [Int]
        if let keep {
            indices = []
            for (k, loc) in keep {
                if let i = names.firstIndex(of: k) { indices.append(i) } else { missing.append((k, loc)) }
            }
        } else {
            indices = Array(names.indices)
        }
        for (d, loc) in drop {
            if let i = names.firstIndex(of: d) { indices.removeAll { $0 == i } } else { missing.append((d, loc)) }
        }
        var out = indices.map { names[$0] }
        for (old, new, loc) in rename {
            if let i = out.firstIndex(of: old) { out[i] = new } else { missing.append((old, loc)) }
        }
        return (indices, out, missing)
    }

    public func outputSchema(_ inputs: [KnownSchema], _ check: SchemaCheck) -> KnownSchema {
        guard let schema = inputs.first ?? nil else { return nil }
        let p = plan(schema.names)
        check.checkColumns(p.missing, in: schema, option: "select")
        return ExprSchema(names: p.names, types: p.indices.map { schema.types[$0] })
    }

    public func inputColumns(forOutput needed: Set<String>?) -> [Set<String>?] {
        guard let keep else { return [nil] }
        return [Set(keep.map(\.0))]
    }

    public func run(_ inputs: [StageData], _ context: RunContext) throws(StageFailure) -> StageResult {
        let input = inputs[0]
        let p = plan(input.table.schema.names)
        if let (name, loc) = p.missing.first {
            throw StageFailure("\(loc): select names column '\(name)', which stage '\(context.stageID)' does not receive",
                               hint: "columns: " + input.table.schema.names.joined(separator: ", "), status: .badPipeline)
        }
        if Set(p.names).count != p.names.count {
            throw StageFailure("select in stage '\(context.stageID)' gives two columns the same name", status: .badPipeline)
        }
        let fields = zip(p.indices, p.names).map { Field(name: $1, type: input.table.schema.fields[$0].type) }
        let table = Table(schema: Schema(fields), columns: p.indices.map { input.table.columns[$0] }, rowCount: input.table.rowCount)
        return StageResult(data: StageData(table: table, origins: input.origins),
                           accounting: Accounting(rowsIn: input.table.rowCount, rowsOut: table.rowCount))
    }
}
