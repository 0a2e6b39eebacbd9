import Glibc

/// The directories that hold the admin socket, the state file and the audit log. Whoever can
/// write such a directory can swap the state the proxy restarts into, point the audit log at
/// another file, or put their own socket where operators send commands. So every directory
/// is checked before any file in it is read or written:
/// - not a symlink (checked with lstat, so the check is about the path we will use);
/// - owned by root or the service user (the uid the proxy runs as, after any drop);
/// - not world-writable, and group-writable only for the admin line's group.
/// Missing directories (and missing parents) are created 0750 and owned by the service user.
public enum AdminDirectory {
    /// Whom the directories may belong to.
    public struct Trust: Sendable, Equatable {
        /// The uid the proxy runs as once it serves (the `user` it drops to, or its own).
        public var serviceUID: UInt32
        /// The group the service user's files get when the proxy creates them as root.
        public var serviceGID: UInt32
        /// The admin line's group: the one group that may have write access.
        public var writerGroup: UInt32?

        public init(serviceUID: UInt32, serviceGID: UInt32, writerGroup: UInt32? = nil) {
            self.serviceUID = serviceUID
            self.serviceGID = serviceGID
            self.writerGroup = writerGroup
        }

        /// The proxy's own uid and gid: nothing is dropped.
        public static func current(writerGroup: UInt32? = nil) -> Trust {
            Trust(serviceUID: geteuid(), serviceGID: getegid(), writerGroup: writerGroup)
        }
    }

    /// Prepares the directories of the admin socket (if any), the state file and the audit
    /// log, and checks that the state file and the audit log, if they exist, are plain files.
    /// Call before reading the state file.
    public static func prepare(socketPath: String?, statePath: String, auditPath: String, trust: Trust) throws(AdminError) {
        var seen: Set<String> = []
        for path in [socketPath, statePath, auditPath].compactMap({ $0 }) {
            let directory = parent(of: path)
            if seen.insert(directory).inserted { try prepare(directory, trust: trust) }
        }
        try checkPlainFile(statePath, what: "state file")
        try checkPlainFile(auditPath, what: "audit log")
    }

    /// Creates `directory` with its missing parents, or checks the one that is there.
    public static func prepare(_ directory: String, trust: Trust) throws(AdminError) {
        var created: [String] = []
        var info = stat()
        if lstat(directory, &info) != 0 {
            guard errno == ENOENT else { throw AdminError("\(directory): \(String(cString: strerror(errno)))") }
            created = try createMissing(directory, trust: trust)
        }
        // The directories we created are checked like any other: a parent another user
        // could write would let them replace what we just made.
        for path in Set(created + [directory]).sorted() { try check(path, trust: trust) }
    }

    /// The refusal for one directory, if any.
    static func check(_ directory: String, trust: Trust) throws(AdminError) {
        var info = stat()
        guard lstat(directory, &info) == 0 else {
            throw AdminError("\(directory): \(String(cString: strerror(errno)))")
        }
        let kind = info.st_mode & S_IFMT
        if kind == S_IFLNK {
            throw AdminError("\(directory) is a symlink: refused (the admin directory must be a real directory)")
        }
        guard kind == S_IFDIR else { throw AdminError("\(directory) is not a directory") }
        if info.st_uid != 0 && info.st_uid != trust.serviceUID {
            throw AdminError("\(directory) is owned by \(Caller.name(of: info.st_uid)) (uid \(info.st_uid)): refused, it must belong to root or the service user (uid \(trust.serviceUID))")
        }
        if info.st_mode & 0o002 != 0 {
            throw AdminError("\(directory) is world-writable (mode \(octal(info.st_mode))): refused, put the admin files in a directory only the service user and the ops group can write (e.g. /run/switchyard)")
        }
        if info.st_mode & 0o020 != 0 && info.st_gid != trust.writerGroup {
            throw AdminError("\(directory) is writable by group \(info.st_gid) (mode \(octal(info.st_mode))): refused, only the admin line's group may write it")
        }
    }

    /// A state file or audit log must be a plain file (or missing): a symlink would have us
    /// read or append to a file somebody else chose.
    static func checkPlainFile(_ path: String, what: String) throws(AdminError) {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return }
            throw AdminError("\(what) \(path): \(String(cString: strerror(errno)))")
        }
        let kind = info.st_mode & S_IFMT
        if kind == S_IFLNK { throw AdminError("\(what) \(path) is a symlink: refused") }
        guard kind == S_IFREG else { throw AdminError("\(what) \(path) is not a regular file: refused") }
    }

    /// mkdir -p, each new directory 0750 and, when we are root serving as another user,
    /// owned by that user so that it can still write its state and audit log.
    private static func createMissing(_ directory: String, trust: Trust) throws(AdminError) -> [String] {
        var missing: [String] = []
        var path = directory
        var info = stat()
        while !path.isEmpty && path != "/" && lstat(path, &info) != 0 && errno == ENOENT {
            missing.append(path)
            path = parent(of: path)
        }
        for path in missing.reversed() {
            guard mkdir(path, 0o750) == 0 || errno == EEXIST else {
                throw AdminError("cannot create \(path): \(String(cString: strerror(errno)))")
            }
            if geteuid() == 0 && trust.serviceUID != 0 {
                guard lchown(path, trust.serviceUID, trust.serviceGID) == 0 else {
                    throw AdminError("cannot give \(path) to uid \(trust.serviceUID): \(String(cString: strerror(errno)))")
                }
            }
        }
        return missing
    }

    /// The directory part of `path` ("." for a bare name).
    public static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let head = String(path[..<slash])
        return head.isEmpty ? "/" : head
    }

    static func octal(_ mode: mode_t) -> String {
        "0" + String(mode & 0o7777, radix: 8)
    }
}
