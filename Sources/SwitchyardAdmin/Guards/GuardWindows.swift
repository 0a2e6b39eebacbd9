import Foundation
import SwitchyardProxy
import SwitchyardRouting

/// The merged per-worker counters, sampled once a second by the guard evaluator: the
/// difference between two samples is a side's window. Kept for the longest window a guard
/// may read. Used by the evaluator thread only.
final class GuardWindows {
    private struct Sample {
        var seconds: Double
        var cells: [MetricsKey: MetricsCounts]
    }

    private var samples: [Sample] = []

    /// Adds a sample taken at `seconds` (monotonic) of the cells the guards read, kept for
    /// `keepSeconds`: a routes file with many routes must not make every sample big.
    func add(_ snapshot: MetricsSnapshot, at seconds: Double, keys: Set<MetricsKey>, keepSeconds: Int) {
        samples.append(Sample(seconds: seconds, cells: snapshot.cells.filter { keys.contains($0.key) }))
        let keep = Double(keepSeconds) + 2
        if let first = samples.firstIndex(where: { $0.seconds >= seconds - keep }), first > 0 { samples.removeFirst(first) }
    }

    /// `route`'s traffic to `backend` over the last `seconds` (less while the samples do
    /// not reach back that far), and none from before `notBefore` (the guard's last `ack`,
    /// on `GuardEvaluator.clockSeconds`).
    func window(route: String, backend: String, seconds: Int, notBefore: Double? = nil) -> SideWindow {
        guard let latest = samples.last else { return SideWindow() }
        let key = MetricsKey(route: route, backend: backend)
        guard let now = latest.cells[key] else { return SideWindow() }
        // Only samples that hold the cell: one taken before a guard asked for it must not
        // make the window "everything since start".
        let holding = samples.filter { $0.cells[key] != nil }
        var start = holding.last { $0.seconds <= latest.seconds - Double(seconds) + 0.2 } ?? holding[0]
        var streak = now.transportStreak
        if let notBefore, start.seconds < notBefore {
            // Counted from the first sample after the ack; the streak only as far as the
            // failures since then reach.
            guard let first = holding.first(where: { $0.seconds >= notBefore }) else { return SideWindow() }
            start = first
            streak = min(streak, now.since(first.cells[key]!).transportFailures)
        }
        let delta = now.since(start.cells[key]!)
        return SideWindow(requests: delta.guardRequests, errors: delta.guardErrors, clientErrors: delta.clientErrors,
                          transportFailures: delta.transportFailures, streak: streak,
                          streakRuns: delta.streakRuns, p95Microseconds: delta.percentileMicroseconds(0.95))
    }
}

/// The guards' clock: once a second, samples the merged counters (off the data plane) and
/// has the admin service check every guard and step every running plan.
public final class GuardEvaluator: @unchecked Sendable {
    let service: AdminService
    let proxy: Proxy
    let tickMilliseconds: Int
    private let windows = GuardWindows()
    private let stopped = NSLock()
    private var isStopped = false
    private let exited = DispatchSemaphore(value: 0)
    private var started = false

    public init(service: AdminService, proxy: Proxy, tickMilliseconds: Int = 1_000) {
        self.service = service
        self.proxy = proxy
        self.tickMilliseconds = tickMilliseconds
    }

    /// The evaluator's clock: monotonic seconds, as samples are stamped.
    static func clockSeconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    public func start() {
        stopped.withLock { started = true }
        let thread = Thread { [self] in
            defer { exited.signal() }
            while !stopped.withLock({ isStopped }) {
                let seconds = Self.clockSeconds()
                // No guard: no sample (plans still need the tick, their clock).
                let (keys, keep) = service.guardCells()
                if !keys.isEmpty { windows.add(proxy.metricsSnapshot(), at: seconds, keys: keys, keepSeconds: keep) }
                service.guardTick(windows)
                // The mirror: the pairs the workers completed this second, handed to the comparer's
                // own thread (comparing can take longer than a tick; the guards must not wait).
                service.enqueueMirrorSamples(service.dataPlane.drainMirrorSamples())
                usleep(UInt32(tickMilliseconds) * 1000)
            }
        }
        thread.name = "switchyard-guards"
        thread.start()
    }

    /// Returns once the thread has finished its last tick (at most a tick and a sample
    /// later), so that nothing of this evaluator writes the state file afterwards.
    public func stop() {
        let wasRunning = stopped.withLock { () -> Bool in
            defer { isStopped = true }
            return started && !isStopped
        }
        if wasRunning { _ = exited.wait(timeout: .now() + 10) }
    }
}
