import Glibc
import SwitchyardRouting
import SwitchyardSystem

/// One direction of a TCP-mode tunnel: bytes move source → pipe → destination with
/// splice(2), never entering user space.
struct SpliceRelay {
    let pipeRead: FileDescriptor
    let pipeWrite: FileDescriptor
    /// Bytes sitting in the pipe.
    var pending = 0
    var sourceEOF = false
    var destinationBlocked = false
    /// Our write side towards the destination was shut down (the half-close passed on).
    var shutDown = false
    /// The source had bytes but the pipe took none: a pipe holds 16 buffers, and splicing
    /// from a socket uses one per packet, so small packets fill it long before
    /// `pipeCapacity` bytes. Reading waits until bytes leave the pipe — listening to a
    /// source that stays readable meanwhile would spin the worker.
    var pipeFull = false
    /// Reading the source failed (a reset): what the pipe holds still goes out, then the
    /// relay is over. On Linux what arrived before a reset is read before its error.
    var sourceFailed = false
    /// Writing to the destination failed: nothing more can reach it; the pipe is dropped.
    var destinationFailed = false
    static let pipeCapacity = 64 * 1024

    init() throws(Errno) {
        (pipeRead, pipeWrite) = try Pipe.make()
    }

    /// Moves what it can; returns true if bytes moved or the stream state changed. A failed
    /// splice sets `sourceFailed` or `destinationFailed` (the tunnel decides what ends).
    mutating func pump(from source: FileDescriptor, to destination: FileDescriptor, sourceReadable: Bool) -> Bool {
        var progressed = false
        if sourceReadable && wantsSource {
            do {
                switch try Socket.splice(from: source, to: pipeWrite, count: Self.pipeCapacity - pending) {
                case .processed(0): sourceEOF = true; progressed = true
                case .processed(let n): pending += n; progressed = true
                // Nothing to read, or no buffer left in the pipe: with bytes in it, take it for
                // the latter (the bytes leaving clears it; until then they are what we wait for).
                case .wouldBlock: if pending > 0 { pipeFull = true }
                }
            } catch {
                sourceEOF = true
                sourceFailed = true
                progressed = true
            }
        }
        if pending > 0 && !destinationBlocked && !destinationFailed {
            do {
                switch try Socket.splice(from: pipeRead, to: destination, count: pending) {
                case .processed(let n):
                    pending -= n
                    if n > 0 {
                        progressed = true
                        pipeFull = false
                    }
                case .wouldBlock: destinationBlocked = true
                }
            } catch {
                destinationFailed = true
                sourceEOF = true
                pending = 0   // the pipe is closed with the tunnel
                progressed = true
            }
        }
        if sourceEOF && pending == 0 && !shutDown && !destinationFailed {
            Socket.shutdownWrite(destination)
            shutDown = true
            progressed = true
        }
        return progressed
    }

    var wantsSource: Bool { !sourceEOF && !pipeFull && pending < Self.pipeCapacity }

    func close() {
        pipeRead.close()
        pipeWrite.close()
    }
}

/// A TCP-mode connection: the backend is chosen once, when the client connects, and bytes
/// are relayed both ways until both sides have ended (half-closes pass through).
final class TCPTunnel: EventHandler, Indexed {
    private let client: FileDescriptor
    /// Strong, as `DownstreamConnection.worker` is: a checked `unowned` read costs an atomic
    /// retain and release at every use (callgrind: eight a request-and-answer through a
    /// tunnel). The cycle (the worker's list holds the tunnel) is broken by `close()`, which
    /// takes the tunnel off that list; `Worker.closeAll` closes every one.
    private let worker: Worker
    var registration = RegistrationID.none
    private var upstreamRegistration = RegistrationID.none
    private var upstream: FileDescriptor?
    private var connecting = false
    private var toUpstream: SpliceRelay
    private var toClient: SpliceRelay
    private let routeIndex: Int
    private let backend: Int
    /// The backend's name, for drain orders.
    var backendName: String { handle.table.config.backends[backend].name }
    var routeName: String { handle.table.config.routes[routeIndex].name }
    private unowned(unsafe) let handle: TableHandle
    private var tried: UInt64 = 0
    private var pool: ServerPool?
    private(set) var closed = false
    var listIndex = -1
    private var deadline: UInt64
    /// A side that hung up (or, the server, failed) while its relay's pipe was full: its
    /// registration is muted — level-triggered epoll would report the hang-up at every
    /// wait — and the pump reads it whenever it runs, until the end or the error comes.
    private var clientHungUp = false
    private var upstreamHungUp = false
    /// The server's side is over and all it sent is in the client's socket, shut down behind
    /// it: what the client still sends is read and dropped until it closes or
    /// `lingerMilliseconds` pass. Closing with the client's bytes unread would send a reset,
    /// and a reset throws away what the client's kernel has not yet acknowledged.
    private var lingering = false
    /// For the inventory: the caller, whether a cohort placed it, when it was accepted.
    private let clientAddress: ClientAddress
    private let pinned: Bool
    private let startNanoseconds = Clock.monotonicNanoseconds()

    /// Receives the upstream socket's events for the tunnel, which it reaches unretained
    /// (a checked `unowned` read was an atomic pair per event): the tunnel deregisters this
    /// side before it can go, and a tunnel that closes inside the call is kept by the loop
    /// until the batch ends (its own registration is retired).
    private final class UpstreamSide: EventHandler {
        let tunnel: Unmanaged<TCPTunnel>
        init(_ tunnel: TCPTunnel) { self.tunnel = Unmanaged.passUnretained(tunnel) }
        override func eventsReceived(_ events: UInt32) {
            tunnel._withUnsafeGuaranteedRef { $0.upstreamEventsReceived(events) }
        }
    }
    private var side: UpstreamSide?

    init(client: FileDescriptor, peer: SocketAddress, routeIndex: Int, worker: Worker) throws(Errno) {
        self.client = client
        self.worker = worker
        self.routeIndex = routeIndex
        toUpstream = try SpliceRelay()
        do { toClient = try SpliceRelay() } catch { toUpstream.close(); throw error }
        handle = worker.current
        let address: ClientAddress = peer.ipv4.map { .v4($0) } ?? peer.ipv6.map { .v6($0.0, $0.1) } ?? .unix
        let decision = handle.table.routeTCP(routeIndex: routeIndex, client: address, random: worker.nextRandom())
        backend = decision.backend
        clientAddress = address
        pinned = decision.reason == .cohort
        handle.activeRequests += 1
        deadline = Clock.monotonicMilliseconds() + worker.settings.connectTimeoutMilliseconds
    }

    /// Starts connecting to the next usable server of the chosen backend.
    func start() {
        let now = Clock.monotonicMilliseconds()
        while let pool = handle.nextServer(of: backend, tried: &tried, now: now) {
            do {
                let (fd, connected) = try Socket.connect(to: pool.address)
                let side = UpstreamSide(self)
                do {
                    upstreamRegistration = try worker.loop.register(fd, side, events: connected ? Epoll.readable : Epoll.writable)
                } catch {
                    fd.close()
                    throw error
                }
                self.side = side
                self.pool = pool
                upstream = fd
                connecting = !connected
                deadline = now + (connected ? worker.settings.tunnelIdleTimeoutMilliseconds : worker.settings.connectTimeoutMilliseconds)
                if connected { pool.succeeded(); tunnelOpened() }
                updateInterests()
                return
            } catch {
                pool.skipUntil = now + 1_000
                worker.stats.connectFailures += 1
                handle.counters[backend].connectFailures += 1
                connectFailed(pool, error)
            }
        }
        worker.stats.noServer += 1
        close()
    }

    /// A connect that failed: counted against the server as on the HTTP path (ejected after
    /// three in a row, so a dead server is not tried by every new client), and told within
    /// the worker's budget of lines anyone who can connect could cause.
    private func connectFailed(_ pool: ServerPool, _ error: Error) {
        worker.clientErrorLog("tcp upstream \(pool.label): \(error)")
        if pool.failed(now: Clock.monotonicMilliseconds()) {
            worker.errorLog.error("server \(pool.label) ejected for \(ServerPool.ejectionMilliseconds / 1000) s after \(ServerPool.ejectAfterFailures) failures in a row")
        }
    }

    private func tunnelOpened() {
        worker.stats.openTunnels += 1
        handle.counters[backend].openTunnels += 1
        handle.counters[backend].record(status: 200, microseconds: 0, nowMilliseconds: Clock.monotonicMilliseconds())
    }

    override func eventsReceived(_ events: UInt32) {
        if lingering {
            if events & Epoll.error != 0 || !Lingering.discard(client, scratch: worker.cipherScratch) { close() }
            return
        }
        // A client that resets is gone: while connecting there is nothing to pass on yet,
        // and later its reset would be reported again and again while its pipe is full.
        if events & Epoll.error != 0 || (connecting && events & Epoll.hangUp != 0) {
            close()
            return
        }
        if events & Epoll.hangUp != 0 && !toUpstream.wantsSource && !clientHungUp {
            worker.loop.mute(registration)
            clientHungUp = true
        }
        pump(clientReadable: events & (Epoll.readable | Epoll.hangUp | Epoll.error) != 0, upstreamReadable: false,
             clientWritable: events & Epoll.writable != 0, upstreamWritable: false)
    }

    private func upstreamEventsReceived(_ events: UInt32) {
        guard let upstream else { return }
        if connecting {
            let err = Socket.takeError(upstream)
            if err != 0 {
                worker.loop.deregister(upstreamRegistration)
                upstream.close()
                self.upstream = nil
                pool?.skipUntil = Clock.monotonicMilliseconds() + 1_000
                worker.stats.connectFailures += 1
                handle.counters[backend].connectFailures += 1
                if let pool { connectFailed(pool, Errno(code: err, call: "connect")) }
                start()
                return
            }
            connecting = false
            pool?.succeeded()
            tunnelOpened()
            // From the connect's deadline to the tunnel's idle one (a pump that moves
            // nothing leaves the deadline as it is).
            deadline = Clock.monotonicMilliseconds() + worker.settings.tunnelIdleTimeoutMilliseconds
        }
        if events & (Epoll.hangUp | Epoll.error) != 0 && !toClient.wantsSource && !upstreamHungUp {
            // Nothing more can be written to it either: let a write find that out.
            worker.loop.mute(upstreamRegistration)
            upstreamHungUp = true
            toUpstream.destinationBlocked = false
        }
        pump(clientReadable: false, upstreamReadable: events & (Epoll.readable | Epoll.hangUp | Epoll.error) != 0,
             clientWritable: false, upstreamWritable: events & Epoll.writable != 0)
    }

    private func pump(clientReadable: Bool, upstreamReadable: Bool, clientWritable: Bool, upstreamWritable: Bool) {
        guard !closed, !lingering else { return }
        guard let upstream, !connecting else {
            // Still connecting: leave the client's bytes in its socket (back-pressure).
            updateInterests()
            return
        }
        if clientWritable { toClient.destinationBlocked = false }
        if upstreamWritable { toUpstream.destinationBlocked = false }
        var moved = false
        var readClient = clientReadable || clientHungUp
        var readUpstream = upstreamReadable || upstreamHungUp
        while true {
            let a = toUpstream.pump(from: client, to: upstream, sourceReadable: readClient)
            let b = toClient.pump(from: upstream, to: client, sourceReadable: readUpstream)
            readClient = clientHungUp
            readUpstream = upstreamHungUp
            if !a && !b { break }
            moved = true
        }
        // The client failed (reading or writing it): nothing more can reach it. The server
        // failed: what it sent before goes to the client first, then the tunnel ends; its
        // other direction just stops (the client's further bytes have nowhere to go).
        if toUpstream.sourceFailed || toClient.destinationFailed {
            close()
            return
        }
        if toClient.sourceFailed && toClient.pending == 0 {
            startLingering()
            return
        }
        // Idle is idle: an event that moved nothing does not push the deadline (events
        // that repeat without progress would otherwise keep a stuck tunnel open for ever).
        if moved { deadline = Clock.monotonicMilliseconds() + worker.settings.tunnelIdleTimeoutMilliseconds }
        if toUpstream.shutDown && toClient.shutDown {
            close()   // both ends passed on: the client's side was read to its end
            return
        }
        if toUpstream.destinationFailed && toClient.shutDown {
            startLingering()   // the client may still be sending what the server took no more of
            return
        }
        updateInterests()
    }

    /// The server's side is over and the client's pipe empty (see `lingering`).
    private func startLingering() {
        endUpstream()
        if !toClient.shutDown {
            Socket.shutdownWrite(client)
            toClient.shutDown = true
        }
        // Muted for a hang-up: both directions are shut, the client's end (its FIN) has
        // arrived, so all it sent is in the socket already — possibly unread, left there while
        // the pipe toward the server was full. Read to that end, then close: no reset.
        if clientHungUp {
            while case .processed(let n)? = try? client.receive(into: worker.cipherScratch), n > 0 {}
            close()
            return
        }
        lingering = true
        deadline = Clock.monotonicMilliseconds() + worker.settings.lingerMilliseconds
        worker.loop.setInterest(registration, Epoll.readable)
    }

    /// Closes the upstream socket, if any (its counters count open tunnels).
    private func endUpstream() {
        guard let upstream else { return }
        if !connecting {
            worker.stats.openTunnels -= 1
            handle.counters[backend].openTunnels -= 1
        }
        worker.loop.deregister(upstreamRegistration)
        upstream.close()
        self.upstream = nil
    }

    private func updateInterests() {
        var clientEvents: UInt32 = 0
        var upstreamEvents: UInt32 = 0
        if connecting {
            upstreamEvents = Epoll.writable
        } else if upstream != nil {
            if toUpstream.wantsSource { clientEvents |= Epoll.readable }
            if toClient.wantsSource { upstreamEvents |= Epoll.readable }
            if toClient.destinationBlocked { clientEvents |= Epoll.writable }
            if toUpstream.destinationBlocked { upstreamEvents |= Epoll.writable }
        }
        worker.loopRef._withUnsafeGuaranteedRef { loop in
            loop.setInterest(registration, clientEvents)
            if upstream != nil { loop.setInterest(upstreamRegistration, upstreamEvents) }
        }
    }

    func tick(now: UInt64) {
        guard now >= deadline, !closed else { return }
        if connecting, let upstream {
            worker.loop.deregister(upstreamRegistration)
            upstream.close()
            self.upstream = nil
            worker.errorLog.error("tcp upstream \(pool?.label ?? "?"): connect timed out")
            start()
        } else {
            close()
        }
    }

    func close() {
        guard !closed else { return }
        closed = true
        endUpstream()
        worker.loop.deregister(registration)
        client.close()
        toUpstream.close()
        toClient.close()
        side = nil
        worker.inventory.recordTCPConnection(route: handle.routeName(routeIndex), client: clientAddress, pinned: pinned,
                                             milliseconds: (Clock.monotonicNanoseconds() &- startNanoseconds) / 1_000_000,
                                             now: worker.wallSeconds)
        handle.activeRequests -= 1
        if handle.activeRequests == 0 { worker.tableReleased(handle) }
        worker.tunnelClosed(self)
    }
}
