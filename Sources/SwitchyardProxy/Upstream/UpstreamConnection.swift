import SwitchyardSystem
import SwitchyardTLS

/// An upstream connection. While it serves a request, `owner` receives its events; while it
/// sits idle in its pool any event (data or end of stream from the server) closes it,
/// because an idle HTTP/1.1 connection has nothing legitimate to say.
final class UpstreamConnection: EventHandler {
    let fd: FileDescriptor
    /// Strong on purpose, like `DownstreamConnection.worker`: a strong `let` is read without
    /// retain or release, while a checked `unowned` read costs an atomic retain and release
    /// at every use (six a request in `finishExchange` alone). The cycle — the pool's
    /// `idle` list holds its idle connections — is broken when a connection leaves that list
    /// (it is used again, or `close()`d after `removeIdle`), and a pool is dropped only
    /// after `closeIdle()` emptied it (`Worker.closeUnusedPools`, `Worker.closeAll`).
    let pool: ServerPool
    /// Strong for the same reason; the loop outlives every connection of its worker (the
    /// loop's handler list holds the connection only while it is registered).
    let loop: EventLoop
    var registration = RegistrationID.none
    /// The exchange this connection serves, nil while it is idle. Kept unretained, and called
    /// through `_withUnsafeGuaranteedRef` on each event: an `unowned(unsafe)` property is
    /// made strong at every read, an atomic retain and release per answer (callgrind). The
    /// owner clears it before it lets the connection go (`finishExchange`, `close()`); an
    /// owner that closes inside the call outlives it all the same, because the loop keeps
    /// what leaves it until the batch of events ends (`EventLoop.retired`: a client
    /// connection deregisters or hands over its socket, an HTTP/2 driver is kept as a spare
    /// or retired by `H2Connection.recycle`).
    private var ownerRef: Unmanaged<DownstreamConnection>?
    var owner: DownstreamConnection? {
        get { ownerRef?.takeUnretainedValue() }
        set { ownerRef = newValue.map { Unmanaged.passUnretained($0) } }
    }
    /// True until the non-blocking connect has completed.
    var connecting: Bool
    /// True once this connection has carried a complete exchange: a failure before the
    /// first response byte may then be a stale keep-alive, and a safe request is replayed.
    var hasServed = false
    private(set) var closed = false
    /// The TLS client side, for `tls` servers.
    var tls: TLSTransport?
    /// Its session was given to the pool for later connections to resume (once per
    /// connection, at the first answer bytes: TLS 1.3 tickets arrive after the handshake).
    var sessionSaved = false

    /// The pool's `tlsEpoch` when this connection was made.
    let tlsEpoch: Int
    /// When it last went back to its pool (the worker's clock, ms): one idle longer than
    /// `ProxySettings.upstreamKeepAliveMilliseconds` is not used again.
    var idleSince: UInt64 = 0

    init(fd: FileDescriptor, pool: ServerPool, loop: EventLoop, connecting: Bool) {
        self.fd = fd
        self.pool = pool
        tlsEpoch = pool.tlsEpoch
        self.loop = loop
        self.connecting = connecting
        pool.openConnections += 1
    }

    override func eventsReceived(_ events: UInt32) {
        if let ownerRef {
            ownerRef._withUnsafeGuaranteedRef { $0.upstreamEventsReceived(events) }
        } else if events & EventLoop.again != 0 && Socket.nothingToRead(fd) {
            // A read owed to its last exchange (`EventLoop.readAgain`), not a socket event:
            // nothing came, so the connection is as good as when it was pooled.
            return
        } else if let tls, events & (Epoll.hangUp | Epoll.error) == 0, idleTLSRecordsOnly(tls) {
            // TLS 1.3 sends session tickets after the handshake: records, but no data.
            return
        } else {
            pool.removeIdle(self)
            close()
        }
    }

    /// An idle TLS connection was readable: true if what arrived was only TLS records with
    /// no application data (tickets), so the connection can stay in the pool. Part of a
    /// record is not known to be a ticket: the rest might be data, which the next request
    /// would read as its answer, and with the socket drained no event would come first.
    private func idleTLSRecordsOnly(_ tls: TLSTransport) -> Bool {
        var scratch = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        let read = try? tls.readSocket(fd, scratch: loop.cipherScratch)
        guard read == .fed else { return false }
        let result = withUnsafeMutableBytes(of: &scratch) { try? tls.decrypt(into: $0) }
        return result == .needMore && !tls.hasUnreadInput
    }

    func close() {
        guard !closed else { return }
        closed = true
        loop.deregister(registration)
        fd.close()
        pool.openConnections -= 1
        owner = nil
    }
}
