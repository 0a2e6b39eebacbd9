import Foundation
import SwitchyardProxy
import SwitchyardRouting

/// The cutover page's inventory panel: per route, what breaks or lags when it moves — raw-IP
/// and unlisted host names, old protocols (HTTP/1.0, TLS 1.2), browsers vs other clients,
/// caller networks, and the endpoints a side has never served. Merged at most every 10 s
/// (the page polls every 2 s; the inventory changes slowly and a merge copies every
/// worker's tables).
enum InventoryPanel {
    /// Counts from a file may be anything: summed without trapping, stuck at the top.
    static func sum(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let (total, over) = a.addingReportingOverflow(b)
        return over ? .max : total
    }

    private static let cache = Cache()

    final class Cache: @unchecked Sendable {
        let lock = NSLock()
        var time = Date.distantPast
        var generation: UInt64 = 0
        /// Weak, not an ObjectIdentifier: a service freed and another made at the same
        /// address (tests run many in one process) must not find the first one's summary.
        weak var service: AdminService?
        var value: [String: [String: Any]] = [:]
    }

    static func summary(service: AdminService?, table: RouteTable) -> [String: [String: Any]] {
        guard let service else { return [:] }
        cache.lock.lock()
        defer { cache.lock.unlock() }
        if Date().timeIntervalSince(cache.time) < 10 && cache.generation == table.generation
            && cache.service === service { return cache.value }
        let report = InventoryReport(snapshot: service.inventory(), table: table, route: nil, since: nil)
        var result: [String: [String: Any]] = [:]
        for name in report.routeNames {
            let hosts = report.rows(.hosts, route: name)
            func flagged(_ flag: String) -> [[String: Any]] {
                hosts.compactMap { row in
                    let host = row.parts.count > 1 ? row.parts[1] : ""
                    return report.hostFlag(host) == flag ? ["host": host, "requests": row.count] : nil
                }
            }
            var old: [String: UInt64] = [:]
            for row in report.rows(.protocols, route: name) {
                if row.parts.count > 1, row.parts[1] == "HTTP/1.0" { old["HTTP/1.0", default: 0] = Self.sum(old["HTTP/1.0", default: 0], row.count) }
                if row.parts.count > 2, row.parts[2] == "TLSv1.2" || row.parts[2] == "TLSv1.1" { old[row.parts[2], default: 0] = Self.sum(old[row.parts[2], default: 0], row.count) }
            }
            var browser: UInt64 = 0, other: UInt64 = 0
            for row in report.rows(.clients, route: name) {
                if InventoryReport.browser(row.parts.dropFirst().first ?? "") { browser = Self.sum(browser, row.count) } else { other = Self.sum(other, row.count) }
            }
            var never: [String: [String]] = [:]
            for endpoint in report.endpoints(name) {
                for side in endpoint.sides where side.requests == 0 {
                    if never[side.side, default: []].count < 10 { never[side.side, default: []].append("\(endpoint.method) \(endpoint.template)") }
                }
            }
            result[name] = [
                "networks": report.rows(.callers, route: name).count,
                "raw_ip_hosts": flagged("raw IP"), "unlisted_hosts": flagged("unlisted"),
                "old_protocols": old, "browser_requests": browser, "other_requests": other,
                "never_served": never,
            ]
        }
        cache.time = Date()
        cache.generation = table.generation
        cache.service = service
        cache.value = result
        return result
    }
}
