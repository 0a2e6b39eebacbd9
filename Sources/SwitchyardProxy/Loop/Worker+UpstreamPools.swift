import SwitchyardRouting
import SwitchyardSystem

/// A worker's upstream pools: one `ServerPool` per server identity ("backend/address"),
/// kept across route tables so keep-alive connections survive a change that keeps the
/// server; health, idle connections and counters per backend.
extension Worker {
    /// `reloaded`: the routes file was read again (its CA and certificate files with it).
    func makeHandle(_ table: RouteTable, _ servers: ResolvedServers, reloaded: Bool = false,
                    drainGates: [DrainGate?] = []) -> TableHandle {
        var pools: [[ServerPool]] = []
        for (b, backend) in table.config.backends.enumerated() {
            var list: [ServerPool] = []
            for (s, address) in servers.addresses[b].enumerated() {
                let key = "\(backend.name)/\(address)"
                if let existing = poolsByAddress[key] {
                    // Connections made under other TLS settings (plain, another CA, name or
                    // client certificate), or before a reload that may have rotated the CA
                    // file in place, were verified under the old rules: none is used again.
                    if !UpstreamTLS.sameSettings(existing.tls, servers.tls[b][s]) || (reloaded && existing.tls != nil) {
                        existing.tlsEpoch &+= 1
                        existing.closeIdle()
                    }
                    existing.tls = servers.tls[b][s]
                    // A session verified under the old TLS settings (CA, name) must not be
                    // resumed under new ones: the next connection does a full handshake.
                    existing.resumable = nil
                    list.append(existing)
                } else {
                    let pool = ServerPool(key: key, address: address, label: "\(backend.name)/\(backend.servers[s].endpoint)")
                    pool.healthy = healthByKey[key] ?? true
                    pool.tls = servers.tls[b][s]
                    poolsByAddress[key] = pool
                    list.append(pool)
                }
            }
            pools.append(list)
        }
        let counters = table.config.backends.map { backend in
            if let existing = backendCounters[backend.name] { return existing }
            let created = BackendCounters()
            backendCounters[backend.name] = created
            return created
        }
        let handle = TableHandle(table: table, servers: pools, counters: counters, drainGates: drainGates)
        handle.metrics = metrics.cells(for: table)
        return handle
    }

    /// Installs a new table: requests whose head is parsed from now on use it; requests in
    /// flight keep theirs. Idle connections to servers no table uses any more are closed.
    ///
    /// `checked`: the pool keys the health checker probes under the new table. A server it
    /// no longer probes (its backend's `health` line removed, or the server taken out of
    /// the file) loses its last verdict: kept, a DOWN with nobody left to say UP again
    /// would keep the server out of every turn until a restart.
    func install(_ table: RouteTable, servers: ResolvedServers, reloaded: Bool = false, checked: Set<String>? = nil,
                 drainGates: [DrainGate?] = []) {
        if let checked {
            for key in healthByKey.keys where !checked.contains(key) {
                healthByKey[key] = nil
                poolsByAddress[key]?.healthy = true
            }
        }
        let old = current
        current = makeHandle(table, servers, reloaded: reloaded, drainGates: drainGates)
        if old.activeRequests > 0 { retired.append(old) }
        closeUnusedPools()
        applyHolds(of: table)
    }

    func tableReleased(_ handle: TableHandle) {
        guard handle !== current else { return }
        retired.removeAll { $0 === handle }
        closeUnusedPools()
    }

    func closeUnusedPools() {
        var used = Set<ObjectIdentifier>()
        for handle in [current] + retired {
            for list in handle.servers { for pool in list { used.insert(ObjectIdentifier(pool)) } }
        }
        for (key, pool) in poolsByAddress where !used.contains(ObjectIdentifier(pool)) {
            pool.closeIdle()
            poolsByAddress[key] = nil
        }
    }

    /// The health checker's verdict for one server (pool key "backend/address").
    func setHealth(_ key: String, healthy: Bool) {
        healthByKey[key] = healthy
        if let pool = poolsByAddress[key] {
            pool.healthy = healthy
            if !healthy { pool.closeIdle() }
        }
    }

    /// Servers up and in total per backend name (active health and passive ejection).
    var serverHealth: [String: (up: Int, total: Int)] {
        var result: [String: (up: Int, total: Int)] = [:]
        let now = Clock.monotonicMilliseconds()
        for (b, backend) in current.table.config.backends.enumerated() {
            let pools = current.servers[b]
            result[backend.name] = (pools.filter { $0.isAvailable(now: now) }.count, pools.count)
        }
        return result
    }

    /// Closes idle upstream connections to a backend (it lost its traffic or is drained).
    func closeIdleConnections(to backend: String) {
        for (key, pool) in poolsByAddress where key.hasPrefix(backend + "/") { pool.closeIdle() }
    }

    /// This worker's counters per backend name, with open upstream connections.
    var backendSnapshots: [String: BackendSnapshot] {
        var result: [String: BackendSnapshot] = [:]
        for (name, counters) in backendCounters { result[name] = counters.snapshot }
        for (key, pool) in poolsByAddress {
            let name = String(key.split(separator: "/", maxSplits: 1).first ?? "")
            result[name]?.openConnections += pool.openConnections
        }
        return result
    }

    /// Idle upstream connections per server label (for tests and status).
    var idleUpstreams: [String: Int] {
        var result: [String: Int] = [:]
        for pool in poolsByAddress.values { result[pool.label, default: 0] += pool.idle.count }
        return result
    }
}
