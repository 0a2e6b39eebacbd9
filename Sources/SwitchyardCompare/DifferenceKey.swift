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

    /// What a person reads: the JSON path alone for a field, the key otherwise.
    static func display(_ key: String) -> String {
        key.hasPrefix("json:") ? String(key.dropFirst(5)) : key
    }
}
