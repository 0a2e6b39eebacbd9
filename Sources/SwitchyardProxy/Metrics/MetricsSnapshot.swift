import SwitchyardRouting

/// The metrics of every worker, summed: what `/metrics`, `/status.json` and the history
/// sampler read. Taken by `Proxy.metricsSnapshot()`, off the data plane.
public struct MetricsSnapshot: Sendable {
    /// Per route and backend, every cell that any worker has (including routes and
    /// backends a reload removed: the reader decides what to show).
    public var cells: [MetricsKey: MetricsCounts] = [:]
    /// The table generation the server figures belong to, and per backend index, per
    /// server index: available (first worker's view; health is the same in every worker)
    /// and open upstream connections (summed over workers on that generation).
    public var serverGeneration: UInt64 = 0
    public var serversUp: [[Bool]] = []
    public var upstreamConnections: [[Int]] = []
    /// Connection-level counters summed over workers.
    public var stats = WorkerStats()
}

/// One cell's counters (summed over workers), read by name.
public struct MetricsCounts: Sendable {
    var slots: [UInt64]

    init(slots: [UInt64]) { self.slots = slots }

    static func + (a: MetricsCounts, b: MetricsCounts) -> MetricsCounts {
        var sum = a.slots
        for i in 0..<sum.count { sum[i] &+= b.slots[i] }
        return MetricsCounts(slots: sum)
    }

    /// Answers of class `hundreds`xx (1…5).
    public func requests(class hundreds: Int) -> UInt64 { slots[MetricsLayout.statusClasses + hundreds - 1] }
    public var requests: UInt64 { (1...5).reduce(0) { $0 &+ requests(class: $1) } }
    /// 5xx answers, the backend's or ours.
    public var serverErrors: UInt64 { requests(class: 5) }
    public func proxyErrors(_ reason: ProxyErrorReason) -> UInt64 { slots[MetricsLayout.proxyErrors + Int(reason.rawValue)] }
    /// Proxy errors that failed a request (connect attempts left out: a later server may
    /// have answered).
    public var failedByProxy: UInt64 {
        ProxyErrorReason.allCases.filter { $0 != .connect }.reduce(0) { $0 &+ proxyErrors($1) }
    }
    public var inFlight: Int64 { Int64(bitPattern: slots[MetricsLayout.inFlight]) }
    /// Non-cumulative counts per bucket of `MetricsLayout.bucketSeconds`, then +Inf.
    public var durationBuckets: ArraySlice<UInt64> { slots[MetricsLayout.duration..<MetricsLayout.duration + MetricsLayout.bucketCount] }
    public var durationSumMicroseconds: UInt64 { slots[MetricsLayout.durationSum] }
    public var headerBuckets: ArraySlice<UInt64> { slots[MetricsLayout.header..<MetricsLayout.header + MetricsLayout.bucketCount] }
    public var headerSumMicroseconds: UInt64 { slots[MetricsLayout.headerSum] }
    /// Requests that failed the user: 5xx answers (the backend's or ours) and cuts caused
    /// by the upstream. What the error guard counts.
    public var guardErrors: UInt64 { slots[MetricsLayout.guardErrors] }
    /// The write hold's own 503s (in `requests` too).
    public var heldAnswers: UInt64 { slots[MetricsLayout.heldAnswers] }
    /// The requests a backend was asked to answer, or would have been: `requests` without
    /// the hold's own 503s. What the guards count.
    public var guardRequests: UInt64 { requests &- heldAnswers }
    /// 401, 403 and 404 answers (the client-error guard).
    public var clientErrors: UInt64 { slots[MetricsLayout.clientErrors] }
    /// Connect failures, timeouts, resets and our own 502/503/504.
    public var transportFailures: UInt64 { slots[MetricsLayout.transportFailures] }
    /// Transport failures in a row right now, summed over workers (a gauge).
    public var transportStreak: UInt64 { slots[MetricsLayout.transportStreak] }
    /// Runs of `MetricsLayout.fastTripStreak` transport failures in a row, in any worker.
    public var streakRuns: UInt64 { slots[MetricsLayout.streakRuns] }
    /// The fine latency histogram (cumulative since start), for percentiles.
    public var fineHistogram: ArraySlice<UInt64> { slots[MetricsLayout.fine..<MetricsLayout.fine + MetricsLayout.fineCount] }

    /// A cell with nothing counted (series the routes file implies before any request).
    public static let zero = MetricsCounts(slots: Array(repeating: 0, count: MetricsLayout.width))

    /// What happened between `earlier` and this (counters only; in flight and the
    /// transport streak, gauges, are this one's).
    public func since(_ earlier: MetricsCounts) -> MetricsCounts {
        var delta = slots
        for i in 0..<delta.count where i != MetricsLayout.inFlight && i != MetricsLayout.transportStreak { delta[i] = slots[i] &- earlier.slots[i] }
        return MetricsCounts(slots: delta)
    }

    /// The latency (µs) below which `fraction` of the counted requests finished, from the
    /// fine histogram; nil without requests.
    public func percentileMicroseconds(_ fraction: Double) -> UInt64? {
        let fine = fineHistogram
        // Wrapping sums: the counts are differences of counters (`since`), which never
        // trap, and nothing here may either.
        let total = fine.reduce(0, &+)
        guard total > 0 else { return nil }
        let rank = max(1, UInt64(min((Double(total) * fraction).rounded(.up), Double(UInt64.max >> 1))))
        var seen: UInt64 = 0
        for (offset, count) in fine.enumerated() {
            seen &+= count
            if seen >= rank { return MetricsLayout.fineLowerBound(offset) }
        }
        return MetricsLayout.fineLowerBound(MetricsLayout.fineCount - 1)
    }
}

extension Proxy {
    /// Every worker's metrics, summed. Each worker copies its counters into memory this
    /// thread allocated, on its own loop, without allocating or locking anything of its own
    /// (the hand-off is the one `status` uses). Not for a worker's thread.
    public func metricsSnapshot() -> MetricsSnapshot {
        var capacity = 4096
        while true {
            let base = UnsafeMutablePointer<UInt64>.allocate(capacity: capacity * settings.workers)
            defer { base.deallocate() }
            let whole = MetricsCopyTarget(base: base, capacity: capacity)
            let copies = onEveryWorker { worker in
                worker.metrics.copy(into: MetricsCopyTarget(base: whole.base + worker.index * whole.capacity, capacity: whole.capacity),
                                    handle: worker.current, stats: worker.stats)
            }
            if let needed = copies.map(\.needed).max(), needed > capacity {
                capacity = needed + needed / 2
                continue
            }
            return merge(copies, base: base, capacity: capacity)
        }
    }

    private func merge(_ copies: [WorkerMetricsCopy], base: UnsafeMutablePointer<UInt64>, capacity: Int) -> MetricsSnapshot {
        var snapshot = MetricsSnapshot()
        let width = MetricsLayout.width
        let table = self.table
        snapshot.serverGeneration = table.generation
        snapshot.serversUp = table.config.backends.map { Array(repeating: false, count: $0.servers.count) }
        snapshot.upstreamConnections = table.config.backends.map { Array(repeating: 0, count: $0.servers.count) }
        var firstOnGeneration = true
        for (w, copy) in copies.enumerated() {
            let start = base + w * capacity
            snapshot.stats = snapshot.stats + copy.stats
            for i in 0..<copy.cellCount {
                let counts = MetricsCounts(slots: Array(UnsafeBufferPointer(start: start + i * width, count: width)))
                snapshot.cells[copy.keys[i]] = snapshot.cells[copy.keys[i]].map { $0 + counts } ?? counts
            }
            // Server figures only from workers already on the table being described.
            guard copy.generation == table.generation else { continue }
            var offset = copy.cellCount * width
            for b in snapshot.serversUp.indices {
                for s in snapshot.serversUp[b].indices {
                    if firstOnGeneration { snapshot.serversUp[b][s] = start[offset] != 0 }
                    snapshot.upstreamConnections[b][s] += Int(start[offset + 1])
                    offset += 2
                }
            }
            firstOnGeneration = false
        }
        return snapshot
    }
}
