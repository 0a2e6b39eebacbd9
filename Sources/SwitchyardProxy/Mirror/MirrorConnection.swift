import SwitchyardSystem
import SwitchyardTLS

/// One mirror server as a worker sees it: its address and its idle keep-alive connections.
/// The mirror's own, never the primary's pools: a copy never takes (or spoils) a connection
/// a user's request could use.
final class MirrorServer {
    let address: SocketAddress
    let key: String
    /// TLS towards this server (`server … tls`), as the primary's pools have it.
    var tls: UpstreamTLS?
    var idle: [MirrorConnection] = []
    static let maxIdle = 16

    init(key: String, address: SocketAddress) {
        self.key = key
        self.address = address
        idle.reserveCapacity(Self.maxIdle)
    }

    func closeIdle() {
        let connections = idle
        idle.removeAll(keepingCapacity: true)
        for connection in connections { connection.close() }
    }
}

/// A connection of the mirror's pool. While a copy uses it, `owner` receives its events;
/// idle, any event (the server closing it) closes it.
final class MirrorConnection: EventHandler {
    let fd: FileDescriptor
    unowned let server: MirrorServer
    unowned let loop: EventLoop
    var registration = RegistrationID.none
    unowned(unsafe) var owner: MirrorExchange?
    var connecting: Bool
    /// The TLS client side, for `tls` servers (such connections are not pooled).
    var tls: TLSTransport?
    /// Carried a complete exchange before (a failure before any answer byte may be a stale
    /// keep-alive connection).
    var hasServed = false
    private(set) var closed = false

    init(fd: FileDescriptor, server: MirrorServer, loop: EventLoop, connecting: Bool) {
        self.fd = fd
        self.server = server
        self.loop = loop
        self.connecting = connecting
    }

    override func eventsReceived(_ events: UInt32) {
        if let owner {
            owner.eventsReceived(events)
        } else {
            if let index = server.idle.firstIndex(where: { $0 === self }) { server.idle.remove(at: index) }
            close()
        }
    }

    func close() {
        guard !closed else { return }
        closed = true
        loop.deregister(registration)
        fd.close()
        owner = nil
    }
}
