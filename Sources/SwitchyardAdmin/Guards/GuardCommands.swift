import SwitchyardRouting

/// `guard ROUTE ack|add|remove …` and `guards`: the guards at run time. Run under the
/// commit lock like every command; each accepted one is audited and written to the state
/// file.
enum GuardCommands {
    static let usage = "guard ROUTE ack | guard ROUTE add NAME errors|latency|client-errors new BACKEND old BACKEND [observe|freeze|revert] [OPTION VALUE]... | guard ROUTE remove NAME"

    static let specs: [AdminCommandSpec] = [
        .init(word: "guards", usage: "guards", summary: "every guard: its state, last figures, trips", changes: false) { service, command, _ throws(AdminError) in
            try command.checkNoArguments("guards")
            return .answer(list(service))
        },
        .init(word: "guard", usage: "guard ROUTE ack|add|remove ...", summary: "acknowledge a route's tripped guards; add or remove a guard at run time", changes: true) { service, command, caller throws(AdminError) in
            .answer(try service.keepingGuardsOnRefusal { () throws(AdminError) in try run(service, command, caller) })
        },
    ]

    static func run(_ service: AdminService, _ command: AdminCommandLine, _ caller: Caller) throws(AdminError) -> AdminAnswer {
        let words = command.words
        guard words.count >= 3 else { throw AdminError("usage: \(usage)") }
        if words[2] == "ack" {
            guard words.count == 3 else { throw AdminError("usage: guard ROUTE ack") }
            return try ack(service, words[1], command, caller)
        }
        let route = try AdminCommands.route(service, words[1])
        switch words[2] {
        case "add":
            if route.mode == .tcp { throw AdminError("guards are for http routes (route \(route.name) is mode tcp)") }
            let parsed: GuardConfig
            switch GuardConfig.parse(Array(words.dropFirst(3)), route: route.name) {
            case .success(let config): parsed = config
            case .failure(let problem): throw AdminError(problem.message)
            }
            _ = try AdminCommands.backend(service, parsed.newSide)
            _ = try AdminCommands.backend(service, parsed.oldSide)
            if service.allGuards.contains(where: { $0.route == route.name && $0.name == parsed.name }) {
                throw AdminError("route \(route.name) already has a guard \(parsed.name)")
            }
            service.guardBook.record.runtimeGuards.append(parsed)
            let change = "guard added to route \(route.name): \(parsed.text)"
            try service.recordGuardChange(command, caller, [change])
            return .success(change, json: ["changes": [change]])
        case "remove":
            guard words.count == 4 else { throw AdminError("usage: guard ROUTE remove NAME") }
            guard let index = service.guardBook.record.runtimeGuards.firstIndex(where: { $0.route == route.name && $0.name == words[3] }) else {
                if service.config.guards.contains(where: { $0.route == route.name && $0.name == words[3] }) {
                    throw AdminError("guard \(words[3]) is in the routes file: remove it there and reload")
                }
                throw AdminError("route \(route.name) has no guard \(words[3]) added at run time")
            }
            // A removed guard's latch in the fleet's store goes with it, when it tripped here
            // (another instance's guard of the same name stays latched until an ack).
            let removedKey = GuardBook.key(route: route.name, name: words[3])
            var latchRemoved = false
            if let fleet = service.fleet, fleet.latches?.latches[removedKey]?.instance == fleet.instanceName {
                try fleet.updateLatches { $0[removedKey] = nil }
                latchRemoved = true
            }
            let removed = service.guardBook.record.runtimeGuards.remove(at: index)
            service.guardBook.record.trips.removeValue(forKey: GuardBook.key(removed))
            service.guardBook.runs.removeValue(forKey: GuardBook.key(removed))
            var changes = ["guard removed from route \(route.name): \(removed.text)"]
            if latchRemoved { changes.append("guard \(removed.name): its latch taken out of the fleet's store") }
            do {
                try service.recordGuardChange(command, caller, changes)
            } catch where latchRemoved {
                throw AdminError("\(error.message); the guard's latch was already taken out of the fleet's store: the other instances open")
            }
            return .success(changes.joined(separator: "\n"), json: ["changes": changes])
        default:
            throw AdminError("usage: \(usage)")
        }
    }

    /// `guard ROUTE ack`: opens the route's latches. In a fleet (read by `prepareChange` just
    /// now) the route's latches in the store, wherever they tripped, go first: refused if
    /// they cannot, so that no instance opens while the others stay latched. A route this
    /// instance lacks can still be acknowledged when the store has a latch of it (`guards`
    /// lists it): otherwise it would block raises for good once the name came back.
    private static func ack(_ service: AdminService, _ routeName: String, _ command: AdminCommandLine, _ caller: Caller) throws(AdminError) -> AdminAnswer {
        let shared = service.fleet?.latches?.latches.values.filter { $0.route == routeName } ?? []
        let name: String
        if shared.isEmpty { name = try AdminCommands.route(service, routeName).name } else { name = routeName }
        let tripped = service.allGuards.filter { $0.route == name && service.guardBook.run($0).tripped }
        guard !tripped.isEmpty || !shared.isEmpty else { throw AdminError("route \(name) has no tripped guard") }
        var changes: [String] = []
        if let fleet = service.fleet, !shared.isEmpty {
            try fleet.updateLatches { $0 = $0.filter { $0.value.route != name } }
            for latch in shared.sorted(by: { $0.guardName < $1.guardName }) where !tripped.contains(where: { $0.name == latch.guardName }) {
                changes.append("guard \(latch.guardName): trip of \(latch.time) on instance \(latch.instance) acknowledged")
            }
        }
        for guardConfig in tripped {
            let trip = service.guardBook.run(guardConfig).trip!
            service.acknowledgeLocally(guardConfig)
            changes.append("guard \(guardConfig.name): trip of \(trip.time) acknowledged" + (trip.fleetRevision == nil ? "" : " in the fleet"))
        }
        do {
            try service.recordGuardChange(command, caller, changes)
        } catch where !shared.isEmpty {
            throw AdminError("\(error.message); the fleet's latches of route \(name) were already taken out of the store: the other instances open")
        }
        return .success(changes.joined(separator: "\n"), json: ["changes": changes])
    }

    /// One line per guard, then its figures.
    static func lines(_ service: AdminService) -> [String] {
        service.guardStates().flatMap { state -> [String] in
            let g = state.config
            let word = state.run.trip.map { "TRIPPED at \($0.time) (ack: guard \(g.route) ack)" } ?? state.run.lastWord
            var lines = ["  \(g.route) \(g.name): \(g.kind.rawValue) \(g.newSide) vs \(g.oldSide), \(g.mode.rawValue): \(word)"]
            lines.append("    " + (state.run.trip?.figures ?? state.run.lastFigures))
            return lines
        } + service.foreignLatches.flatMap { latch in
            ["  \(latch.route) \(latch.guardName): (not defined here) \(latch.mode) of \(latch.newSide): TRIPPED on instance \(latch.instance) at \(latch.time) (ack: guard \(latch.route) ack)",
             "    " + latch.figures]
        }
    }

    static func list(_ service: AdminService) -> AdminAnswer {
        let json = json(service)
        if json.isEmpty && service.foreignLatches.isEmpty { return .success("no guards", json: ["guards": json]) }
        return .success((["guards:"] + lines(service)).joined(separator: "\n"), json: ["guards": json])
    }

    static func json(_ service: AdminService) -> [[String: Any]] {
        service.guardStates().map {
            ["route": $0.config.route, "name": $0.config.name, "kind": $0.config.kind.rawValue, "mode": $0.config.mode.rawValue,
             "new": $0.config.newSide, "old": $0.config.oldSide, "state": $0.run.tripped ? "tripped" : $0.run.lastWord,
             "figures": $0.run.trip?.figures ?? $0.run.lastFigures, "tripped_at": $0.run.trip?.time as Any, "trips": $0.trips,
             "definition": $0.config.text]
        } + service.foreignLatches.map {
            ["route": $0.route, "name": $0.guardName, "mode": $0.mode, "new": $0.newSide, "state": "tripped",
             "figures": $0.figures, "tripped_at": $0.time, "tripped_on": $0.instance, "defined_here": false]
        }
    }
}
