import CSwitchyardShims
import Glibc

/// An epoll instance (epoll(7)). Level-triggered unless `EPOLLET` is in a registration's
/// mask: an fd stays reported while it is ready, so a handler may do one bounded amount
/// of work per wake-up without losing events.
public struct Epoll: ~Copyable {
    public let fd: FileDescriptor
    private let events: UnsafeMutablePointer<epoll_event>
    public let capacity: Int

    public struct Event {
        public var bits: UInt32
        public var data: UInt64
    }

    public static let readable = SY_EPOLLIN
    public static let writable = SY_EPOLLOUT
    public static let error = SY_EPOLLERR
    public static let hangUp = SY_EPOLLHUP
    public static let readHangUp = SY_EPOLLRDHUP
    /// `EPOLLET`, an input flag only: epoll never reports it.
    public static let edgeTriggered = SY_EPOLLET

    public init(capacity: Int = 256) throws(Errno) {
        fd = FileDescriptor(rawValue: try syscallValue("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) })
        self.capacity = capacity
        events = .allocate(capacity: capacity)
    }

    deinit {
        events.deallocate()
        fd.close()
    }

    public func add(_ target: FileDescriptor, events bits: UInt32, data: UInt64) throws(Errno) {
        try control(EPOLL_CTL_ADD, target, bits, data)
    }

    public func modify(_ target: FileDescriptor, events bits: UInt32, data: UInt64) throws(Errno) {
        try control(EPOLL_CTL_MOD, target, bits, data)
    }

    public func remove(_ target: FileDescriptor) {
        // ENOENT is possible if the fd was never added; nothing to undo then.
        var event = epoll_event()
        _ = epoll_ctl(fd.rawValue, EPOLL_CTL_DEL, target.rawValue, &event)
    }

    private func control(_ op: Int32, _ target: FileDescriptor, _ bits: UInt32, _ data: UInt64) throws(Errno) {
        var event = epoll_event()
        event.events = bits
        event.data.u64 = data
        _ = try syscallValue("epoll_ctl") { epoll_ctl(fd.rawValue, op, target.rawValue, &event) }
    }

    /// Waits up to `timeoutMilliseconds` (-1: forever); returns how many events are ready.
    public func wait(timeoutMilliseconds: Int32) throws(Errno) -> Int {
        switch try syscall(blocking: true, "epoll_wait", { sy_epoll_wait(fd.rawValue, events, Int32(capacity), timeoutMilliseconds) }) {
        case .processed(let n): return Int(n)
        case .wouldBlock: return 0
        }
    }

    @inline(__always)
    public func event(at index: Int) -> Event {
        let e = events[index]
        return Event(bits: e.events, data: e.data.u64)
    }
}
