import SwitchyardSystem

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
    var openConnections = 0

    init(address: SocketAddress, label: String) {
        self.address = address
        self.label = label
        labelBytes = Array(label.utf8)
        idle.reserveCapacity(64)
    }

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
        } else {
            pool.removeIdle(self)
            close()
        }
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
