import Glibc

/// Who sent an admin command, as the kernel vouches for it (SO_PEERCRED).
public struct Caller: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    public var pid: Int32
    public var userName: String

    public init(uid: UInt32, gid: UInt32, pid: Int32, userName: String? = nil) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
        self.userName = userName ?? Caller.name(of: uid)
    }

    static func name(of uid: UInt32) -> String {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        if getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name {
            return String(cString: name)
        }
        return "uid \(uid)"
    }
}
