/// One upstream server of a backend.
public struct ServerConfig: Sendable, Equatable {
    public var endpoint: Endpoint
    /// Relative share among the backend's servers; 0 keeps the server configured but idle.
    public var weight: Int
    public var tls: Bool
    /// Whether the upstream certificate is verified. Meaningful only with `tls`; default true.
    public var verify: Bool
    public var sni: String?
    public var caPath: String?
    /// `cert PATH key PATH`: the client certificate presented to the server (mutual TLS).
    public var clientCertificate: CertificatePaths?
    /// The `server` line (for messages; not part of the server's identity, so moving a
    /// line in the file changes nothing).
    public var line = 0

    public static func == (a: ServerConfig, b: ServerConfig) -> Bool {
        a.endpoint == b.endpoint && a.weight == b.weight && a.tls == b.tls && a.verify == b.verify
            && a.sni == b.sni && a.caPath == b.caPath && a.clientCertificate?.withoutLine == b.clientCertificate?.withoutLine
    }

    public init(endpoint: Endpoint, weight: Int = 1, tls: Bool = false, verify: Bool = true,
                sni: String? = nil, caPath: String? = nil) {
        self.endpoint = endpoint
        self.weight = weight
        self.tls = tls
        self.verify = verify
        self.sni = sni
        self.caPath = caPath
    }
}

/// An active health check: `health GET /healthz every 2s [expect 200] [rise 2] [fall 3]`.
public struct HealthCheckConfig: Sendable, Equatable {
    public var method: String
    public var path: String
    public var intervalMilliseconds: Int
    /// The status that counts as healthy. Default 200.
    public var expectStatus: Int
    /// Consecutive successes that bring a server back. Default 2.
    public var rise: Int
    /// Consecutive failures that take a server out. Default 3.
    public var fall: Int

    public init(method: String = "GET", path: String, intervalMilliseconds: Int, expectStatus: Int = 200,
                rise: Int = 2, fall: Int = 3) {
        self.method = method
        self.path = path
        self.intervalMilliseconds = intervalMilliseconds
        self.expectStatus = expectStatus
        self.rise = rise
        self.fall = fall
    }
}

/// A named side traffic can go to (`legacy`, `cloud`, …): one or more servers.
public struct BackendConfig: Sendable, Equatable {
    public var name: String
    /// Never empty in a parsed config.
    public var servers: [ServerConfig]
    public var health: HealthCheckConfig?
    /// `sandbox`: a copy of the database where writes do no harm, so a mirror may send it
    /// any method (with its body), not only the route's reads.
    public var sandbox = false

    public init(name: String, servers: [ServerConfig], health: HealthCheckConfig? = nil) {
        self.name = name
        self.servers = servers
        self.health = health
    }
}
