import Foundation
import SwitchyardRouting

/// What a command produces: an answer (read-only commands) or a change to commit.
enum CommandOutcome {
    case answer(AdminAnswer)
    case change(AdminService.Change)
}

/// One admin command, registered as data: its word, usage, whether it changes routing
/// (and so needs the change permission and an audit record), and its handler.
struct AdminCommandSpec: Sendable {
    let word: String
    let usage: String
    let summary: String
    let changes: Bool
    /// The value-taking options it reads besides `--reason` (which every change takes) and
    /// `--json` (every command); any other given is refused.
    var options: Set<String> = []
    let run: @Sendable (AdminService, AdminCommandLine, Caller) throws(AdminError) -> CommandOutcome
}

enum AdminCommands {
    static let all: [AdminCommandSpec] = [
        .init(word: "help", usage: "help [COMMAND]", summary: "this list, or one command's usage", changes: false) { _, command, _ throws(AdminError) in
            if command.words.count > 1 {
                let asked = Array(command.words.dropFirst())
                guard let spec = find(asked[0], asked) else {
                    throw AdminError("unknown command \"\(AdminText.stored(asked.joined(separator: " ")))\"; try: help")
                }
                return .answer(.success(usage(of: spec)))
            }
            return .answer(.success(helpText))
        },
        .init(word: "status", usage: "status", summary: "routes, shares, and each backend's requests, errors, latency, connections", changes: false) { service, command, _ throws(AdminError) in
            try command.checkNoArguments("status")
            return .answer(StatusReport.status(service))
        },
        .init(word: "show", usage: "show routes", summary: "the routing in force, in routes-file words", changes: false) { service, command, _ throws(AdminError) in
            guard command.words.count == 2, command.words[1] == "routes" else { throw AdminError("usage: show routes") }
            return .answer(StatusReport.showRoutes(service))
        },
        .init(word: "history", usage: "history", summary: "generations: when, who, what", changes: false) { service, command, _ throws(AdminError) in
            try command.checkNoArguments("history")
            return .answer(StatusReport.history(service))
        },
        .init(word: "inventory", usage: "inventory [ROUTE] [--since 24h] | inventory export --format csv [ROUTE]", summary: "who calls each route: networks, hosts, SNI, clients, protocols, tunnels, endpoints per side", changes: false, options: ["--since", "--format"]) { service, command, _ throws(AdminError) in
            .answer(try InventoryCommand.run(service, command))
        },
        .init(word: "simulate", usage: "simulate ROUTE BACKEND PCT [BACKEND PCT...] [cohort add|remove ...] [--since 24h]", summary: "who would move: the recorded decisions routed by the table in force and by the proposed one", changes: false, options: ["--since"]) { service, command, _ throws(AdminError) in
            .answer(try SimulateCommand.run(service, command))
        },
        .init(word: "reopen-logs", usage: "reopen-logs", summary: "reopen the access and error logs (after logrotate renamed them; SIGUSR1 does the same)", changes: false) { service, command, caller throws(AdminError) in
            try command.checkNoArguments("reopen-logs")
            return .answer(reopenLogs(service, caller))
        },
        .init(word: "weight", usage: "weight ROUTE BACKEND PCT [BACKEND PCT...]", summary: "set a route's split (the one backend left out takes the rest)", changes: true) { service, command, _ throws(AdminError) in
            .change(try weight(service, command))
        },
        .init(word: "cohort", usage: "cohort ROUTE add|remove header NAME VALUE|cookie NAME VALUE|client CIDR|path PREFIX -> BACKEND", summary: "pin a group of users to a backend", changes: true) { service, command, _ throws(AdminError) in
            .change(try cohort(service, command))
        },
        .init(word: "flip", usage: "flip ROUTE|all [--drain 30s]", summary: "swap active and standby (a split route moves wholly to its smaller side)", changes: true, options: ["--drain"]) { service, command, _ throws(AdminError) in
            .change(try flip(service, command))
        },
        .init(word: "revert", usage: "revert [to N]", summary: "restore the previous generation's (or generation N's) state", changes: true) { service, command, _ throws(AdminError) in
            .change(try revert(service, command))
        },
        .init(word: "drain", usage: "drain BACKEND [DURATION]", summary: "close idle connections to a backend now and its tunnels after DURATION", changes: true) { service, command, caller throws(AdminError) in
            try drain(service, command, caller)
        },
        .init(word: "hold", usage: "hold ROUTE|all [--max-wait 60s]", summary: "park the route's writes (reads flow); answers once no write is in flight", changes: true, options: ["--max-wait"]) { service, command, _ throws(AdminError) in
            .change(try HoldCommands.hold(service, command))
        },
        .init(word: "release", usage: "release ROUTE|all [--rate 100/s]", summary: "send parked writes on in arrival order, to the routing in force now", changes: true, options: ["--rate"]) { service, command, _ throws(AdminError) in
            .change(try HoldCommands.release(service, command))
        },
        .init(word: "reload", usage: "reload", summary: "re-read the routes file (an invalid file changes nothing)", changes: true) { service, command, _ throws(AdminError) in
            try command.checkNoArguments("reload")
            return .change(try service.reloadChange())
        },
    ] + GuardCommands.specs + PlanCommands.specs + MirrorCommands.specs + CompareCommands.specs + FleetCommands.specs

    static func find(_ word: String, _ words: [String]) -> AdminCommandSpec? {
        // A spec's word may be two words ("plan status"): the longest match wins.
        all.first { spec in
            let specWords = spec.word.split(separator: " ")
            return specWords.count <= words.count && zip(specWords, words).allSatisfy { $0 == $1 }
        }
    }

    /// One command's usage and what it does (`help flip`, `flip --help`).
    static func usage(of spec: AdminCommandSpec) -> String {
        var text = "usage: \(spec.usage)\n  \(spec.summary)"
        let options = spec.changes ? spec.options.union(["--reason"]) : spec.options
        if !options.isEmpty { text += "\n  options: " + options.sorted().joined(separator: ", ") }
        if spec.changes { text += "\n  changes routing: audited (add --reason \"TEXT\")" }
        return text
    }

    static var helpText: String {
        let width = all.map(\.usage.count).max() ?? 0
        let lines = all.map { $0.usage.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.summary }
        return (["commands (add --reason \"TEXT\" to any change; prefix with json for a JSON answer):"] + lines.map { "  " + $0 })
            .joined(separator: "\n")
    }

    // MARK: handlers

    static func route(_ service: AdminService, _ name: String) throws(AdminError) -> CompiledRoute {
        try route(service.table, name)
    }

    static func route(_ table: RouteTable, _ name: String) throws(AdminError) -> CompiledRoute {
        guard let index = table.routeIndex(named: name) else {
            let known = table.routes.map(\.name).joined(separator: ", ")
            throw AdminError("unknown route \"\(name)\" (routes: \(known))")
        }
        return table.routes[index]
    }

    static func backend(_ service: AdminService, _ name: String) throws(AdminError) -> String {
        try backend(service.table, name)
    }

    static func backend(_ table: RouteTable, _ name: String) throws(AdminError) -> String {
        guard table.backendIndex(named: name) != nil else {
            let known = table.backends.map(\.name).joined(separator: ", ")
            throw AdminError("unknown backend \"\(name)\" (backends: \(known))")
        }
        return name
    }

    static func weight(_ service: AdminService, _ command: AdminCommandLine) throws(AdminError) -> AdminService.Change {
        .init(state: try weight(service.table, state: service.table.state, words: command.words))
    }

    /// `weight` applied to `state` over `table` (also what `simulate` proposes).
    static func weight(_ table: RouteTable, state: RuntimeState, words: [String]) throws(AdminError) -> RuntimeState {
        guard words.count >= 4, words.count % 2 == 0 else {
            throw AdminError("usage: weight ROUTE BACKEND PCT [BACKEND PCT...], e.g. weight charting cloud 10%")
        }
        let route = try route(table, words[1])
        var given: [(String, Int)] = []
        var i = 2
        while i < words.count {
            let name = try backend(table, words[i])
            if given.contains(where: { $0.0 == name }) { throw AdminError("\(name) is given twice") }
            given.append((name, try Percent.parse(words[i + 1])))
            i += 2
        }
        // Start from the split in force (its order decides which buckets move), or from
        // active/standby for a blue-green route.
        var shares: [WeightedBackend] = route.split
        if shares.isEmpty {
            if let active = route.active { shares.append(WeightedBackend(backend: active, basisPoints: 10_000)) }
            if let standby = route.standby { shares.append(WeightedBackend(backend: standby, basisPoints: 0)) }
            // A split the file lists, flipped since: its order again, so that the users who
            // were the canary before the flip are the ones the new share keeps (listed as
            // active, standby, the flipped side came first and took the other end's buckets).
            // A blue-green route ramped at run time has no split in the file: the file's
            // active and standby are its order, for the same reason.
            let listed = route.config.split.map(\.backend)
            let order = listed.isEmpty ? [route.config.active, route.config.standby].compactMap { $0 } : listed
            if !order.isEmpty {
                shares.sort { (order.firstIndex(of: $0.backend) ?? order.count) < (order.firstIndex(of: $1.backend) ?? order.count) }
            }
        }
        for (name, _) in given where !shares.contains(where: { $0.backend == name }) {
            shares.append(WeightedBackend(backend: name, basisPoints: 0))
        }
        let unspecified = shares.indices.filter { index in !given.contains { $0.0 == shares[index].backend } }
        let sum = given.reduce(0) { $0 + $1.1 }
        for (name, points) in given {
            shares[shares.firstIndex { $0.backend == name }!].basisPoints = points
        }
        switch unspecified.count {
        case 0:
            guard sum == 10_000 else { throw AdminError("shares add up to \(Percent.format(sum)), not 100%") }
        case 1:
            guard sum <= 10_000 else { throw AdminError("shares add up to \(Percent.format(sum)), more than 100%") }
            shares[unspecified[0]].basisPoints = 10_000 - sum
        default:
            let names = unspecified.map { shares[$0].backend }.joined(separator: " and ")
            throw AdminError("give the shares of \(names) too (they must add up to 100%)")
        }
        var state = state
        var runtime = state.routes[route.name] ?? RouteRuntime()
        runtime.split = shares
        state.routes[route.name] = runtime
        return state
    }

    static func cohort(_ service: AdminService, _ command: AdminCommandLine) throws(AdminError) -> AdminService.Change {
        .init(state: try cohort(service.table, state: service.table.state, words: command.words))
    }

    /// `cohort` applied to `state` over `table` (also what `simulate` proposes).
    static func cohort(_ table: RouteTable, state: RuntimeState, words: [String]) throws(AdminError) -> RuntimeState {
        let usage = "usage: cohort ROUTE add|remove header NAME VALUE|cookie NAME VALUE|client CIDR|path PREFIX -> BACKEND"
        // Typed unquoted in a shell, `-> cloud` arrives as `-`: the `>` redirected the rest
        // into a file named after the backend.
        if words.last == "-" {
            throw AdminError("the arrow was cut by the shell (`>` redirects): quote it, as in cohort ROUTE add … '->' BACKEND (and remove the file the shell created)")
        }
        guard words.count >= 6, words[2] == "add" || words[2] == "remove", words[words.count - 2] == "->" else {
            throw AdminError(usage)
        }
        let route = try route(table, words[1])
        let target = try backend(table, words[words.count - 1])
        let args = Array(words[4..<(words.count - 2)])
        let matcher: CohortMatcher
        // Checked on `add` only: a cohort added before these checks must stay removable.
        let adding = words[2] == "add"
        // A name the routes file would refuse is refused here too: `show routes` and the
        // state file must hold lines the parser reads back.
        if adding, words[3] == "header" || words[3] == "cookie", args.count == 2, !isHTTPToken(args[0]) {
            throw AdminError("bad \(words[3]) name \"\(args[0])\"")
        }
        // A value or prefix with a space or `#` (or an empty one) cannot be written as one
        // word of a routes line; a value with spaces round it would never match (request
        // values are trimmed).
        if adding, words[3] != "client", let value = args.last, !isRoutesWord(value) {
            throw AdminError("bad \(words[3]) \(words[3] == "path" ? "prefix" : "value") \"\(value)\": it must be one word, without spaces or #, as a routes file would hold it")
        }
        switch (words[3], args.count) {
        case ("header", 2): matcher = .header(name: args[0], value: args[1])
        case ("cookie", 2): matcher = .cookie(name: args[0], value: args[1])
        case ("client", 1):
            guard let cidr = CIDR(parsing: args[0]) else { throw AdminError("\"\(args[0])\" is not a CIDR like 10.50.0.0/16") }
            matcher = .client(cidr)
        case ("path", 1):
            guard args[0].hasPrefix("/") else { throw AdminError("a path cohort starts with /") }
            if adding, let problem = PathPrefix.problem(args[0]) { throw AdminError(problem) }
            matcher = .path(prefix: args[0])
        default:
            throw AdminError(usage)
        }
        let cohort = Cohort(matcher: matcher, backend: target)
        var state = state
        var runtime = state.routes[route.name] ?? RouteRuntime()
        let inFile = route.config.cohorts.contains(cohort)
        if words[2] == "add" {
            if route.cohorts.contains(cohort) { throw AdminError("route \(route.name) already has that cohort") }
            // Cohorts are checked in order and the first match wins: a second one for the
            // same requests would be answered "added" and pin nobody.
            if let first = route.cohorts.first(where: { $0.matcher.takesTheSameRequests(as: matcher) }) {
                throw AdminError("route \(route.name) already pins \(first.matcher) to \(first.backend): remove that cohort first (cohort \(route.name) remove \(first))")
            }
            if let i = runtime.removedCohorts.firstIndex(of: cohort) { runtime.removedCohorts.remove(at: i) }
            if !inFile { runtime.extraCohorts.append(cohort) }
        } else {
            guard route.cohorts.contains(cohort) else { throw AdminError("route \(route.name) has no such cohort") }
            if let i = runtime.extraCohorts.firstIndex(of: cohort) { runtime.extraCohorts.remove(at: i) }
            if inFile { runtime.removedCohorts.append(cohort) }
        }
        state.routes[route.name] = runtime
        return state
    }

    /// `toward`: a plan's last step, which moves the route wholly to the plan's new side
    /// whatever the shares are (a plain flip of a split at cloud 60% would pick legacy, the
    /// smaller side).
    static func flip(_ service: AdminService, _ command: AdminCommandLine, toward: String? = nil) throws(AdminError) -> AdminService.Change {
        guard command.words.count == 2 else { throw AdminError("usage: flip ROUTE|all [--drain 30s]") }
        let drain = try command.drain.map { (text) throws(AdminError) in try Duration.parseMilliseconds(text) }
        var state = service.table.state
        if command.words[1] == "all" {
            var flipped = 0
            for route in service.table.routes where canFlip(route) {
                try flipOne(route, &state)
                flipped += 1
            }
            guard flipped > 0 else { throw AdminError("no route has a standby side or a two-way split to flip") }
        } else {
            let route = try route(service, command.words[1])
            guard canFlip(route) else { throw AdminError("route \(route.name) has no standby side or two-way split to flip") }
            try flipOne(route, &state, toward: toward)
        }
        return .init(state: state, drainMilliseconds: drain)
    }

    private static func canFlip(_ route: CompiledRoute) -> Bool {
        route.split.isEmpty ? route.standby != nil : route.split.count == 2
    }

    /// Active/standby swap; a two-way split becomes "all to the smaller side" (ties: the
    /// second listed, where the file puts the new side), with the larger side as standby —
    /// `revert` brings the split back. With `toward`, the route ends wholly on that side.
    private static func flipOne(_ route: CompiledRoute, _ state: inout RuntimeState, toward: String? = nil) throws(AdminError) {
        var runtime = state.routes[route.name] ?? RouteRuntime()
        if route.split.isEmpty {
            guard let active = route.active, let standby = route.standby else { return }
            if let toward, toward == active { return }
            runtime.active = standby
            runtime.standby = active
        } else {
            let a = route.split[0], b = route.split[1]
            let (major, minor) = if let toward {
                toward == a.backend ? (b, a) : (a, b)
            } else {
                a.basisPoints >= b.basisPoints ? (a, b) : (b, a)
            }
            runtime.active = minor.backend
            runtime.standby = major.backend
            runtime.split = []
        }
        state.routes[route.name] = runtime
    }

    static func revert(_ service: AdminService, _ command: AdminCommandLine) throws(AdminError) -> AdminService.Change {
        let words = command.words
        let current = service.table.generation
        let target: HistoryEntry
        switch words.count {
        case 1:
            // The last change's undo: the latest earlier state that differs from the one in
            // force. Generations that changed no state (a restart's "start", a reload) are
            // passed over; stopping at them made `revert` answer "nothing changed" right
            // after a watchdog restart.
            let state = service.table.state
            guard let previous = service.history.last(where: { $0.generation < current && $0.state != state })
                    ?? service.history.last(where: { $0.generation < current }) else {
                throw AdminError("there is no earlier generation to revert to")
            }
            target = previous
        case 3 where words[1] == "to":
            guard let n = UInt64(words[2]) else { throw AdminError("\"\(words[2])\" is not a generation number") }
            guard let entry = service.history.last(where: { $0.generation == n }) else {
                let kept = service.history.map(\.generation)
                throw AdminError("generation \(n) is not in the history (kept: \(kept.first.map(String.init) ?? "-")…\(kept.last.map(String.init) ?? "-"))")
            }
            target = entry
        default:
            throw AdminError("usage: revert [to N]")
        }
        var (state, warnings) = target.state.reconciled(with: service.config)
        // A hold the revert brings back (a `revert` typed after a `release`) starts now, and
        // the answer waits for quiescence as `hold`'s does. Restored as it was, its `since`
        // was the old hold's: more than 10 minutes ago, every write got 503 at once.
        let inForce = service.table.state
        let restored = state.routes.keys.filter { state.routes[$0]?.hold != nil && inForce.routes[$0]?.hold == nil }.sorted()
        let now = Date().timeIntervalSince1970
        for name in restored { state.routes[name]?.hold?.since = now }
        // Held now and in the target: the hold in force goes on with its own start (an older
        // hold's start brought back could be past the 10-minute limit at once).
        for (name, runtime) in inForce.routes where runtime.hold != nil && state.routes[name]?.hold != nil {
            state.routes[name]?.hold?.since = runtime.hold!.since
        }
        var change = AdminService.Change(state: state, extraLines: ["state of generation \(target.generation) restored"]
            + restored.map { "route \($0) held again (as in generation \(target.generation)) from now: `release \($0)` ends it" }
            + warnings.map { "warning: \($0)" })
        if !restored.isEmpty {
            let ended = inForce.routes.keys.filter { inForce.routes[$0]?.hold != nil && state.routes[$0]?.hold == nil }.sorted()
            let text = command.text
            change.followUp = { service, progress in
                guard !ended.isEmpty else { return HoldCommands.quiesce(service, restored, progress: progress) }
                // The ended holds' queues are released while the restored ones wait for
                // quiescence (up to 30 s): one after the other, writes on the released
                // routes waited behind a queue nothing was sending (`DrainGate`).
                let drained = HoldCommands.inBackground { HoldCommands.drain(service, ended, rate: HoldCommands.defaultRate, command: text) }
                return HoldCommands.quiesce(service, restored, progress: progress) + drained()
            }
        }
        return change
    }

    static func drain(_ service: AdminService, _ command: AdminCommandLine, _ caller: Caller) throws(AdminError) -> CommandOutcome {
        let words = command.words
        guard (2...3).contains(words.count) else { throw AdminError("usage: drain BACKEND [DURATION]") }
        let name = try backend(service, words[1])
        let after = try words.count == 3 ? Duration.parseMilliseconds(words[2]) : 0
        let message = "\(name): idle connections closed; open tunnels close in \(after / 1000)s (routing unchanged)"
        // Audited before it acts (closing cannot be undone): an audit that cannot be written
        // refuses the command with nothing closed.
        try service.audit.append(.init(time: AuditLog.now(), outcome: "accepted", uid: caller.uid, pid: caller.pid,
                                       user: caller.userName, command: command.text, reason: command.reason,
                                       changes: [message], error: nil, generationBefore: service.table.generation,
                                       generation: service.table.generation))
        service.dataPlane.closeIdleConnections(to: name)
        service.dataPlane.drainTunnels(to: ["*/\(name)"], afterMilliseconds: after)
        return .answer(.success(message))
    }
}
