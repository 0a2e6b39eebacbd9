import Foundation
import SwitchyardProxy
import SwitchyardRouting

/// `GET /metrics`: every `switchyard_*` family and the `process_*` gauges, from one merged
/// snapshot. Series the routes file implies are written at 0 before any traffic; routes and
/// backends a reload removed are left out (their counters stay in the workers, unseen).
enum MetricsExposition {
    /// Version reported by `switchyard_build_info`.
    static let version = "0.1.0"

    static func render(snapshot: MetricsSnapshot, table: RouteTable, service: AdminService?) -> String {
        var out = PrometheusText()
        let pairs = seriesPairs(table: table, snapshot: snapshot)
        func labels(_ key: MetricsKey) -> [(String, String)] { [("route", key.route), ("backend", key.backend)] }

        out.family("switchyard_requests_total", "counter", "Requests answered, by route, backend and status class (no status: 5xx).")
        for key in pairs {
            let counts = snapshot.cells[key] ?? .zero
            for hundreds in 1...5 {
                out.sample("switchyard_requests_total", labels(key) + [("code", "\(hundreds)xx")], Double(counts.requests(class: hundreds)))
            }
        }
        out.family("switchyard_request_duration_seconds", "histogram", "Whole request time, head received to last byte sent.")
        for key in pairs {
            let counts = snapshot.cells[key] ?? .zero
            out.histogram("switchyard_request_duration_seconds", labels(key), buckets: counts.durationBuckets,
                          bounds: MetricsLayout.bucketSeconds, sum: Double(counts.durationSumMicroseconds) / 1e6)
        }
        out.family("switchyard_upstream_header_seconds", "histogram", "Time from the request head to the first response head byte from the backend.")
        for key in pairs {
            let counts = snapshot.cells[key] ?? .zero
            out.histogram("switchyard_upstream_header_seconds", labels(key), buckets: counts.headerBuckets,
                          bounds: MetricsLayout.bucketSeconds, sum: Double(counts.headerSumMicroseconds) / 1e6)
        }
        out.family("switchyard_proxy_errors_total", "counter", "Failures of the proxy's own making or the upstream connection, by reason (connect: each failed attempt).")
        for key in pairs {
            let counts = snapshot.cells[key] ?? .zero
            for reason in ProxyErrorReason.allCases {
                out.sample("switchyard_proxy_errors_total", labels(key) + [("reason", reason.label)], Double(counts.proxyErrors(reason)))
            }
        }
        out.family("switchyard_requests_in_flight", "gauge", "Requests routed and not yet finished.")
        for key in pairs {
            out.sample("switchyard_requests_in_flight", labels(key), Double(max(0, (snapshot.cells[key] ?? .zero).inFlight)))
        }
        out.family("switchyard_route_share_ratio", "gauge", "Share of new users a route sends to a backend (0-1); cohorts come on top.")
        for key in pairs {
            guard let route = table.routes.first(where: { $0.name == key.route }) else { continue }
            out.sample("switchyard_route_share_ratio", labels(key), share(route, key.backend))
        }
        out.family("switchyard_generation", "gauge", "Route table generation in force.")
        out.sample("switchyard_generation", [], Double(table.generation))
        out.family("switchyard_generation_timestamp_seconds", "gauge", "When the generation in force was made (seconds since the epoch).")
        out.sample("switchyard_generation_timestamp_seconds", [], generationTime(table: table, service: service))
        if let fleet = service?.fleet {
            out.family("switchyard_fleet_detached", "gauge", "1 while this instance is cut off from the fleet's etcd (serving its last generation).")
            out.sample("switchyard_fleet_detached", [("fleet", fleet.config.name)], fleet.detachedGauge)
            out.family("switchyard_fleet_lag_generations", "gauge", "Generations the fleet's store is ahead of this instance.")
            out.sample("switchyard_fleet_lag_generations", [("fleet", fleet.config.name)], fleet.lagGauge(serving: table.generation))
        }
        out.family("switchyard_admin_changes_total", "counter", "Changes that made a generation, by admin command.")
        let changes = service?.activity.changesByCommand ?? [:]
        for command in Set(changeCommands).union(changes.keys).sorted() {
            out.sample("switchyard_admin_changes_total", [("command", command)], Double(changes[command] ?? 0))
        }
        out.family("switchyard_config_reloads_total", "counter", "Routes-file reloads, by result.")
        let reloads = service?.activity.reloadsByResult ?? ["ok": 0, "failed": 0]
        for result in ["failed", "ok"] { out.sample("switchyard_config_reloads_total", [("result", result)], Double(reloads[result] ?? 0)) }
        out.family("switchyard_guard_trips_total", "counter", "Guard trips since start, by route and guard.")
        for g in service?.guardSnapshot ?? [] {
            out.sample("switchyard_guard_trips_total", [("route", g.route), ("guard", g.name)], Double(g.trips))
        }
        let notifyCounts = service?.eventNotifier.counters.withLock { $0 } ?? (failures: 0, dropped: 0, delivered: 0)
        out.family("switchyard_notify_failures_total", "counter", "Notify events not delivered after every retry.")
        out.sample("switchyard_notify_failures_total", [], Double(notifyCounts.failures))
        out.family("switchyard_notify_dropped_total", "counter", "Notify events dropped from a full queue (oldest first).")
        out.sample("switchyard_notify_dropped_total", [], Double(notifyCounts.dropped))
        out.family("switchyard_server_up", "gauge", "1 when a server may get traffic (health checks pass, not ejected).")
        for (b, backend) in table.config.backends.enumerated() where b < snapshot.serversUp.count {
            for (s, server) in backend.servers.enumerated() where s < snapshot.serversUp[b].count {
                out.sample("switchyard_server_up", [("backend", backend.name), ("server", "\(server.endpoint)")], snapshot.serversUp[b][s] ? 1 : 0)
            }
        }
        out.family("switchyard_upstream_connections", "gauge", "Open connections to a server (busy and idle), summed over workers.")
        for (b, backend) in table.config.backends.enumerated() where b < snapshot.upstreamConnections.count {
            for (s, server) in backend.servers.enumerated() where s < snapshot.upstreamConnections[b].count {
                out.sample("switchyard_upstream_connections", [("backend", backend.name), ("server", "\(server.endpoint)")],
                           Double(snapshot.upstreamConnections[b][s]))
            }
        }
        let stats = snapshot.stats
        out.family("switchyard_tls_handshakes_total", "counter", "Completed client TLS handshakes by version (failed: did not complete).")
        out.sample("switchyard_tls_handshakes_total", [("version", "TLSv1.2")], Double(stats.tls12Handshakes))
        out.sample("switchyard_tls_handshakes_total", [("version", "TLSv1.3")], Double(stats.tls13Handshakes))
        out.sample("switchyard_tls_handshakes_total", [("version", "other")], Double(stats.otherHandshakes))
        out.sample("switchyard_tls_handshakes_total", [("version", "failed")], Double(stats.tlsFailures))
        out.family("switchyard_http2_connections_ended_total", "counter", "HTTP/2 client connections that ended, by reason.")
        out.sample("switchyard_http2_connections_ended_total", [("reason", "protocol_error")], Double(stats.h2EndedFailed))
        out.sample("switchyard_http2_connections_ended_total", [("reason", "closed")], Double(stats.h2EndedClean))
        out.family("switchyard_build_info", "gauge", "Always 1; the version is the label.")
        out.sample("switchyard_build_info", [("version", version)], 1)

        let process = ProcessFigures.read()
        out.family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.")
        out.sample("process_cpu_seconds_total", [], process.cpuSeconds)
        out.family("process_open_fds", "gauge", "Number of open file descriptors.")
        out.sample("process_open_fds", [], Double(process.openFDs))
        out.family("process_max_fds", "gauge", "Maximum number of open file descriptors.")
        out.sample("process_max_fds", [], process.maxFDs)
        out.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.")
        out.sample("process_resident_memory_bytes", [], process.residentBytes)
        out.family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.")
        out.sample("process_virtual_memory_bytes", [], process.virtualBytes)
        out.family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.")
        out.sample("process_start_time_seconds", [], process.startTimeSeconds)
        return out.text
    }

    /// The change commands shown at 0 from the start.
    static let changeCommands = ["cohort", "drain", "flip", "reload", "revert", "weight"]

    /// Route and backend pairs to show: those the table lets a route send to (split,
    /// active, standby, cohorts) and any other pair of the table that has counted something
    /// (failover). Pairs of names the table no longer has are left out.
    static func seriesPairs(table: RouteTable, snapshot: MetricsSnapshot) -> [MetricsKey] {
        var pairs: [MetricsKey] = []
        var seen = Set<MetricsKey>()
        let backendNames = Set(table.config.backends.map(\.name))
        for route in table.routes where route.mode == .http {
            for backend in backends(of: route) where backendNames.contains(backend) {
                let key = MetricsKey(route: route.name, backend: backend)
                if seen.insert(key).inserted { pairs.append(key) }
            }
        }
        let routeNames = Set(table.routes.filter { $0.mode == .http }.map(\.name))
        for (key, counts) in snapshot.cells.sorted(by: { ($0.key.route, $0.key.backend) < ($1.key.route, $1.key.backend) })
        where routeNames.contains(key.route) && backendNames.contains(key.backend) && !seen.contains(key)
            && (counts.requests > 0 || counts.inFlight != 0) {
            seen.insert(key)
            pairs.append(key)
        }
        return pairs
    }

    /// The backends a route names, in the file's order: split, active, standby, cohorts.
    static func backends(of route: CompiledRoute) -> [String] {
        var names = route.split.map(\.backend)
        if let active = route.active { names.append(active) }
        if let standby = route.standby { names.append(standby) }
        names += route.cohorts.map(\.backend)
        var seen = Set<String>()
        return names.filter { seen.insert($0).inserted }
    }

    /// The share of new users `backend` gets on `route`, 0…1.
    static func share(_ route: CompiledRoute, _ backend: String) -> Double {
        if !route.split.isEmpty {
            return Double(route.split.filter { $0.backend == backend }.reduce(0) { $0 + $1.basisPoints }) / 10_000
        }
        return route.active == backend ? 1 : 0
    }

    /// When the generation in force was made, from the history (seconds since the epoch).
    static func generationTime(table: RouteTable, service: AdminService?) -> Double {
        guard let entry = service?.historySnapshot.last(where: { $0.generation == table.generation }) else {
            return processStart
        }
        return parseTime(entry.time) ?? processStart
    }

    static let processStart = Date().timeIntervalSince1970

    static func parseTime(_ text: String) -> Double? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)?.timeIntervalSince1970
    }
}
