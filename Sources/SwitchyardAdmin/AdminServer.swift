import Foundation
import Glibc
import SwitchyardProxy
import SwitchyardRouting
import SwitchyardSystem

/// The admin socket: a Unix stream socket, mode 0660, in a directory `AdminDirectory`
/// trusts. Each connection is served on its own thread (admin traffic is a few
/// commands a minute), within the caps of `AdminConnectionSlots` and an idle timeout:
/// lines in, answers out, until the client closes. The caller's
/// identity comes from the kernel (SO_PEERCRED), never from what it says.
public final class AdminServer: @unchecked Sendable {
    public let path: String
    /// Where the socket was bound: `path`, or beside it until `moveIntoPlace` (upgrade).
    public let boundPath: String
    private let listener: FileDescriptor
    /// The socket file's identity as bound (device, inode): `stop` removes the file at `path`
    /// only while it is still ours. (fstat on the listener would name the socket's inode in
    /// sockfs, never the file's.) rename(2) keeps it, so it holds after `moveIntoPlace`.
    private let boundFile: (device: UInt64, inode: UInt64)
    private let service: AdminService
    private let limits: AdminConfig
    private let slots: AdminConnectionSlots
    /// Set by `stop`, read by the accept thread when accept fails.
    private let stopping = Locked(false)
    /// A command line longer than this is refused (and the connection closed).
    static let maxLineBytes = 4096

    /// `limits`: the admin line's connection caps and idle timeout (the path is not used).
    /// `replacing`: an upgrade's new process binds beside the running proxy's socket (which
    /// still answers on `path`) and renames its own over it once the hand-over is done
    /// (`moveIntoPlace`): if the hand-over fails, the old socket was never touched.
    public init(path: String, groupID: UInt32?, trust: AdminDirectory.Trust, limits: AdminConfig,
                service: AdminService, replacing: Bool = false) throws(AdminError) {
        self.path = path
        self.service = service
        self.limits = limits
        slots = AdminConnectionSlots(limit: limits.maxConnections, perUIDLimit: limits.maxConnectionsPerUID)
        try AdminDirectory.prepare(AdminDirectory.parent(of: path), trust: trust)
        boundPath = replacing ? path + ".upgrade" : path
        if replacing { unlink(boundPath) } else { try Self.removeStaleSocket(path) }
        let fd = try Self.listen(at: boundPath)
        // Group members (the ops group) may connect; others may not even open it.
        if let groupID { _ = chown(boundPath, UInt32.max, groupID) }
        guard chmod(boundPath, 0o660) == 0 else {
            fd.close()
            throw AdminError("admin socket \(path): chmod: \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard lstat(boundPath, &info) == 0 else {
            fd.close()
            throw AdminError("admin socket \(path): stat: \(String(cString: strerror(errno)))")
        }
        boundFile = (UInt64(info.st_dev), UInt64(info.st_ino))
        listener = fd
    }

    /// Binds the socket with mode 0660 from the first instant. bind(2) creates the file with
    /// 0777 & ~umask, so with the usual umask 022 it would be 0755 until the chmod below:
    /// a window in which anybody could connect. umask(2) is process-wide; this runs at
    /// start, before the workers and the admin thread exist, and the old mask comes back at
    /// once (a file another thread created meanwhile would only be more closed).
    static func listen(at path: String) throws(AdminError) -> FileDescriptor {
        let previous = umask(0o117)
        defer { umask(previous) }
        do {
            return try Socket.listenUnix(path: path)
        } catch {
            throw AdminError("admin socket \(path): \(error)")
        }
    }

    /// A socket file left by a proxy that died is removed; one that answers means another
    /// proxy is running, and we refuse rather than steal its socket.
    static func removeStaleSocket(_ path: String) throws(AdminError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        try refuseIfServed(path)
        unlink(path)
    }

    /// Throws when a process answers on the admin socket at `path`: another switchyard
    /// serves it. `serve` asks first thing, before it binds a listener or writes the state
    /// file (`removeStaleSocket` asks again when the socket is made).
    public static func refuseIfServed(_ path: String) throws(AdminError) {
        if let address = SocketAddress(unixPath: path), let fd = try? Socket.connectBlocking(to: address) {
            fd.close()
            throw AdminError("another switchyard is already listening on \(path)")
        }
    }

    /// An upgrade's new process, once handed over: its socket takes the path (rename(2)
    /// replaces the old process's socket file in one step).
    public func moveIntoPlace() throws(AdminError) {
        guard boundPath != path else { return }
        guard rename(boundPath, path) == 0 else {
            throw AdminError("admin socket: rename \(boundPath) → \(path): \(String(cString: strerror(errno)))")
        }
    }

    public func start() {
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "switchyard-admin"
        thread.start()
    }

    /// Stops accepting: shutdown(2) wakes the blocked accept, and the accept thread closes
    /// the listener itself (closing it here could close a number another thread was just
    /// given while accept still used it).
    public func stop() {
        stopping.withLock { $0 = true }
        Glibc.shutdown(listener.rawValue, Int32(SHUT_RDWR))
        // After an upgrade the path is the new process's socket: remove only our own.
        for candidate in Set([path, boundPath]) {
            var onDisk = stat()
            if lstat(candidate, &onDisk) == 0, UInt64(onDisk.st_ino) == boundFile.inode, UInt64(onDisk.st_dev) == boundFile.device {
                unlink(candidate)
            }
        }
    }

    private func acceptLoop() {
        defer { listener.close() }
        while true {
            var peer = SocketAddress(storage: sockaddr_storage(), length: 0)
            let accepted: FileDescriptor
            do {
                guard case .processed(let fd) = try Socket.accept(listener, peer: &peer) else { continue }
                accepted = fd
            } catch {
                if stopping.withLock({ $0 }) { return }
                switch error.code {
                case ECONNABORTED: continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors or memory: the connection waits in the backlog;
                    // retrying at once would spin.
                    usleep(100_000)
                    continue
                default:
                    service.errorLog.error("admin socket: \(error); no longer accepting")
                    return
                }
            }
            admit(accepted)
        }
    }

    /// Checks the caller against the connection caps; either hands the connection to its own
    /// thread (which gives the slot back) or refuses it in one line and closes it here.
    private func admit(_ fd: FileDescriptor) {
        // accept4 made it non-blocking; the connection's thread uses blocking reads with a
        // receive timeout (SO_RCVTIMEO) as its idle timeout.
        guard (try? Self.makeBlocking(fd, timeoutMilliseconds: limits.idleTimeoutMilliseconds)) != nil,
              let credentials = try? Socket.peerCredentials(fd) else {
            fd.close()
            return
        }
        let caller = Caller(uid: credentials.uid, gid: credentials.gid, pid: credentials.pid)
        // The peer's groups as the kernel has them (SO_PEERGROUPS): no group database
        // lookup on the accept thread, which a hung directory service would stall.
        if let refusal = slots.take(uid: caller.uid, mayChange: { self.service.policy.mayChange(caller, groups: Socket.peerGroups(fd)) }) {
            send(fd, AdminAnswer.failure(refusal).rendered(json: false))
            Self.closeAfterAnswer(fd)
            return
        }
        let thread = Thread { [self] in
            defer {
                fd.close()
                slots.give(uid: caller.uid)
            }
            serve(fd, caller)
        }
        thread.start()
    }

    static func makeBlocking(_ fd: FileDescriptor, timeoutMilliseconds: Int) throws(Errno) {
        let flags = try syscallValue("fcntl(F_GETFL)") { fcntl(fd.rawValue, F_GETFL) }
        _ = try syscallValue("fcntl(F_SETFL)") { fcntl(fd.rawValue, F_SETFL, flags & ~O_NONBLOCK) }
        // The same bound for writes: a client that never reads its answer must not hold
        // the thread either.
        var timeout = timeval(tv_sec: timeoutMilliseconds / 1000, tv_usec: (timeoutMilliseconds % 1000) * 1000)
        for option in [SO_RCVTIMEO, SO_SNDTIMEO] {
            _ = try syscallValue("setsockopt") {
                setsockopt(fd.rawValue, SOL_SOCKET, option, &timeout, socklen_t(MemoryLayout<timeval>.size))
            }
        }
    }

    /// Lines in, answers out, until the client closes, goes idle, or sends a line that is
    /// too long. Never holds more than `maxLineBytes` + 1 bytes of an unfinished line:
    /// each read asks only for what may still fit.
    private func serve(_ fd: FileDescriptor, _ caller: Caller) {
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: Self.maxLineBytes + 1)
        while true {
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeFirst(newline + 1)
                guard answer(line, fd, caller) else { return }
            }
            if pending.count > Self.maxLineBytes {
                send(fd, AdminAnswer.failure(AdminError("command longer than \(Self.maxLineBytes) bytes")).rendered(json: false))
                return
            }
            let room = Self.maxLineBytes + 1 - pending.count
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd.rawValue, $0.baseAddress, room) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                // SO_RCVTIMEO ran out (socket(7)).
                send(fd, AdminAnswer.failure(AdminError("idle for \(limits.idleTimeoutMilliseconds) ms, closing")).rendered(json: false))
                return
            }
            if n <= 0 {
                // A last line without a newline (printf "status" | socat ...) still counts,
                // and is the same command it would be with one ("upgrade" included).
                if !pending.isEmpty {
                    _ = answer(String(decoding: pending, as: UTF8.self), fd, caller)
                }
                return
            }
            pending.append(contentsOf: chunk[0..<n])
        }
    }

    /// Runs one command line and writes its answer; false when the connection is done with
    /// (an upgrade answered, or a takeover that took the connection over).
    private func answer(_ line: String, _ fd: FileDescriptor, _ caller: Caller) -> Bool {
        if line.trimmingCharacters(in: .whitespaces).isEmpty { return true }
        // The two upgrade words need the connection itself (takeover: descriptors
        // travel on it) or take seconds (upgrade: outside the commit lock).
        if line == "takeover", let upgrade = service.upgrade {
            upgrade.takeOver(fd, caller: caller, service: service)
            return false
        }
        if let command = try? AdminCommandLine(parsing: line), command.words.first == "upgrade" {
            let answer = service.runUpgrade(command, caller: caller)
            send(fd, answer.rendered(json: command.json))
            // Answered: now this process may stop (SIGTERM takes the usual drain path).
            if answer.ok { kill(getpid(), SIGTERM) }
            return false
        }
        let progress = AdminProgress { [self] text in send(fd, text + "\n") }
        let (answer, json) = service.execute(line, caller: caller, progress: progress)
        send(fd, answer.rendered(json: json))
        return true
    }

    /// Closes a connection refused before it was read. Its command, already sent, would be
    /// unread data: closing over it makes the kernel reset the client (ECONNRESET), which
    /// then lost the refusal line it had not read yet — the CLI said "connection reset"
    /// instead of why. What has arrived is read first (without waiting: the accept thread).
    private static func closeAfterAnswer(_ fd: FileDescriptor) {
        Socket.shutdownWrite(fd)
        var sink = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<4 {
            let n = sink.withUnsafeMutableBytes { recv(fd.rawValue, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n <= 0 { break }
        }
        fd.close()
    }

    private func send(_ fd: FileDescriptor, _ text: String) {
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { try? fd.writeAll($0) }
    }
}
