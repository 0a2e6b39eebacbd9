/// One worker's counters for one backend: requests, errors and a one-minute latency window.
/// Updated on the worker's thread per request with plain increments (no atomics); `status`
/// reads copies through the worker's loop and merges them.
final class BackendCounters {
    var requests = 0
    /// 5xx answers (ours or the backend's) and connect failures.
    var errors = 0
    var connectFailures = 0
    var openTunnels = 0
    let latency = LatencyWindow()

    @inline(__always)
    func record(status: Int, microseconds: UInt64, nowMilliseconds: UInt64) {
        requests += 1
        if status >= 500 || status == 0 { errors += 1 }
        latency.record(microseconds: microseconds, nowMilliseconds: nowMilliseconds)
    }

    var snapshot: BackendSnapshot {
        BackendSnapshot(requests: requests, errors: errors, connectFailures: connectFailures,
                        openTunnels: openTunnels, openConnections: 0, histogram: latency.merged(now: nil))
    }
}

/// Latencies of the last minute: six 10-second slots of log-linear histograms, allocated
/// once. Resolution: 4 sub-buckets per power of two (about ±12 %), enough to compare sides.
final class LatencyWindow {
    static let slots = 6
    static let slotMilliseconds: UInt64 = 10_000
    static let buckets = 192
    private var counts: [UInt32]
    private var slotStart: [UInt64]

    init() {
        counts = Array(repeating: 0, count: Self.slots * Self.buckets)
        slotStart = Array(repeating: 0, count: Self.slots)
    }

    @inline(__always)
    static func bucket(_ microseconds: UInt64) -> Int {
        if microseconds < 16 { return Int(microseconds) }
        let exponent = 63 - microseconds.leadingZeroBitCount
        let sub = Int((microseconds >> UInt64(exponent - 2)) & 3)
        return min(buckets - 1, 16 + (exponent - 4) * 4 + sub)
    }

    /// The lower bound of a bucket, in microseconds.
    static func lowerBound(_ bucket: Int) -> UInt64 {
        if bucket < 16 { return UInt64(bucket) }
        let exponent = (bucket - 16) / 4 + 4
        let sub = UInt64((bucket - 16) % 4)
        return (1 << UInt64(exponent)) | (sub << UInt64(exponent - 2))
    }

    @inline(__always)
    func record(microseconds: UInt64, nowMilliseconds: UInt64) {
        let period = nowMilliseconds / Self.slotMilliseconds
        let slot = Int(period % UInt64(Self.slots))
        if slotStart[slot] != period {
            slotStart[slot] = period
            let base = slot * Self.buckets
            for i in 0..<Self.buckets { counts[base + i] = 0 }
        }
        counts[slot * Self.buckets + Self.bucket(microseconds)] &+= 1
    }

    /// The histogram of the last minute (slots older than a minute are left out).
    func merged(now: UInt64?) -> [UInt32] {
        let period = (now ?? SwitchyardSystemClock.now()) / Self.slotMilliseconds
        var result = Array(repeating: UInt32(0), count: Self.buckets)
        for slot in 0..<Self.slots where slotStart[slot] + UInt64(Self.slots) > period {
            for i in 0..<Self.buckets { result[i] &+= counts[slot * Self.buckets + i] }
        }
        return result
    }
}

import SwitchyardSystem
enum SwitchyardSystemClock {
    static func now() -> UInt64 { Clock.monotonicMilliseconds() }
}

/// A backend's counters as `status` shows them (summed over workers).
public struct BackendSnapshot: Sendable {
    public var requests: Int
    public var errors: Int
    public var connectFailures: Int
    public var openTunnels: Int
    public var openConnections: Int
    var histogram: [UInt32]

    static func + (a: BackendSnapshot, b: BackendSnapshot) -> BackendSnapshot {
        BackendSnapshot(requests: a.requests + b.requests, errors: a.errors + b.errors,
                        connectFailures: a.connectFailures + b.connectFailures,
                        openTunnels: a.openTunnels + b.openTunnels,
                        openConnections: a.openConnections + b.openConnections,
                        histogram: zip(a.histogram, b.histogram).map { $0 &+ $1 })
    }

    /// Requests answered in the last minute.
    public var recentRequests: Int { histogram.reduce(0) { $0 + Int($1) } }

    /// The latency below which `fraction` of the last minute's requests completed, in µs
    /// (nil without requests).
    public func percentile(_ fraction: Double) -> UInt64? {
        let total = recentRequests
        guard total > 0 else { return nil }
        let rank = max(1, Int((Double(total) * fraction).rounded(.up)))
        var seen = 0
        for (bucket, count) in histogram.enumerated() {
            seen += Int(count)
            if seen >= rank { return LatencyWindow.lowerBound(bucket) }
        }
        return LatencyWindow.lowerBound(histogram.count - 1)
    }
}
