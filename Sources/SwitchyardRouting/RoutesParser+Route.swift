/// A route block as read so far; checked and turned into a `RouteConfig` by `finish()`.
struct RouteDraft {
    var keyword: RoutesToken
    /// Empty text when the header had no name (already reported).
    var name: RoutesToken
    var mode: RouteMode = .http
    var modeToken: RoutesToken?
    var hosts: [String] = []
    var hostToken: RoutesToken?
    var pathPrefix: String?
    var pathToken: RoutesToken?
    var listen: Endpoint?
    var listenToken: RoutesToken?
    var listenAddress: RoutesToken?
    /// http routes: `listen NAME...` — the listener names, checked once every listener is known.
    var listenerNames: [RoutesToken] = []
    /// The `backend` or `active` directive, and the names it gave.
    var activeDirective: RoutesToken?
    var active: RoutesToken?
    var standby: RoutesToken?
    var splitDirective: RoutesToken?
    var split: [(backend: RoutesToken, basisPoints: Int)] = []
    var sticky: StickyKey?
    var stickyToken: RoutesToken?
    var cohorts: [(cohort: Cohort, kind: RoutesToken, backend: RoutesToken)] = []
    var maxBodyBytes: UInt64?
    var maxBodyToken: RoutesToken?
    var failover = false
    var hold = HoldRules()
    var holdToken: RoutesToken?
    /// `mirror …` lines (see `mirrorDirective`), the first of them, and the target named.
    var mirror: MirrorRules?
    var mirrorToken: RoutesToken?
    var mirrorBackend: RoutesToken?
    var certificate: CertificatePaths?
    var certificateToken: RoutesToken?
    /// A backend/active/split line was seen, even one with a problem: then "no backend"
    /// would only repeat that problem.
    var sawSideLine = false
    /// `guard …` lines, read once the backends are known (`checkGuards`).
    var guardLines: [[RoutesToken]] = []
    /// `compare …` lines (mirror comparison rules).
    var compare = CompareRules()
}

extension RoutesParser {
    static let routeDirectives = ["mode", "host", "path", "listen", "backend", "active", "split", "sticky", "cohort", "max-body", "failover", "cert", "hold", "guard", "mirror", "compare"]

    mutating func routeDirective(_ tokens: [RoutesToken], route index: Int) {
        let keyword = tokens[0]
        var route = routes[index]
        defer { routes[index] = route }
        switch keyword.text {
        case "mode":
            guard !rejectDuplicate(keyword, firstLine: route.modeToken?.line),
                  expectArguments(tokens, 1...1, usage: "mode http|tcp") else { return }
            guard let mode = RouteMode(rawValue: tokens[1].text) else {
                error(tokens[1], "unknown mode \"\(tokens[1].text)\" (expected http or tcp)")
                return
            }
            route.mode = mode
            route.modeToken = keyword
        case "host":
            guard expectArguments(tokens, 1...Int.max - 1, usage: "host NAME [NAME...]") else { return }
            if route.hostToken == nil { route.hostToken = keyword }
            for token in tokens.dropFirst() {
                if token.text == "*" {
                    if tokens.count > 2 { error(token, "\"*\" (any host) cannot be combined with other host names") }
                    continue
                }
                let lower = token.text.lowercased()
                let bracketedIPv6 = lower.hasPrefix("[") && lower.hasSuffix("]") && parseIPv6(lower.dropFirst().dropLast()) != nil
                guard bracketedIPv6 || isDNSName(Substring(lower)) else {
                    let hint = lower.contains("*") ? " (wildcards are not supported: list the names, or use * alone for any host)" : ""
                    error(token, "bad host name \"\(token.text)\"\(hint)")
                    continue
                }
                // A trailing dot names the same host; the router strips it from requests too.
                let name = lower.hasSuffix(".") ? String(lower.dropLast()) : lower
                if !route.hosts.contains(name) { route.hosts.append(name) }
            }
        case "path":
            guard !rejectDuplicate(keyword, firstLine: route.pathToken?.line),
                  expectArguments(tokens, 1...1, usage: "path PREFIX") else { return }
            route.pathToken = keyword
            guard tokens[1].text.hasPrefix("/") else {
                error(tokens[1], "path prefix must start with '/'")
                return
            }
            if let problem = PathPrefix.problem(tokens[1].text) {
                error(tokens[1], problem)
                return
            }
            route.pathPrefix = tokens[1].text
        case "listen":
            guard !rejectDuplicate(keyword, firstLine: route.listenToken?.line ?? route.listenerNames.first?.line),
                  expectArguments(tokens, 1...Int.max - 1, usage: "listen ADDR:PORT (mode tcp routes) | listen NAME... (http routes: named listeners)") else { return }
            // An address has a ':' (port); a listener name never does.
            if tokens[1].text.contains(":") {
                guard expectArguments(tokens, 1...1, usage: "listen ADDR:PORT (mode tcp routes)") else { return }
                route.listenToken = keyword
                route.listenAddress = tokens[1]
                route.listen = value(parseListenEndpoint(tokens[1].text), at: tokens[1])
            } else {
                route.listenerNames = Array(tokens.dropFirst())
            }
        case "backend", "active":
            route.sawSideLine = true
            activeDirective(tokens, route: &route)
        case "split":
            route.sawSideLine = true
            splitDirective(tokens, route: &route)
        case "sticky":
            guard !rejectDuplicate(keyword, firstLine: route.stickyToken?.line),
                  expectArguments(tokens, 1...2, usage: "sticky cookie NAME | sticky header NAME | sticky client") else { return }
            route.stickyToken = keyword
            switch (tokens[1].text, tokens.count) {
            case ("client", 2):
                route.sticky = .client
            case ("client", _):
                error(tokens[2], "unexpected argument \"\(tokens[2].text)\" (sticky client takes none)")
            case ("cookie", 3), ("header", 3):
                guard isHTTPToken(tokens[2].text) else {
                    error(tokens[2], "bad \(tokens[1].text) name \"\(tokens[2].text)\"")
                    return
                }
                route.sticky = tokens[1].text == "cookie" ? .cookie(tokens[2].text) : .header(tokens[2].text)
            case ("cookie", _), ("header", _):
                error(keyword, "missing \(tokens[1].text) name (usage: sticky \(tokens[1].text) NAME)")
            default:
                error(tokens[1], "unknown sticky key \"\(tokens[1].text)\" (expected cookie, header or client)")
            }
        case "cohort":
            cohortDirective(tokens, route: &route)
        case "max-body":
            guard !rejectDuplicate(keyword, firstLine: route.maxBodyToken?.line),
                  expectArguments(tokens, 1...1, usage: "max-body SIZE") else { return }
            route.maxBodyToken = keyword
            route.maxBodyBytes = value(parseSize(tokens[1].text), at: tokens[1])
        case "failover":
            guard expectArguments(tokens, 0...0, usage: "failover") else { return }
            route.failover = true
        case "guard":
            route.guardLines.append(tokens)
        case "compare":
            compareDirective(tokens, rules: &route.compare)
        case "cert":
            let usage = "cert PATH key PATH [chain PATH]"
            guard !rejectDuplicate(keyword, firstLine: route.certificateToken?.line),
                  expectArguments(tokens, 3...5, usage: usage) else { return }
            route.certificateToken = keyword
            var paths: [String: String] = ["cert": tokens[1].text]
            var i = 2
            while i + 1 < tokens.count {
                let option = tokens[i]
                guard option.text == "key" || option.text == "chain", paths[option.text] == nil else {
                    error(option, "unexpected \"\(option.text)\" (usage: \(usage))")
                    return
                }
                paths[option.text] = tokens[i + 1].text
                i += 2
            }
            // One word left over: a `key` or `chain` without its path, or a stray word. Said
            // at that word (before: "cert needs a key" at `cert`, the key being there).
            if i < tokens.count {
                let last = tokens[i]
                error(last, last.text == "key" || last.text == "chain" ? "\(last.text) needs a path (usage: \(usage))"
                                                                        : "unexpected \"\(last.text)\" (usage: \(usage))")
                return
            }
            guard let key = paths["key"] else {
                error(keyword, "cert needs a key (usage: \(usage))")
                return
            }
            route.certificate = CertificatePaths(certPath: tokens[1].text, keyPath: key, chainPath: paths["chain"], line: keyword.line)
        case "hold":
            holdDirective(tokens, route: &route)
        case "mirror":
            mirrorDirective(tokens, route: &route)
        case "server", "health":
            unknownDirective(keyword, scope: "in a route block", known: Self.routeDirectives,
                             hint: "\(keyword.text) belongs inside a backend block")
        default:
            unknownDirective(keyword, scope: "in a route block", known: Self.routeDirectives)
        }
    }

    /// `backend NAME` or `active NAME [standby NAME]`.
    private mutating func activeDirective(_ tokens: [RoutesToken], route: inout RouteDraft) {
        let keyword = tokens[0]
        let usage = keyword.text == "backend" ? "backend NAME" : "active NAME [standby NAME]"
        guard expectArguments(tokens, 1...(keyword.text == "backend" ? 1 : 3), usage: usage) else { return }
        if let earlier = route.activeDirective {
            error(keyword, "the route already has an active backend (\(earlier.text) on line \(earlier.line))")
            return
        }
        if let split = route.splitDirective {
            error(keyword, "a route has either backend/active or split, not both (split on line \(split.line))")
            return
        }
        if tokens.count >= 3 && tokens[2].text != "standby" {
            error(tokens[2], "expected \"standby\" (usage: \(usage))")
            return
        }
        if tokens.count == 3 {
            error(tokens[2], "missing backend name after standby (usage: \(usage))")
            return
        }
        if tokens.count == 4 && tokens[2].text != "standby" {
            error(tokens[2], "expected \"standby\" (usage: \(usage))")
            return
        }
        route.activeDirective = keyword
        route.active = tokens[1]
        route.standby = tokens.count == 4 ? tokens[3] : nil
    }

    /// `split NAME PCT NAME PCT [NAME PCT...]`, summing to exactly 100%.
    private mutating func splitDirective(_ tokens: [RoutesToken], route: inout RouteDraft) {
        let keyword = tokens[0]
        let usage = "split NAME PCT NAME PCT [NAME PCT...]"
        if let earlier = route.splitDirective {
            error(keyword, "duplicate split (first on line \(earlier.line))")
            return
        }
        if let active = route.activeDirective {
            error(keyword, "a route has either backend/active or split, not both (\(active.text) on line \(active.line))")
            return
        }
        route.splitDirective = keyword
        let arguments = Array(tokens.dropFirst())
        if arguments.count % 2 == 1 {
            error(arguments.last!, "missing percentage after \"\(arguments.last!.text)\" (usage: \(usage))")
            return
        }
        if arguments.count < 4 {
            error(keyword, "split needs at least two backends (usage: \(usage))")
            return
        }
        var ok = true
        var seen: [String: Int] = [:]
        var split: [(backend: RoutesToken, basisPoints: Int)] = []
        for pair in stride(from: 0, to: arguments.count, by: 2) {
            let name = arguments[pair], share = arguments[pair + 1]
            if let firstColumn = seen[name.text] {
                error(name, "backend \"\(name.text)\" appears twice in the split (first at column \(firstColumn))")
                ok = false
            }
            seen[name.text] = name.column
            if let basisPoints = value(parsePercentage(share.text), at: share) {
                split.append((name, basisPoints))
            } else {
                ok = false
            }
        }
        // Kept even when invalid, so references to unknown backends are still reported;
        // the file is refused either way.
        route.split = split
        guard ok else { return }
        let total = split.reduce(0) { $0 + $1.basisPoints }
        if total != 10000 {
            error(keyword, "split sums to \(formatBasisPoints(total)), must be exactly 100%")
        }
    }

    /// `cohort header|cookie NAME VALUE -> BACKEND`, `cohort client CIDR -> BACKEND`,
    /// `cohort path PREFIX -> BACKEND`.
    private mutating func cohortDirective(_ tokens: [RoutesToken], route: inout RouteDraft) {
        let keyword = tokens[0]
        let usage = "cohort header NAME VALUE -> BACKEND | cohort cookie NAME VALUE -> BACKEND | cohort client CIDR -> BACKEND | cohort path PREFIX -> BACKEND"
        guard expectArguments(tokens, 1...5, usage: usage) else { return }
        let kind = tokens[1]
        let arity: Int
        switch kind.text {
        case "header", "cookie": arity = 6
        case "client", "path": arity = 5
        default:
            error(kind, "unknown cohort kind \"\(kind.text)\" (expected header, cookie, client or path)")
            return
        }
        guard tokens.count >= arity else {
            error(keyword, "missing argument for cohort \(kind.text) (usage: cohort \(kind.text) \(arity == 6 ? "NAME VALUE" : kind.text == "client" ? "CIDR" : "PREFIX") -> BACKEND)")
            return
        }
        if tokens.count > arity {
            error(tokens[arity], "unexpected argument \"\(tokens[arity].text)\"")
            return
        }
        let arrow = tokens[arity - 2]
        guard arrow.text == "->" else {
            error(arrow, "expected \"->\" before the backend name, found \"\(arrow.text)\"")
            return
        }
        let matcher: CohortMatcher
        switch kind.text {
        case "header", "cookie":
            guard isHTTPToken(tokens[2].text) else {
                error(tokens[2], "bad \(kind.text) name \"\(tokens[2].text)\"")
                return
            }
            matcher = kind.text == "header" ? .header(name: tokens[2].text, value: tokens[3].text)
                                            : .cookie(name: tokens[2].text, value: tokens[3].text)
        case "client":
            guard let cidr = cidr(tokens[2]) else { return }
            matcher = .client(cidr)
        default:
            guard tokens[2].text.hasPrefix("/") else {
                error(tokens[2], "path prefix must start with '/'")
                return
            }
            if let problem = PathPrefix.problem(tokens[2].text) {
                error(tokens[2], problem)
                return
            }
            matcher = .path(prefix: tokens[2].text)
        }
        let backend = tokens[arity - 1]
        if let first = route.cohorts.first(where: { $0.0.matcher.takesTheSameRequests(as: matcher) }) {
            error(kind, "cohort \(matcher) is given twice (first at line \(first.1.line), -> \(first.0.backend)): the first always wins, so this one would pin nobody")
            return
        }
        route.cohorts.append((Cohort(matcher: matcher, backend: backend.text), kind, backend))
    }
}
