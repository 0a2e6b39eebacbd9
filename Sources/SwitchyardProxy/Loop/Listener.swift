import Glibc
import SwitchyardSystem
import SwitchyardTLS

/// A worker's listening socket (its own, through SO_REUSEPORT). Accepts in bursts; when the
/// process runs out of descriptors (EMFILE/ENFILE) or the worker is at its connection limit,
/// it stops listening for a moment instead of spinning on an event it cannot clear.
final class Listener: EventHandler {
    enum Kind {
        /// `h2c`: HTTP/2 with prior knowledge is accepted too.
        case http(h2c: Bool)
        case https(TLSServerContext)
        case tcp(route: String)

        var allowsH2C: Bool { if case .http(true) = self { return true } else { return false } }
    }
    let fd: FileDescriptor
    private(set) var kind: Kind
    unowned let worker: Worker
    /// This listener's entry in `RoutesConfig.listeners`.
    let configIndex: Int
    var registration = RegistrationID.none
    private var pausedUntil: UInt64 = 0
    private var peer = SocketAddress(storage: .init(), length: 0)
    private(set) var closed = false
    /// Socket activation's socket: closing ours resets nothing, and a filter set on it would
    /// outlive us.
    let keptBySystemd: Bool

    /// Accepts per wake-up before yielding to other connections' events.
    private static let acceptBurst = 64
    private static let pauseMilliseconds: UInt64 = 100
    private static let oneConnectionErrors: Set<Int32> = [ECONNABORTED, EPROTO, ENETDOWN, ENOPROTOOPT, EHOSTDOWN,
                                                          ENONET, EHOSTUNREACH, ENETUNREACH]

    init(fd: FileDescriptor, kind: Kind, worker: Worker, configIndex: Int, keptBySystemd: Bool = false) {
        self.keptBySystemd = keptBySystemd
        self.configIndex = configIndex
        self.fd = fd
        self.kind = kind
        self.worker = worker
    }

    override func eventsReceived(_ events: UInt32) {
        for _ in 0..<Self.acceptBurst {
            if worker.atConnectionLimit {
                pause()
                return
            }
            do {
                switch try Socket.accept(fd, peer: &peer) {
                case .processed(let client):
                    worker.accepted(client, peer: peer, from: self)
                case .wouldBlock:
                    return
                }
            } catch {
                // That one client is gone (accept(2) passes its connection's pending network
                // error on): keep accepting.
                if Self.oneConnectionErrors.contains(error.code) { continue }
                if error.code == EINVAL || error.code == ENOTSOCK {
                    // No longer a listening socket (shut down by another process holding it):
                    // for good, and reported as hung up whatever the interest. Stop listening.
                    worker.errorLog.error("accept: \(error); this listener accepts no more connections")
                    worker.loop.mute(registration)
                    return
                }
                // Anything else (no descriptors or memory; a security module refusing) leaves
                // the queue as it was, and a level-triggered listener would be reported again
                // at once: a spinning worker. Pause.
                worker.errorLog.error("accept: \(error); pausing accepts for \(Self.pauseMilliseconds) ms")
                pause()
                return
            }
        }
    }

    /// A reload's certificates: connections accepted from now on use `context`.
    func replaceContext(_ context: TLSServerContext) {
        if case .https = kind { kind = .https(context) }
    }

    private func pause() {
        worker.stats.acceptPauses += 1
        pausedUntil = Clock.monotonicMilliseconds() + Self.pauseMilliseconds
        worker.loop.setInterest(registration, 0)
    }

    func tick(now: UInt64) {
        if pausedUntil != 0, now >= pausedUntil, !closed {
            pausedUntil = 0
            worker.loop.setInterest(registration, Epoll.readable)
        }
    }

    /// Accepts every connection already queued in the kernel's backlog (shutdown: closing
    /// a listening socket resets what is queued, and those clients already sent requests).
    func acceptBacklog() {
        while !closed, !worker.atConnectionLimit {
            guard case .processed(let client)? = try? Socket.accept(fd, peer: &peer) else { return }
            worker.accepted(client, peer: peer, from: self)
        }
    }

    /// Shutdown: new handshakes are dropped and the listener stays open, for the clients
    /// that connected before (`HandshakeGate`). HTTP and HTTPS only: TCP-mode connections
    /// are cut at the drain deadline anyway. False when it cannot (or need not) hold: close.
    func holdNewHandshakes() -> Bool {
        guard !closed, !keptBySystemd else { return false }
        if case .tcp = kind { return false }
        do {
            try HandshakeGate.hold(fd)
            return true
        } catch {
            worker.errorLog.warning("shutdown: \(error); closing the listener at once")
            return false
        }
    }

    func close() {
        guard !closed else { return }
        closed = true
        worker.loop.deregister(registration)
        fd.close()
    }
}
