import Foundation
import SwitchyardProxy
import SwitchyardSystem

/// What the cutover page draws, kept by the proxy so that a page opened mid-cutover has
/// its history at once: every `tick` the merged metrics are sampled (off the data plane,
/// through `Proxy.metricsSnapshot`); each `pointSpan` becomes one point per route and
/// backend, and 15 minutes of points are kept.
public final class StatusHistory: @unchecked Sendable {
    /// One route and backend over one span.
    public struct Point: Sendable {
        /// End of the span, seconds since the epoch.
        public var time: Double
        public var requestsPerSecond: Double
        public var requests: UInt64
        /// 5xx answers over requests (nil without requests).
        public var errorRatio: Double?
        public var proxyErrorRatio: Double?
        public var p50Milliseconds: Double?
        public var p99Milliseconds: Double?
        /// End of the span on the monotonic clock: what spans and ages are measured with.
        var clock: Double = 0
    }

    /// `time` (the wall clock) labels the charts; `clock` (monotonic) measures every span,
    /// window and age: a clock stepped by NTP, a resumed VM or a date fixed by hand made
    /// rates of 0 (or of a huge divisor), no new points for the length of the step, and
    /// "last minute" figures over an hour.
    struct Sample {
        var time: Double
        var clock: Double
        var snapshot: MetricsSnapshot
    }

    private struct State {
        var samples: [Sample] = []
        var points: [MetricsKey: [Point]] = [:]
        var lastPoint: Sample?
    }

    let proxy: Proxy
    let tickMilliseconds: Int
    let pointSpanSeconds: Double
    let keepSeconds: Double
    /// Ratios and percentiles of "now" are read over this window (req/s over `pointSpan`).
    let windowSeconds: Double
    private let state = Locked(State())
    private let stopped = Locked(false)
    /// Seconds since the epoch, for the charts' labels (a test steps it).
    let wallClock: @Sendable () -> Double

    public init(proxy: Proxy, tickMilliseconds: Int = 2_000, pointSpanSeconds: Double = 10, keepSeconds: Double = 900,
                windowSeconds: Double = 60, wallClock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.wallClock = wallClock
        self.proxy = proxy
        self.tickMilliseconds = tickMilliseconds
        self.pointSpanSeconds = pointSpanSeconds
        self.keepSeconds = keepSeconds
        self.windowSeconds = windowSeconds
    }

    public func start() {
        sample()
        let thread = Thread { [self] in
            while !stopped.withLock({ $0 }) {
                usleep(UInt32(tickMilliseconds) * 1000)
                if stopped.withLock({ $0 }) { return }
                sample()
            }
        }
        thread.name = "switchyard-history"
        thread.start()
    }

    public func stop() { stopped.withLock { $0 = true } }

    /// Takes one sample now; makes a point when a span has passed since the last one.
    func sample() {
        let now = Sample(time: wallClock(), clock: GuardEvaluator.clockSeconds(), snapshot: proxy.metricsSnapshot())
        state.withLock { s in
            s.samples.append(now)
            s.samples.removeAll { $0.clock < now.clock - windowSeconds - pointSpanSeconds }
            guard let last = s.lastPoint else {
                s.lastPoint = now
                return
            }
            guard now.clock - last.clock >= pointSpanSeconds - 0.05 else { return }
            for (key, counts) in now.snapshot.cells {
                let delta = counts.since(last.snapshot.cells[key] ?? .zero)
                var list = s.points[key] ?? []
                var point = Self.point(delta, seconds: now.clock - last.clock, at: now.time)
                point.clock = now.clock
                list.append(point)
                list.removeAll { $0.clock < now.clock - keepSeconds }
                s.points[key] = list
            }
            s.lastPoint = now
        }
    }

    static func point(_ delta: MetricsCounts, seconds: Double, at time: Double) -> Point {
        let requests = delta.requests
        let n = Double(requests)
        return Point(time: time, requestsPerSecond: seconds > 0 ? n / seconds : 0, requests: requests,
                     errorRatio: requests > 0 ? Double(delta.serverErrors) / n : nil,
                     proxyErrorRatio: requests > 0 ? Double(delta.failedByProxy) / n : nil,
                     p50Milliseconds: delta.percentileMicroseconds(0.5).map { Double($0) / 1000 },
                     p99Milliseconds: delta.percentileMicroseconds(0.99).map { Double($0) / 1000 })
    }

    /// Figures of "now" per route and backend: req/s over the last span, ratios and
    /// percentiles over the last window (`requests` is that window's sample size), and the
    /// latest snapshot (in flight, servers up).
    func current() -> (figures: [MetricsKey: Point], latest: MetricsSnapshot?) {
        state.withLock { s in
            guard let latest = s.samples.last else { return ([:], nil) }
            let windowStart = s.samples.first { $0.clock >= latest.clock - windowSeconds - 0.05 } ?? latest
            let spanStart = s.samples.first { $0.clock >= latest.clock - pointSpanSeconds - 0.05 } ?? latest
            var result: [MetricsKey: Point] = [:]
            for (key, counts) in latest.snapshot.cells {
                let window = counts.since(windowStart.snapshot.cells[key] ?? .zero)
                var figures = Self.point(window, seconds: latest.clock - windowStart.clock, at: latest.time)
                let span = counts.since(spanStart.snapshot.cells[key] ?? .zero)
                let spanSeconds = latest.clock - spanStart.clock
                figures.requestsPerSecond = spanSeconds > 0 ? Double(span.requests) / spanSeconds : 0
                result[key] = figures
            }
            return (result, latest.snapshot)
        }
    }

    func points(_ key: MetricsKey) -> [Point] { state.withLock { $0.points[key] ?? [] } }
}
