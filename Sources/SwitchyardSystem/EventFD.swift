import CSwitchyardShims
import Glibc

/// An eventfd (eventfd(2)): how another thread wakes an event loop.
public struct EventFD: Sendable {
    public let fd: FileDescriptor

    public init() throws(Errno) {
        fd = FileDescriptor(rawValue: try syscallValue("eventfd") { eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC)) })
    }

    /// Safe from any thread.
    public func signal() {
        var one: UInt64 = 1
        _ = Glibc.write(fd.rawValue, &one, 8)
    }

    /// Clears pending wake-ups (on the loop's thread).
    public func drain() {
        var value: UInt64 = 0
        _ = Glibc.read(fd.rawValue, &value, 8)
    }
}
