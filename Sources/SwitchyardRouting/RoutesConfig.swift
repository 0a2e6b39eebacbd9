/// A parsed, validated routes file: the structure of the proxy. What admin commands change
/// at run time lives in `RuntimeState`, not here.
public struct RoutesConfig: Sendable, Equatable {
    /// The `listen http`/`listen https` lines in file order, then one `.tcp` listener per
    /// tcp route (with `routeName` set), in route order.
    public var listeners: [ListenerConfig]
    public var backends: [BackendConfig]
    public var routes: [RouteConfig]
    public var admin: AdminConfig?
    public var statePath: String?
    /// `user NAME`: the user `serve` runs as once its listeners and files are open.
    public var serviceUser: String?
    /// `nil` means off (the default).
    public var accessLogPath: String?
    /// `nil` means stderr (the default).
    public var errorLogPath: String?
    /// A request header the proxy adds, carrying the table generation, when set.
    public var generationHeader: String?
    /// `trust-forwarded CIDR…` at top level: peers whose forwarding fields (X-Forwarded-*,
    /// Forwarded, X-Real-IP, …) are kept and appended to. Empty: the proxy is the edge and
    /// drops every client copy. A listener's own list replaces this one.
    public var trustForwarded: [CIDR] = []
    /// `timeout` and `limit` lines.
    public var tuning = TuningConfig()
    /// `metrics ADDR:PORT`: where the read-only admin HTTP listener (`/metrics`,
    /// `/status.json`, the cutover page) listens. `nil`: off (the default).
    public var metrics: Endpoint?
    /// `guard` lines of every route, in file order (see `GuardConfig`).
    public var guards: [GuardConfig] = []
    /// `notify` lines: where changes, trips and plan steps are told (see `NotifyTarget`).
    public var notify: [NotifyTarget] = []
    /// `plan NAME { … }` blocks (see `PlanConfig`).
    public var plans: [PlanConfig] = []
    /// `fleet …`: switch together with other instances through etcd. `nil`: alone (the default).
    public var fleet: FleetConfig?

    public init(listeners: [ListenerConfig] = [], backends: [BackendConfig] = [], routes: [RouteConfig] = [],
                admin: AdminConfig? = nil, statePath: String? = nil, accessLogPath: String? = nil,
                errorLogPath: String? = nil, generationHeader: String? = nil) {
        self.listeners = listeners
        self.backends = backends
        self.routes = routes
        self.admin = admin
        self.statePath = statePath
        self.accessLogPath = accessLogPath
        self.errorLogPath = errorLogPath
        self.generationHeader = generationHeader
    }

    /// Parses and validates routes-file text. `file` is used only in error positions.
    ///
    /// Throws every problem found, not just the first, each as `file:line:column: message`.
    public static func parse(_ text: String, file: String) throws(RoutesErrors) -> RoutesConfig {
        var parser = RoutesParser(text: text, file: file)
        return try parser.parse()
    }

    /// Reads and parses the routes file at `path`. An unreadable file is reported as a single
    /// error at line 0, column 0: `cannot read: <reason>`.
    public static func load(path: String) throws(RoutesErrors) -> RoutesConfig {
        switch readWholeFile(path) {
        case .success(let text):
            return try parse(text, file: path)
        case .failure(let reason):
            throw RoutesErrors([RoutesError(file: path, line: 0, column: 0, message: "cannot read: \(reason.message)")])
        }
    }
}
