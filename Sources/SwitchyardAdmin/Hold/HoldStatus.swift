import Foundation
import SwitchyardProxy
import SwitchyardRouting

/// The write hold in `status` and `/status.json`: which routes are held, since when, and
/// the parked queue with its refusals.
public enum HoldStatus {
    /// What the log says at start about holds in force (restored from the state file): a
    /// restarted proxy that parks every write must say so where ops look first.
    public static func startupWarnings(_ table: RouteTable) -> [String] {
        table.routes.compactMap { route in
            guard let hold = route.hold else { return nil }
            return "route \(route.name): writes are HELD since \(AuditLog.timestamp(hold.state.since)) (max-wait \(hold.state.maxWaitSeconds)s): "
                + "they park until `switchyard release \(route.name)`"
        }
    }

    /// The route line's note in `status` (nil: not held).
    static func routeNote(_ route: CompiledRoute, now: Double = Date().timeIntervalSince1970) -> String? {
        guard let hold = route.hold else { return nil }
        return "WRITES HELD for \(Int(now - hold.state.since))s (max-wait \(hold.state.maxWaitSeconds)s)"
    }

    /// A held route in `/status.json`'s routes (the cutover page's banner); nil: not held.
    static func routeJSON(_ route: CompiledRoute) -> [String: Any]? {
        guard let hold = route.hold else { return nil }
        return ["since": hold.state.since, "max_wait_seconds": hold.state.maxWaitSeconds, "reason": hold.state.reason as Any]
    }

    static func describe(_ service: AdminService) -> ([String], [String: Any]) {
        let held = service.table.routes.filter { $0.hold != nil }
        let snapshot = service.dataPlane.holdSnapshot(routes: Set(held.map(\.name)))
        return describe(held, snapshot)
    }

    static func describe(_ held: [CompiledRoute], _ s: HoldSnapshot) -> ([String], [String: Any]) {
        var lines: [String] = []
        var routes: [[String: Any]] = []
        let now = Date().timeIntervalSince1970
        for route in held {
            guard let hold = route.hold else { continue }
            let age = Int(now - hold.state.since)
            let tooOld = Double(age) >= HoldState.maxAgeSeconds
            lines.append("  \(route.name): held for \(age)s (\(hold.rules.methods.joined(separator: " ")); max-wait \(hold.state.maxWaitSeconds)s)"
                         + (tooOld ? " — older than 10 min: new writes get 503" : ""))
            routes.append(["name": route.name, "since": hold.state.since, "seconds": age, "methods": hold.rules.methods,
                           "max_wait_seconds": hold.state.maxWaitSeconds, "refusing_new_writes": tooOld,
                           "reason": hold.state.reason as Any])
        }
        let inFlight = s.writesInFlight.values.reduce(0, +)
        if !held.isEmpty || s.parked > 0 {
            lines.insert("", at: 0)
            lines.insert("write hold:", at: 1)
            let reasons = s.rejections.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            lines.append("  \(inFlight) write(s) in flight; \(s.parked) parked (oldest \(String(format: "%.1f", Double(s.oldestParkedMilliseconds) / 1000))s, "
                         + "\(s.parkedBytes) body bytes); since start: released \(s.releasedTotal), refused \(s.rejectedTotal)"
                         + (reasons.isEmpty ? "" : " (\(reasons))")
                         + (s.joinedTotal > 0 ? "; waited behind a release \(s.joinedTotal)" : ""))
        }
        let json: [String: Any] = ["routes": routes, "parked": s.parked, "parked_bytes": s.parkedBytes,
                                   "writes_in_flight": inFlight, "released_in_flight": s.releasedInFlight,
                                   "released_total": s.releasedTotal, "parked_total": s.parkedTotal,
                                   "rejections": s.rejections, "oldest_parked_ms": s.oldestParkedMilliseconds,
                                   "longest_park_ms": s.longestParkMilliseconds,
                                   "joined_total": s.joinedTotal, "joined_outstanding": s.joinedOutstanding]
        return (lines, json)
    }
}
