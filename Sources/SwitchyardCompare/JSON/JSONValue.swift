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

    /// Numbers are equal when their exact decimal values are (`1.0` and `1`, `1e2` and
    /// `100`, `-0` and `0`). Exact, not as Doubles: two 64-bit record numbers above 2^53
    /// that differ (9007199254740993 and 9007199254740992, what a rewrite that parses
    /// them as doubles sends) are different. Text whose exponent does not fit is compared
    /// as written.
    static func sameNumber(_ a: String, _ b: String) -> Bool {
        if a == b { return true }
        guard let x = DecimalText(a), let y = DecimalText(b) else { return false }
        return x == y
    }

    /// A JSON number's exact value: sign, significant digits (no leading or trailing
    /// zeros) and the power of ten of the last one. Zero is (false, [], 0).
    struct DecimalText: Equatable {
        var negative: Bool
        var digits: [UInt8]
        var exponent: Int

        init?(_ text: String) {
            var bytes = Array(text.utf8)[...]
            negative = bytes.first == UInt8(ascii: "-")
            if negative { bytes = bytes.dropFirst() }
            var all: [UInt8] = []
            var exponent = 0
            var seenPoint = false
            while let c = bytes.first, c != UInt8(ascii: "e"), c != UInt8(ascii: "E") {
                bytes = bytes.dropFirst()
                if c == UInt8(ascii: ".") { seenPoint = true; continue }
                guard c >= 0x30 && c <= 0x39 else { return nil }
                all.append(c)
                if seenPoint { exponent -= 1 }
            }
            if !bytes.isEmpty {
                bytes = bytes.dropFirst()
                // Ten digits at most: beyond that the value is written as it is compared.
                guard bytes.count <= 11, let e = Int(String(decoding: bytes, as: UTF8.self)) else { return nil }
                exponent += e
            }
            let lead = all.firstIndex { $0 != 0x30 } ?? all.count
            var significant = Array(all[lead...])
            while significant.last == 0x30 { significant.removeLast(); exponent += 1 }
            if significant.isEmpty { negative = false; exponent = 0 }
            digits = significant
            self.exponent = exponent
        }
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
