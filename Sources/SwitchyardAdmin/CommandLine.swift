import Foundation

/// One admin command line, split into words. Double quotes group words ("CHG 1234"); inside
/// quotes `\"` is a quote and `\\` a backslash. `--reason TEXT`, `--drain DURATION` and
/// `--json` / a leading `json` are options. Control, bidi and format characters
/// (`AdminText.isRefused`) are refused anywhere in the line: every word may end up in the
/// audit log, the history or a cohort.
public struct AdminCommandLine: Sendable, Equatable {
    public var words: [String]
    public var reason: String?
    public var drain: String?
    /// `upgrade --binary PATH`: the executable to upgrade to.
    public var binary: String?
    /// `inventory` and `simulate`: `--since 24h` (or a date), `--format csv`.
    public var since: String?
    public var format: String?
    /// `hold --max-wait DURATION` and `release --rate N/s`.
    public var maxWait: String?
    public var rate: String?
    public var json: Bool
    /// `--help` anywhere, or `-h` as the last word: the command's usage is answered,
    /// nothing is run.
    public var help = false
    /// The value-taking options given (`--reason`, `--drain`, ...), in order: each command
    /// says which it takes, and any other is refused rather than silently ignored.
    public var options: [String]
    /// The command for the audit log and history: its words, quoted only where needed (so a
    /// command sent by the CLI, which quotes every word, reads as typed).
    public var text: String

    public init(parsing line: String) throws(AdminError) {
        var scalars = Substring(line).unicodeScalars[...]
        // One CR before the newline (a client that ends lines with CRLF) is a line ending.
        if scalars.last == "\r" { scalars = scalars.dropLast() }
        var tokens: [String] = []
        var current = String.UnicodeScalarView()
        var inQuotes = false
        var escaped = false
        var hasToken = false
        for scalar in scalars {
            // Refused wherever it stands, an escaped one too (`"\<ESC>"` from a client that
            // is not the CLI stored an escape sequence in the history); a tab only between
            // words, where it separates them.
            let separator = (scalar == " " || scalar == "\t") && !inQuotes
            if !separator && AdminText.isRefused(scalar) {
                throw AdminError("character \(AdminText.describe(scalar)) is not allowed in commands (control, bidi and format characters are refused)")
            }
            if escaped {
                current.append(scalar)
                escaped = false
                continue
            }
            if inQuotes && scalar == "\\" {
                escaped = true
            } else if scalar == "\"" {
                inQuotes.toggle()
                hasToken = true
            } else if separator {
                if hasToken { tokens.append(String(current)); current = .init(); hasToken = false }
            } else {
                current.append(scalar)
                hasToken = true
            }
        }
        if inQuotes || escaped { throw AdminError("unterminated quote") }
        if hasToken { tokens.append(String(current)) }
        text = tokens.map(Self.quotedIfNeeded).joined(separator: " ")
        var words: [String] = []
        var reason: String?
        var drain: String?
        var binary: String?
        var since: String?
        var format: String?
        var maxWait: String?
        var rate: String?
        var json = false
        var options: [String] = []
        var i = 0
        while i < tokens.count {
            if tokens[i] != "--json", tokens[i].hasPrefix("--"), !options.contains(tokens[i]) { options.append(tokens[i]) }
            switch tokens[i] {
            case "--reason":
                guard i + 1 < tokens.count else { throw AdminError("--reason needs a text, e.g. --reason \"CHG-1234\"") }
                reason = tokens[i + 1]
                i += 2
            case "--drain":
                guard i + 1 < tokens.count else { throw AdminError("--drain needs a duration, e.g. --drain 30s") }
                drain = tokens[i + 1]
                i += 2
            case "--binary":
                guard i + 1 < tokens.count else { throw AdminError("--binary needs a path, e.g. --binary /usr/bin/switchyard") }
                binary = tokens[i + 1]
                i += 2
            case "--since", "--format":
                guard i + 1 < tokens.count else { throw AdminError("\(tokens[i]) needs a value, e.g. --since 24h or --format csv") }
                if tokens[i] == "--since" { since = tokens[i + 1] } else { format = tokens[i + 1] }
                i += 2
            case "--max-wait", "--rate":
                guard i + 1 < tokens.count else { throw AdminError("\(tokens[i]) needs a value, e.g. --max-wait 60s or --rate 100/s") }
                if tokens[i] == "--rate" { rate = tokens[i + 1] } else { maxWait = tokens[i + 1] }
                i += 2
            case "--json":
                json = true
                i += 1
            // `-h` only as the last word: before it, it may be a value (`cohort … X-Flag -h
            // '->' cloud`), and a script would take the usage answer for success.
            case "--help":
                help = true
                i += 1
            case "-h" where i == tokens.count - 1:
                help = true
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
        self.binary = binary
        self.since = since
        self.format = format
        self.maxWait = maxWait
        self.rate = rate
        self.json = json
        self.options = options
    }

    /// Refuses the first option `command` does not take (an option given to the wrong
    /// command, `flip all --rate 10/s`, would otherwise do nothing while the operator
    /// believes it did something).
    func checkOptions(_ command: String, allowed: Set<String>) throws(AdminError) {
        guard let extra = options.first(where: { !allowed.contains($0) }) else { return }
        let takes = allowed.sorted().joined(separator: ", ")
        throw AdminError("\(command) does not take \(extra)" + (takes.isEmpty ? "" : " (it takes \(takes))"))
    }

    /// Refuses words after a command that takes none (`reload routes.yaml` re-reads the
    /// file the proxy was started with, not the one named: refused, not half-obeyed).
    func checkNoArguments(_ usage: String) throws(AdminError) {
        guard words.count == 1 else {
            throw AdminError("usage: \(usage) (it takes no arguments; \"\(AdminText.stored(words[1]))\" is one)")
        }
    }
}

extension AdminCommandLine {
    static func quotedIfNeeded(_ word: String) -> String {
        let plain = !word.isEmpty && !word.contains { $0 == " " || $0 == "\t" || $0 == "\"" || $0 == "\\" }
        return plain ? word : quoted(word)
    }

    static func quoted(_ word: String) -> String {
        "\"" + word.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// The line a client sends for `words`: every word in double quotes, `"` and `\` escaped,
    /// so that the server reads back exactly these words (spaces, quotes and all). A word
    /// with a character the server refuses (a newline would end the line and start a second
    /// command) is refused here already, naming the word.
    public static func line(quoting words: [String]) throws(AdminError) -> String {
        var line = ""
        for (index, word) in words.enumerated() {
            if let bad = word.unicodeScalars.first(where: AdminText.isRefused) {
                throw AdminError("argument \(index + 1) contains \(AdminText.describe(bad)) (control, bidi and format characters, newlines included, are refused)")
            }
            if index > 0 { line += " " }
            line += quoted(word)
        }
        return line + "\n"
    }
}
