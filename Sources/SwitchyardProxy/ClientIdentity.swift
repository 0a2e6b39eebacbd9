import Glibc
import SwitchyardRouting
import SwitchyardSystem

/// Who a client is, in the forms the proxy needs per request: the address the router
/// matches cohorts against, and the texts written into X-Forwarded-For and Forwarded.
/// Computed once per client connection; the HTTP/2 streams of a connection share it.
struct ClientIdentity {
    let address: ClientAddress
    let ip: [UInt8]
    let forwardedFor: [UInt8]
    /// The peer is in the listener's (or the file's) `trust-forwarded` networks: its
    /// forwarding fields are kept and appended to rather than replaced.
    private(set) var trustedForwarder: Bool
    /// The listener the connection came through (its index in `RoutesConfig.listeners`),
    /// for routes bound to named listeners.
    let listener: Int

    init(peer: SocketAddress, trusted networks: [CIDR], listener: Int) {
        self.init(peer: peer, trustedForwarder: false, listener: listener)
        let address = self.address
        trustedForwarder = networks.contains { $0.contains(address) }
    }

    /// The client a PROXY protocol header named, behind the balancer `self` describes: its
    /// address for cohorts, stickiness and X-Forwarded-For; the balancer's trust and listener.
    func behindBalancer(_ source: SocketAddress) -> ClientIdentity {
        ClientIdentity(peer: source, trustedForwarder: trustedForwarder, listener: listener)
    }

    private init(peer: SocketAddress, trustedForwarder: Bool, listener: Int) {
        self.listener = listener
        self.trustedForwarder = trustedForwarder
        if let v4 = peer.ipv4 {
            address = .v4(v4)
        } else if let v6 = peer.ipv6 {
            address = .v6(v6.0, v6.1)
        } else {
            address = .unix
        }
        let text = peer.ipString
        ip = Array(text.utf8)
        forwardedFor = Array((peer.family == AF_INET6 ? "for=\"[\(text)]\"" : "for=\(text)").utf8)
    }
}
