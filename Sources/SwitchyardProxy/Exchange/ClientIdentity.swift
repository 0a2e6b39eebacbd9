import Glibc
import SwitchyardRouting
import SwitchyardSystem

/// Who a client is, in the forms the proxy needs per request: the address the router
/// matches cohorts against, and the texts written into X-Forwarded-For and Forwarded.
/// Computed once per client connection; the HTTP/2 streams of a connection share it.
/// The texts are held inline (`InlineText`): no heap object to allocate per connection, nor
/// to retain per request when the head writer reads them.
struct ClientIdentity {
    let address: ClientAddress
    let ip: InlineText
    let forwardedFor: InlineText
    /// The peer is in the listener's (or the file's) `trust-forwarded` networks: its
    /// forwarding fields are kept and appended to rather than replaced.
    private(set) var trustedForwarder: Bool
    /// The listener the connection came through (its index in `RoutesConfig.listeners`),
    /// for routes bound to named listeners.
    let listener: Int

    init(peer: SocketAddress, trusted networks: [CIDR], listener: Int) {
        let address = Self.address(of: peer)
        self.init(peer: peer, address: address, trustedForwarder: networks.contains { $0.contains(address) }, listener: listener)
    }

    /// The identity an `IdleTable` entry kept in short form (the address, trust and listener),
    /// with its texts made again: the same texts the peer's socket address gave.
    init(address: ClientAddress, trustedForwarder: Bool, listener: Int) {
        let peer: SocketAddress
        switch address {
        case .v4(let value): peer = SocketAddress(ipv4: value)
        case .v6(let high, let low): peer = SocketAddress(ipv6: high, low)
        case .unix: peer = SocketAddress(unixPath: "")!   // an empty path always fits
        }
        self.init(peer: peer, address: address, trustedForwarder: trustedForwarder, listener: listener)
    }

    /// The client a PROXY protocol header named, behind the balancer `self` describes: its
    /// address for cohorts, stickiness and X-Forwarded-For, and for trust: a TCP balancer
    /// passes the client's bytes as they came, so the forwarding fields in them are the
    /// client's own, believed only if the client itself is in `networks`. With the
    /// balancer's trust, any client behind it could name any address (X-Real-IP,
    /// X-Forwarded-For) to the backend. The balancer's listener.
    func behindBalancer(_ source: SocketAddress, trusted networks: [CIDR]) -> ClientIdentity {
        let address = Self.address(of: source)
        return ClientIdentity(peer: source, address: address, trustedForwarder: networks.contains { $0.contains(address) }, listener: listener)
    }

    /// A PROXY header that names no client (v1 `UNKNOWN`, v2 `LOCAL` or an address family
    /// other than IP): the balancer's own address stays, without its trust — the bytes that
    /// follow are a client's as they came, and its forwarding fields are not believed.
    func withoutForwarderTrust() -> ClientIdentity {
        var copy = self
        copy.trustedForwarder = false
        return copy
    }

    private static func address(of peer: SocketAddress) -> ClientAddress {
        if let v4 = peer.ipv4 { return .v4(v4) }
        if let v6 = peer.ipv6 { return .v6(v6.0, v6.1) }
        return .unix
    }

    private init(peer: SocketAddress, address: ClientAddress, trustedForwarder: Bool, listener: Int) {
        self.address = address
        self.listener = listener
        self.trustedForwarder = trustedForwarder
        // The address text is at most 45 bytes (inet_ntop's longest IPv6 form), "unix" or "?"
        // otherwise, so both texts fit an InlineText. Made on the stack: no String, no
        // heap block, once a connection and again when an idle one wakes.
        let isIPv6 = peer.family == AF_INET6
        let texts = peer.withIPText { text in
            (InlineText(text), isIPv6 ? InlineText("for=\"[", text, "]\"") : InlineText("for=", text, ""))
        }
        ip = texts.0
        forwardedFor = texts.1
    }
}
