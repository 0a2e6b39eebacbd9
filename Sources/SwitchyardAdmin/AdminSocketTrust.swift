import Glibc
import SwitchyardSystem

/// What the CLI checks before it sends a command: that the socket belongs to someone it may
/// trust with the command (and with what the command says, a reason included). A socket in
/// a path another user controls could be theirs, collecting commands or answering with
/// made-up state. Trusted are root, the caller itself, and the owner named with
/// `--expect-owner USER|UID` (the service user, when the proxy does not run as root).
public enum AdminSocketTrust {
    /// root, the caller's real uid, and `expected`.
    public static func trustedOwners(expected: UInt32?) -> Set<UInt32> {
        var owners: Set<UInt32> = [0, getuid()]
        if let expected { owners.insert(expected) }
        return owners
    }

    /// A user name or a uid, as given to `--expect-owner`.
    public static func uid(of owner: String) -> UInt32? {
        if let uid = UInt32(owner) { return uid }
        return AccessPolicy.uid(ofUser: owner)
    }

    /// nil when `path` is a socket owned by one of `owners`; otherwise the one-line refusal.
    public static func check(_ path: String, owners: Set<UInt32>) -> AdminError? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            return AdminError("cannot reach the proxy at \(path): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFSOCK else { return AdminError("\(path) is not a socket") }
        guard owners.contains(info.st_uid) else {
            return AdminError("refusing to talk to \(path): it belongs to \(Caller.name(of: info.st_uid)) (uid \(info.st_uid)), not root, you or the expected owner; if the proxy runs as that user, give --expect-owner \(Caller.name(of: info.st_uid))")
        }
        return nil
    }

    /// After connecting: the process that listens must be trusted too (SO_PEERCRED gives the
    /// credentials it had when it called listen). This closes the window between the stat
    /// in `check` and the connect.
    public static func checkPeer(_ fd: FileDescriptor, path: String, owners: Set<UInt32>) -> AdminError? {
        guard let credentials = try? Socket.peerCredentials(fd) else {
            return AdminError("cannot tell who listens on \(path)")
        }
        guard owners.contains(credentials.uid) else {
            return AdminError("refusing to talk to \(path): the process listening on it runs as \(Caller.name(of: credentials.uid)) (uid \(credentials.uid)), not root, you or the expected owner")
        }
        return nil
    }

    /// Whether `path` and its directory belong to the caller and are not symlinks: the
    /// condition for using a socket in a shared place like /tmp without being told to.
    public static func isCallersOwn(_ path: String) -> Bool {
        let me = getuid()
        var socketInfo = stat(), directoryInfo = stat()
        guard lstat(path, &socketInfo) == 0, lstat(AdminDirectory.parent(of: path), &directoryInfo) == 0 else { return false }
        return socketInfo.st_mode & S_IFMT == S_IFSOCK && socketInfo.st_uid == me
            && directoryInfo.st_mode & S_IFMT == S_IFDIR && directoryInfo.st_uid == me
    }
}
