/// The admin socket and who may use it. An empty allow-list means only the service user.
public struct AdminConfig: Sendable, Equatable {
    public var socketPath: String
    public var allowGroups: [String]
    public var allowUsers: [String]
    public var allowUIDs: [UInt32]
    /// `require-reason`: change commands without `--reason` are refused.
    public var requireReason: Bool = false

    public init(socketPath: String, allowGroups: [String] = [], allowUsers: [String] = [], allowUIDs: [UInt32] = []) {
        self.socketPath = socketPath
        self.allowGroups = allowGroups
        self.allowUsers = allowUsers
        self.allowUIDs = allowUIDs
    }
}
