/// A word of a routes file and where it starts (1-based line and column, counted in
/// Unicode scalars so a message points where an editor shows the character).
struct RoutesToken: Equatable {
    var text: String
    var line: Int
    var column: Int

    /// The column just past this token, for "something is missing here" messages.
    var endColumn: Int { column + text.unicodeScalars.count }
}

/// True when `text` reads back from a routes file as this one word: not empty, and no space,
/// tab, line end or `#` (a comment's start). Run-time values that `show routes` and the state
/// file write as routes lines are checked with it.
public func isRoutesWord(_ text: String) -> Bool {
    !text.isEmpty && !text.unicodeScalars.contains { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "#" }
}

/// Splits routes-file text into lines of tokens. `#` starts a comment to the end of the line;
/// spaces and tabs separate tokens; `\r\n` line ends are accepted. Lines with no tokens are
/// left out, so every element is non-empty.
func tokenizeRoutes(_ text: String) -> [[RoutesToken]] {
    var lines: [[RoutesToken]] = []
    var current: [RoutesToken] = []
    var word = String.UnicodeScalarView()
    var wordColumn = 0
    var line = 1
    var column = 0
    var inComment = false

    func endWord() {
        if !word.isEmpty {
            current.append(RoutesToken(text: String(word), line: line, column: wordColumn))
            word = String.UnicodeScalarView()
        }
    }
    func endLine() {
        endWord()
        if !current.isEmpty { lines.append(current) }
        current = []
        line += 1
        column = 0
        inComment = false
    }

    // A byte-order mark an editor saved at the start is no part of the first word (it made
    // "listen" an unknown directive that reads exactly like the known one).
    let scalars = text.unicodeScalars.first == "\u{FEFF}" ? text.unicodeScalars.dropFirst() : text.unicodeScalars[...]
    for scalar in scalars {
        column += 1
        if scalar == "\n" { endLine(); continue }
        if inComment { continue }
        switch scalar {
        case "#":
            endWord()
            inComment = true
        case " ", "\t", "\r":
            endWord()
        default:
            if word.isEmpty { wordColumn = column }
            word.append(scalar)
        }
    }
    endLine()
    return lines
}
