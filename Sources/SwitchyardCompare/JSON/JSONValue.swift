/// A parsed JSON document, as the structural comparison needs it: objects as members
/// sorted by key (key order as sent carries no meaning; a repeated key keeps its last
/// value), arrays in order, numbers kept as text and compared by value. Sorted arrays, not
/// dictionaries: comparing walks two sorted lists, with no hashing per key.
enum JSONValue: Equatable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([JSONMember])

    /// Numbers are equal when their values are (`1.0` and `1`, `1e2` and `100`); text that
    /// does not fit a Double is compared as written.
    static func sameNumber(_ a: String, _ b: String) -> Bool {
        if a == b { return true }
        guard let x = Double(a), let y = Double(b), x.isFinite, y.isFinite else { return false }
        return x == y
    }

    /// `members` in key order, the last of each repeated key kept.
    static func object(sorting members: [JSONMember]) -> JSONValue {
        // Stable: among equal keys the later member comes later and is the one kept.
        let sorted = members.enumerated().sorted { ($0.element.key, $0.offset) < ($1.element.key, $1.offset) }.map(\.element)
        var unique: [JSONMember] = []
        unique.reserveCapacity(sorted.count)
        for member in sorted {
            if let last = unique.last, last.key == member.key { unique[unique.count - 1] = member } else { unique.append(member) }
        }
        return .object(unique)
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

/// One member of a JSON object.
struct JSONMember: Equatable {
    var key: String
    var value: JSONValue
}
