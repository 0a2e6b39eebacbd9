import CSwitchyardShims
import Glibc
import SwitchyardHTTP
import SwitchyardRouting
import SwitchyardSystem
import SwitchyardTLS

/// One worker: an event loop on its own thread with its own listeners, connections, buffer
/// pool, upstream pools, route table handle and access log. Nothing here is shared with
/// other workers; everything is touched on the loop's thread only (cross-thread orders
/// arrive through `loop.execute`).
final class Worker: @unchecked Sendable {
    let index: Int
    let loop: EventLoop
    let settings: ProxySettings
    let limits: HTTPLimits
    let buffers: BufferPool
    /// `buffers`, unretained, for giving a buffer back: reached through `worker.buffers`, the
    /// pool was retained and released around every `give` (callgrind: two pairs an HTTP/2
    /// request in `finishExchange` alone). The worker holds its pool for its whole life.
    let buffersRef: Unmanaged<BufferPool>
    /// `loop`, unretained, for the calls an exchange makes on every request (interest
    /// changes): the worker holds its loop for its whole life.
    let loopRef: Unmanaged<EventLoop>
    /// nghttp2's heap for this worker's HTTP/2 sessions (free lists, trimmed on the tick).
    let h2Memory = H2Memory()
    private var ticksSinceH2Trim = 0
    let errorLog: ErrorLog
    let accessLog: AccessLog?
    /// `accessLog`, unretained, for the line every request writes (the worker holds it for
    /// its whole life; a reopen swaps its file, not the object).
    let accessLogRef: Unmanaged<AccessLog>?
    /// Set by `install` (Worker+UpstreamPools.swift).
    var current: TableHandle {
        didSet { currentRef = Unmanaged.passUnretained(current) }
    }
    /// `current`, unretained: a request pins it without the atomic retain that reading
    /// `current` costs (see `DownstreamConnection.startExchange`).
    private(set) var currentRef: Unmanaged<TableHandle>
    /// Tables replaced while requests still used them; dropped when their last request ends.
    var retired: [TableHandle] = []
    /// Pools by server identity, reused across tables so keep-alive connections survive a
    /// change that keeps the server.
    var poolsByAddress: [String: ServerPool] = [:]
    /// Per-backend counters by backend name: they survive table changes.
    var backendCounters: [String: BackendCounters] = [:]
    /// Per route and backend, for `/metrics` (see `WorkerMetrics`).
    let metrics = WorkerMetrics()
    /// Callers, hosts, clients, endpoints… and the decision log (see `WorkerInventory`).
    let inventory: WorkerInventory
    /// Active health by pool key, as the health checker last reported it.
    var healthByKey: [String: Bool] = [:]
    /// Tunnels to these backends are closed once the deadline (monotonic ms) passes.
    private var drainOrders: [(backends: Set<String>, deadline: UInt64)] = []
    var stats = WorkerStats()
    private(set) var draining = false
    private(set) var connections: [DownstreamConnection] = []
    /// HTTP/1.1 connections idle for a while, each reduced to an entry here.
    private(set) lazy var idle = IdleTable(worker: self)
    /// Parked writes of this worker (write hold), in arrival order.
    private(set) lazy var hold = HoldQueue(limits: settings.hold.perWorker(workers: settings.workers))
    /// The mirror's connections, bounds, copies in flight and outbox; made by the first copy.
    private(set) var mirror: WorkerMirror?
    var mirrorState: WorkerMirror {
        if let mirror { return mirror }
        let made = WorkerMirror(loop: loop, buffers: buffers, workers: settings.workers, limits: limits,
                                deadlineMilliseconds: settings.mirrorTimeoutMilliseconds)
        mirror = made
        return made
    }
    private var tunnels: [TCPTunnel] = []
    private(set) var http2Connections: [H2Connection] = []
    /// HTTP/2 connection and stream objects alive (counted in their init and deinit, which
    /// run on this worker's thread): tests prove that closed ones are freed.
    var liveHTTP2 = (connections: 0, streams: 0)
    private var listeners: [Listener] = []
    private var lastSessionFlush: UInt64 = 0
    private var random: UInt64

    init(index: Int, settings: ProxySettings, table: RouteTable, servers: ResolvedServers,
         errorLog: ErrorLog, accessLogFD: FileDescriptor?) throws(Errno) {
        self.index = index
        self.settings = settings
        limits = settings.httpLimits
        self.errorLog = errorLog
        loop = try EventLoop()
        buffers = BufferPool(bufferSize: settings.bufferSize, preallocate: 16)
        buffersRef = Unmanaged.passUnretained(buffers)
        loopRef = Unmanaged.passUnretained(loop)
        inventory = WorkerInventory(decisionCapacity: (settings.decisionLogRecords + settings.workers - 1) / settings.workers)
        accessLog = accessLogFD.map { AccessLog(fd: $0) }
        accessLogRef = accessLog.map { Unmanaged.passUnretained($0) }
        var seed: UInt64 = 0
        if sy_getrandom(&seed, 8) != 8 { seed = Clock.monotonicNanoseconds() ^ UInt64(index) }
        random = seed
        current = TableHandle(table: table, servers: [], counters: [])
        currentRef = Unmanaged.passUnretained(current)
        connections.reserveCapacity(1024)
        current = makeHandle(table, servers)
        currentRef = Unmanaged.passUnretained(current)   // observers do not run in an init
        loop.onTick = { [unowned self] now in self.tick(now) }
    }

    private let scratchPool = ObjectStack<ExchangeScratch>(capacity: 256)
    /// Where HTTP/2 streams assemble a response head; sized so that any head the response
    /// parser accepts fits.
    /// Made on first use (a worker that never serves HTTP/2 holds none) and unretained
    /// (`h2ResponseHeadRef`): the worker holds it for its whole life, and every HTTP/2
    /// answer writes its head here (the lazy property's read was an atomic pair each).
    var h2ResponseHead: H2ResponseHead { h2ResponseHeadRef.takeUnretainedValue() }
    var h2ResponseHeadRef: Unmanaged<H2ResponseHead> {
        if h2ResponseHeadStorage == nil {
            h2ResponseHeadStorage = H2ResponseHead(maxFields: settings.maxHeaderCount + 8, maxNameBytes: settings.maxHeaderBytes)
        }
        return Unmanaged.passUnretained(h2ResponseHeadStorage.unsafelyUnwrapped)
    }
    private var h2ResponseHeadStorage: H2ResponseHead?
    var cipherScratch: UnsafeMutableRawBufferPointer { loop.cipherScratch }

    /// Where HTTP/2 connections put what they read from their clients while nghttp2 parses
    /// it. Not `cipherScratch`: nghttp2's callbacks run exchanges, and an exchange may read
    /// its TLS upstream through `cipherScratch` mid-parse (a write that found the server gone
    /// reads the answer it left), which overwrote the client's frames not yet parsed.
    /// One serves every connection: a connection's input is parsed to the end before the
    /// next is read. Made on first use (a worker that never serves HTTP/2 holds none).
    var h2InputScratch: UnsafeMutableRawBufferPointer {
        if let h2InputStorage { return h2InputStorage }
        let made = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 16)
        h2InputStorage = made
        return made
    }
    private var h2InputStorage: UnsafeMutableRawBufferPointer?

    deinit { h2InputStorage?.deallocate() }

    /// Scratches handed out and not given back (tests: a waiting head holds none).
    private(set) var scratchesOut = 0

    @inline(__always)
    func takeScratch() -> ExchangeScratch {
        scratchesOut += 1
        return scratchPool.pop() ?? ExchangeScratch(limits: limits)
    }

    @inline(__always)
    func giveScratch(_ scratch: consuming ExchangeScratch) {
        scratchesOut -= 1
        scratch.reset()
        scratchPool.push(scratch)
    }

    /// splitmix64: cheap, per worker, good enough to mint sticky-cookie tokens.
    @inline(__always)
    func nextRandom() -> UInt64 {
        random &+= 0x9E37_79B9_7F4A_7C15
        var z = random
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    // MARK: listeners and connections

    /// `keptBySystemd`: socket activation's socket, which outlives this process.
    func addListener(_ fd: FileDescriptor, kind: Listener.Kind, configIndex: Int, keptBySystemd: Bool = false) throws(Errno) {
        // Our writes are whole messages already batched in a buffer; Nagle would only hold
        // the last segment of each back for a delayed ACK. Set on the listening socket, the
        // option is inherited by every socket accept(2) returns: no setsockopt a connection.
        try Socket.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        switch kind {
        case .http, .https:
            // HTTP and TLS clients speak first, so the kernel hands a connection over once
            // its first bytes are in: one wake-up a connection instead of two (accept, then
            // the head or ClientHello), and a client that says nothing is let through only
            // after a second (one SYN-ACK resent), then meets the head timeout as before.
            // Not for TCP mode: there the server may speak first. Harmless if refused.
            try? Socket.setOption(fd, Int32(IPPROTO_TCP), TCP_DEFER_ACCEPT, 1)
        case .tcp:
            break
        }
        // A socket inherited from a process stopped in the middle of its shutdown may still
        // drop new handshakes (`HandshakeGate.hold`).
        HandshakeGate.release(fd)
        let listener = Listener(fd: fd, kind: kind, worker: self, configIndex: configIndex, keptBySystemd: keptBySystemd)
        listener.registration = try loop.register(fd, listener, events: Epoll.readable)
        listeners.append(listener)
    }

    var atConnectionLimit: Bool { connectionCount >= settings.maxConnectionsPerWorker }

    /// The networks whose forwarding fields listener `index` believes: its own
    /// `trust-forwarded` list, or the file's.
    func trustForwarded(listener index: Int) -> [CIDR] {
        let config = current.table.config
        // A reload cannot add or remove listeners, but stay safe if the index is stale.
        let own = index >= 0 && index < config.listeners.count ? config.listeners[index].trustForwarded : nil
        return own ?? config.trustForwarded
    }

    func accepted(_ fd: FileDescriptor, peer: SocketAddress, from listener: Listener) {
        // TCP_NODELAY comes with the socket, inherited from the listener (`addListener`).
        var session: TLSSession?
        if case .https(let context) = listener.kind {
            do {
                session = try TLSSession(server: context)
            } catch {
                errorLog.error("TLS session: \(error)")
                fd.close()
                return
            }
        }
        switch listener.kind {
        case .http, .https:
            let config = current.table.config
            // A reload cannot add or remove listeners, but stay safe if the index is stale.
            let listenerConfig = listener.configIndex < config.listeners.count ? config.listeners[listener.configIndex] : nil
            let trustList = trustForwarded(listener: listener.configIndex)
            let client = ClientIdentity(peer: peer, trusted: trustList, listener: listener.configIndex)
            let proxyProtocol = listenerConfig?.proxyProtocol ?? false
            // A PROXY header decides who the client is: only a balancer the file trusts may
            // send one (with no trust-forwarded list, the listener itself is the trust).
            if proxyProtocol && !trustList.isEmpty && !client.trustedForwarder {
                stats.badRequests += 1
                clientErrorLog("PROXY protocol listener: \(peer.ipString) is not in trust-forwarded; closing")
                fd.close()
                return
            }
            let connection = DownstreamConnection(fd: fd, client: client, worker: self, tls: session, h2c: listener.kind.allowsH2C,
                                                  proxyProtocol: proxyProtocol)
            do {
                connection.registration = try loop.register(fd, connection, events: Epoll.readable)
            } catch {
                fd.close()
                return
            }
            connections.appendIndexed(connection)
            stats.openConnections += 1
            // Accepted during a shutdown (`HandshakeGate`): one answer, then close.
            if draining { connection.drain() }
        case .tcp(let route):
            guard let routeIndex = current.table.routeIndex(named: route) else {
                fd.close()
                return
            }
            do {
                let tunnel = try TCPTunnel(client: fd, peer: peer, routeIndex: routeIndex, worker: self)
                do {
                    tunnel.registration = try loop.register(fd, tunnel, events: 0)
                } catch {
                    tunnel.close()
                    return
                }
                tunnels.appendIndexed(tunnel)
                tunnel.start()
            } catch {
                errorLog.error("tcp accept: \(error)")
                fd.close()
            }
        }
    }

    /// New TLS contexts for the `listen https` listeners, in file order (see `Proxy.publish`;
    /// a reload cannot change the listen lines). Each socket takes the context of its own
    /// line, found by its `configIndex`: a worker's list is not the file's order when an
    /// upgrade handed over more sockets than it has workers (extras are appended), and by
    /// position one listener would get another's certificate and client-ca.
    func installCertificates(_ contexts: [TLSServerContext], listeners lines: [ListenerConfig]) {
        for listener in listeners {
            guard case .https = listener.kind, listener.configIndex < lines.count else { continue }
            let ordinal = lines[..<listener.configIndex].lazy.filter { $0.kind == .https }.count
            guard ordinal < contexts.count else { continue }
            listener.replaceContext(contexts[ordinal])
        }
    }

    func connectionClosed(_ connection: DownstreamConnection) {
        guard connections.removeIndexed(connection) else { return }
        stats.openConnections -= 1
    }

    /// Lines about misbehaving clients, within `ClientErrorLines`' budget.
    private var clientErrorLines = ClientErrorLines()

    func clientErrorLog(_ message: @autoclosure () -> String) {
        if let line = clientErrorLines.admit(message, second: Clock.monotonicMilliseconds() / 1000) { errorLog.error(line) }
    }

    /// A client socket turned out to speak HTTP/2: an `H2Connection` takes it over, with the
    /// bytes already read (`initial`, given back to the pool here).
    func startHTTP2(fd: FileDescriptor, client: ClientIdentity, tls: TLSTransport?, tlsVersion: StaticString, initial: IOBuffer?) {
        let connection = H2Connection(fd: fd, client: client, worker: self, tls: tls, tlsVersion: tlsVersion)
        do {
            connection.registration = try loop.register(fd, connection, events: Epoll.readable)
        } catch {
            fd.close()
            if let initial { buffers.give(initial) }
            return
        }
        http2Connections.appendIndexed(connection)
        stats.openConnections += 1
        stats.openH2Connections += 1
        stats.h2Connections += 1
        connection.start(initial: initial?.readable ?? UnsafeRawBufferPointer(start: nil, count: 0))
        if let initial { buffers.give(initial) }
        if draining { connection.drain() }
    }

    func http2Closed(_ connection: H2Connection) {
        guard http2Connections.removeIndexed(connection) else { return }
        stats.openConnections -= 1
        stats.openH2Connections -= 1
        // Counted as they end, by how: both only grow (a difference of counters dipped
        // while a failed connection's GOAWAY was still leaving: a reset to Prometheus).
        if connection.protocolFailed { stats.h2EndedFailed += 1 } else { stats.h2EndedClean += 1 }
    }

    func tunnelClosed(_ tunnel: TCPTunnel) {
        tunnels.removeIndexed(tunnel)
    }

    var connectionCount: Int { connections.count + idle.count + tunnels.count + http2Connections.count }

    // MARK: idle connections

    /// `connection` gives up its exchange state: the idle table takes its place in the
    /// loop, and the connection object is dropped.
    private func hibernate(_ connection: DownstreamConnection) {
        reducedSinceTrim += 1
        idle.add(connection)
        loop.replaceHandler(connection.registration, with: idle)
        connections.removeIndexed(connection)
        // Freed when this batch ends (the loop's retired list); make any stray call a no-op.
        connection.phase = .closed
    }

    /// Connections reduced and pooled heap objects released since free memory was last
    /// given back (see `tick`).
    private var reducedSinceTrim = 0
    /// Reductions after which the freed memory is given back to the kernel.
    static let reductionsWorthATrim = 64

    /// An idle connection's socket has an event: a full connection takes over from its entry.
    func wake(_ entry: IdleTable.Entry) -> DownstreamConnection {
        let connection = DownstreamConnection(waking: entry, worker: self)
        loop.replaceHandler(entry.registration, with: connection)
        connections.appendIndexed(connection)
        return connection
    }

    var currentGeneration: UInt64 { current.table.generation }

    /// The loop's clock, read once per batch of events (`EventLoop.nowMilliseconds`).
    @inline(__always) var nowMilliseconds: UInt64 { loop.nowMilliseconds }
    /// The same clock in nanoseconds: what a request's timings are taken from
    /// (`EventLoop.nowNanoseconds` says what they then mean).
    @inline(__always) var nowNanoseconds: UInt64 { loop.nowNanoseconds }
    /// The wall clock in seconds at this batch of events: the batch clock plus an offset
    /// read on each tick (`EventLoop.wallSeconds`). Every inventory row is stamped with it.
    @inline(__always) var wallSeconds: UInt64 { loop.wallSeconds }

    // MARK: time and shutdown

    private func tick(_ now: UInt64) {
        // First, for what the earlier ticks reduced: connections that hibernated or closed
        // then stayed alive until their batch of events ended (`EventLoop.releaseRetired`),
        // so only now is their memory free to give back. glibc gives back only the top of
        // the heap by itself; these objects lie below live memory. Without this, thousands of
        // connections going idle leave the process as large as when they were busy. Per
        // request nothing calls malloc, so the arena locks this takes are not contended.
        if reducedSinceTrim >= Self.reductionsWorthATrim {
            reducedSinceTrim = 0
            sy_release_free_memory()
        }
        // Backwards: a connection that closes or hibernates is swapped with the last one,
        // which was visited already.
        var i = connections.count - 1
        while i >= 0 {
            if i < connections.count {
                let connection = connections[i]
                connection.tick(now: now)
                if connection.readyToHibernate(now: now) { hibernate(connection) }
            }
            i -= 1
        }
        // Pooled buffers and scratch nobody took for a while go back (the next tick's trim
        // returns the heap they held).
        reducedSinceTrim += buffers.trim()
        reducedSinceTrim += scratchPool.releaseUnused(keeping: BufferPool.keepIdle, windowTicks: BufferPool.trimWindowTicks)
        ticksSinceH2Trim += 1
        if ticksSinceH2Trim >= BufferPool.trimWindowTicks {
            ticksSinceH2Trim = 0
            reducedSinceTrim += h2Memory.trim()
            // A handshake's blocks are small (most under 256 bytes): sixteen weigh about
            // what one pooled buffer or hibernated connection does, so a busy second of
            // handshakes does not call for giving memory back every second.
            reducedSinceTrim += TLSHeap.trimCurrentThread() / 16
        }
        idle.tick(now: now)
        i = tunnels.count - 1
        while i >= 0 {
            if i < tunnels.count { tunnels[i].tick(now: now) }
            i -= 1
        }
        i = http2Connections.count - 1
        while i >= 0 {
            if i < http2Connections.count { http2Connections[i].tick(now: now) }
            i -= 1
        }
        // Index loops: an array iterator allocates in unoptimised (test) builds.
        i = 0
        while i < listeners.count {
            listeners[i].tick(now: now)
            i += 1
        }
        accessLog?.flush()
        if !drainOrders.isEmpty { carryOutDrains(now) }
        mirror?.tick(now: now)
        // The TLS contexts' session caches are shared by every worker: the first flushes them.
        if index == 0 && now &- lastSessionFlush >= Self.sessionFlushMilliseconds {
            lastSessionFlush = now
            flushExpiredSessions()
        }
    }

    /// How often worker 0 drops expired TLS sessions (`TLSServerContext.flushExpiredSessions`).
    static let sessionFlushMilliseconds: UInt64 = 60_000

    private func flushExpiredSessions() {
        let seconds = Int(wallSeconds)
        var i = 0
        while i < listeners.count {
            if case .https(let context) = listeners[i].kind { context.flushExpiredSessions(now: seconds) }
            i += 1
        }
    }

    /// Orders tunnels (WebSocket, TCP mode) closed at `deadline`; `backends` holds
    /// "route/backend" pairs, or "*/backend" for every route.
    func drainTunnels(to backends: Set<String>, deadline: UInt64) {
        drainOrders.append((backends, deadline))
        carryOutDrains(Clock.monotonicMilliseconds())
    }

    private func carryOutDrains(_ now: UInt64) {
        var due = Set<String>()
        drainOrders.removeAll { order in
            if order.deadline <= now { due.formUnion(order.backends); return true }
            return false
        }
        guard !due.isEmpty else { return }
        // Orders name "route/backend" (a change moved the route away from the backend), or
        // "*/backend" for every route (`drain`). A later change that sends the route to the
        // backend again (`flip --drain 30s`, then `revert`) ends the first kind: tunnels
        // opened, or kept, after the revert belong to the side that is active again.
        let table = current.table
        func isDue(_ route: String, _ backend: String) -> Bool {
            if due.contains("*/\(backend)") { return true }
            guard due.contains("\(route)/\(backend)") else { return false }
            guard let index = table.routeIndex(named: route) else { return true }
            return !table.routes[index].backendsInUse.contains(backend)
        }
        for connection in connections {
            if let (route, backend) = connection.tunnelTarget, isDue(route, backend) { connection.close() }
        }
        for tunnel in tunnels where isDue(tunnel.routeName, tunnel.backendName) {
            tunnel.close()
        }
    }

    /// Stops accepting and lets connections finish their current request.
    ///
    /// `holdingHandshakes`: HTTP listeners whose socket closes with us stay open and keep
    /// accepting, but drop new handshakes (`HandshakeGate`), until `closeListeners`. Clients
    /// that had connected but not been accepted are answered, not reset by the close.
    func beginDrain(holdingHandshakes: Bool) {
        draining = true
        for listener in listeners {
            let held = holdingHandshakes && listener.holdNewHandshakes()
            listener.acceptBacklog()
            if !held { listener.close() }
        }
        // Idle connections wake up to drain like the others (close within a second, or
        // answer a request that is arriving with `Connection: close`).
        while idle.count > 0 { _ = wake(idle.remove(at: idle.count - 1)) }
        var i = connections.count - 1
        while i >= 0 {
            if i < connections.count { connections[i].drain() }
            i -= 1
        }
        i = http2Connections.count - 1
        while i >= 0 {
            if i < http2Connections.count { http2Connections[i].drain() }
            i -= 1
        }
        // Parked writes (HTTP/1.1 and HTTP/2 streams) cannot be released by a process that
        // stops: each is answered 503 "not saved" now. Left parked, they were cut at the
        // end of the grace — a clinician cannot tell a cut from "maybe saved" — and the
        // shutdown waited the whole grace for them.
        // A write that only waited behind a release's queue (`DrainGate`) would have gone
        // straight upstream without it, and nothing older of its route is sent any more:
        // it goes now, as a new write during the drain does.
        let table = current.table
        for connection in hold.take(where: { $0.joinedDrain && Proxy.isReleased($0, by: table) })
            where connection.phase == .parked {
            connection.resumeFromHold()
        }
        for connection in hold.parked where connection.phase == .parked { connection.parkExpired(.shutdown) }
        accessLog?.flush()
    }

    /// Shutdown, after the held handshakes have completed: closes the listeners that
    /// `beginDrain` left open, accepting what is in their queues first.
    func closeListeners() {
        for listener in listeners where !listener.closed {
            listener.acceptBacklog()
            listener.close()
        }
    }

    /// Closes everything that is left (the drain deadline passed).
    func closeAll() {
        while let connection = connections.last { connection.close() }
        idle.closeAll()
        while let tunnel = tunnels.last { tunnel.close() }
        while let connection = http2Connections.last { connection.close() }
        for pool in poolsByAddress.values { pool.closeIdle() }
        mirror?.closeAll()
        accessLog?.flush()
    }
}
