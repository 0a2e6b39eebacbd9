import Foundation
import SwitchyardProxy
import SwitchyardRouting

/// `simulate ROUTE [BACKEND PCT…] [cohort add|remove KIND ARGS -> BACKEND]… [--since 24h]`:
/// the proposal is built with the `weight` and `cohort` commands' own code into a table that
/// is never published, and the decision log is replayed against it (`Simulation`).
/// Read-only: nothing is committed, nothing audited.
enum SimulateCommand {
    static let usage = "usage: simulate ROUTE [BACKEND PCT...] [cohort add|remove header N V|cookie N V|client CIDR|path P -> BACKEND]... [--since 24h], e.g. simulate charting cloud 25%"

    /// `simulate` outside the commit lock (nil: the line is another command). The replay
    /// runs through up to a million records: under the lock, anyone who may read the socket
    /// held up people's changes and the guards' reverts with a loop of it. The table and
    /// the routes file's config are taken under the lock, the rest runs on them.
    static func runOutsideTheLock(_ service: AdminService, _ line: String) -> (AdminAnswer, json: Bool)? {
        guard let command = try? AdminCommandLine(parsing: line), command.words.first == "simulate" else { return nil }
        do throws(AdminError) {
            try command.checkOptions("simulate", allowed: ["--since"])
            let (table, config) = service.lock.withLock { (service.table, service.config) }
            return (try run(service, command, table: table, config: config), command.json)
        } catch {
            return (.failure(error), command.json)
        }
    }

    static func run(_ service: AdminService, _ command: AdminCommandLine) throws(AdminError) -> AdminAnswer {
        try run(service, command, table: service.table, config: service.config)
    }

    private static func run(_ service: AdminService, _ command: AdminCommandLine, table: RouteTable,
                            config: RoutesConfig) throws(AdminError) -> AdminAnswer {
        let words = command.words
        guard words.count >= 3 else { throw AdminError(usage) }
        let route = try AdminCommands.route(table, words[1])
        guard route.mode == .http else { throw AdminError("route \(route.name) is a tcp route: its connections are not recorded") }
        // Split the words into the weight part and each cohort part.
        var parts: [[String]] = [[]]
        for word in words.dropFirst(2) {
            if word == "cohort" { parts.append(["cohort"]) } else { parts[parts.count - 1].append(word) }
        }
        var state = table.state
        let shares = parts[0]
        if !shares.isEmpty {
            state = try AdminCommands.weight(table, state: state, words: ["weight", route.name] + shares)
        }
        for part in parts.dropFirst() {
            guard part.count >= 2 else { throw AdminError(usage) }
            state = try AdminCommands.cohort(table, state: state, words: ["cohort", route.name] + part.dropFirst())
        }
        let proposed: RouteTable
        do {
            proposed = try RouteTable.build(config: config, state: state, generation: table.generation + 1)
        } catch {
            throw AdminError("the proposal is not a valid table: \(error.errors.map(\.description).joined(separator: "; "))")
        }
        let since = try command.since.map { (text) throws(AdminError) in try SinceOption.parse(text, now: Date()) }
        var kinds: [UInt32: String] = [:]
        for row in service.inventory().rows(.clients) {
            if let product = row.parts.dropFirst().first { kinds[DecisionRecord.nameHash(product)] = product }
        }
        let started = Date()
        let simulation = Simulation(route: route.name, records: service.decisions(), current: table,
                                    proposed: proposed, since: UInt32(clamping: Int(since?.timeIntervalSince1970 ?? 0)), kinds: kinds)
        let elapsed = Date().timeIntervalSince(started)
        let before = table.routes[table.routeIndex(named: route.name)!]
        let after = proposed.routes[proposed.routeIndex(named: route.name)!]
        let report = SimulationReport(simulation: simulation, before: before, after: after,
                                      cohortChange: parts.count > 1, since: since, seconds: elapsed)
        return .success(report.text(), json: report.json())
    }
}
