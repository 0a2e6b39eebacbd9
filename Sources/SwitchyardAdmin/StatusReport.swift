import SwitchyardProxy
import SwitchyardRouting

/// The read-only answers: status, show routes, history.
enum StatusReport {
    static func describe(_ route: CompiledRoute) -> String {
        if !route.split.isEmpty {
            return "split " + route.split.map { "\($0.backend) \(Percent.format($0.basisPoints))" }.joined(separator: " ")
        }
        var text = "active \(route.active ?? "-")"
        if let standby = route.standby { text += " standby \(standby)" }
        return text
    }

    static func status(_ service: AdminService) -> AdminAnswer {
        let table = service.table
        let snapshots = service.dataPlane.backendSnapshots()
        let health = service.dataPlane.serverHealth()
        var lines = ["generation \(table.generation)"]
        // Fleet mode: whether this instance is with the others, first of all.
        if let fleet = service.fleet { lines += fleet.statusLines(serving: table.generation) }
        if let problem = service.stateFileUnwritable {
            lines.append("WARNING: the state file could not be written at start (\(problem)): changes are refused until it can be")
        }
        lines += ["", "routes:"]
        var routesJSON: [[String: Any]] = []
        for route in table.routes {
            var line = "  \(route.name) (\(route.mode.rawValue)): \(describe(route))"
            if !route.cohorts.isEmpty { line += "; cohorts: " + route.cohorts.map(\.description).joined(separator: ", ") }
            let mirror = MirrorCommands.describe(route)
            if let mirror { line += "; " + mirror }
            if let held = HoldStatus.routeNote(route) { line += "; " + held }
            lines.append(line)
            routesJSON.append(["name": route.name, "mode": route.mode.rawValue, "routing": describe(route),
                               "cohorts": route.cohorts.map(\.description), "mirror": mirror as Any,
                               "held": HoldStatus.routeJSON(route) as Any])
        }
        let unverified = table.backends.flatMap { backend in
            backend.servers.filter { $0.tls && !$0.verify }.map { "\(backend.name) \($0.endpoint)" }
        }
        if !unverified.isEmpty {
            lines.append("")
            lines.append("warning: TLS certificate verification is OFF for: " + unverified.joined(separator: ", "))
        }
        lines.append("")
        lines.append("backends (last minute for latency):")
        lines.append("  backend          servers up   requests   errors   p50 ms   p99 ms   conns  tunnels")
        var backendsJSON: [[String: Any]] = []
        for backend in table.backends {
            let s = snapshots[backend.name]
            let p50 = s?.percentile(0.5), p99 = s?.percentile(0.99)
            func ms(_ v: UInt64?) -> String { v.map { String(format: "%.2f", Double($0) / 1000) } ?? "-" }
            let up = health[backend.name].map { "\($0.up)/\($0.total)" } ?? "-"
            lines.append("  " + [backend.name.padding(toLength: 15, withPad: " ", startingAt: 0), padText(up, 11),
                                 pad(s?.requests ?? 0, 9), pad(s?.errors ?? 0, 8), padText(ms(p50), 8), padText(ms(p99), 8),
                                 pad(s?.openConnections ?? 0, 7), pad(s?.openTunnels ?? 0, 8)].joined(separator: " "))
            backendsJSON.append(["name": backend.name, "servers_up": health[backend.name]?.up ?? 0,
                                 "servers": health[backend.name]?.total ?? 0, "requests": s?.requests ?? 0, "errors": s?.errors ?? 0,
                                 "connect_failures": s?.connectFailures ?? 0,
                                 "p50_us": p50.map { Int($0) } as Any, "p99_us": p99.map { Int($0) } as Any,
                                 "open_connections": s?.openConnections ?? 0, "open_tunnels": s?.openTunnels ?? 0])
        }
        // How clients come in: listeners and the protocols they offer, then what was used.
        let stats = service.dataPlane.stats()
        lines.append("")
        lines.append("clients:")
        var listenersJSON: [[String: Any]] = []
        for listener in table.config.listeners where listener.kind != .tcp {
            let protocols: String
            switch listener.kind {
            case .https: protocols = listener.http1Only ? "TLS, ALPN http/1.1" : "TLS, ALPN h2 http/1.1"
            default: protocols = listener.h2c ? "h1, h2c" : "h1"
            }
            let mtls = listener.clientCAPath == nil ? "" : ", client certificates required"
            lines.append("  listen \(listener.kind.rawValue) \(listener.endpoint): \(protocols)\(mtls)")
            listenersJSON.append(["kind": listener.kind.rawValue, "address": "\(listener.endpoint)", "protocols": protocols,
                                  "client_certificates": listener.clientCAPath != nil])
        }
        lines.append("  open connections \(stats.openConnections) (HTTP/2 \(stats.openH2Connections)); "
                     + "requests \(stats.requests) (HTTP/2 \(stats.h2Requests) on \(stats.h2Connections) connection\(stats.h2Connections == 1 ? "" : "s"))")
        lines.append("  TLS handshakes: TLSv1.3 \(stats.tls13Handshakes), TLSv1.2 \(stats.tls12Handshakes), "
                     + "other \(stats.otherHandshakes), failed \(stats.tlsFailures); "
                     + "HTTP/2 connections ended for protocol errors or floods: \(stats.h2ProtocolErrors)")
        let clientsJSON: [String: Any] = [
            "listeners": listenersJSON, "open_connections": stats.openConnections, "open_h2_connections": stats.openH2Connections,
            "requests": stats.requests, "h2_requests": stats.h2Requests, "h2_connections": stats.h2Connections,
            "tls13_handshakes": stats.tls13Handshakes, "tls12_handshakes": stats.tls12Handshakes,
            "other_handshakes": stats.otherHandshakes, "tls_failures": stats.tlsFailures, "h2_protocol_errors": stats.h2ProtocolErrors]
        let (holdLines, holdJSON) = HoldStatus.describe(service)
        lines += holdLines
        let (mirrorLines, mirrorJSON) = MirrorStatus.describe(service)
        lines += mirrorLines
        let guardLines = GuardCommands.lines(service)
        if !guardLines.isEmpty { lines += ["", "guards:"] + guardLines }
        return .success(lines.joined(separator: "\n"),
                        json: ["generation": table.generation, "routes": routesJSON, "backends": backendsJSON, "clients": clientsJSON,
                               "hold": holdJSON, "mirror": mirrorJSON, "guards": GuardCommands.json(service),
                               "fleet": service.fleet?.statusJSON(serving: table.generation) as Any])
    }

    private static func pad(_ n: Int, _ width: Int) -> String { padText(String(n), width) }
    private static func padText(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
    }

    static func showRoutes(_ service: AdminService) -> AdminAnswer {
        var lines = ["# generation \(service.table.generation)"]
        for route in service.table.routes {
            lines.append("route \(route.name) {")
            if route.mode == .tcp { lines.append("    mode tcp") }
            if !route.hosts.isEmpty { lines.append("    host " + route.hosts.joined(separator: " ")) }
            if let path = route.pathPrefix { lines.append("    path \(path)") }
            if let listen = route.listen { lines.append("    listen \(listen)") }
            if !route.config.listenerNames.isEmpty { lines.append("    listen " + route.config.listenerNames.joined(separator: " ")) }
            if route.mode == .http {
                // The key users are bucketed by is part of the routing in force.
                switch route.sticky {
                case .cookie(let name): lines.append("    sticky cookie \(name)")
                case .header(let name): lines.append("    sticky header \(name)")
                case .client: lines.append("    sticky client")
                }
            }
            lines.append("    " + describe(route))
            for cohort in route.cohorts { lines.append("    cohort \(cohort)") }
            if let maxBody = route.maxBodyBytes { lines.append("    max-body \(maxBody)") }
            if route.config.failover { lines.append("    failover") }
            if route.config.hold.methods != HoldRules.defaultMethods { lines.append("    hold methods " + route.config.hold.methods.joined(separator: " ")) }
            if !route.config.hold.exceptions.isEmpty { lines.append("    hold except " + route.config.hold.exceptions.joined(separator: " ")) }
            if let mirror = route.mirror { lines.append("    mirror \(mirror.backend) \(Percent.format(mirror.basisPoints))") }
            lines.append("}")
        }
        return .success(lines.joined(separator: "\n"))
    }

    static func history(_ service: AdminService) -> AdminAnswer {
        var lines: [String] = []
        var entries: [[String: Any]] = []
        for entry in service.history.suffix(50) {
            var line = "\(entry.generation)  \(entry.time)  \(entry.user) (uid \(entry.uid))  \(entry.command)"
            if let reason = entry.reason { line += "  [\(reason)]" }
            lines.append(line)
            for change in entry.changes { lines.append("      \(change)") }
            entries.append(["generation": entry.generation, "time": entry.time, "uid": entry.uid, "user": entry.user,
                            "command": entry.command, "reason": entry.reason as Any, "changes": entry.changes])
        }
        return .success(lines.joined(separator: "\n"), json: ["history": entries])
    }
}

import Foundation
