import Dispatch
import CSwitchyardShims
import Foundation
import Glibc
import SwitchyardRouting
import SwitchyardSystem
import SwitchyardTLS

/// A running data plane: worker threads with their event loops and listeners.
///
/// Lifecycle: `init` binds every listener of every worker and opens the logs — if anything
/// fails, nothing has started; `start` runs the workers; `publish` swaps route tables;
/// `shutdown` drains and stops.
public final class Proxy: @unchecked Sendable {
    public let settings: ProxySettings
    private let workers: [Worker]
    let errorLog: ErrorLog
    private let stopped = DispatchGroup()
    /// Serialises `publish` and `shutdown` callers (admin thread, signal thread, tests).
    let control = NSLock()
    /// The table in force. Read from any thread — the admin's commands, the metrics
    /// listener, the comparer, the guards — so it sits behind a lock of its own (`publish`
    /// replaces it; a reference read while being replaced could be freed under the reader).
    public var table: RouteTable { tableLock.withLock { current } }
    private var current: RouteTable
    private let tableLock = NSLock()
    /// Routes whose hold ended and whose parked writes are still being released, by name
    /// (`DrainGate`; under `control`).
    var drainingGates: [String: DrainGate] = [:]
    /// The address each `listen http` line is bound to, in file order (port 0 resolved).
    public private(set) var httpAddresses: [SocketAddress] = []
    /// The address each `listen https` line is bound to, in file order.
    public private(set) var httpsAddresses: [SocketAddress] = []
    /// The bound address of each tcp route's listener, by route name.
    public private(set) var tcpAddresses: [String: SocketAddress] = [:]
    /// Shared by every worker's `AccessLog`; replaced by `reopenLogs` (under `control`).
    var accessLogFD: FileDescriptor?
    /// Where the access log is written (nil: off), for `reopenLogs`.
    let accessLogPath: String?
    private var health: HealthChecker!
    /// Every listening socket of every worker, named "listen N ADDRESS" (N: the `listen`
    /// line's index; "systemd listen …" for socket activation's): what an upgrade hands to
    /// the next process.
    public private(set) var listeningSockets: [(name: String, fd: FileDescriptor)] = []
    /// The ports of the HTTP and HTTPS listeners whose sockets close with this process (not
    /// systemd's): shutdown waits for the handshakes begun on them (`HandshakeGate`).
    private(set) var handshakePorts: Set<UInt16> = []

    /// `inherited`: listening sockets to use instead of binding (an upgrade's or systemd's);
    /// the ones no `listen` line matches are closed, and said so in the error log.
    public init(table: RouteTable, settings: ProxySettings, errorLog: ErrorLog = .standardError,
                inherited: InheritedListeners = InheritedListeners()) throws {
        // A peer that vanished must be an EPIPE on the write, never a signal that kills the
        // process: the proxy ignores SIGPIPE itself rather than trusting its host program to.
        sy_ignore_sigpipe()
        var settings = settings
        settings.apply(table.config.tuning)
        self.settings = settings
        current = table
        self.errorLog = errorLog
        if let clash = AddressProblems.shared(table.config).first { throw ProxyError.sharedAddress("line \(clash.listener.line): \(clash.message)") }
        let servers = try ResolvedServers.resolve(table.config)
        Self.warnAboutUnverifiedTLS(table.config, errorLog)
        let accessPath = settings.accessLogPath ?? table.config.accessLogPath
        accessLogPath = accessPath == "off" ? nil : accessPath
        if let accessLogPath { accessLogFD = try AccessLog.open(path: accessLogPath) }
        var workers: [Worker] = []
        for i in 0..<settings.workers {
            workers.append(try Worker(index: i, settings: settings, table: table, servers: servers,
                                      errorLog: errorLog, accessLogFD: accessLogFD))
        }
        self.workers = workers
        let workerList = workers
        health = HealthChecker(errorLog: errorLog) { key, up in
            for worker in workerList { worker.loop.execute { worker.setHealth(key, healthy: up) } }
        }
        health.update(config: table.config, servers: servers)
        do {
            var inherited = inherited
            try bindListeners(&inherited)
            for address in inherited.closeLeftovers() {
                errorLog.warning("inherited listening socket \(address) matches no listen line: closed")
            }
        } catch {
            accessLogFD?.close()
            throw error
        }
    }

    /// Binds each listener once per worker with SO_REUSEPORT. With port 0 the first bind
    /// picks the port and the other workers bind that same port.
    private func bindListeners(_ inherited: inout InheritedListeners) throws {
        var contexts = try ListenerCertificates.contexts(for: table.config).makeIterator()
        for (configIndex, listener) in table.config.listeners.enumerated() {
            let kind: Listener.Kind
            switch listener.kind {
            case .http: kind = .http(h2c: listener.h2c)
            case .tcp: kind = .tcp(route: listener.routeName ?? "")
            case .https: kind = .https(contexts.next()!)
            }
            var address = try SocketAddress.resolve(host: listener.endpoint.host, port: listener.endpoint.port)
            // Inherited sockets first: worker i takes socket i; with fewer sockets than
            // workers (systemd passes one per address) the rest share them through dup; with
            // more (the old process had more workers) the extra ones go round the workers,
            // so that no socket with a queue is left unread.
            let (taken, keptBySystemd) = inherited.take(matching: address)
            let name = keptBySystemd ? InheritedListeners.systemdPrefix + "listen" : "listen"
            for (i, worker) in workers.enumerated() {
                let fd: FileDescriptor
                do {
                    if taken.isEmpty {
                        fd = try Socket.listen(on: address, reusePort: true)
                    } else if i < taken.count {
                        fd = taken[i]
                    } else {
                        fd = FileDescriptor(rawValue: try syscallValue("fcntl(F_DUPFD_CLOEXEC)") {
                            fcntl(taken[i % taken.count].rawValue, F_DUPFD_CLOEXEC, 0)
                        })
                    }
                } catch {
                    throw ProxyError.bind(address: "\(listener.endpoint)", underlying: error)
                }
                if address.port == 0 { address = try Socket.localAddress(fd) }
                try worker.addListener(fd, kind: kind, configIndex: configIndex, keptBySystemd: keptBySystemd)
                listeningSockets.append(("\(name) \(configIndex) \(address)", fd))
            }
            for (j, fd) in taken.dropFirst(workers.count).enumerated() {
                try workers[j % workers.count].addListener(fd, kind: kind, configIndex: configIndex, keptBySystemd: keptBySystemd)
                listeningSockets.append(("\(name) \(configIndex) \(address)", fd))
            }
            if listener.kind != .tcp && !keptBySystemd { handshakePorts.insert(address.port) }
            switch listener.kind {
            case .http: httpAddresses.append(address)
            case .tcp: tcpAddresses[listener.routeName ?? ""] = address
            case .https: httpsAddresses.append(address)
            }
        }
    }

    /// `noverify` must be explicit, and is said out loud at start (and by status).
    static func warnAboutUnverifiedTLS(_ config: RoutesConfig, _ errorLog: ErrorLog) {
        for backend in config.backends {
            for server in backend.servers where server.tls && !server.verify {
                errorLog.warning("backend \(backend.name) server \(server.endpoint): TLS certificate verification is OFF (noverify)")
            }
        }
    }

    public func start() {
        for worker in workers {
            stopped.enter()
            let thread = Thread { [stopped] in
                TLSHeap.attachToCurrentThread()
                worker.loop.run()
                worker.closeAll()
                worker.loop.releaseRetired()
                TLSHeap.detachFromCurrentThread()
                stopped.leave()
            }
            thread.name = "switchyard-worker-\(worker.index)"
            thread.start()
        }
        health.start()
        warmInventoryCopies()
    }

    /// Runs `body` on every worker's loop and waits until all ran it. Not for a loop's thread.
    func onEveryWorker<T: Sendable>(_ body: @escaping @Sendable (Worker) -> T) -> [T] {
        on(workers, body)
    }

    /// Runs `body` on every worker's loop with the worker's index, and waits until all ran it.
    func onEveryWorkerIndexed<T: Sendable>(_ body: @escaping @Sendable (Int, Worker) -> T) -> [T] {
        on(workers) { worker in body(worker.index, worker) }
    }

    /// Runs `body` on the first worker's loop and waits for its result.
    func onFirstWorker<T: Sendable>(_ body: @escaping @Sendable (Worker) -> T) -> T {
        on([workers[0]], body)[0]
    }

    private func on<T: Sendable>(_ targets: [Worker], _ body: @escaping @Sendable (Worker) -> T) -> [T] {
        let results = ResultBox<T>(count: targets.count)
        let group = DispatchGroup()
        for (i, worker) in targets.enumerated() {
            group.enter()
            worker.loop.execute {
                results.set(i, body(worker))
                group.leave()
            }
        }
        group.wait()
        return results.values
    }

    /// Publishes a new table to every worker and returns once every worker has installed it:
    /// from then on, every request whose head is parsed uses it. Server names are resolved
    /// first, so a failure changes nothing.
    ///
    /// `reloadingCertificates` (a reload): the `listen https` certificates and keys are read
    /// again — renewed files take effect for new connections, open ones keep theirs. Any
    /// unreadable or invalid file throws before anything changed.
    public func publish(_ newTable: RouteTable, reloadingCertificates: Bool = false) throws {
        control.lock()
        defer { control.unlock() }
        let servers = try ResolvedServers.resolve(newTable.config)
        let contexts = reloadingCertificates ? try ListenerCertificates.contexts(for: newTable.config) : nil
        health.update(config: newTable.config, servers: servers)
        let checked = Set(health.states.keys)
        let gates = drainGates(from: table, to: newTable)
        _ = onEveryWorker { worker in
            if let contexts { worker.installCertificates(contexts, listeners: newTable.config.listeners) }
            worker.install(newTable, servers: servers, reloaded: reloadingCertificates, checked: checked, drainGates: gates)
        }
        tableLock.withLock { current = newTable }
    }

    /// Counters summed over the workers.
    public func stats() -> WorkerStats {
        onEveryWorker { $0.stats }.reduce(WorkerStats(), +)
    }

    /// Each worker's own counters, in worker order (tests: proving several workers served).
    public func workerStatsForTest() -> [WorkerStats] {
        onEveryWorker { $0.stats }
    }

    /// Descriptors registered with the workers' loops (listeners, connections, upstream
    /// connections): a leak shows here.
    public func registeredDescriptors() -> Int {
        onEveryWorker { $0.loop.registrationCount }.reduce(0, +)
    }

    /// The most I/O buffers the workers held at once since the last call (summed over
    /// workers); resets the mark. Tests bound a transfer's memory with it.
    public func takeBufferHighWater() -> Int {
        onEveryWorker { worker in
            let peak = worker.buffers.peakOutstanding
            worker.buffers.resetPeak()
            return peak
        }.reduce(0, +)
    }

    /// HTTP/2 connection and stream objects alive on the workers, summed: 0 and 0 once every
    /// HTTP/2 client is gone (a reference cycle would keep them).
    public func liveHTTP2ForTest() -> (connections: Int, streams: Int) {
        let each: [[Int]] = onEveryWorker { worker in [worker.liveHTTP2.connections, worker.liveHTTP2.streams] }
        return (each.reduce(0) { $0 + $1[0] }, each.reduce(0) { $0 + $1[1] })
    }

    /// Client connections reduced to idle-table entries, summed over the workers.
    public func idleConnectionsForTest() -> Int {
        onEveryWorker { $0.idle.count }.reduce(0, +)
    }

    /// What the workers hold right now, summed: full I/O buffers, small head buffers and
    /// request scratches (parsers) handed out. Tests prove what a waiting head costs.
    public func heldForTest() -> (buffers: Int, smallBuffers: Int, scratches: Int) {
        let each: [[Int]] = onEveryWorker { worker in
            [worker.buffers.outstanding, worker.buffers.smallOutstanding, worker.scratchesOut]
        }
        var total = (buffers: 0, smallBuffers: 0, scratches: 0)
        for counts in each {
            total.buffers += counts[0]
            total.smallBuffers += counts[1]
            total.scratches += counts[2]
        }
        return total
    }

    /// Per-backend counters summed over workers, by backend name.
    public func backendSnapshots() -> [String: BackendSnapshot] {
        var total: [String: BackendSnapshot] = [:]
        for map in onEveryWorker({ $0.backendSnapshots }) {
            for (name, snapshot) in map { total[name] = total[name].map { $0 + snapshot } ?? snapshot }
        }
        return total
    }

    /// Servers available (healthy and not ejected) and in total, per backend name, as the
    /// first worker sees them (active health is the same in every worker).
    public func serverHealth() -> [String: (up: Int, total: Int)] {
        onFirstWorker { $0.serverHealth }
    }

    /// Tunnels close after `milliseconds` (0: now), in every worker; `backends` holds
    /// "route/backend" pairs, or "*/backend" for every route.
    public func drainTunnels(to backends: Set<String>, afterMilliseconds milliseconds: UInt64) {
        let (sum, overflow) = Clock.monotonicMilliseconds().addingReportingOverflow(milliseconds)
        let deadline = overflow ? UInt64.max : sum
        _ = onEveryWorker { $0.drainTunnels(to: backends, deadline: deadline) }
    }

    /// Closes idle upstream connections to `backend` in every worker.
    public func closeIdleConnections(to backend: String) {
        _ = onEveryWorker { $0.closeIdleConnections(to: backend) }
    }

    /// Idle upstream connections per server, summed over workers (tests, status).
    public func idleUpstreamConnections() -> [String: Int] {
        var total: [String: Int] = [:]
        for map in onEveryWorker({ $0.idleUpstreams }) {
            for (k, v) in map { total[k, default: 0] += v }
        }
        return total
    }

    /// How often the health-check thread went to sleep with no check due (tests: without
    /// health lines it sleeps until the routes change).
    public func healthIdleSleepsForTest() -> Int { health.idleSleepCount }

    /// Runs `body` on the first worker's thread (tests: allocation counting).
    public func runOnFirstWorkerForTest<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T {
        onFirstWorker { _ in body() }
    }

    /// Graceful shutdown: stop accepting, let requests in flight finish for up to
    /// `graceMilliseconds`, then close what is left and stop the workers.
    ///
    /// `listenersHandedOver`: an upgrade gave the listening sockets to the process that
    /// serves now. They are not ours to hold (`HandshakeGate`), and closing our descriptors
    /// resets nothing.
    public func shutdown(graceMilliseconds: Int = 10_000, listenersHandedOver: Bool = false) {
        control.lock()
        defer { control.unlock() }
        let holding = !listenersHandedOver && !handshakePorts.isEmpty
        _ = onEveryWorker { $0.beginDrain(holdingHandshakes: holding) }
        let start = Clock.monotonicMilliseconds()
        let deadline = start + UInt64(graceMilliseconds)
        // Requests in flight finish. Clients that connected before the hold and had not
        // been accepted yet are accepted as they speak, and answered with `Connection: close`.
        // A handshake the client never completes (it vanished after its SYN) would stay for
        // a minute of SYN-ACKs resent: the wait for handshakes ends after a few seconds, by
        // when a client that did complete one has been handed over (deferral is off).
        let handshakesEnd = start + Self.handshakeWaitMilliseconds
        waitForDrain(until: deadline) { [handshakePorts] in
            !holding || Clock.monotonicMilliseconds() >= handshakesEnd || HandshakeGate.inProgress(ports: handshakePorts) == 0
        }
        // Then the listeners close, and a connection that was still in their queues drains too.
        _ = onEveryWorker { $0.closeListeners() }
        waitForDrain(until: deadline) { true }
        health.stop()
        for worker in workers { worker.loop.stop() }
        stopped.wait()
        accessLogFD?.close()
        accessLogFD = nil
    }

    /// How long a shutdown waits at most for handshakes begun before it (`HandshakeGate`):
    /// the kernel resends a SYN-ACK after 1 s, then 2 s more.
    static let handshakeWaitMilliseconds: UInt64 = 3_000

    /// Waits until no connection is open and `alsoDone` holds, or until `deadline`.
    private func waitForDrain(until deadline: UInt64, alsoDone: () -> Bool) {
        while Clock.monotonicMilliseconds() < deadline {
            let open = onEveryWorker { $0.connectionCount }.reduce(0, +)
            if open == 0 && alsoDone() { return }
            usleep(20_000)
        }
    }

    public func waitUntilStopped() { stopped.wait() }
}

/// What the proxy refuses to start with.
public enum ProxyError: Error, CustomStringConvertible {
    case bind(address: String, underlying: Errno)
    case tls(address: String, message: String)
    /// Two listeners on one address once resolved (`AddressProblems.shared`).
    case sharedAddress(String)

    public var description: String {
        switch self {
        case .bind(let address, let underlying):
            return "cannot listen on \(address): \(underlying)"
        case .tls(let address, let message):
            return "listen https \(address): \(message)"
        case .sharedAddress(let message):
            return message
        }
    }
}

/// Collects one result per worker from their threads.
final class ResultBox<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [T?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ value: T) { lock.lock(); slots[i] = value; lock.unlock() }
    var values: [T] { lock.lock(); defer { lock.unlock() }; return slots.map { $0! } }
}
