import Foundation
import SwitchyardProxy
import SwitchyardRouting

/// `GET /status.json`: what the cutover page shows. The generation in force and who made
/// it, the last reload, per route its routing and per side (backend) the figures of now
/// plus 15 minutes of history, and the timeline of changes.
enum StatusDocument {
    static func render(table: RouteTable, history: StatusHistory, service: AdminService?) -> Data {
        let entries = service?.historySnapshot ?? []
        let (figures, latest) = history.current()
        let now = Date().timeIntervalSince1970
        var generation: [String: Any] = ["number": table.generation]
        if let entry = entries.last(where: { $0.generation == table.generation }) {
            generation["time"] = MetricsExposition.parseTime(entry.time) ?? NSNull()
            generation["user"] = entry.user
            generation["command"] = entry.command
            generation["reason"] = entry.reason ?? NSNull()
            generation["changes"] = entry.changes
        }
        var routes: [[String: Any]] = []
        let inventory = InventoryPanel.summary(service: service, table: table)
        let compare = CompareMetrics.statusJSON(service: service)
        for route in table.routes where route.mode == .http {
            var sides: [[String: Any]] = []
            for backend in MetricsExposition.backends(of: route) {
                let key = MetricsKey(route: route.name, backend: backend)
                let f = figures[key]
                var side: [String: Any] = [
                    "backend": backend,
                    "share": MetricsExposition.share(route, backend),
                    "role": role(route, backend),
                    "rps": f?.requestsPerSecond ?? 0,
                    "requests": f?.requests ?? 0,
                    "error_ratio": f?.errorRatio ?? NSNull(),
                    "proxy_error_ratio": f?.proxyErrorRatio ?? NSNull(),
                    "p50_ms": f?.p50Milliseconds ?? NSNull(),
                    "p99_ms": f?.p99Milliseconds ?? NSNull(),
                    "in_flight": max(0, latest?.cells[key]?.inFlight ?? 0),
                ]
                if let b = table.backendIndex(named: backend), let latest, b < latest.serversUp.count {
                    side["servers_up"] = latest.serversUp[b].filter { $0 }.count
                    side["servers"] = latest.serversUp[b].count
                }
                side["history"] = history.points(key).map { p -> [Any] in
                    [p.time, p.requestsPerSecond, p.errorRatio.map { $0 * 100 } ?? NSNull(),
                     p.p99Milliseconds ?? NSNull(), p.requests]
                }
                sides.append(side)
            }
            routes.append([
                "name": route.name, "routing": StatusReport.describe(route),
                // A split route has no active side (`active` then only names a leftover of the
                // file or a flip): null, not a side that may get 0 %.
                "active": (route.split.isEmpty ? route.active : nil) ?? NSNull(),
                "standby": (route.split.isEmpty ? route.standby : nil) ?? NSNull(),
                "cohorts": route.cohorts.map(\.description), "sides": sides,
                "held": HoldStatus.routeJSON(route) ?? NSNull(),
                "inventory": inventory[route.name] ?? NSNull(),
                "compare": compare[route.name] ?? NSNull(),
            ])
        }
        let timeline: [[String: Any]] = entries.suffix(100).map { entry in
            ["generation": entry.generation, "time": MetricsExposition.parseTime(entry.time) ?? NSNull(),
             "user": entry.user, "command": entry.command, "reason": entry.reason ?? NSNull(), "changes": entry.changes]
        }
        var lastReload: Any = NSNull()
        if let reload = service?.activity.lastReload {
            lastReload = ["time": reload.time, "ok": reload.ok, "message": reload.message]
        }
        let document: [String: Any] = [
            "now": now, "generation": generation, "last_reload": lastReload,
            "point_seconds": history.pointSpanSeconds, "window_seconds": history.windowSeconds,
            "history_columns": ["time", "rps", "error_percent", "p99_ms", "requests"],
            "routes": routes, "timeline": timeline,
            "hold": service.map { HoldStatus.describe($0).1 } ?? NSNull(),
            "guards": (service?.guardSnapshot ?? []).map { g -> [String: Any] in
                ["route": g.route, "name": g.name, "kind": g.kind, "mode": g.mode, "state": g.state, "figures": g.figures,
                 "tripped_at": g.tripped ?? NSNull(), "trips": g.trips]
            },
            "fleet": service?.fleet?.statusJSON(serving: table.generation) as Any,
        ]
        return (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])) ?? Data("{}".utf8)
    }

    static func role(_ route: CompiledRoute, _ backend: String) -> String {
        if !route.split.isEmpty { return route.split.contains { $0.backend == backend } ? "split" : "cohort" }
        if route.active == backend { return "active" }
        if route.standby == backend { return "standby" }
        return "cohort"
    }
}
