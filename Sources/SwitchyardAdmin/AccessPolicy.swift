import Glibc
import SwitchyardRouting

/// Who may change routing: root, the proxy's own user, and the users, uids and groups the
/// routes file's `admin … allow …` names. Anyone who can open the socket (mode 0660, so the
/// socket's group) may read (`status`, `history`, `show routes`, `help`).
public struct AccessPolicy: Sendable {
    public let serviceUID: UInt32
    public let allowedUIDs: Set<UInt32>
    public let allowedGIDs: Set<UInt32>
    /// The first `allow group` of the admin line: the admin socket's group (the README's
    /// promise). Not the smallest gid of the set, which would pick `root` over `ops`.
    public private(set) var socketGroupID: UInt32?

    public init(serviceUID: UInt32, allowedUIDs: Set<UInt32>, allowedGIDs: Set<UInt32>) {
        self.serviceUID = serviceUID
        self.allowedUIDs = allowedUIDs
        self.allowedGIDs = allowedGIDs
    }

    /// Resolves the names in the routes file's admin line. An unknown user or group name is
    /// an error: silently allowing nobody would lock ops out at the worst moment.
    public init(config: AdminConfig?, serviceUID: UInt32 = geteuid()) throws(AdminError) {
        var uids = Set(config?.allowUIDs ?? [])
        var gids = Set<UInt32>()
        for user in config?.allowUsers ?? [] {
            guard let uid = Self.uid(ofUser: user) else { throw AdminError("admin: allow user \(user): no such user") }
            uids.insert(uid)
        }
        var first: UInt32?
        for group in config?.allowGroups ?? [] {
            guard let gid = Self.gid(ofGroup: group) else { throw AdminError("admin: allow group \(group): no such group") }
            gids.insert(gid)
            if first == nil { first = gid }
        }
        self.init(serviceUID: serviceUID, allowedUIDs: uids, allowedGIDs: gids)
        socketGroupID = first
    }

    /// The decision for a change. `groups` are the caller's supplementary groups.
    public func mayChange(_ caller: Caller, groups: [UInt32]? = nil) -> Bool {
        if caller.uid == 0 || caller.uid == serviceUID || allowedUIDs.contains(caller.uid) { return true }
        if allowedGIDs.contains(caller.gid) { return true }
        let memberships = groups ?? Self.groups(of: caller)
        return memberships.contains { allowedGIDs.contains($0) }
    }

    static func uid(ofUser name: String) -> UInt32? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getpwnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return entry.pw_uid
    }

    static func gid(ofGroup name: String) -> UInt32? {
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getgrnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return entry.gr_gid
    }

    /// The supplementary groups of the caller's user (getgrouplist(3)).
    static func groups(of caller: Caller) -> [UInt32] {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getpwuid_r(caller.uid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name else {
            return []
        }
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, caller.gid, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(count))
            _ = getgrouplist(name, caller.gid, &groups, &count)
        }
        return Array(groups.prefix(Int(max(0, count))))
    }
}
