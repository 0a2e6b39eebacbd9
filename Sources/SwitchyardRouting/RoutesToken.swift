/// A word of a routes file and where it starts (1-based line and column, counted in
/// Unicode scalars so a message points where an editor shows the character).
struct RoutesToken: Equatable {
    var text: String
    var line: Int
    var column: Int

    /// The column just past this token, for "something is missing here" messages.
    var endColumn: Int { column + text.unicodeScalars.count }
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

    for scalar in text.unicodeScalars {
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
