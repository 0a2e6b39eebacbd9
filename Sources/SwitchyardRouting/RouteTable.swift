/// One generation of routing: the routes file and the runtime state, compiled together.
/// Immutable, so a worker reads it with a plain load and a request keeps the table it
/// started with for its whole life. A change builds a new table.
public final class RouteTable: Sendable {
    public let generation: UInt64
    public let config: RoutesConfig
    /// The reconciled state this table was built with.
    public let state: RuntimeState
    /// What reconciling the state with the config dropped, one line each (for the log).
    public let stateWarnings: [String]
    /// Same order as `config.backends`.
    public let backends: [BackendConfig]
    /// Same order as `config.routes`.
    public let routes: [CompiledRoute]

    /// What `route(_:random:)` looks routes up in; chooses what the scan over `httpOrder` would.
    let httpIndex: RouteIndex
    /// Per route (same order as `routes`): a bit per listener index the route is served on,
    /// from its `listen NAME...` line; 0 means every listener.
    let listenerMasks: [UInt64]
    /// The route certificate `listen https` presents for each SNI name (lower-cased; the
    /// last route listing a name wins, as `ListenerCertificates` builds it). Names not here
    /// get the listener's own certificate.
    let presentedCertificates: [String: CertificatePaths]

    /// Builds a table from a parsed config and runtime state. The state is reconciled first
    /// (see `RuntimeState.reconciled(with:)`); what remains must make every route usable,
    /// or the problems are thrown (file `runtime state`, line 0).
    public static func build(config: RoutesConfig, state: RuntimeState, generation: UInt64) throws(RoutesErrors) -> RouteTable {
        let (reconciled, warnings) = state.reconciled(with: config)
        var indexByName: [String: Int] = [:]
        for (i, backend) in config.backends.enumerated() where indexByName[backend.name] == nil {
            indexByName[backend.name] = i
        }
        var errors: [RoutesError] = []
        var routes: [CompiledRoute] = []
        for route in config.routes {
            switch CompiledRoute.compile(route, runtime: reconciled.routes[route.name], backendIndex: { indexByName[$0] },
                                          isSandbox: { config.backends[$0].sandbox }) {
            case .success(let compiled):
                routes.append(compiled)
            case .failure(let problems):
                let source = reconciled.routes[route.name] == nil ? "routes" : "runtime state"
                for message in problems.messages {
                    errors.append(RoutesError(file: source, line: 0, column: 0, message: "route \"\(route.name)\": \(message)"))
                }
            }
        }
        if !errors.isEmpty { throw RoutesErrors(errors) }
        return RouteTable(generation: generation, config: config, state: reconciled, stateWarnings: warnings, routes: routes)
    }

    private init(generation: UInt64, config: RoutesConfig, state: RuntimeState, stateWarnings: [String], routes: [CompiledRoute]) {
        self.generation = generation
        self.config = config
        self.state = state
        self.stateWarnings = stateWarnings
        self.backends = config.backends
        self.routes = routes
        self.listenerMasks = config.routes.map { route in
            var mask: UInt64 = 0
            for name in route.listenerNames {
                // The parser refused names it cannot find and indices past 63.
                if let index = config.listeners.firstIndex(where: { $0.name == name }), index < 64 { mask |= 1 << UInt64(index) }
            }
            return mask
        }
        var presented: [String: CertificatePaths] = [:]
        for route in config.routes where route.mode == .http {
            guard let certificate = route.certificate else { continue }
            for host in route.hosts { presented[host.lowercased()] = certificate }
        }
        self.presentedCertificates = presented
        self.httpIndex = RouteIndex(routes: routes, listenerMasks: listenerMasks)
    }

    public func backendIndex(named name: String) -> Int? {
        backends.firstIndex { $0.name == name }
    }

    public func routeIndex(named name: String) -> Int? {
        routes.firstIndex { $0.name == name }
    }

    /// What the proxy asks of a routed request's route, read in one call: whether it has a
    /// certificate of its own (then `certificateCovers` decides), and its body limit. Asked
    /// on every request, so nothing of the route is copied out (a copy of its config would
    /// retain every string in it).
    public func admission(of routeIndex: Int) -> (ownCertificate: Bool, maxBodyBytes: UInt64?) {
        let route = routes[routeIndex]
        return (route.hasOwnCertificate, route.maxBodyBytes)
    }

    /// Whether the route at `routeIndex` may answer on a connection whose TLS client sent
    /// `serverName` as SNI (nil: none). A route with its own `cert` may answer only where
    /// that certificate was the one presented — the name picked it (last route listing the
    /// name wins, as the listener does); otherwise the client checked some other
    /// certificate, and the request is misdirected (421, RFC 9110 §15.5.20). Routes without
    /// their own certificate answer on any connection.
    public func certificateCovers(routeIndex: Int, serverName: String?) -> Bool {
        guard let own = config.routes[routeIndex].certificate else { return true }
        guard var name = serverName?.lowercased() else { return false }
        // A trailing dot names the same host (the listener picks the certificate without it).
        if name.hasSuffix(".") { name.removeLast() }
        return presentedCertificates[name] == own
    }

    /// Indices of the http routes in rule order: routes naming hosts before any-host routes,
    /// then longer path prefixes first, then file order. Only `routeByScan`, the reference
    /// the index is tested against, walks it; computed when asked, not on every table build.
    var httpOrder: [Int] {
        routes.indices.filter { routes[$0].mode == .http }.sorted { a, b in
            let ra = routes[a], rb = routes[b]
            if ra.hosts.isEmpty != rb.hosts.isEmpty { return !ra.hosts.isEmpty }
            let la = ra.pathPrefix?.utf8.count ?? 0, lb = rb.pathPrefix?.utf8.count ?? 0
            if la != lb { return la > lb }
            return a < b
        }
    }
}
