/// `fleet NAME etcd URL [URL…] [user U password-file F] [instance NAME]`: this Switchyard
/// switches together with the others of the same fleet, through etcd. Absent: the proxy
/// keeps its runtime state to itself, as it always did.
public struct FleetConfig: Sendable, Equatable {
    /// The fleet's name: its keys live under `/switchyard/<name>/`.
    public var name: String
    /// etcd client URLs (`http://host:port`), tried in turn.
    public var endpoints: [FleetEndpoint]
    /// etcd user (with `passwordFile`); nil: etcd without authentication.
    public var user: String?
    /// A file holding the etcd password (its first line); read when the proxy starts.
    public var passwordFile: String?
    /// This instance's name in the fleet; nil: the host name.
    public var instance: String?

    public init(name: String, endpoints: [FleetEndpoint], user: String? = nil, passwordFile: String? = nil,
                instance: String? = nil) {
        self.name = name
        self.endpoints = endpoints
        self.user = user
        self.passwordFile = passwordFile
        self.instance = instance
    }
}

/// One etcd client URL, `http://HOST:PORT` (the JSON gateway over plain HTTP/1.1).
public struct FleetEndpoint: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// nil unless `text` is `http://HOST:PORT` with a port from 1 to 65535 and no path.
    public init?(url text: String) {
        guard text.hasPrefix("http://") else { return nil }
        var rest = Substring(text.dropFirst("http://".count))
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard let colon = rest.lastIndex(of: ":"), !rest.contains("/") else { return nil }
        var host = rest[..<colon]
        if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        // No credentials (`user:password@host`): they belong in `user … password-file …`.
        guard !host.isEmpty, !host.contains("@"), let port = UInt16(rest[rest.index(after: colon)...]), port > 0 else { return nil }
        self.host = String(host)
        self.port = port
    }

    public var description: String { host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)" }
}
