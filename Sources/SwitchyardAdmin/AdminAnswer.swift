import Foundation

/// The answer to one command: text for people (default) or one JSON object (`json`).
public struct AdminAnswer: Sendable {
    public var ok: Bool
    public var text: String
    public var json: String

    static func success(_ text: String, json: [String: Any] = [:]) -> AdminAnswer {
        var object = json
        object["ok"] = true
        if object["message"] == nil { object["message"] = text }
        return AdminAnswer(ok: true, text: text, json: encode(object))
    }

    static func failure(_ error: AdminError) -> AdminAnswer {
        AdminAnswer(ok: false, text: "error: \(error.message)", json: encode(["ok": false, "error": error.message]))
    }

    /// The bytes sent back: the answer and a newline, so that a person at socat sees lines
    /// and the CLI reads until the connection closes.
    func rendered(json: Bool) -> String {
        let body = json ? self.json : text
        return body.hasSuffix("\n") ? body : body + "\n"
    }

    static func encode(_ object: [String: Any]) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return "{\"ok\":false,\"error\":\"unencodable answer\"}"
        }
        return String(decoding: data, as: UTF8.self)
    }
}
