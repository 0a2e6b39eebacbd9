import CSwitchyardShims
import Glibc

/// An owned file descriptor number. Closing is explicit (`close()`), done exactly once by
/// the owner: the event loop's registration table catches a use after close.
public struct FileDescriptor: Sendable, Hashable, CustomStringConvertible {
    public let rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    public var description: String { "fd \(rawValue)" }

    /// Reads into `buffer`; `.processed(0)` is end of stream.
    @inline(__always)
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> IOResult<Int> {
        try syscall("read") { Glibc.read(rawValue, buffer.baseAddress, buffer.count) }
    }

    @inline(__always)
    public func write(_ buffer: UnsafeRawBufferPointer) throws(Errno) -> IOResult<Int> {
        try syscall("write") { Glibc.write(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// A socket's `read`: recv(2), which goes to the socket layer directly where read(2)
    /// passes through the file layer first (`vfs_read`, `fdget_pos`: about 5 % of the kernel
    /// time of a proxied request in a perf profile). `.processed(0)` is end of stream. As a
    /// plain system call, not glibc's cancellation point (`sy_recv`: no atomics).
    @inline(__always)
    public func receive(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> IOResult<Int> {
        try syscall("recv") { sy_recv(rawValue, buffer.baseAddress, buffer.count, 0) }
    }

    /// A socket's `write`: send(2) with MSG_NOSIGNAL (a peer that vanished is EPIPE even
    /// where SIGPIPE is not ignored), past the file layer like `receive`.
    @inline(__always)
    public func send(_ buffer: UnsafeRawBufferPointer) throws(Errno) -> IOResult<Int> {
        try syscall("send") { sy_send(rawValue, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Writes all of `buffer`, waiting if needed (only for blocking descriptors: files, logs).
    public func writeAll(_ buffer: UnsafeRawBufferPointer) throws(Errno) {
        var offset = 0
        while offset < buffer.count {
            let rest = UnsafeRawBufferPointer(rebasing: buffer[offset...])
            switch try syscall(blocking: true, "write", { Glibc.write(rawValue, rest.baseAddress, rest.count) }) {
            case .processed(let n): offset += n
            case .wouldBlock: continue
            }
        }
    }

    /// Closes the descriptor. Never retried on EINTR: on Linux the descriptor is released
    /// even when close reports EINTR, and a retry could close a descriptor another thread
    /// has just been given (see lwn.net/Articles/576478).
    public func close() {
        let result = Glibc.close(rawValue)
        // EBADF is a descriptor closed twice: the second close can hit a number another
        // thread was given meanwhile. Debug builds (the tests) stop there.
        assert(result == 0 || errno != EBADF, "\(self) closed twice")
    }

    public func setNonBlocking() throws(Errno) {
        let flags = try syscallValue("fcntl(F_GETFL)") { fcntl(rawValue, F_GETFL) }
        _ = try syscallValue("fcntl(F_SETFL)") { fcntl(rawValue, F_SETFL, flags | O_NONBLOCK) }
    }

    public func fsync() throws(Errno) {
        _ = try syscallValue("fsync") { Glibc.fsync(rawValue) }
    }

    /// Whether the peer has shut down its side or the connection broke (a FIN or a reset
    /// arrived), asked without reading: for a socket nobody reads while it waits (its
    /// buffer full), which no event would wake. `poll` with POLLRDHUP, the same bit as
    /// EPOLLRDHUP.
    public var peerHasHungUp: Bool {
        let mask = Int16(truncatingIfNeeded: SY_EPOLLRDHUP | SY_EPOLLHUP | SY_EPOLLERR)
        var entry = pollfd(fd: rawValue, events: Int16(truncatingIfNeeded: SY_EPOLLRDHUP), revents: 0)
        guard poll(&entry, 1, 0) == 1 else { return false }
        return entry.revents & mask != 0
    }
}
