/// One way a pair can differ, as counted and reported: `status:200>500`, `header:location`,
/// `body` (bytes differ, compared by hash), `json:$.patient.name`, `failure:mirror:reset`.
/// The part before the first `:` is the kind (the metrics' `kind` label).
public enum DifferenceKind: String, Sendable, CaseIterable {
    case status, header, body, json, failure
}

enum DifferenceKey {
    static func status(_ primary: Int, _ other: Int) -> String { "status:\(primary)>\(other)" }
    static func header(_ name: String) -> String { "header:\(name)" }
    static let body = "body"
    static func json(_ path: String) -> String { "json:\(path)" }
    static func failure(side: String, _ failure: MirrorAnswer.Failure) -> String { "failure:\(side):\(failure.rawValue)" }

    static func kind(of key: String) -> DifferenceKind {
        let prefix = key.split(separator: ":", maxSplits: 1).first.map(String.init) ?? key
        return DifferenceKind(rawValue: prefix) ?? .body
    }

    /// Longest key text kept, in bytes: a path 32 fields deep would otherwise make one key
    /// kilobytes long, in every signature, example and the saved book.
    static let maxBytes = 200

    /// `key` cut to `maxBytes`: the first bytes (on a character boundary) then `~` and 16 hex
    /// digits of a hash of the whole key, so two long keys that share a start stay two keys.
    static func capped(_ key: String) -> String {
        let bytes = Array(key.utf8)
        guard bytes.count > maxBytes else { return key }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        let hash = String(h, radix: 16)
        let suffix = "~" + String(repeating: "0", count: 16 - hash.count) + hash
        var cut = maxBytes - suffix.utf8.count
        while cut > 0 && bytes[cut] & 0xC0 == 0x80 { cut -= 1 }   // not inside a UTF-8 sequence
        return String(decoding: bytes[..<cut], as: UTF8.self) + suffix
    }

    /// The key that stands for every key of `key`'s kind beyond an endpoint's cap.
    static func other(for key: String) -> String { kind(of: key).rawValue + ":(other)" }

    /// What a person reads: the JSON path alone for a field, the key otherwise.
    static func display(_ key: String) -> String {
        key.hasPrefix("json:") ? String(key.dropFirst(5)) : key
    }
}
