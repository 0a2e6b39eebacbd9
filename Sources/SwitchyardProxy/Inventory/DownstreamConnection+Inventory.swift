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
        // The worker's tables borrowed for the call (it holds them for its whole life): read
        // as `worker.inventory…`, the key and a table were retained and released on every
        // request (three pairs, callgrind), bound to locals the closure below retained them.
        Unmanaged.passUnretained(worker.inventory)._withUnsafeGuaranteedRef { observeInventory(base, p, handle, $0) }
    }

    private func observeInventory(_ base: UnsafeRawPointer, _ p: HTTPRequestParser, _ handle: TableHandle,
                                  _ inventory: WorkerInventory) {
        let now = worker.wallSeconds
        let network = InventoryNetwork.encoded(client.address)
        let view = RequestView(base: base, parser: p, clientAddress: client.address,
                               path: withScratch { $0.routingPath(base: base) }, listener: client.listener)
        let userAgent = p.userAgentSpan.map { HeadWriter.slice(base, $0) }
        let pinned = decision.reason == .cohort
        var routeHash: UInt32 = 0
        var kindHash: UInt32 = 0
        let generation = handle.table.generation
        // The rows that are the same for every request of this connection on this route are
        // counted through their kept slots (see `InventoryShortcut`); the first request, or
        // one whose slot was taken meanwhile, records them by key.
        let same = shortcut.matches(generation: generation, route: decision.route, http10: clientIsHTTP10)
        do {
            let route = handle.routeName(decision.route)
            if !same {
                shortcut = InventoryShortcut(generation: generation, route: decision.route, http10: clientIsHTTP10)
                shortcut.routeHash = DecisionRecord.nameHash(route)
            }
            routeHash = shortcut.routeHash
            let callers = inventory.callers
            if !(same && InventoryShortcut.count(callers, shortcut.caller, shortcut.callerHash, now: now)) {
                inventory.key.start(route: route)
                inventory.key.network = network
                let slot = callers.record(inventory.key, now: now)
                shortcut.caller = slot
                shortcut.callerHash = slot[HeavyHitterTable.Word.hash]
            }
            if pinned { shortcut.caller.unsafelyUnwrapped[HeavyHitterTable.Word.pinned] &+= 1 }

            // Host and client rows through their kept slots when this request names the same
            // host and product as the one that recorded them (compared, not hashed).
            let prefix = route.count &+ 1
            let hosts = inventory.hosts
            if !(same && InventoryShortcut.countIfText(hosts, shortcut.host, shortcut.hostHash, prefix: prefix,
                                                       part: view.host, foldingCase: true, now: now)) {
                inventory.key.start(route: route)
                inventory.key.separator()
                inventory.key.appendLowercased(view.host)
                let slot = hosts.record(inventory.key, now: now)
                shortcut.host = slot
                shortcut.hostHash = slot[HeavyHitterTable.Word.hash]
            }

            // The shortcut first: the SNI name (a String) is read only to record its row the
            // long way. Without SNI there is no row, and the connection remembers that.
            if tlsVersion.utf8CodeUnitCount > 0 && !(same && shortcut.noServerName) {
                let serverNames = inventory.serverNames
                if !(same && InventoryShortcut.count(serverNames, shortcut.serverName, shortcut.serverNameHash, now: now)) {
                    if let name = tlsServerName {
                        inventory.key.start(route: route)
                        inventory.key.separator()
                        var copy = name
                        copy.withUTF8 { bytes in
                            // Any client's ClientHello: OpenSSL refuses only NUL and length,
                            // and an escape sequence here reached `switchyard inventory`'s
                            // terminal. A name is letters, digits, '-', '.', '_'.
                            if InventoryKey.isServerName(UnsafeRawBufferPointer(bytes)) {
                                inventory.key.appendLowercased(UnsafeRawBufferPointer(bytes))
                            } else {
                                inventory.key.append("{invalid}")
                            }
                        }
                        let slot = serverNames.record(inventory.key, now: now)
                        shortcut.serverName = slot
                        shortcut.serverNameHash = slot[HeavyHitterTable.Word.hash]
                    } else {
                        shortcut.noServerName = true
                    }
                }
            }

            let clients = inventory.clients
            let product = InventoryKey.product(ofUserAgent: userAgent)
            if same && InventoryShortcut.countIfText(clients, shortcut.client, shortcut.clientHash, prefix: prefix,
                                                     part: product, foldingCase: false, now: now) {
                kindHash = shortcut.clientKind
            } else {
                inventory.key.start(route: route)
                inventory.key.separator()
                let productStart = inventory.key.count
                inventory.key.append(product)
                kindHash = DecisionRecord.nameHash(UnsafeRawBufferPointer(start: inventory.key.text + productStart, count: inventory.key.count - productStart))
                inventory.key.network = network
                let slot = clients.record(inventory.key, now: now)
                shortcut.client = slot
                shortcut.clientHash = slot[HeavyHitterTable.Word.hash]
                shortcut.clientKind = kindHash
            }

            let protocols = inventory.protocols
            if !(same && InventoryShortcut.count(protocols, shortcut.protocolRow, shortcut.protocolHash, now: now)) {
                inventory.key.start(route: route)
                inventory.key.separator()
                inventory.key.append(isH2 ? "HTTP/2" : clientIsHTTP10 ? "HTTP/1.0" : "HTTP/1.1")
                inventory.key.separator()
                if tlsVersion.utf8CodeUnitCount > 0 { inventory.key.append(tlsVersion) } else { inventory.key.append("plain") }
                let slot = protocols.record(inventory.key, now: now)
                shortcut.protocolRow = slot
                shortcut.protocolHash = slot[HeavyHitterTable.Word.hash]
            }

            inventory.key.start(route: route)
            inventory.key.separator()
            inventory.key.append(handle.backendName(decision.backend))
            inventory.key.separator()
            inventory.key.append(UnsafeRawBufferPointer(start: logLine, count: logMethodCount))
            inventory.key.separator()
            inventory.key.appendTemplate(ofPath: HeadWriter.slice(base, p.pathSpan))
            let endpoint = inventory.endpoints.record(inventory.key, now: now)
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
        let lifetime = (worker.nowNanoseconds &- startNanoseconds) / 1_000_000
        let key = inventory.key
        key.start(route: handle.routeName(decision.route))
        key.separator()
        key.append("websocket")
        let slot = inventory.table(.tunnels).record(key, now: worker.wallSeconds)
        if lifetime > slot[HeavyHitterTable.Word.longest] { slot[HeavyHitterTable.Word.longest] = lifetime }
    }
}
