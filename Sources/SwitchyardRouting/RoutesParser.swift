/// Reads a routes file into a `RoutesConfig`, collecting every problem rather than stopping
/// at the first: an operator fixing a file wants the whole list in one go.
///
/// The work is in three passes: tokens per line (`tokenizeRoutes`), the block structure and
/// each directive's own arguments (this file and its extensions), then the checks that need
/// the whole file, such as references to backends defined further down (`finish()`).
struct RoutesParser {
    let file: String
    let lines: [[RoutesToken]]
    var errors: [RoutesError] = []

    var listeners: [ListenerConfig] = []
    /// The address token of each entry of `listeners`, for duplicate-address messages.
    var listenerTokens: [RoutesToken] = []
    /// A `listen http|https` line was seen, even one with a problem: then "no listener"
    /// would only repeat that problem.
    var sawListenLine = false
    var admin: AdminConfig?
    var statePath: String?
    var serviceUser: String?
    var accessLogPath: String?
    var errorLogPath: String?
    var generationHeader: String?
    var metrics: Endpoint?
    /// The `metrics` line's address, for an error at it.
    var metricsToken: RoutesToken?
    var notify: [NotifyTarget] = []
    var fleet: FleetConfig?
    var trustForwarded: [CIDR] = []
    var tuning = TuningConfig()
    /// Directives that may appear once, and the line they first appeared on.
    var seenOnce: [String: Int] = [:]

    var backends: [BackendDraft] = []
    var routes: [RouteDraft] = []
    /// `plan NAME {` blocks, read once routes and guards are known (`checkPlans`).
    var plans: [PlanReader.Block] = []

    /// The block whose lines are being read, if any.
    enum OpenBlock {
        case backend(Int)
        case route(Int)
        case plan(Int)
        /// An unknown block: its lines are skipped so one mistake gives one message.
        case unknown
    }

    init(text: String, file: String) {
        self.file = file
        self.lines = tokenizeRoutes(text)
    }

    mutating func error(_ token: RoutesToken, _ message: String) {
        errors.append(RoutesError(file: file, line: token.line, column: token.column, message: message))
    }

    /// The network `token` spells, or nil with the problem reported at the token.
    mutating func cidr(_ token: RoutesToken) -> CIDR? {
        switch CIDR.parseExplained(token.text) {
        case .success(let cidr):
            return cidr
        case .failure(.malformed):
            error(token, "bad CIDR \"\(token.text)\" (expected e.g. 10.50.0.0/16 or 2001:db8::/32)")
        case .failure(.prefixTooLong(let max)):
            error(token, "bad CIDR \"\(token.text)\": prefix length must be 0…\(max)")
        case .failure(.hostBitsSet(let suggestion)):
            error(token, "bad CIDR \"\(token.text)\": address has bits set beyond the prefix (did you mean \(suggestion)?)")
        }
        return nil
    }

    mutating func error(line: Int, column: Int, _ message: String) {
        errors.append(RoutesError(file: file, line: line, column: column, message: message))
    }

    mutating func parse() throws(RoutesErrors) -> RoutesConfig {
        var open: (block: OpenBlock, header: RoutesToken)?
        for tokens in lines {
            let first = tokens[0]
            if first.text == "}" {
                if tokens.count > 1 { error(tokens[1], "unexpected \"\(tokens[1].text)\" after '}' (put '}' alone on its line)") }
                if open == nil {
                    error(first, "'}' without an open block")
                }
                open = nil
                continue
            }
            if let brace = tokens.dropLast().first(where: { $0.text == "{" }) {
                error(brace, "'{' must end the line")
                continue
            }
            let isHeader = tokens.last!.text == "{" || (open == nil && (first.text == "backend" || first.text == "route" || first.text == "plan"))
            if isHeader {
                if let (_, header) = open {
                    error(header, "unterminated block \"\(blockTitle(header))\": no '}' before the block on line \(first.line)")
                }
                open = (openBlock(tokens), first)
                continue
            }
            switch open?.block {
            case nil: topLevelDirective(tokens)
            case .backend(let index): backendDirective(tokens, backend: index)
            case .route(let index): routeDirective(tokens, route: index)
            case .plan(let index): plans[index].lines.append(tokens)
            case .unknown: continue
            }
        }
        if let (_, header) = open {
            error(header, "unterminated block \"\(blockTitle(header))\": no '}' before the end of the file")
        }
        let config = finish()
        if !errors.isEmpty {
            // Stable: several problems on one token keep the order they were found in.
            let sorted = errors.enumerated().sorted {
                ($0.element.line, $0.element.column, $0.offset) < ($1.element.line, $1.element.column, $1.offset)
            }.map(\.element)
            throw RoutesErrors(sorted)
        }
        return config
    }

    /// `route app` for the block whose header starts with `keyword`, for messages.
    private func blockTitle(_ keyword: RoutesToken) -> String {
        let header = lines.first { $0[0].line == keyword.line } ?? [keyword]
        return header.prefix(2).map(\.text).filter { $0 != "{" }.joined(separator: " ")
    }

    /// Starts a `backend NAME {` or `route NAME {` block.
    private mutating func openBlock(_ tokens: [RoutesToken]) -> OpenBlock {
        let keyword = tokens[0]
        let hasBrace = tokens.last!.text == "{"
        let words = hasBrace ? Array(tokens.dropLast()) : tokens
        if keyword.text == "plan" {
            if !hasBrace { error(line: tokens.last!.line, column: tokens.last!.endColumn + 1, "expected '{' at the end of the plan line") }
            plans.append(PlanReader.Block(header: tokens))
            return .plan(plans.count - 1)
        }
        guard keyword.text == "backend" || keyword.text == "route" else {
            let hint = closestWord(to: keyword.text, in: ["backend", "route"]).map { " (did you mean \"\($0)\"?)" } ?? " (known blocks: backend, route, plan)"
            error(keyword, "unknown block \"\(keyword.text)\"\(hint)")
            return .unknown
        }
        var name = RoutesToken(text: "", line: keyword.line, column: keyword.column)
        if words.count < 2 {
            error(keyword, "missing \(keyword.text) name (usage: \(keyword.text) NAME {)")
        } else {
            name = words[1]
            if !isPlainName(name.text) {
                error(name, "bad \(keyword.text) name \"\(name.text)\" (use letters, digits, '-', '_', '.')")
            }
            if words.count > 2 {
                error(words[2], "unexpected \"\(words[2].text)\" after \(keyword.text) name")
            }
        }
        if !hasBrace {
            let last = tokens.last!
            error(line: last.line, column: last.endColumn + 1, "expected '{' at the end of the \(keyword.text) line")
        }
        if keyword.text == "backend" {
            backends.append(BackendDraft(keyword: keyword, name: name))
            return .backend(backends.count - 1)
        }
        routes.append(RouteDraft(keyword: keyword, name: name))
        return .route(routes.count - 1)
    }

    // MARK: Argument helpers shared by every block

    /// Checks the count of arguments after the directive; reports missing ones at the
    /// directive and the first extra one at itself.
    mutating func expectArguments(_ tokens: [RoutesToken], _ range: ClosedRange<Int>, usage: String) -> Bool {
        let count = tokens.count - 1
        if count < range.lowerBound {
            error(tokens[0], "missing argument for \(tokens[0].text) (usage: \(usage))")
            return false
        }
        if count > range.upperBound {
            error(tokens[range.upperBound + 1], "unexpected argument \"\(tokens[range.upperBound + 1].text)\" (usage: \(usage))")
            return false
        }
        return true
    }

    /// Reports a second occurrence of a directive that may appear once per scope.
    mutating func rejectDuplicate(_ token: RoutesToken, firstLine: Int?) -> Bool {
        guard let firstLine else { return false }
        error(token, "duplicate \(token.text) (first on line \(firstLine))")
        return true
    }

    mutating func unknownDirective(_ token: RoutesToken, scope: String, known: [String], hint: String? = nil) {
        var message = "unknown directive \"\(token.text)\" \(scope)"
        if let hint {
            message += " (\(hint))"
        } else if let guess = closestWord(to: token.text, in: known) {
            message += " (did you mean \"\(guess)\"?)"
        } else {
            message += " (known: \(known.joined(separator: ", ")))"
        }
        error(token, message)
    }

    mutating func value<T>(_ parsed: Parsed<T>, at token: RoutesToken) -> T? {
        switch parsed {
        case .value(let v): return v
        case .problem(let message):
            error(token, message)
            return nil
        }
    }
}
