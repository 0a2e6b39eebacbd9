import Glibc

/// Monotonic and wall clocks without Foundation (cheap enough to call per request).
public enum Clock {
    @inline(__always)
    public static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    @inline(__always)
    public static func monotonicMilliseconds() -> UInt64 { monotonicNanoseconds() / 1_000_000 }

    /// Microseconds since the Unix epoch.
    @inline(__always)
    public static func wallMicroseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000 &+ UInt64(ts.tv_nsec) / 1000
    }
}
