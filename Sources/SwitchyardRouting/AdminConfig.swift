/// The admin socket and who may use it. An empty allow-list means only the service user.
public struct AdminConfig: Sendable, Equatable {
    public var socketPath: String
    public var allowGroups: [String]
    public var allowUsers: [String]
    public var allowUIDs: [UInt32]
    /// `require-reason`: change commands without `--reason` are refused.
    public var requireReason: Bool = false
    /// `max-connections N`: admin connections served at once, all callers together.
    public var maxConnections: Int = 32
    /// `max-connections-per-uid N`: admin connections served at once for one uid.
    public var maxConnectionsPerUID: Int = 8
    /// `idle-timeout DURATION`: an admin connection that sends nothing for this long is closed.
    public var idleTimeoutMilliseconds: Int = 30_000

    public init(socketPath: String, allowGroups: [String] = [], allowUsers: [String] = [], allowUIDs: [UInt32] = []) {
        self.socketPath = socketPath
        self.allowGroups = allowGroups
        self.allowUsers = allowUsers
        self.allowUIDs = allowUIDs
    }
}
