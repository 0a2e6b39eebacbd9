import SwitchyardCompare
import SwitchyardRouting

/// `compare [ROUTE] [--json]` (read-only, like `status`) and `compare reset [ROUTE|all]`
/// (a change: needs the change permission, audited; routing is not touched).
enum CompareCommands {
    static let specs: [AdminCommandSpec] = [
        // Before `compare`: the longest matching word wins only by order.
        .init(word: "compare reset", usage: "compare reset ROUTE|all", summary: "forget a route's (or every route's) mirror comparison", changes: true) { service, command, caller throws(AdminError) in
            .answer(try reset(service, command, caller))
        },
        .init(word: "compare", usage: "compare [ROUTE]", summary: "mirror comparison: pairs, mismatches by field path, noise, latency, verdict per route", changes: false) { service, command, _ throws(AdminError) in
            .answer(try show(service, command))
        },
    ]

    static func show(_ service: AdminService, _ command: AdminCommandLine) throws(AdminError) -> AdminAnswer {
        guard command.words.count <= 2 else { throw AdminError("usage: compare [ROUTE] [--json] | compare reset ROUTE|all") }
        let route = command.words.count == 2 ? try AdminCommands.route(service, command.words[1]).name : nil
        let report = service.compareReport(route: route)
        let dropped = service.comparisonsDropped
        let text = report.text() + (dropped > 0 ? "\n\(ReportFormat.count(Int(dropped))) mirrored pairs not compared: the comparer was behind (its backlog is bounded)" : "")
        return .success(text, json: ["routes": report.json(), "not_compared": dropped])
    }

    static func reset(_ service: AdminService, _ command: AdminCommandLine, _ caller: Caller) throws(AdminError) -> AdminAnswer {
        guard command.words.count == 3 else { throw AdminError("usage: compare reset ROUTE|all") }
        let route = command.words[2] == "all" ? nil : try AdminCommands.route(service, command.words[2]).name
        let before = service.compareReport(route: route).routes.reduce(0) { $0 + $1.pairs }
        try service.compareStore.reset(route: route)
        let message = "comparison of \(route.map { "route \($0)" } ?? "every route") reset (\(ReportFormat.count(before)) pairs forgotten; routing unchanged)"
        // The reset is on disk by now and cannot be taken back.
        return service.auditedAction(message, command, caller)
    }
}
