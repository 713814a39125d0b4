/// The logical type of a column.
public enum DataType: String, Sendable, CaseIterable, Hashable {
    case string
    case integer
    case double
    case boolean
    case date
    case timestamp
    case money

    /// Parses a user-written type name (`int`, `integer`, `float`, `text`, ...).
    public init?(userName: String) {
        switch userName.lowercased() {
        case "string", "text", "str", "varchar": self = .string
        case "int", "integer", "int64", "bigint": self = .integer
        case "double", "float", "number", "real", "decimal": self = .double
        case "bool", "boolean": self = .boolean
        case "date": self = .date
        case "timestamp", "datetime": self = .timestamp
        case "money", "currency", "amount": self = .money
        default: return nil
        }
    }
}

/// A named, typed column slot in a table's schema.
public struct Field: Sendable, Hashable {
    public var name: String
    public var type: DataType
    public init(name: String, type: DataType) {
        self.name = name
        self.type = type
    }
}

/// The ordered, named, typed columns of a table.
public struct Schema: Sendable, Hashable {
    public var fields: [Field]
    public init(_ fields: [Field]) { self.fields = fields }
    public var names: [String] { fields.map(\.name) }
    public var count: Int { fields.count }
    public func index(of name: String) -> Int? { fields.firstIndex { $0.name == name } }
}
