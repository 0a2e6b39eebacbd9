/// A parsed JSON document, as the structural comparison needs it: objects as dictionaries
/// (key order carries no meaning), arrays in order, numbers kept as text and compared by
/// value.
enum JSONValue: Equatable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Numbers are equal when their values are (`1.0` and `1`, `1e2` and `100`); text that
    /// does not fit a Double is compared as written.
    static func sameNumber(_ a: String, _ b: String) -> Bool {
        if a == b { return true }
        guard let x = Double(a), let y = Double(b), x.isFinite, y.isFinite else { return false }
        return x == y
    }

    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}
