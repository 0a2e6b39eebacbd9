/// Why a header field matters to a proxy. Computed by the parser for each field.
public enum HeaderRole: UInt8, Sendable {
    /// Forward as is.
    case other
    /// Drop when forwarding: Connection, Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade,
    /// Proxy-Connection, and any field named by a Connection token (RFC 9110 §7.6.1).
    /// Proxy-Authorization and Proxy-Authenticate stay `.other`: whether to forward them is
    /// policy, not syntax.
    case hopByHop
    /// The Host field.
    case host
    /// Content-Length: dropped by the proxy too, which writes its own framing.
    case contentLength
    /// X-Forwarded-For: the proxy rewrites it.
    case xForwardedFor
    /// X-Forwarded-Proto: the proxy rewrites it.
    case xForwardedProto
    /// Forwarded (RFC 7239): the proxy rewrites it.
    case forwarded
    /// X-Forwarded-Host: the proxy writes its own unless the peer is trusted.
    case xForwardedHost
    /// X-Real-IP: the proxy writes its own unless the peer is trusted.
    case xRealIP
    /// Other fields backends read as the client's identity or the original request
    /// (X-Forwarded-Port/-Scheme/-Ssl/-Prefix/-Server, True-Client-IP, X-Client-IP,
    /// X-Cluster-Client-IP, X-Original-URL, X-Rewrite-URL): kept only from trusted peers.
    case clientIdentity
}
