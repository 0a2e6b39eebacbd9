/// `compare …` lines inside a route: how the mirror comparison reads this route's pairs.
///
///     compare ignore json $.meta.requestId     # leave a JSON subtree out
///     compare ignore header X-Trace            # drop a header from the compared set
///     compare header X-Api-Version             # add a header to the compared set
///     compare ready 1000 pairs 1h              # the verdict's minimum pairs and span
extension RoutesParser {
    static let compareUsage = "compare ignore json PATH | compare ignore header NAME | compare header NAME | compare ready N pairs DURATION"

    mutating func compareDirective(_ tokens: [RoutesToken], rules: inout CompareRules) {
        let words = tokens.map(\.text)
        switch (words.count, words.count > 1 ? words[1] : "") {
        case (4, "ignore") where words[2] == "json":
            do {
                let pattern = try JSONPathPattern(parsing: words[3])
                if !rules.ignoredJSON.contains(pattern) { rules.ignoredJSON.append(pattern) }
            } catch {
                // Point at the character that does not parse (columns count scalars, as the tokenizer does).
                self.error(line: tokens[3].line, column: tokens[3].column + error.offset, "bad JSON path \"\(words[3])\": \(error.message)")
            }
        case (4, "ignore") where words[2] == "header", (3, "header"):
            let name = tokens[tokens.count - 1]
            guard isHTTPToken(name.text) else {
                error(name, "bad header name \"\(name.text)\"")
                return
            }
            let lower = name.text.lowercased()
            if words[1] == "ignore" {
                if !rules.ignoredHeaders.contains(lower) { rules.ignoredHeaders.append(lower) }
            } else if !rules.extraHeaders.contains(lower) {
                rules.extraHeaders.append(lower)
            }
        case (5, "ready") where words[3] == "pairs":
            guard words[2].count <= 9, let pairs = Int(words[2]), pairs > 0 else {
                error(tokens[2], "bad pair count \"\(words[2])\" (a whole number above 0)")
                return
            }
            guard let milliseconds = value(parseDuration(words[4]), at: tokens[4]) else { return }
            guard milliseconds >= 1000 else {
                error(tokens[4], "the ready span is at least 1s")
                return
            }
            rules.readyPairs = pairs
            rules.readySeconds = milliseconds / 1000
        default:
            error(tokens[0], "bad compare line (usage: \(Self.compareUsage))")
        }
    }
}
