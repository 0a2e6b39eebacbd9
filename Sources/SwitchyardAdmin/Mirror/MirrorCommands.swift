import SwitchyardProxy
import SwitchyardRouting

/// `mirror ROUTE BACKEND PCT` and `mirror ROUTE off`: the mirror's target and share as
/// runtime state, through the commit path (a new generation, saved, audited), so the copy
/// starts or stops for every worker at once and survives a restart.
enum MirrorCommands {
    static let usage = "mirror ROUTE BACKEND PCT | mirror ROUTE off"

    static let specs: [AdminCommandSpec] = [
        .init(word: "mirror", usage: usage, summary: "copy a share of a route's users' reads to a backend (the user never waits for the copy)", changes: true) { service, command, _ throws(AdminError) in
            .change(.init(state: try mirror(service.table, state: service.table.state, words: command.words)))
        },
    ]

    /// `mirror` applied to `state` over `table`.
    static func mirror(_ table: RouteTable, state: RuntimeState, words: [String]) throws(AdminError) -> RuntimeState {
        guard words.count == 3 || words.count == 4 else { throw AdminError("usage: \(usage), e.g. mirror charting cloud 5%") }
        let route = try AdminCommands.route(table, words[1])
        guard route.mode == .http else { throw AdminError("route \(route.name) is mode tcp: only http requests can be mirrored") }
        let setting: MirrorSetting
        if words.count == 3 {
            guard words[2] == "off" else { throw AdminError("usage: \(usage) (\"\(words[2])\" is not off; give BACKEND PCT)") }
            guard route.mirror != nil else { throw AdminError("route \(route.name) is not mirrored") }
            setting = .off
        } else {
            let backend = try AdminCommands.backend(table, words[2])
            let points = try Percent.parse(words[3])
            guard words[3].hasSuffix("%") else { throw AdminError("\"\(words[3])\": give the share with %, like 5%") }
            guard points > 0 else { throw AdminError("a 0% mirror copies nothing: use mirror \(route.name) off") }
            // A user the route already sends to the target is never copied (compared with
            // itself): to the side that serves every request, the mirror sends nothing.
            if servesAll(route, backend) {
                throw AdminError("backend \(backend) serves every request of route \(route.name): requests are copied only from users routed to another side, so this mirror would send nothing (mirror the side that is not serving yet)")
            }
            if let current = route.mirror, current.backend == backend, current.basisPoints == points {
                throw AdminError("route \(route.name) already mirrors \(Percent.format(points)) to \(backend)")
            }
            setting = MirrorSetting(backend: backend, basisPoints: points)
        }
        var state = state
        var runtime = state.routes[route.name] ?? RouteRuntime()
        // Back to the file's own mirror when that is what was asked: nothing to keep then.
        let file = route.config.mirror
        let fileSetting = file?.backend.map { MirrorSetting(backend: $0, basisPoints: file!.basisPoints) } ?? .off
        runtime.mirror = setting == fileSetting ? nil : setting
        state.routes[route.name] = runtime.isEmpty ? nil : runtime
        return state
    }

    /// `; mirror cloud 5.00% (sandbox)` for the status line of a mirrored route; a mirror
    /// whose target now serves every request (a flip or weight since) says it sends nothing.
    static func describe(_ route: CompiledRoute) -> String? {
        guard let mirror = route.mirror else { return nil }
        return "mirror \(mirror.backend) \(Percent.format(mirror.basisPoints))" + (mirror.sandbox ? " (sandbox)" : "")
            + (servesAll(route, mirror.backend) ? " (sends nothing: \(mirror.backend) serves every request)" : "")
    }

    /// Whether `backend` gets every request of `route`: no cohort, split share or active
    /// side sends one elsewhere.
    static func servesAll(_ route: CompiledRoute, _ backend: String) -> Bool {
        guard route.cohorts.allSatisfy({ $0.backend == backend }) else { return false }
        if route.split.isEmpty { return route.active == backend }
        return route.split.allSatisfy { $0.backend == backend || $0.basisPoints == 0 }
    }
}
