import Glibc
import SwitchyardAdmin

/// The user `serve` runs as once it has bound its listeners and opened its files (`user NAME`
/// in the routes file, or `--user NAME`): the proxy parses bytes from the network, and a
/// mistake there should not be a mistake with root's rights.
struct ServiceUser {
    let name: String
    let uid: UInt32
    let gid: UInt32

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Looks the user up (getpwnam_r).
    static func resolve(_ name: String) throws(Failure) -> ServiceUser {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getpwnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else {
            throw Failure(description: "user \(name): no such user")
        }
        return ServiceUser(name: name, uid: entry.pw_uid, gid: entry.pw_gid)
    }

    /// The admin directories must let this user write the state file and the audit log.
    var trust: AdminDirectory.Trust {
        AdminDirectory.Trust(serviceUID: uid, serviceGID: gid)
    }

    /// Drops root for good: the user's groups (initgroups), its group, then its uid — in
    /// that order, since after setuid we could no longer change groups (setuid(2),
    /// setgroups(2)). As root, setuid sets the real, effective and saved uid alike, so
    /// nothing can be taken back; that is checked rather than assumed.
    func drop() throws(Failure) {
        func failed(_ call: String) -> Failure {
            Failure(description: "cannot run as user \(name) (uid \(uid)): \(call): \(String(cString: strerror(errno)))")
        }
        guard initgroups(name, gid) == 0 else { throw failed("initgroups") }
        guard setgid(gid) == 0 else { throw failed("setgid") }
        guard setuid(uid) == 0 else { throw failed("setuid") }
        guard getuid() == uid, geteuid() == uid, getgid() == gid, getegid() == gid else {
            throw Failure(description: "cannot run as user \(name): the ids did not change")
        }
        if uid != 0 && setuid(0) == 0 {
            throw Failure(description: "cannot run as user \(name): root could be taken back")
        }
    }
}
