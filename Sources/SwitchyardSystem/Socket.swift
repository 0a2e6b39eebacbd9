import CSwitchyardShims
import Glibc

/// Socket set-up and the non-blocking calls the event loops make. Every socket is created
/// non-blocking and close-on-exec.
public enum Socket {
    /// A listening TCP socket. `reusePort` lets every worker bind its own socket to the same
    /// address so the kernel spreads connections (socket(7), SO_REUSEPORT).
    public static func listen(on address: SocketAddress, reusePort: Bool, backlog: Int32 = 1024) throws(Errno) -> FileDescriptor {
        let fd = FileDescriptor(rawValue: try syscallValue("socket") {
            socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        })
        do {
            try setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            if reusePort { try setOption(fd, SOL_SOCKET, SO_REUSEPORT, 1) }
            var address = address
            _ = try syscallValue("bind(\(address))") { sy_bind(fd.rawValue, &address.storage, address.length) }
            _ = try syscallValue("listen") { Glibc.listen(fd.rawValue, backlog) }
        } catch {
            fd.close()
            throw error
        }
        return fd
    }

    /// A listening Unix domain socket at `path`.
    public static func listenUnix(path: String, backlog: Int32 = 64) throws(Errno) -> FileDescriptor {
        guard var address = SocketAddress(unixPath: path) else { throw Errno(code: ENAMETOOLONG, call: "bind(\(path))") }
        let fd = FileDescriptor(rawValue: try syscallValue("socket(AF_UNIX)") {
            socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        })
        do {
            _ = try syscallValue("bind(\(path))") { sy_bind(fd.rawValue, &address.storage, address.length) }
            _ = try syscallValue("listen") { Glibc.listen(fd.rawValue, backlog) }
        } catch {
            fd.close()
            throw error
        }
        return fd
    }

    /// Accepts one connection, non-blocking and close-on-exec.
    @inline(__always)
    public static func accept(_ listener: FileDescriptor, peer: inout SocketAddress) throws(Errno) -> IOResult<FileDescriptor> {
        peer.length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = try syscall("accept4") {
            sy_accept4(listener.rawValue, &peer.storage, &peer.length, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
        }
        switch result {
        case .processed(let fd): return .processed(FileDescriptor(rawValue: fd))
        case .wouldBlock: return .wouldBlock
        }
    }

    /// Starts a non-blocking connect. `.processed(true)` connected at once, `.processed(false)`
    /// in progress (EINPROGRESS: wait for EPOLLOUT, then `takeError`).
    public static func connect(to address: SocketAddress) throws(Errno) -> (FileDescriptor, connected: Bool) {
        let fd = FileDescriptor(rawValue: try syscallValue("socket") {
            socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        })
        var address = address
        if address.family != AF_UNIX { try? setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1) }
        let rc = sy_connect(fd.rawValue, &address.storage, address.length)
        if rc == 0 { return (fd, true) }
        let err = sy_errno()
        if err == EINPROGRESS || err == EINTR { return (fd, false) }
        fd.close()
        throw Errno(code: err, call: "connect(\(address))")
    }

    /// Blocking connect, for clients (CLI, tests) and the health checker's thread.
    /// - Parameter timeoutMilliseconds: how long the connect may take (nil: the kernel's
    ///   SYN retries, about two minutes for a server that drops them); past it, ETIMEDOUT.
    ///   It stays the socket's send timeout (SO_SNDTIMEO) afterwards.
    public static func connectBlocking(to address: SocketAddress, timeoutMilliseconds: Int? = nil) throws(Errno) -> FileDescriptor {
        let fd = FileDescriptor(rawValue: try syscallValue("socket") {
            socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        })
        if let timeoutMilliseconds {
            // socket(7): a blocking connect honours SO_SNDTIMEO and gives up with EINPROGRESS.
            var tv = timeval(tv_sec: timeoutMilliseconds / 1000, tv_usec: (timeoutMilliseconds % 1000) * 1000)
            setsockopt(fd.rawValue, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        }
        var address = address
        do {
            _ = try syscallValue("connect(\(address))") { sy_connect(fd.rawValue, &address.storage, address.length) }
        } catch {
            fd.close()
            // EALREADY: a retry after EINTR found the first attempt still under way.
            if error.code == EINPROGRESS || error.code == EAGAIN || error.code == EALREADY {
                throw Errno(code: ETIMEDOUT, call: "connect(\(address)) within \(timeoutMilliseconds ?? 0) ms")
            }
            throw error
        }
        if address.family != AF_UNIX { try? setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1) }
        return fd
    }

    /// Waits with poll(2) until `fd` is ready for `events` (POLLIN, POLLOUT) or the monotonic
    /// clock reaches `deadline` (milliseconds, `Clock.monotonicMilliseconds`). For the
    /// blocking clients on threads of their own (etcd, notify), never an event loop.
    /// Returns false at the deadline or on a poll error.
    public static func waitReady(_ fd: FileDescriptor, events: Int32, until deadline: UInt64) -> Bool {
        while true {
            let now = Clock.monotonicMilliseconds()
            guard now < deadline else { return false }
            var entry = pollfd(fd: fd.rawValue, events: Int16(events), revents: 0)
            let rc = poll(&entry, 1, Int32(min(deadline - now, 60_000)))
            if rc > 0 { return true }
            if rc < 0 && errno != EINTR { return false }
        }
    }

    /// True when a non-blocking socket has nothing queued to read: no byte and no end
    /// (`recv` with `MSG_PEEK` says `EAGAIN`). Reads nothing.
    public static func nothingToRead(_ fd: FileDescriptor) -> Bool {
        var byte: UInt8 = 0
        guard sy_recv(fd.rawValue, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) < 0 else { return false }
        let code = sy_errno()
        return code == EAGAIN || code == EWOULDBLOCK
    }

    /// The pending error of a socket (SO_ERROR): how a non-blocking connect ended.
    public static func takeError(_ fd: FileDescriptor) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd.rawValue, SOL_SOCKET, SO_ERROR, &value, &length) != 0 { return sy_errno() }
        return value
    }

    public static func setOption(_ fd: FileDescriptor, _ level: Int32, _ name: Int32, _ value: Int32) throws(Errno) {
        var value = value
        _ = try syscallValue("setsockopt") {
            setsockopt(fd.rawValue, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    public static func localAddress(_ fd: FileDescriptor) throws(Errno) -> SocketAddress {
        var address = SocketAddress(storage: sockaddr_storage(), length: socklen_t(MemoryLayout<sockaddr_storage>.size))
        _ = try syscallValue("getsockname") { sy_getsockname(fd.rawValue, &address.storage, &address.length) }
        return address
    }

    /// Half-closes the sending side (shutdown(2) SHUT_WR): the peer reads end of stream.
    public static func shutdownWrite(_ fd: FileDescriptor) {
        _ = Glibc.shutdown(fd.rawValue, Int32(SHUT_WR))
    }

    /// Makes the next close of `fd` a reset (SO_LINGER 0) instead of an orderly end: the
    /// peer learns the stream broke off, where an end of stream would read as complete.
    public static func resetOnClose(_ fd: FileDescriptor) {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd.rawValue, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
    }

    /// Moves bytes between two descriptors through the kernel (splice(2)); one side must be a pipe.
    @inline(__always)
    public static func splice(from: FileDescriptor, to: FileDescriptor, count: Int) throws(Errno) -> IOResult<Int> {
        try syscall("splice") { sy_splice(from.rawValue, to.rawValue, count) }
    }

    /// The credentials of a Unix socket's peer (socket(7), SO_PEERCRED).
    public static func peerCredentials(_ fd: FileDescriptor) throws(Errno) -> (pid: Int32, uid: UInt32, gid: UInt32) {
        var pid: Int32 = 0, uid: UInt32 = 0, gid: UInt32 = 0
        _ = try syscallValue("getsockopt(SO_PEERCRED)") { sy_peercred(fd.rawValue, &pid, &uid, &gid) }
        return (pid, uid, gid)
    }

    /// The supplementary groups of a Unix socket's peer, as the kernel recorded them at
    /// connect (socket(7), SO_PEERGROUPS, Linux 4.13): no group database lookup, so safe
    /// where a hung directory service must not stall anything. Empty if it cannot tell.
    public static func peerGroups(_ fd: FileDescriptor) -> [UInt32] {
        let soPeerGroups: Int32 = 59   // SO_PEERGROUPS in <asm-generic/socket.h>
        var groups = [UInt32](repeating: 0, count: 64)
        var length = socklen_t(groups.count * MemoryLayout<UInt32>.size)
        var result = groups.withUnsafeMutableBytes { getsockopt(fd.rawValue, SOL_SOCKET, soPeerGroups, $0.baseAddress, &length) }
        if result < 0 && errno == ERANGE, Int(length) <= 65536 * MemoryLayout<UInt32>.size {
            // More than 64: the kernel said how much room it needs.
            groups = [UInt32](repeating: 0, count: Int(length) / MemoryLayout<UInt32>.size)
            result = groups.withUnsafeMutableBytes { getsockopt(fd.rawValue, SOL_SOCKET, soPeerGroups, $0.baseAddress, &length) }
        }
        guard result == 0 else { return [] }
        return Array(groups.prefix(Int(length) / MemoryLayout<UInt32>.size))
    }
}

/// A non-blocking pipe, for splice(2).
public enum Pipe {
    public static func make() throws(Errno) -> (read: FileDescriptor, write: FileDescriptor) {
        var fds: [Int32] = [0, 0]
        _ = try syscallValue("pipe2") { fds.withUnsafeMutableBufferPointer { sy_pipe2_nonblocking($0.baseAddress!) } }
        return (FileDescriptor(rawValue: fds[0]), FileDescriptor(rawValue: fds[1]))
    }
}
