/// How a route's traffic is carried.
public enum RouteMode: String, Sendable {
    /// Requests are parsed and routed one by one by host, path, cohort and split.
    case http
    /// Bytes are forwarded; the side is decided once per connection.
    case tcp
}

/// Where a split route's bucket comes from.
public enum StickyKey: Sendable, Equatable {
    /// A cookie the proxy issues when the client has none (the default, `SWITCHYARD_BUCKET`).
    case cookie(String)
    /// A request header; when absent, the client address is used.
    case header(String)
    /// The client address (the only choice for tcp routes).
    case client
}

/// One side of a split and its share in basis points (1/100 of a percent; 10000 = 100%).
public struct WeightedBackend: Sendable, Equatable, Hashable, Codable {
    public var backend: String
    public var basisPoints: Int

    public init(backend: String, basisPoints: Int) {
        self.backend = backend
        self.basisPoints = basisPoints
    }
}

/// A route as written in the routes file. Its effective behaviour also depends on the
/// runtime state; see `CompiledRoute`.
public struct RouteConfig: Sendable, Equatable {
    public var name: String
    public var mode: RouteMode
    /// Lower-cased host names; empty means any host.
    public var hosts: [String]
    /// `nil` means any path.
    public var pathPrefix: String?
    /// The tcp route's listener; `nil` for http routes.
    public var listen: Endpoint?
    /// Set by `backend NAME` or `active NAME`.
    public var active: String?
    public var standby: String?
    /// Empty when the route has no split. Otherwise in file order, summing to 10000.
    public var split: [WeightedBackend]
    public var sticky: StickyKey
    public var cohorts: [Cohort]
    /// `nil` = unlimited.
    public var maxBodyBytes: UInt64?
    /// `failover`: when the chosen backend has no server up, use the route's other side
    /// (the standby, or the other backend of a two-way split) instead of answering 503.
    public var failover: Bool
    /// `cert PATH key PATH [chain PATH]`: the certificate `listen https` presents when a
    /// client's SNI name is one of this route's hosts.
    public var certificate: CertificatePaths?
    /// http routes: `listen NAME [NAME...]` — served only on these named listeners (an
    /// internal route kept off the public listener). Empty: every http/https listener.
    public var listenerNames: [String] = []
    /// `hold methods …` and `hold except PATH…`: what a write hold parks on this route.
    public var hold = HoldRules()
    /// `mirror …` lines: copies of this route's requests to another backend (nil: none).
    public var mirror: MirrorRules?
    /// `compare …` lines: how mirrored pairs of this route are compared (admin side only).
    public var compare = CompareRules()
    /// The line of the route's header, `route NAME {`.
    public var line: Int

    public init(name: String, mode: RouteMode = .http, hosts: [String] = [], pathPrefix: String? = nil,
                listen: Endpoint? = nil, active: String? = nil, standby: String? = nil,
                split: [WeightedBackend] = [], sticky: StickyKey = .cookie(defaultStickyCookie),
                cohorts: [Cohort] = [], maxBodyBytes: UInt64? = nil, failover: Bool = false,
                certificate: CertificatePaths? = nil, listenerNames: [String] = [], line: Int = 0) {
        self.name = name
        self.mode = mode
        self.hosts = hosts
        self.pathPrefix = pathPrefix
        self.listen = listen
        self.active = active
        self.standby = standby
        self.split = split
        self.sticky = sticky
        self.cohorts = cohorts
        self.maxBodyBytes = maxBodyBytes
        self.failover = failover
        self.certificate = certificate
        self.listenerNames = listenerNames
        self.line = line
    }
}

/// The cookie an http route's split uses when the route names no `sticky` key.
public let defaultStickyCookie = "SWITCHYARD_BUCKET"
