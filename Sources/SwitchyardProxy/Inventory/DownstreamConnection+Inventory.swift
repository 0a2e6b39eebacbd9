import SwitchyardHTTP
import SwitchyardRouting
import SwitchyardSystem

/// The decision point's "observe" for the dependency inventory and the decision log: one
/// call when a routed request passes the decision point, one when it ends. Everything is
/// written from the request's parsed spans into the worker's preallocated tables
/// (`WorkerInventory`): no allocation, no lock, no atomic. Of the request, only the route,
/// the caller's network, the Host, SNI name, User-Agent product token, protocol, method and
/// path template (never the query) are kept.
extension DownstreamConnection {
    func observeInventory(_ base: UnsafeRawPointer, _ p: HTTPRequestParser, _ handle: TableHandle) {
        guard decision.route >= 0 else { return }
        let inventory = worker.inventory
        let key = inventory.key
        let now = Clock.wallMicroseconds() / 1_000_000
        let network = InventoryNetwork.encoded(client.address)
        let view = RequestView(base: base, parser: p, clientAddress: client.address,
                               path: scratch.unsafelyUnwrapped.routingPath(base: base), listener: client.listener)
        let userAgent = p.userAgentSpan.map { HeadWriter.slice(base, $0) }
        let pinned = decision.reason == .cohort
        var routeHash: UInt32 = 0
        var kindHash: UInt32 = 0
        let generation = handle.table.generation
        // The rows that are the same for every request of this connection on this route are
        // counted through their kept slots (see `InventoryShortcut`); the first request, or
        // one whose slot was taken meanwhile, records them by key.
        let same = shortcut.matches(generation: generation, route: decision.route, http10: clientIsHTTP10)
        if !same {
            shortcut = InventoryShortcut(generation: generation, route: decision.route, http10: clientIsHTTP10)
        }
        handle.routeNames[decision.route].withUnsafeBytes { route in
            routeHash = DecisionRecord.nameHash(route)
            let callers = inventory.callers
            if !(same && InventoryShortcut.count(callers, shortcut.caller, shortcut.callerHash, now: now)) {
                key.start(route: route)
                key.network = network
                let slot = callers.record(key, now: now)
                shortcut.caller = slot
                shortcut.callerHash = slot[HeavyHitterTable.Word.hash]
            }
            if pinned { shortcut.caller.unsafelyUnwrapped[HeavyHitterTable.Word.pinned] &+= 1 }

            key.start(route: route)
            key.separator()
            key.appendLowercased(view.host)
            inventory.hosts.record(key, now: now)

            if tlsVersion.utf8CodeUnitCount > 0, let name = tlsServerName {
                let serverNames = inventory.serverNames
                if !(same && InventoryShortcut.count(serverNames, shortcut.serverName, shortcut.serverNameHash, now: now)) {
                    key.start(route: route)
                    key.separator()
                    var copy = name
                    copy.withUTF8 { key.appendLowercased(UnsafeRawBufferPointer($0)) }
                    let slot = serverNames.record(key, now: now)
                    shortcut.serverName = slot
                    shortcut.serverNameHash = slot[HeavyHitterTable.Word.hash]
                }
            }

            key.start(route: route)
            key.separator()
            let productStart = key.count
            key.appendProduct(ofUserAgent: userAgent)
            kindHash = DecisionRecord.nameHash(UnsafeRawBufferPointer(start: key.text + productStart, count: key.count - productStart))
            key.network = network
            inventory.clients.record(key, now: now)

            let protocols = inventory.protocols
            if !(same && InventoryShortcut.count(protocols, shortcut.protocolRow, shortcut.protocolHash, now: now)) {
                key.start(route: route)
                key.separator()
                key.append(isH2 ? "HTTP/2" : clientIsHTTP10 ? "HTTP/1.0" : "HTTP/1.1")
                key.separator()
                if tlsVersion.utf8CodeUnitCount > 0 { key.append(tlsVersion) } else { key.append("plain") }
                let slot = protocols.record(key, now: now)
                shortcut.protocolRow = slot
                shortcut.protocolHash = slot[HeavyHitterTable.Word.hash]
            }

            key.start(route: route)
            key.separator()
            handle.backendNames[decision.backend].withUnsafeBytes { key.append($0) }
            key.separator()
            key.append(UnsafeRawBufferPointer(start: logLine, count: logMethodCount))
            key.separator()
            key.appendTemplate(ofPath: HeadWriter.slice(base, p.pathSpan))
            let endpoint = inventory.endpoints.record(key, now: now)
            observed.inventoryEndpoint = endpoint
            observed.inventoryEndpointHash = endpoint[HeavyHitterTable.Word.hash]
        }
        let keys = handle.table.replayKeys(view, path: view.path, decision: decision)
        inventory.decisions.append(DecisionRecord(
            time: UInt32(truncatingIfNeeded: now), route: routeHash, keys: keys, network: network,
            clientKind: kindHash, method: method.rawValue, backend: UInt8(truncatingIfNeeded: decision.backend)))
    }

    /// The request ended: an answer ≥ 500 counts as an error of its endpoint and side; a
    /// WebSocket tunnel's lifetime is kept when it is the route's longest.
    func observeInventoryEnd(_ handle: TableHandle) {
        guard decision.route >= 0 else { return }
        let inventory = worker.inventory
        if status >= 500, let slot = inventory.endpoints.kept(observed.inventoryEndpoint, hash: observed.inventoryEndpointHash) {
            slot[HeavyHitterTable.Word.errors] &+= 1
        }
        observed.inventoryEndpoint = nil
        guard inTunnel else { return }
        let lifetime = (Clock.monotonicNanoseconds() &- startNanoseconds) / 1_000_000
        let key = inventory.key
        handle.routeNames[decision.route].withUnsafeBytes { route in
            key.start(route: route)
            key.separator()
            key.append("websocket")
            let slot = inventory.table(.tunnels).record(key, now: Clock.wallMicroseconds() / 1_000_000)
            if lifetime > slot[HeavyHitterTable.Word.longest] { slot[HeavyHitterTable.Word.longest] = lifetime }
        }
    }
}
