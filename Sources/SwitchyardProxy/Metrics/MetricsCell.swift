/// One worker's counters for one route and one backend: answers by status class, the
/// proxy's own errors by reason, requests in flight, and two latency histograms (whole
/// request; upstream time to the response head) in the fixed Prometheus buckets plus a
/// fine log-linear histogram that percentiles are read from.
///
/// Written on the worker's thread only, with plain increments into memory allocated once
/// (no atomics, no allocation per request); read by copying the slots through the worker's
/// loop (`WorkerMetrics.copy`), so no other thread ever touches them.
final class MetricsCell {
    let key: MetricsKey
    /// `MetricsLayout.width` slots; freed with the cell (cells live as long as the worker).
    let slots: UnsafeMutablePointer<UInt64>

    init(key: MetricsKey) {
        self.key = key
        slots = .allocate(capacity: MetricsLayout.width)
        slots.initialize(repeating: 0, count: MetricsLayout.width)
    }

    deinit { slots.deallocate() }

    /// One finished request: its status (0: none was sent, the client saw a cut
    /// connection), its whole duration and, when a response head arrived, the time to it.
    @inline(__always)
    func recordRequest(status: Int, microseconds: UInt64, headerMicroseconds: UInt64?) {
        slots[MetricsLayout.statusClass(status)] &+= 1
        slots[MetricsLayout.duration + MetricsLayout.bucket(microseconds)] &+= 1
        slots[MetricsLayout.durationSum] &+= microseconds
        slots[MetricsLayout.fine + LatencyWindow.bucket(microseconds)] &+= 1
        if let headerMicroseconds {
            slots[MetricsLayout.header + MetricsLayout.bucket(headerMicroseconds)] &+= 1
            slots[MetricsLayout.headerSum] &+= headerMicroseconds
        }
    }

    /// The write hold's own 503 (refused, or parked until its max-wait ran out): on
    /// /metrics as the client saw it, but not in the fine histogram the latency guards read
    /// (an expiry's wait is the freeze's length) and counted apart, so that the guards'
    /// request count leaves it out.
    @inline(never)
    func recordHeldAnswer(status: Int, microseconds: UInt64) {
        slots[MetricsLayout.statusClass(status)] &+= 1
        slots[MetricsLayout.duration + MetricsLayout.bucket(microseconds)] &+= 1
        slots[MetricsLayout.durationSum] &+= microseconds
        slots[MetricsLayout.heldAnswers] &+= 1
    }

    /// What the guards read of one finished request: whether it failed the user (a 5xx,
    /// ours or the backend's, or a cut caused by the upstream), whether it was a 401/403/404,
    /// and whether the upstream answered at all (an answer ends a transport-failure streak).
    @inline(__always)
    func recordGuardOutcome(status: Int, failed: Bool, upstreamAnswered: Bool) {
        if failed { slots[MetricsLayout.guardErrors] &+= 1 }
        if status == 401 || status == 403 || status == 404 { slots[MetricsLayout.clientErrors] &+= 1 }
        if upstreamAnswered { slots[MetricsLayout.transportStreak] = 0 }
    }

    /// A transport failure (connect failure, timeout, reset, our own 502/503/504): the
    /// streak grows, and each time it reaches `fastTripStreak` a run is counted, so that a
    /// streak the admin thread did not see at its height still shows.
    @inline(__always)
    func recordTransportFailure() {
        slots[MetricsLayout.transportFailures] &+= 1
        slots[MetricsLayout.transportStreak] &+= 1
        if slots[MetricsLayout.transportStreak] == MetricsLayout.fastTripStreak { slots[MetricsLayout.streakRuns] &+= 1 }
    }

    @inline(__always)
    func recordProxyError(_ reason: ProxyErrorReason) {
        slots[MetricsLayout.proxyErrors + Int(reason.rawValue)] &+= 1
    }

    @inline(__always)
    func enter() { slots[MetricsLayout.inFlight] &+= 1 }

    @inline(__always)
    func leave() { slots[MetricsLayout.inFlight] &-= 1 }
}

/// Which route and backend a cell counts for.
public struct MetricsKey: Sendable, Hashable {
    public var route: String
    public var backend: String
    public init(route: String, backend: String) {
        self.route = route
        self.backend = backend
    }
}

/// The proxy's own failures, as `proxy_errors_total{reason}` names them.
public enum ProxyErrorReason: UInt8, Sendable, CaseIterable {
    /// A connect to a server failed or timed out (each attempt counts; the request may
    /// still succeed on the next server).
    case connect
    /// No response within the upstream timeout (504).
    case timeout
    /// The server closed or reset the connection before or during its answer.
    case reset
    /// TLS towards the server failed (handshake, verification).
    case tls
    /// The server's answer was malformed (502).
    case protocolError
    /// No server of the backend was up (503).
    case noServer

    /// The label value.
    public var label: String {
        switch self {
        case .connect: return "connect"
        case .timeout: return "timeout"
        case .reset: return "reset"
        case .tls: return "tls"
        case .protocolError: return "protocol"
        case .noServer: return "no_server"
        }
    }
}

/// Where each counter lives in a cell's slots, and the histogram buckets.
public enum MetricsLayout {
    /// Upper bounds of the Prometheus buckets, in seconds: the same on every instance so
    /// that histograms can be summed across a fleet.
    public static let bucketSeconds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
    static let bucketMicroseconds: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
        = (5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 30_000_000, 60_000_000)
    /// 13 finite buckets and +Inf.
    public static let bucketCount = 14

    /// 1xx…5xx answers.
    public static let statusClasses = 0
    public static let proxyErrors = 5
    public static let inFlight = proxyErrors + ProxyErrorReason.allCases.count
    public static let duration = inFlight + 1
    public static let durationSum = duration + bucketCount
    public static let header = durationSum + 1
    public static let headerSum = header + bucketCount
    /// `LatencyWindow`'s log-linear buckets, cumulative since start.
    public static let fine = headerSum + 1
    public static let fineCount = LatencyWindow.buckets
    /// For the guards (cumulative like the rest): requests that failed the user, 401/403/404
    /// answers, transport failures, the current run of transport failures in a row (a gauge:
    /// 0 after any upstream answer), and how many runs reached `fastTripStreak`.
    public static let guardErrors = fine + fineCount
    public static let clientErrors = guardErrors + 1
    public static let transportFailures = clientErrors + 1
    public static let transportStreak = transportFailures + 1
    public static let streakRuns = transportStreak + 1
    /// The write hold's own 503s (counted in their status class and duration histogram,
    /// as the client saw them): not the backend's answers, so not the guards' requests.
    public static let heldAnswers = streakRuns + 1
    public static let width = heldAnswers + 1
    /// Transport failures in a row that make a fast trip (the figure; fixed so
    /// that workers can count runs without knowing the guards).
    public static let fastTripStreak: UInt64 = 10

    /// The slot of a status's class; no status (0) and anything odd count as 5xx, as the
    /// client did not get a good answer.
    @inline(__always)
    static func statusClass(_ status: Int) -> Int {
        let hundreds = status / 100
        return statusClasses + (hundreds >= 1 && hundreds <= 5 ? hundreds - 1 : 4)
    }

    /// The index of the first bucket whose bound is ≥ `microseconds` (Prometheus' `le`).
    @inline(__always)
    static func bucket(_ microseconds: UInt64) -> Int {
        // A tuple, not an array: reading it cannot allocate or retain, even unoptimised.
        let b = bucketMicroseconds
        if microseconds <= b.4 {
            if microseconds <= b.0 { return 0 }
            if microseconds <= b.1 { return 1 }
            if microseconds <= b.2 { return 2 }
            if microseconds <= b.3 { return 3 }
            return 4
        }
        if microseconds <= b.5 { return 5 }
        if microseconds <= b.6 { return 6 }
        if microseconds <= b.7 { return 7 }
        if microseconds <= b.8 { return 8 }
        if microseconds <= b.9 { return 9 }
        if microseconds <= b.10 { return 10 }
        if microseconds <= b.11 { return 11 }
        if microseconds <= b.12 { return 12 }
        return 13
    }

    /// The lower bound of a fine bucket, in microseconds (for percentiles).
    public static func fineLowerBound(_ bucket: Int) -> UInt64 { LatencyWindow.lowerBound(bucket) }
}
