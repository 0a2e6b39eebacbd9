/// A host and a port, as written in the routes file.
///
/// `host` has no brackets: an IPv6 literal is stored as `::1`, and `description` adds the
/// brackets back (`[::1]:8080`). A DNS name is kept as text; resolving it is the proxy's job.
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
