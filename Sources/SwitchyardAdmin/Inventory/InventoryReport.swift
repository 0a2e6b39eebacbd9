import Foundation
import SwitchyardProxy
import SwitchyardRouting

/// The inventory as people read it (text), as programs read it (JSON) and as the migration
/// workbook takes it (CSV). Host values are flagged when they are raw IP addresses or names
/// that no route of the table in force lists: the hard-coded endpoints a move breaks.
struct InventoryReport {
    let snapshot: InventorySnapshot
    let table: RouteTable
    /// Only this route's rows, when given.
    let route: String?
    /// Only rows seen at or after this time, when given.
    let since: Date?

    func rows(_ section: InventorySection, route name: String) -> [InventoryRow] {
        let cutoff = since.map { UInt64(max(0, $0.timeIntervalSince1970)) } ?? 0
        return snapshot.rows(section).filter { $0.route == name && $0.lastSeen >= cutoff }
    }

    var routeNames: [String] {
        let names = table.routes.map(\.name)
        return route.map { [$0] } ?? names
    }

    /// The sides a route can send to in the table in force (split, active, standby, cohorts).
    func sides(of name: String) -> [String] {
        guard let index = table.routeIndex(named: name) else { return [] }
        let route = table.routes[index]
        var sides = route.split.map(\.backend)
        for side in [route.active, route.standby].compactMap({ $0 }) + route.cohorts.map(\.backend) where !sides.contains(side) {
            sides.append(side)
        }
        return sides
    }

    // MARK: host flags

    /// `raw IP` for an address (with or without a port, IPv6 in brackets), `unlisted` for a
    /// name no route lists; nil for a listed name.
    func hostFlag(_ host: String) -> String? {
        var name = Substring(host)
        if name.hasPrefix("[") {
            return "raw IP"
        }
        if let colon = name.lastIndex(of: ":"), name.firstIndex(of: ":") == colon { name = name[..<colon] }
        if name.hasSuffix(".") { name = name.dropLast() }
        if ClientAddress(parsing: String(name)) != nil { return "raw IP" }
        if name.isEmpty { return "no Host" }
        let listed = table.routes.contains { $0.hosts.contains(String(name)) }
        return listed ? nil : "unlisted"
    }

    static func browser(_ product: String) -> Bool { product == "Mozilla" || product == "Opera" }

    static func time(_ seconds: UInt64) -> String {
        guard seconds > 0 && seconds < UInt64.max else { return "-" }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }

    // MARK: text

    func text() -> String {
        var lines: [String] = []
        let total = routeNames.reduce(UInt64(0)) { sum, name in sum &+ rows(.callers, route: name).reduce(0) { $0 &+ $1.count } }
        // --since keeps the rows seen since then; a row's counts run from its first sighting.
        let window = since.map { " in rows seen since " + Self.time(UInt64(max(0, $0.timeIntervalSince1970))) + " (counts since each row's first seen)" } ?? ""
        lines.append("inventory: \(total) request(s)\(window); tables bounded at \(Proxy.inventoryBytesPerWorker / 1024) KiB per worker")
        for name in routeNames {
            lines.append("")
            lines.append("route \(name)")
            lines.append("  callers (network, requests or tcp connections, pinned by a cohort, first seen, last seen):")
            for row in rows(.callers, route: name) {
                lines.append("    \(InventoryNetwork.text(row.network))  \(row.count)  pinned \(row.pinned)  \(Self.time(row.firstSeen))  \(Self.time(row.lastSeen))")
            }
            let hosts = rows(.hosts, route: name)
            if !hosts.isEmpty { lines.append("  hosts (Host / :authority, requests):") }
            for row in hosts {
                let host = row.parts.count > 1 ? row.parts[1] : ""
                lines.append("    \(host.isEmpty ? "-" : host)  \(row.count)" + (hostFlag(host).map { "  [\($0)]" } ?? ""))
            }
            let sni = rows(.serverNames, route: name)
            if !sni.isEmpty {
                lines.append("  tls sni (name, requests):")
                for row in sni { lines.append("    \(row.parts.dropFirst().first ?? "-")  \(row.count)") }
            }
            let clients = rows(.clients, route: name)
            if !clients.isEmpty { lines.append("  clients (kind, product, network, requests):") }
            for row in clients {
                let product = row.parts.dropFirst().first ?? "-"
                lines.append("    \(Self.browser(product) ? "browser" : "other")  \(product == "-" ? "(no User-Agent)" : product + "/…")  \(InventoryNetwork.text(row.network))  \(row.count)")
            }
            let protocols = rows(.protocols, route: name)
            if !protocols.isEmpty { lines.append("  protocols (HTTP, TLS, requests):") }
            for row in protocols {
                lines.append("    \(row.parts.dropFirst().joined(separator: " "))  \(row.count)")
            }
            let tunnels = rows(.tunnels, route: name)
            if !tunnels.isEmpty {
                lines.append("  tunnels (kind, count, longest):")
                for row in tunnels {
                    lines.append("    \(row.parts.dropFirst().first ?? "-")  \(row.count)  longest \(String(format: "%.1f", Double(row.longestMilliseconds) / 1000))s")
                }
            }
            let endpoints = endpoints(name)
            if !endpoints.isEmpty { lines.append("  endpoints (method template: requests/errors per side):") }
            for endpoint in endpoints {
                var line = "    \(endpoint.method) \(endpoint.template) "
                line += endpoint.sides.map { "  \($0.side) \($0.requests)/\($0.errors)" }.joined()
                let never = endpoint.sides.filter { $0.requests == 0 }.map(\.side)
                if !never.isEmpty { line += "  [never served by \(never.joined(separator: ", "))]" }
                lines.append(line)
            }
        }
        let others = InventorySection.allCases.filter { snapshot.other($0) > 0 }
        if !others.isEmpty {
            lines.append("")
            lines.append("not kept (beyond the tables' bound, counted only): " + others.map { "\($0.name) \(snapshot.other($0))" }.joined(separator: ", "))
        }
        return lines.joined(separator: "\n")
    }

    struct Endpoint {
        var method: String
        var template: String
        var sides: [(side: String, requests: UInt64, errors: UInt64)]
    }

    /// Endpoint rows pivoted: one per method + template, a column per side of the route.
    func endpoints(_ name: String) -> [Endpoint] {
        var order: [String] = []
        var byKey: [String: [String: (UInt64, UInt64)]] = [:]
        var totals: [String: UInt64] = [:]
        for row in rows(.endpoints, route: name) where row.parts.count >= 4 {
            let key = row.parts[2] + " " + row.parts[3]
            if byKey[key] == nil { order.append(key) }
            let previous = byKey[key, default: [:]][row.parts[1]] ?? (0, 0)
            byKey[key, default: [:]][row.parts[1]] = (previous.0 &+ row.count, previous.1 &+ row.errors)
            totals[key, default: 0] &+= row.count
        }
        var sides = sides(of: name)
        for entry in byKey.values { for side in entry.keys.sorted() where !sides.contains(side) { sides.append(side) } }
        return order.sorted { totals[$0]! != totals[$1]! ? totals[$0]! > totals[$1]! : $0 < $1 }.map { key in
            let space = key.firstIndex(of: " ")!
            return Endpoint(method: String(key[..<space]), template: String(key[key.index(after: space)...]),
                            sides: sides.map { side in (side, byKey[key]![side]?.0 ?? 0, byKey[key]![side]?.1 ?? 0) })
        }
    }

    // MARK: JSON

    func json() -> [String: Any] {
        var routes: [String: Any] = [:]
        for name in routeNames {
            routes[name] = [
                "callers": rows(.callers, route: name).map {
                    ["network": InventoryNetwork.text($0.network), "requests": $0.count, "pinned": $0.pinned,
                     "first_seen": Self.time($0.firstSeen), "last_seen": Self.time($0.lastSeen)] as [String: Any]
                },
                "hosts": rows(.hosts, route: name).map { row -> [String: Any] in
                    let host = row.parts.count > 1 ? row.parts[1] : ""
                    let flag = hostFlag(host)
                    return ["host": host, "requests": row.count, "raw_ip": flag == "raw IP", "unlisted": flag == "unlisted"]
                },
                "sni": rows(.serverNames, route: name).map { ["name": $0.parts.dropFirst().first ?? "", "requests": $0.count] as [String: Any] },
                "clients": rows(.clients, route: name).map { row -> [String: Any] in
                    let product = row.parts.dropFirst().first ?? "-"
                    return ["product": product, "browser": Self.browser(product), "network": InventoryNetwork.text(row.network), "requests": row.count]
                },
                "protocols": rows(.protocols, route: name).map { row -> [String: Any] in
                    ["http": row.parts.count > 1 ? row.parts[1] : "", "tls": row.parts.count > 2 ? row.parts[2] : "", "requests": row.count]
                },
                "tunnels": rows(.tunnels, route: name).map {
                    ["kind": $0.parts.dropFirst().first ?? "", "count": $0.count, "longest_ms": $0.longestMilliseconds] as [String: Any]
                },
                "endpoints": endpoints(name).map { endpoint -> [String: Any] in
                    ["method": endpoint.method, "template": endpoint.template,
                     "sides": Dictionary(uniqueKeysWithValues: endpoint.sides.map { ($0.side, ["requests": $0.requests, "errors": $0.errors]) })]
                },
            ] as [String: Any]
        }
        var other: [String: Any] = [:]
        for section in InventorySection.allCases { other[section.name] = snapshot.other(section) }
        return ["routes": routes, "other": other, "bytes_per_worker": Proxy.inventoryBytesPerWorker]
    }

    // MARK: CSV

    /// One line per row: section, route, key, network, side, requests, errors, pinned,
    /// first seen, last seen, flag. Cells a spreadsheet would run as formulas get a `'`.
    func csv() -> String {
        var lines = ["section,route,key,network,side,requests,errors,pinned,first_seen,last_seen,flag"]
        func add(_ cells: [String]) { lines.append(cells.map(AuditExport.csvCell).joined(separator: ",")) }
        for name in routeNames {
            for row in rows(.callers, route: name) {
                add(["callers", name, "", InventoryNetwork.text(row.network), "", "\(row.count)", "", "\(row.pinned)", Self.time(row.firstSeen), Self.time(row.lastSeen), ""])
            }
            for row in rows(.hosts, route: name) {
                let host = row.parts.count > 1 ? row.parts[1] : ""
                add(["hosts", name, host, "", "", "\(row.count)", "", "", Self.time(row.firstSeen), Self.time(row.lastSeen), hostFlag(host) ?? ""])
            }
            for row in rows(.serverNames, route: name) {
                add(["sni", name, row.parts.dropFirst().first ?? "", "", "", "\(row.count)", "", "", Self.time(row.firstSeen), Self.time(row.lastSeen), ""])
            }
            for row in rows(.clients, route: name) {
                let product = row.parts.dropFirst().first ?? "-"
                add(["clients", name, product, InventoryNetwork.text(row.network), "", "\(row.count)", "", "", Self.time(row.firstSeen), Self.time(row.lastSeen), Self.browser(product) ? "browser" : "other"])
            }
            for row in rows(.protocols, route: name) {
                add(["protocols", name, row.parts.dropFirst().joined(separator: " "), "", "", "\(row.count)", "", "", Self.time(row.firstSeen), Self.time(row.lastSeen), ""])
            }
            for row in rows(.tunnels, route: name) {
                add(["tunnels", name, row.parts.dropFirst().first ?? "", "", "", "\(row.count)", "", "", Self.time(row.firstSeen), Self.time(row.lastSeen), "longest \(row.longestMilliseconds) ms"])
            }
            for endpoint in endpoints(name) {
                for side in endpoint.sides {
                    add(["endpoints", name, "\(endpoint.method) \(endpoint.template)", "", side.side, "\(side.requests)", "\(side.errors)", "", "", "", side.requests == 0 ? "never served" : ""])
                }
            }
        }
        return lines.joined(separator: "\n")
    }
}
