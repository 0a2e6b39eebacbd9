extension RoutesParser {
    /// The checks that need the whole file, then the config. Called after every line was
    /// read; adds to `errors` and returns a config that is meaningful only when none were found.
    mutating func finish() -> RoutesConfig {
        var config = RoutesConfig(admin: admin, statePath: statePath, accessLogPath: accessLogPath,
                                  errorLogPath: errorLogPath, generationHeader: generationHeader)
        config.listeners = listeners
        config.serviceUser = serviceUser
        config.trustForwarded = trustForwarded
        config.tuning = tuning
        config.metrics = metrics
        config.notify = notify
        config.fleet = fleet
        // Either limit alone counts with the other's default (HTTPLimits: 8k and 32k): with
        // only `limit header-bytes 60k` a 68 KiB head was allowed, larger than the buffer.
        let line = tuning.maxRequestLineBytes ?? TuningConfig.defaultRequestLineBytes
        let headers = tuning.maxHeaderBytes ?? TuningConfig.defaultHeaderBytes
        if line + headers > TuningConfig.maxHeadBytes,
           let at = seenOnce["limit header-bytes"] ?? seenOnce["limit request-line"] {
            errors.append(RoutesError(file: file, line: at, column: 1,
                                      message: "request-line + header-bytes must stay within 60k (a head fits in one 64 KiB buffer; unset, they are 8k and 32k)"))
        }

        var backendLines: [String: Int] = [:]
        for draft in backends where !draft.name.text.isEmpty {
            if let first = backendLines[draft.name.text] {
                error(draft.name, "duplicate backend \"\(draft.name.text)\" (first defined on line \(first))")
                continue
            }
            backendLines[draft.name.text] = draft.name.line
            if !draft.sawServerLine {
                error(draft.name, "backend \"\(draft.name.text)\" has no server (add `server HOST:PORT`)")
            } else if !draft.servers.isEmpty && draft.servers.allSatisfy({ $0.weight == 0 }) {
                error(draft.name, "backend \"\(draft.name.text)\" has only servers of weight 0, so it could never serve")
            }
            var backend = BackendConfig(name: draft.name.text, servers: draft.servers, health: draft.health)
            backend.sandbox = draft.sandbox
            config.backends.append(backend)
        }
        let knownBackends = config.backends.map(\.name)

        var routeLines: [String: Int] = [:]
        // One certificate per host name: a second route naming the same host with another
        // certificate silently replaced the first's, and every TLS request of that route
        // was then 421 (its certificate no longer covered the name).
        var certificateOfHost: [String: (paths: CertificatePaths, route: String)] = [:]
        var reportedMissingListener = false
        var tcpListeners: [(listener: ListenerConfig, address: RoutesToken)] = []
        for draft in routes where !draft.name.text.isEmpty {
            if let first = routeLines[draft.name.text] {
                error(draft.name, "duplicate route \"\(draft.name.text)\" (first defined on line \(first))")
                continue
            }
            routeLines[draft.name.text] = draft.name.line
            guard let route = check(draft, knownBackends: knownBackends) else { continue }
            if route.mode == .http, let paths = route.certificate, let token = draft.certificateToken {
                for host in Set(route.hosts.map { $0.lowercased() }) {
                    if let first = certificateOfHost[host], first.paths.certPath != paths.certPath || first.paths.keyPath != paths.keyPath {
                        error(token, "host \(host) has another certificate in route \(first.route) (line \(first.paths.line)): one certificate per host name")
                        break
                    }
                    certificateOfHost[host] = (paths, route.name)
                }
            }
            if route.mode == .http && !sawListenLine && !reportedMissingListener {
                reportedMissingListener = true
                error(draft.name, "http route \"\(route.name)\" but no `listen http` or `listen https` line (add e.g. `listen http 127.0.0.1:8080`)")
            }
            if route.mode == .tcp, let endpoint = route.listen, let address = draft.listenAddress {
                tcpListeners.append((ListenerConfig(kind: .tcp, endpoint: endpoint, routeName: route.name, line: address.line), address))
            }
            config.routes.append(route)
        }
        config.guards = checkGuards(config)
        config.plans = checkPlans(config)
        config.listeners += tcpListeners.map(\.listener)
        checkListenerAddresses(zip(listeners, listenerTokens).map { ($0, $1) } + tcpListeners)
        // The cutover page's listener binds after the others, without SO_REUSEPORT: on a
        // listener's address the start failed with EADDRINUSE, which `check` did not see.
        if let metrics, metrics.port != 0, let token = metricsToken,
           let taken = config.listeners.first(where: { $0.endpoint == metrics }) {
            error(token, "address \(metrics) is already used by the listener on line \(taken.line)")
        }

        if routes.isEmpty {
            error(line: 1, column: 1, "no route in file (add a `route NAME { ... }` block)")
        }
        return config
    }

    /// Two listeners on one address would fail at bind time, far from the line to fix.
    /// Port 0 is exempt: each such listener gets its own port from the kernel.
    private mutating func checkListenerAddresses(_ all: [(listener: ListenerConfig, address: RoutesToken)]) {
        var firstLine: [Endpoint: Int] = [:]
        for (listener, address) in all where listener.endpoint.port != 0 {
            if let line = firstLine[listener.endpoint] {
                error(address, "address \(listener.endpoint) is already used by the listener on line \(line)")
            } else {
                firstLine[listener.endpoint] = listener.line
            }
        }
    }

    /// Checks one route against the rest of the file; nil when it has a problem (reported).
    private mutating func check(_ draft: RouteDraft, knownBackends: [String]) -> RouteConfig? {
        let errorsBefore = errors.count
        let name = draft.name.text

        func reference(_ token: RoutesToken?) {
            guard let token, !knownBackends.contains(token.text) else { return }
            let known = knownBackends.isEmpty ? "no backend is defined" : "known: \(knownBackends.joined(separator: ", "))"
            error(token, "unknown backend \"\(token.text)\" (\(known))")
        }
        reference(draft.active)
        reference(draft.standby)
        for entry in draft.split { reference(entry.backend) }
        for entry in draft.cohorts { reference(entry.backend) }
        checkMirror(draft, knownBackends: knownBackends)

        if let active = draft.active, let standby = draft.standby, active.text == standby.text {
            error(standby, "standby is the same backend as active (\"\(active.text)\")")
        }
        if !draft.sawSideLine {
            error(draft.name, "route \"\(name)\" has no backend (add `backend NAME`, `active NAME [standby NAME]` or `split ...`)")
        }

        var sticky = draft.sticky ?? (draft.mode == .tcp ? .client : .cookie(defaultStickyCookie))
        switch draft.mode {
        case .http:
            if let listen = draft.listenToken {
                error(listen, "listen ADDR:PORT inside a route is only for mode tcp (an http route may name top-level listeners: `listen NAME`, with `name NAME` on the listen line)")
            }
            let named = listeners.compactMap(\.name)
            for token in draft.listenerNames {
                guard let index = listeners.firstIndex(where: { $0.name == token.text }) else {
                    error(token, "no listener is named \"\(token.text)\"" + (named.isEmpty ? " (add `name \(token.text)` to a listen line)" : " (named: \(named.joined(separator: ", ")))"))
                    continue
                }
                if index >= 64 { error(token, "only the first 64 listen lines can be named by a route") }
            }
        case .tcp:
            if let first = draft.listenerNames.first {
                error(first, "a tcp route listens on its own address: `listen ADDR:PORT`")
            }
            if draft.listenToken == nil {
                error(draft.name, "tcp route \"\(name)\" has no listen line (add `listen ADDR:PORT`)")
            }
            if let host = draft.hostToken { error(host, "host applies to http routes only, and this route is mode tcp") }
            if let path = draft.pathToken { error(path, "path applies to http routes only, and this route is mode tcp") }
            if let maxBody = draft.maxBodyToken { error(maxBody, "max-body applies to http routes only, and this route is mode tcp") }
            if let cert = draft.certificateToken { error(cert, "cert applies to http routes served on listen https, and this route is mode tcp") }
            if let hold = draft.holdToken { error(hold, "hold applies to http routes only (a write hold parks requests), and this route is mode tcp") }
            if let token = draft.stickyToken, sticky != .client {
                error(token, "a tcp route has no cookies or headers: use `sticky client`")
                sticky = .client
            }
            for entry in draft.cohorts {
                if case .client = entry.cohort.matcher { continue }
                error(entry.kind, "a tcp route can only use client cohorts")
            }
        }
        if draft.mode == .http, let cert = draft.certificateToken, draft.hosts.isEmpty {
            error(cert, "cert needs host names in the route: a client's SNI name picks the certificate (add `host NAME`)")
        }
        if draft.mode == .http, draft.certificate != nil, let cert = draft.certificateToken, !listeners.contains(where: { $0.kind == .https }) {
            error(cert, "cert is served by listen https, and this file has no listen https line")
        }
        guard errors.count == errorsBefore else { return nil }
        var route = RouteConfig(name: name, mode: draft.mode, hosts: draft.hosts, pathPrefix: draft.pathPrefix,
                           listen: draft.listen, active: draft.active?.text, standby: draft.standby?.text,
                           split: draft.split.map { WeightedBackend(backend: $0.backend.text, basisPoints: $0.basisPoints) },
                           sticky: sticky, cohorts: draft.cohorts.map(\.cohort),
                           maxBodyBytes: draft.maxBodyBytes, failover: draft.failover, certificate: draft.certificate,
                           listenerNames: draft.listenerNames.map(\.text), line: draft.keyword.line)
        route.hold = draft.hold
        route.mirror = draft.mirror
        route.compare = draft.compare
        return route
    }
}
