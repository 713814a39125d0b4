/// An immutable columnar table: a schema and one column per field, all of the same length.
public struct Table: Sendable, Hashable {
    public let schema: Schema
    public let columns: [Column]
    public let rowCount: Int

    /// - Parameter rowCount: needed only for a table without columns (`{}` rows in JSON).
    public init(schema: Schema, columns: [Column], rowCount: Int = 0) {
        precondition(schema.count == columns.count, "schema and columns disagree")
        self.schema = schema
        self.columns = columns
        self.rowCount = columns.first?.count ?? rowCount
        assert(columns.allSatisfy { $0.count == self.rowCount }, "columns of unequal length")
    }

    /// An empty table with the given schema.
    public init(emptyWith schema: Schema) {
        self.init(schema: schema, columns: schema.fields.map { Column.make($0.type, []) })
    }

    /// Builds a table from rows of values (for tests and small results).
    public init(names: [String], types: [DataType], rows: [[Value]]) {
        let schema = Schema(zip(names, types).map { Field(name: $0, type: $1) })
        let columns = types.enumerated().map { c, t in Column.make(t, rows.map { $0[c] }) }
        self.init(schema: schema, columns: columns)
    }

    public func column(named name: String) -> Column? { schema.index(of: name).map { columns[$0] } }

    /// The values of one row.
    public func row(_ r: Int) -> [Value] { columns.map { $0.value(at: r) } }

    /// All rows as values (for tests and small tables).
    public var rows: [[Value]] { (0..<rowCount).map(row) }

    /// Concatenates tables with identical schemas, in order.
    public static func concatenating(_ parts: [Table], schema: Schema) throws(TableError) -> Table {
        guard !parts.isEmpty else { return Table(emptyWith: schema) }
        for part in parts where part.schema != schema { throw TableError.schemaMismatch("parts have different schemas") }
        if schema.fields.isEmpty { return Table(schema: schema, columns: [], rowCount: parts.reduce(0) { $0 + $1.rowCount }) }
        var columns: [Column] = []
        for c in schema.fields.indices { columns.append(try Column.concatenating(parts.map { $0.columns[c] })) }
        return Table(schema: schema, columns: columns)
    }
}

extension Schema {
    /// The schema with the field `name` given `type` in place, or appended when there is none.
    public func setting(_ name: String, _ type: DataType) -> Schema {
        var fields = self.fields
        if let i = index(of: name) { fields[i] = Field(name: name, type: type) } else { fields.append(Field(name: name, type: type)) }
        return Schema(fields)
    }
}

extension Table {
    /// The table with column `name` replaced in place, or appended when there is none.
    public func setting(_ name: String, _ column: Column) -> Table {
        var columns = self.columns
        if let i = schema.index(of: name) { columns[i] = column } else { columns.append(column) }
        return Table(schema: schema.setting(name, column.type), columns: columns, rowCount: rowCount)
    }
}
