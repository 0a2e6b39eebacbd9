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
        // `worker.inventory…` spelled out, not bound to locals: the closure below would
        // retain a captured local (measured: two retain/release pairs a request).
        let now = worker.wallSeconds
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
            let callers = worker.inventory.callers
            if !(same && InventoryShortcut.count(callers, shortcut.caller, shortcut.callerHash, now: now)) {
                worker.inventory.key.start(route: route)
                worker.inventory.key.network = network
                let slot = callers.record(worker.inventory.key, now: now)
                shortcut.caller = slot
                shortcut.callerHash = slot[HeavyHitterTable.Word.hash]
            }
            if pinned { shortcut.caller.unsafelyUnwrapped[HeavyHitterTable.Word.pinned] &+= 1 }

            worker.inventory.key.start(route: route)
            worker.inventory.key.separator()
            worker.inventory.key.appendLowercased(view.host)
            worker.inventory.hosts.record(worker.inventory.key, now: now)

            if tlsVersion.utf8CodeUnitCount > 0, let name = tlsServerName {
                let serverNames = worker.inventory.serverNames
                if !(same && InventoryShortcut.count(serverNames, shortcut.serverName, shortcut.serverNameHash, now: now)) {
                    worker.inventory.key.start(route: route)
                    worker.inventory.key.separator()
                    var copy = name
                    copy.withUTF8 { worker.inventory.key.appendLowercased(UnsafeRawBufferPointer($0)) }
                    let slot = serverNames.record(worker.inventory.key, now: now)
                    shortcut.serverName = slot
                    shortcut.serverNameHash = slot[HeavyHitterTable.Word.hash]
                }
            }

            worker.inventory.key.start(route: route)
            worker.inventory.key.separator()
            let productStart = worker.inventory.key.count
            worker.inventory.key.appendProduct(ofUserAgent: userAgent)
            kindHash = DecisionRecord.nameHash(UnsafeRawBufferPointer(start: worker.inventory.key.text + productStart, count: worker.inventory.key.count - productStart))
            worker.inventory.key.network = network
            worker.inventory.clients.record(worker.inventory.key, now: now)

            let protocols = worker.inventory.protocols
            if !(same && InventoryShortcut.count(protocols, shortcut.protocolRow, shortcut.protocolHash, now: now)) {
                worker.inventory.key.start(route: route)
                worker.inventory.key.separator()
                worker.inventory.key.append(isH2 ? "HTTP/2" : clientIsHTTP10 ? "HTTP/1.0" : "HTTP/1.1")
                worker.inventory.key.separator()
                if tlsVersion.utf8CodeUnitCount > 0 { worker.inventory.key.append(tlsVersion) } else { worker.inventory.key.append("plain") }
                let slot = protocols.record(worker.inventory.key, now: now)
                shortcut.protocolRow = slot
                shortcut.protocolHash = slot[HeavyHitterTable.Word.hash]
            }

            worker.inventory.key.start(route: route)
            worker.inventory.key.separator()
            handle.backendNames[decision.backend].withUnsafeBytes { worker.inventory.key.append($0) }
            worker.inventory.key.separator()
            worker.inventory.key.append(UnsafeRawBufferPointer(start: logLine, count: logMethodCount))
            worker.inventory.key.separator()
            worker.inventory.key.appendTemplate(ofPath: HeadWriter.slice(base, p.pathSpan))
            let endpoint = worker.inventory.endpoints.record(worker.inventory.key, now: now)
            observed.inventoryEndpoint = endpoint
            observed.inventoryEndpointHash = endpoint[HeavyHitterTable.Word.hash]
        }
        let keys = handle.table.replayKeys(view, path: view.path, decision: decision)
        worker.inventory.decisions.append(DecisionRecord(
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
            let slot = inventory.table(.tunnels).record(key, now: worker.wallSeconds)
            if lifetime > slot[HeavyHitterTable.Word.longest] { slot[HeavyHitterTable.Word.longest] = lifetime }
        }
    }
}
