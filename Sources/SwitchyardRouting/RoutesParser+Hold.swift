extension RoutesParser {
    /// `hold methods METHOD...` (replaces the default POST PUT PATCH DELETE) or
    /// `hold except PATH...` (prefixes never held; may be repeated).
    mutating func holdDirective(_ tokens: [RoutesToken], route: inout RouteDraft) {
        let usage = "hold methods METHOD... | hold except PATH..."
        guard expectArguments(tokens, 2...Int.max - 1, usage: usage) else { return }
        if route.holdToken == nil { route.holdToken = tokens[0] }
        let values = tokens.dropFirst(2)
        switch tokens[1].text {
        case "methods":
            var methods: [String] = []
            for token in values {
                guard isHTTPToken(token.text), token.text.uppercased() == token.text else {
                    error(token, "bad method \"\(token.text)\" (methods are upper-case tokens like POST)")
                    continue
                }
                if token.text == "GET" || token.text == "HEAD" {
                    error(token, "\(token.text) is a read: a hold parks writes so that reads keep flowing")
                    continue
                }
                if !methods.contains(token.text) { methods.append(token.text) }
            }
            route.hold.methods = methods
        case "except":
            for token in values {
                guard token.text.hasPrefix("/") else {
                    error(token, "hold except takes path prefixes starting with '/'")
                    continue
                }
                if let problem = PathPrefix.problem(token.text) {
                    error(token, problem)
                    continue
                }
                if !route.hold.exceptions.contains(token.text) { route.hold.exceptions.append(token.text) }
            }
        default:
            error(tokens[1], "unknown hold setting \"\(tokens[1].text)\" (usage: \(usage))")
        }
    }
}
