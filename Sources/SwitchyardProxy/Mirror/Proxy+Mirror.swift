import SwitchyardCompare

/// The mirror's counters as the admin side sees them, merged over the workers.
public struct MirrorSnapshot: Sendable, Equatable {
    /// By target backend name (noise copies count under the primary's backend).
    public var backends: [String: MirrorCounters] = [:]
    /// Finished samples waiting in the workers' outboxes.
    public var waiting = 0
    /// Samples lost because an outbox was full (the admin side did not drain in time).
    public var samplesDropped = 0

    public init() {}

    public var total: MirrorCounters {
        backends.values.reduce(into: MirrorCounters()) { $0.add($1) }
    }
}

extension Proxy {
    /// Takes every finished mirrored pair from the workers' outboxes (each worker hands its
    /// own over on its loop; the samples are compared off the data plane). Call it often
    /// enough — every second — that an outbox (`WorkerMirror.outboxLimit` per worker) does
    /// not fill; the overflow is counted in `mirrorSnapshot().samplesDropped`.
    public func drainMirrorSamples() -> [MirrorSample] {
        onEveryWorker { worker in worker.mirror?.takeOutbox() ?? [] }.flatMap { $0 }
    }

    /// The mirror's counters per target backend, merged over the workers: copies sent,
    /// answered, dropped (by `MirrorDrop`), failed (by reason), in flight.
    public func mirrorSnapshot() -> MirrorSnapshot {
        let parts = onEveryWorker { worker -> ([String: MirrorCounters], Int, Int) in
            guard let mirror = worker.mirror else { return ([:], 0, 0) }
            var counters: [String: MirrorCounters] = [:]
            for (name, limiter) in mirror.limiters { counters[name] = limiter.snapshot }
            return (counters, mirror.outbox.count, mirror.outboxDropped)
        }
        var snapshot = MirrorSnapshot()
        for (counters, waiting, dropped) in parts {
            for (name, c) in counters { snapshot.backends[name, default: MirrorCounters()].add(c) }
            snapshot.waiting += waiting
            snapshot.samplesDropped += dropped
        }
        return snapshot
    }

    /// Buffers of the workers' pools handed out now and at most since the last reset (tests
    /// assert a mirror keeps memory bounded); `reset` starts a new high-water mark.
    public func bufferHighWater(reset: Bool = false) -> (outstanding: Int, peak: Int) {
        let parts = onEveryWorker { worker -> (Int, Int) in
            let result = (worker.buffers.outstanding, worker.buffers.peakOutstanding)
            if reset { worker.buffers.resetPeak() }
            return result
        }
        return parts.reduce((0, 0)) { ($0.0 + $1.0, $0.1 + $1.1) }
    }
}
