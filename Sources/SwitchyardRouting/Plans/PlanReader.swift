/// Reads `plan NAME { … }` blocks and checks them against the routes and guards they name.
/// Used by the routes-file parser and by `plan load` (a file of plan blocks alone).
///
/// A block holds: `route NAME`; steps `BACKEND PCT [for DURATION]` or `flip [for DURATION]`,
/// in order, never lowering the new side; `guards NAME...` (default: every guard of the
/// route); `approve by group GROUP`; `require compare-ready` (the route's mirror
/// comparison must say "ready" before the plan starts).
struct PlanReader {
    struct Block {
        var header: [RoutesToken]
        var lines: [[RoutesToken]] = []
    }

    /// Problems at their token.
    var problems: [(RoutesToken, String)] = []

    mutating func read(_ block: Block, config: RoutesConfig, guards: [GuardConfig]) -> PlanConfig? {
        let before = problems.count
        let header = block.header.filter { $0.text != "{" }
        guard header.count == 2, GuardConfig.isGuardName(header[1].text) else {
            problems.append((header.count > 1 ? header[1] : header[0], "usage: plan NAME { … } (a name of letters, digits, '-', '_')"))
            return nil
        }
        var routeToken: RoutesToken?
        var steps: [(tokens: [RoutesToken], backend: RoutesToken?, points: Int?, hold: Int?)] = []
        var guardTokens: [RoutesToken] = []
        var group: String?
        var requireCompareReady = false
        for tokens in block.lines {
            let keyword = tokens[0]
            switch keyword.text {
            case "route":
                guard tokens.count == 2 else { problems.append((keyword, "usage: route NAME")); continue }
                if routeToken != nil { problems.append((keyword, "a plan has one route")); continue }
                routeToken = tokens[1]
            case "guards":
                guard tokens.count >= 2 else { problems.append((keyword, "usage: guards NAME [NAME...]")); continue }
                guardTokens += tokens.dropFirst()
            case "require":
                guard tokens.count == 2, tokens[1].text == "compare-ready" else {
                    problems.append((keyword, "usage: require compare-ready")); continue
                }
                requireCompareReady = true
            case "approve":
                guard tokens.count == 4, tokens[1].text == "by", tokens[2].text == "group" else {
                    problems.append((keyword, "usage: approve by group GROUP")); continue
                }
                group = tokens[3].text
            default:
                // A step: `flip [for D]` or `BACKEND PCT [for D]`.
                let isFlip = keyword.text == "flip"
                let rest = Array(tokens.dropFirst(isFlip ? 1 : 2))
                var points: Int?
                if !isFlip {
                    guard tokens.count >= 2 else {
                        problems.append((keyword, "unknown plan line \"\(keyword.text)\" (expected route, a step like `cloud 5% for 10m` or `flip`, guards, approve by group)"))
                        continue
                    }
                    switch parsePercentage(tokens[1].text) {
                    case .value(let v): points = v
                    case .problem(let message): problems.append((tokens[1], message)); continue
                    }
                }
                var hold: Int?
                if !rest.isEmpty {
                    guard rest.count == 2, rest[0].text == "for" else {
                        problems.append((rest[0], "expected `for DURATION` after the step (e.g. for 10m)")); continue
                    }
                    switch parseDuration(rest[1].text) {
                    case .value(let ms) where ms <= PlanConfig.maxHoldMilliseconds: hold = ms
                    case .value: problems.append((rest[1], "a step is held at most 7 days")); continue
                    case .problem(let message): problems.append((rest[1], message)); continue
                    }
                }
                steps.append((tokens, isFlip ? nil : keyword, points, hold))
            }
        }
        guard let routeToken else {
            problems.append((header[0], "plan \(header[1].text) names no route (add `route NAME`)"))
            return nil
        }
        guard let route = config.routes.first(where: { $0.name == routeToken.text }) else {
            problems.append((routeToken, "unknown route \"\(routeToken.text)\" (known: \(config.routes.map(\.name).joined(separator: ", ")))"))
            return nil
        }
        if route.mode == .tcp { problems.append((routeToken, "plans are for http routes (route \(route.name) is mode tcp)")) }
        guard !steps.isEmpty else {
            problems.append((header[0], "plan \(header[1].text) has no step (add e.g. `cloud 5% for 10m`)"))
            return nil
        }
        let backends = config.backends.map(\.name)
        let named = steps.compactMap(\.backend)
        for token in named where !backends.contains(token.text) {
            problems.append((token, "unknown backend \"\(token.text)\" (known: \(backends.joined(separator: ", ")))"))
        }
        if let first = named.first, let other = named.first(where: { $0.text != first.text }) {
            problems.append((other, "every step raises one side (\(first.text)); this one names \(other.text)"))
        }
        // The sides: the stepped backend, and the route's other side.
        let sides = route.split.isEmpty ? [route.active, route.standby].compactMap { $0 } : route.split.map(\.backend)
        let newSide = named.first?.text ?? (route.standby ?? sides.last ?? "")
        let others = sides.filter { $0 != newSide }
        if let first = named.first, backends.contains(first.text), !sides.contains(first.text) {
            problems.append((first, "route \(route.name) does not send to \(first.text) (its sides: \(sides.joined(separator: ", ")))"))
        }
        if others.count != 1 && problems.count == before {
            problems.append((routeToken, "plans ramp a route with two sides; \(route.name) has \(sides.count)"))
        }
        var last = -1
        for (index, step) in steps.enumerated() {
            let points = step.points ?? 10_000
            if points < last { problems.append((step.tokens[step.points == nil ? 0 : 1], "a ramp never lowers \(newSide): \(formatBasisPoints(points)) after \(formatBasisPoints(last))")) }
            last = points
            if step.hold == nil && index < steps.count - 1 {
                problems.append((step.tokens[0], "only the last step may have no `for DURATION`"))
            }
        }
        let routeGuards = guards.filter { $0.route == route.name }.map(\.name)
        for token in guardTokens where !routeGuards.contains(token.text) {
            problems.append((token, "route \(route.name) has no guard \"\(token.text)\"" + (routeGuards.isEmpty ? "" : " (its guards: \(routeGuards.joined(separator: ", ")))")))
        }
        guard problems.count == before else { return nil }
        var plan = PlanConfig(name: header[1].text, route: route.name, newSide: newSide, oldSide: others[0],
                          steps: steps.map { PlanStep(basisPoints: $0.points, holdMilliseconds: $0.hold, text: $0.tokens.map(\.text).joined(separator: " ")) },
                          guards: guardTokens.map(\.text), approveGroup: group, line: header[0].line)
        if requireCompareReady { plan.requireCompareReady = true }
        return plan
    }

    /// A file of plan blocks alone (`plan load`): the plans, or every problem as
    /// `file:line:col: message`.
    static func load(_ text: String, file: String, config: RoutesConfig, guards: [GuardConfig]) -> Result<[PlanConfig], RoutesErrors> {
        var reader = PlanReader()
        var blocks: [Block] = []
        var open = false
        for tokens in tokenizeRoutes(text) {
            if tokens[0].text == "}" && tokens.count == 1 {
                if !open { reader.problems.append((tokens[0], "'}' without an open block")) }
                open = false
            } else if tokens[0].text == "plan" {
                if open { reader.problems.append((tokens[0], "unterminated plan block before this one")) }
                if tokens.last?.text != "{" { reader.problems.append((tokens.last!, "expected '{' at the end of the plan line")) }
                blocks.append(Block(header: tokens))
                open = true
            } else if open {
                blocks[blocks.count - 1].lines.append(tokens)
            } else {
                reader.problems.append((tokens[0], "expected `plan NAME {` (a plan file holds plan blocks only)"))
            }
        }
        if open, let last = blocks.last { reader.problems.append((last.header[0], "unterminated plan block: no '}' before the end of the file")) }
        if blocks.isEmpty && reader.problems.isEmpty { reader.problems.append((RoutesToken(text: "", line: 1, column: 1), "no plan in file")) }
        var plans: [PlanConfig] = []
        for block in blocks {
            if let plan = reader.read(block, config: config, guards: guards) { plans.append(plan) }
        }
        guard reader.problems.isEmpty else {
            return .failure(RoutesErrors(reader.problems.map { RoutesError(file: file, line: $0.0.line, column: $0.0.column, message: $0.1) }
                .sorted { ($0.line, $0.column) < ($1.line, $1.column) }))
        }
        return .success(plans)
    }
}
