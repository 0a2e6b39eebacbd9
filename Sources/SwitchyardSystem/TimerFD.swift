import CSwitchyardShims
import Glibc

/// A periodic timerfd (timerfd_create(2)) on the monotonic clock: the loop's tick.
public struct TimerFD: Sendable {
    public let fd: FileDescriptor

    public init(intervalMilliseconds: Int) throws(Errno) {
        fd = FileDescriptor(rawValue: try syscallValue("timerfd_create") {
            timerfd_create(CLOCK_MONOTONIC, Int32(TFD_NONBLOCK) | Int32(TFD_CLOEXEC))
        })
        var spec = itimerspec()
        spec.it_interval.tv_sec = intervalMilliseconds / 1000
        spec.it_interval.tv_nsec = (intervalMilliseconds % 1000) * 1_000_000
        spec.it_value = spec.it_interval
        _ = try syscallValue("timerfd_settime") { timerfd_settime(fd.rawValue, 0, &spec, nil) }
    }

    /// Returns how many intervals expired since the last call.
    public func drain() -> UInt64 {
        var count: UInt64 = 0
        _ = Glibc.read(fd.rawValue, &count, 8)
        return count
    }
}
