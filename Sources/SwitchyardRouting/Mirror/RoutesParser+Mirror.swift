extension RoutesParser {
    /// What `mirror methods` may list: the safe methods (RFC 9110 §9.2.1).
    static let mirrorSafeMethods: Set<String> = ["GET", "HEAD", "OPTIONS", "TRACE"]

    static let mirrorUsage = "mirror BACKEND PCT | mirror methods METHOD... | mirror noise PCT | mirror in-flight N | mirror rate N/s"

    /// `mirror BACKEND PCT`, `mirror methods METHOD...` (replaces GET HEAD OPTIONS),
    /// `mirror noise PCT`, `mirror in-flight N`, `mirror rate N/s`. The target is checked
    /// against the backends once the file is read (`checkMirror`).
    mutating func mirrorDirective(_ tokens: [RoutesToken], route: inout RouteDraft) {
        guard expectArguments(tokens, 2...Int.max - 1, usage: Self.mirrorUsage) else { return }
        if route.mirrorToken == nil { route.mirrorToken = tokens[0] }
        var rules = route.mirror ?? MirrorRules()
        defer { route.mirror = rules }
        let setting = tokens[1]
        switch setting.text {
        case "methods":
            var methods: [String] = []
            for token in tokens.dropFirst(2) {
                guard isHTTPToken(token.text), token.text.uppercased() == token.text else {
                    error(token, "bad method \"\(token.text)\" (methods are upper-case tokens like GET)")
                    continue
                }
                // Reads only: a write listed here went to a target that is not a sandbox —
                // a second POST to a real system. A `sandbox` target takes every method.
                guard Self.mirrorSafeMethods.contains(token.text) else {
                    error(token, "mirror methods takes reads only (GET, HEAD, OPTIONS, TRACE): a copy of \(token.text) goes only to a backend marked `sandbox`, which takes every method")
                    continue
                }
                if !methods.contains(token.text) { methods.append(token.text) }
            }
            rules.methods = methods
        case "noise":
            guard expectArguments(tokens, 2...2, usage: "mirror noise PCT") else { return }
            if let points = value(parsePercentage(tokens[2].text), at: tokens[2]) { rules.noiseBasisPoints = points }
        case "in-flight":
            guard expectArguments(tokens, 2...2, usage: "mirror in-flight N") else { return }
            if let n = value(parseInteger(tokens[2].text, in: 1...MirrorRules.maxInFlight, what: "in-flight bound"), at: tokens[2]) {
                rules.inFlight = n
            }
        case "rate":
            guard expectArguments(tokens, 2...2, usage: "mirror rate N/s") else { return }
            let text = tokens[2].text
            guard text.hasSuffix("/s") else {
                error(tokens[2], "bad rate \"\(text)\" (expected requests per second like 200/s)")
                return
            }
            if let n = value(parseInteger(String(text.dropLast(2)), in: 1...MirrorRules.maxRatePerSecond, what: "rate"), at: tokens[2]) {
                rules.ratePerSecond = n
            }
        default:
            guard expectArguments(tokens, 2...2, usage: Self.mirrorUsage) else { return }
            if let earlier = route.mirrorBackend {
                error(setting, "the route already mirrors to \(earlier.text) (line \(earlier.line)); one target per route")
                return
            }
            route.mirrorBackend = setting
            rules.backend = setting.text
            if let points = value(parsePercentage(tokens[2].text), at: tokens[2]) { rules.basisPoints = points }
        }
    }

    /// The file-wide checks of a route's mirror: its target (if the file names one) must be
    /// a backend of the file, and only an http route is mirrored.
    mutating func checkMirror(_ draft: RouteDraft, knownBackends: [String]) {
        guard let token = draft.mirrorToken else { return }
        if draft.mode == .tcp {
            error(token, "mirror applies to http routes only (a mirror copies requests), and this route is mode tcp")
            return
        }
        // Settings without a target are the route's rules for when `mirror ROUTE BACKEND PCT`
        // names one at run time.
        guard let target = draft.mirrorBackend else { return }
        if !knownBackends.contains(target.text) {
            let known = knownBackends.isEmpty ? "no backend is defined" : "known: \(knownBackends.joined(separator: ", "))"
            error(target, "unknown mirror backend \"\(target.text)\" (\(known))")
        }
    }
}
