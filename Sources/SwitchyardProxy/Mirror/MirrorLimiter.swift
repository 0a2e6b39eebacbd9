import SwitchyardCompare

/// Why a copy was not sent (`switchyard_mirror_dropped_total{reason}`).
public enum MirrorDrop: Int, CaseIterable, Sendable {
    /// The target's in-flight bound was reached.
    case inFlight
    /// The target's rate cap was reached.
    case rate
    /// A method outside the route's allowlist, and the target is not a sandbox.
    case method
    /// The copy could not be built whole: a body still arriving (or chunked), or a head and
    /// body larger than one pooled buffer.
    case tooLarge
    /// No server of the target can take it (all down or ejected).
    case noServer

    public var label: String {
        switch self {
        case .inFlight: return "in_flight"
        case .rate: return "rate"
        case .method: return "method"
        case .tooLarge: return "too_large"
        case .noServer: return "no_server"
        }
    }
}

/// Counters of one mirror target (per worker; merged by the admin thread).
public struct MirrorCounters: Sendable, Equatable {
    /// Copies sent (noise copies to the primary side included).
    public var sent = 0
    /// Copies answered in full.
    public var completed = 0
    /// By `MirrorDrop.rawValue`.
    public var dropped = [Int](repeating: 0, count: MirrorDrop.allCases.count)
    /// By failure: connect, reset, timeout, malformed (`MirrorAnswer.Failure`).
    public var failed: [String: Int] = [:]
    /// Copies in flight now.
    public var inFlight = 0

    public init() {}

    public var droppedTotal: Int { dropped.reduce(0, +) }

    mutating func add(_ other: MirrorCounters) {
        sent += other.sent
        completed += other.completed
        for i in dropped.indices { dropped[i] += other.dropped[i] }
        for (reason, n) in other.failed { failed[reason, default: 0] += n }
        inFlight += other.inFlight
    }
}

/// One worker's bounds for one mirror target: its share of the in-flight bound and a token
/// bucket holding its share of the rate. Over either, a copy is dropped, never queued.
final class MirrorLimiter {
    var counters = MirrorCounters()
    /// Failures counted without building dictionary keys on the worker: connect, reset,
    /// timeout, malformed (merged into `counters.failed` when a snapshot is taken).
    var failures = (connect: 0, reset: 0, timeout: 0, malformed: 0, tooLarge: 0)
    private var tokens: Double = 0
    private var refilledAt: UInt64 = 0

    /// Whether a copy may start now (`inFlightShare`, `ratePerSecond` are this worker's share);
    /// takes a token and an in-flight place when it may, counts the drop when not.
    /// The in-flight check alone, counted as `admit` counts it: false (and one `in_flight`
    /// drop) when this worker's share of copies is out.
    func hasRoom(inFlightShare: Int) -> Bool {
        guard counters.inFlight < inFlightShare else {
            counters.dropped[MirrorDrop.inFlight.rawValue] += 1
            return false
        }
        return true
    }

    func admit(inFlightShare: Int, ratePerSecond: Double, now: UInt64) -> Bool {
        guard counters.inFlight < inFlightShare else {
            counters.dropped[MirrorDrop.inFlight.rawValue] += 1
            return false
        }
        let burst = max(1, ratePerSecond)
        if refilledAt == 0 {
            tokens = burst
        } else if now > refilledAt {
            tokens = min(burst, tokens + Double(now - refilledAt) * ratePerSecond / 1000)
        }
        refilledAt = now
        guard tokens >= 1 else {
            counters.dropped[MirrorDrop.rate.rawValue] += 1
            return false
        }
        tokens -= 1
        counters.inFlight += 1
        counters.sent += 1
        return true
    }

    func dropped(_ reason: MirrorDrop) { counters.dropped[reason.rawValue] += 1 }

    func ended(failure: MirrorAnswer.Failure?) {
        counters.inFlight -= 1
        switch failure {
        case nil: counters.completed += 1
        case .connect?: failures.connect += 1
        case .reset?: failures.reset += 1
        case .timeout?: failures.timeout += 1
        case .malformed?: failures.malformed += 1
        case .tooLarge?: failures.tooLarge += 1
        }
    }

    /// The counters with the failures folded in (off the hot path: a snapshot).
    var snapshot: MirrorCounters {
        var c = counters
        let f = failures
        for (reason, n) in [("connect", f.connect), ("reset", f.reset), ("timeout", f.timeout),
                            ("malformed", f.malformed), ("too_large", f.tooLarge)] where n > 0 {
            c.failed[reason] = n
        }
        return c
    }
}
