/// One admin command line, split into words. Double quotes group words ("CHG 1234");
/// `--reason TEXT`, `--drain DURATION` and `--json` / a leading `json` are options.
public struct AdminCommandLine: Sendable, Equatable {
    public var words: [String]
    public var reason: String?
    public var drain: String?
    public var json: Bool
    /// The command as typed, for the audit log.
    public var text: String

    public init(parsing line: String) throws(AdminError) {
        text = line.trimmingCharacters(in: .whitespaces)
        var tokens: [String] = []
        var current = ""
        var inQuotes = false
        var hasToken = false
        for character in line {
            if character == "\"" {
                inQuotes.toggle()
                hasToken = true
            } else if (character == " " || character == "\t") && !inQuotes {
                if hasToken { tokens.append(current); current = ""; hasToken = false }
            } else if character == "\r" || character == "\n" {
                continue
            } else {
                guard character.asciiValue.map({ $0 >= 0x20 && $0 != 0x7F }) ?? true else {
                    throw AdminError("control characters are not allowed in commands")
                }
                current.append(character)
                hasToken = true
            }
        }
        if inQuotes { throw AdminError("unterminated quote") }
        if hasToken { tokens.append(current) }
        var words: [String] = []
        var reason: String?
        var drain: String?
        var json = false
        var i = 0
        while i < tokens.count {
            switch tokens[i] {
            case "--reason":
                guard i + 1 < tokens.count else { throw AdminError("--reason needs a text, e.g. --reason \"CHG-1234\"") }
                reason = tokens[i + 1]
                i += 2
            case "--drain":
                guard i + 1 < tokens.count else { throw AdminError("--drain needs a duration, e.g. --drain 30s") }
                drain = tokens[i + 1]
                i += 2
            case "--json":
                json = true
                i += 1
            default:
                if tokens[i].hasPrefix("--") { throw AdminError("unknown option \(tokens[i])") }
                words.append(tokens[i])
                i += 1
            }
        }
        if words.first == "json" {
            json = true
            words.removeFirst()
        }
        self.words = words
        self.reason = reason
        self.drain = drain
        self.json = json
    }
}

import Foundation
