import SwitchyardSystem
import SwitchyardTLS

/// One upstream server as a worker sees it: its address, its idle keep-alive connections
/// and its counters. Per worker, so nothing here is shared between threads.
final class ServerPool {
    let address: SocketAddress
    /// "backend/host:port", for logs.
    let label: String
    /// The label as bytes, written into access-log lines without allocation.
    let labelBytes: [UInt8]
    var idle: [UpstreamConnection] = []
    /// After a failed connect the server is skipped until this time (monotonic ms), unless
    /// every server of the backend is in the same state.
    var skipUntil: UInt64 = 0
    var connectFailures = 0
    /// Active health (from the health checker); a down server gets no traffic.
    var healthy = true
    /// Passive ejection: after `ejectAfterFailures` consecutive failed exchanges the server
    /// gets no traffic until `ejectedUntil` (monotonic ms); a success resets the count.
    var consecutiveFailures = 0
    var ejectedUntil: UInt64 = 0
    static let ejectAfterFailures = 3
    static let ejectionMilliseconds: UInt64 = 10_000
    let key: String
    /// TLS towards this server, when its `server` line says `tls`.
    var tls: UpstreamTLS?
    var openConnections = 0

    init(key: String, address: SocketAddress, label: String) {
        self.key = key
        self.address = address
        self.label = label
        labelBytes = Array(label.utf8)
        idle.reserveCapacity(64)
    }

    /// May this server be given a request now?
    @inline(__always)
    func isAvailable(now: UInt64) -> Bool { healthy && ejectedUntil <= now }

    /// A failed exchange (connect failure, broken or malformed answer).
    func failed(now: UInt64) -> Bool {
        consecutiveFailures += 1
        if consecutiveFailures >= Self.ejectAfterFailures && ejectedUntil <= now {
            ejectedUntil = now + Self.ejectionMilliseconds
            consecutiveFailures = 0
            return true
        }
        return false
    }

    @inline(__always)
    func succeeded() { consecutiveFailures = 0 }

    func removeIdle(_ connection: UpstreamConnection) {
        if let index = idle.firstIndex(where: { $0 === connection }) {
            idle.remove(at: index)
        }
    }

    /// Closes every idle connection (the server lost its traffic, or the worker stops).
    func closeIdle() {
        let connections = idle
        idle.removeAll(keepingCapacity: true)
        for connection in connections { connection.close() }
    }
}

/// An upstream connection. While it serves a request, `owner` receives its events; while it
/// sits idle in its pool any event (data or end of stream from the server) closes it,
/// because an idle HTTP/1.1 connection has nothing legitimate to say.
final class UpstreamConnection: EventHandler {
    let fd: FileDescriptor
    unowned let pool: ServerPool
    unowned let loop: EventLoop
    var registration = RegistrationID.none
    unowned(unsafe) var owner: DownstreamConnection?
    /// True until the non-blocking connect has completed.
    var connecting: Bool
    /// True once this connection has carried a complete exchange: a failure before the
    /// first response byte may then be a stale keep-alive, and a safe request is replayed.
    var hasServed = false
    private(set) var closed = false
    /// The TLS client side, for `tls` servers.
    var tls: TLSTransport?

    init(fd: FileDescriptor, pool: ServerPool, loop: EventLoop, connecting: Bool) {
        self.fd = fd
        self.pool = pool
        self.loop = loop
        self.connecting = connecting
        pool.openConnections += 1
    }

    func eventsReceived(_ events: UInt32) {
        if let owner {
            owner.upstreamEventsReceived(events)
        } else if let tls, events & (Epoll.hangUp | Epoll.error) == 0, idleTLSRecordsOnly(tls) {
            // TLS 1.3 sends session tickets after the handshake: records, but no data.
            return
        } else {
            pool.removeIdle(self)
            close()
        }
    }

    /// An idle TLS connection was readable: true if what arrived was only TLS records with
    /// no application data (tickets), so the connection can stay in the pool.
    private func idleTLSRecordsOnly(_ tls: TLSTransport) -> Bool {
        var scratch = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        guard (try? tls.readSocket(fd, scratch: loop.cipherScratch)) == .fed else { return false }
        let result = withUnsafeMutableBytes(of: &scratch) { try? tls.decrypt(into: $0) }
        return result == .needMore
    }

    func close() {
        guard !closed else { return }
        closed = true
        tls?.release()
        loop.deregister(registration)
        fd.close()
        pool.openConnections -= 1
        owner = nil
    }
}
