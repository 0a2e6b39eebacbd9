import Foundation
import SwitchyardCompare

/// Mirrored pairs waiting to be compared, and the thread that compares them. Comparing is
/// the slow part (gzip, parsing up to 1 MiB of JSON per side): it must not hold up the
/// guard evaluator's tick that drains the workers, so the tick only hands pairs over here.
///
/// Bounded: at most `maxPending` pairs and `maxPendingBytes` of captured bodies wait; a pair
/// beyond either bound is dropped at once and counted (`dropped`, shown by `compare` and in
/// `/metrics`), never queued. The thread starts with the first pair handed over.
final class CompareInbox: @unchecked Sendable {
    static let maxPending = 8_192
    static let maxPendingBytes = 64 << 20
    /// Pairs compared per turn (the store's lock is taken once per turn, to count).
    static let batch = 256

    private let condition = NSCondition()
    private var pending: [MirrorSample] = []
    private var pendingBytes = 0
    private var busy = false
    private var started = false
    private var stopped = false
    private var droppedCount: UInt64 = 0
    private let exited = DispatchSemaphore(value: 0)
    private let compare: @Sendable ([MirrorSample]) -> Void

    /// `compare` runs on the inbox's thread, one batch at a time.
    init(compare: @escaping @Sendable ([MirrorSample]) -> Void) {
        self.compare = compare
    }

    /// Pairs dropped because the backlog was full (or after `stop`).
    var dropped: UInt64 { condition.withLock { droppedCount } }

    /// Takes `samples` for comparing, or drops (and counts) those over a bound.
    func offer(_ samples: [MirrorSample]) {
        guard !samples.isEmpty else { return }
        condition.lock()
        defer { condition.unlock() }
        for sample in samples {
            let size = (sample.primary.body?.count ?? 0) + (sample.other.body?.count ?? 0)
            if stopped || pending.count >= Self.maxPending || pendingBytes + size > Self.maxPendingBytes {
                droppedCount += 1
                continue
            }
            pending.append(sample)
            pendingBytes += size
        }
        if !started && !pending.isEmpty {
            started = true
            let thread = Thread { [self] in run() }
            thread.name = "switchyard-compare"
            thread.start()
        }
        condition.signal()
    }

    private func run() {
        defer { exited.signal() }
        // Comparing is bookkeeping, the workers carry users: on a busy core this thread
        // gives way (nice 10 for this thread only; Linux keeps nice per thread).
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)   // 0: the calling thread on Linux
        while true {
            condition.lock()
            while pending.isEmpty && !stopped { condition.wait() }
            if pending.isEmpty {
                condition.unlock()
                return
            }
            let turn = Array(pending.prefix(Self.batch))
            pending.removeFirst(turn.count)
            for sample in turn { pendingBytes -= (sample.primary.body?.count ?? 0) + (sample.other.body?.count ?? 0) }
            busy = true
            condition.unlock()
            compare(turn)
            condition.lock()
            busy = false
            condition.broadcast()
            condition.unlock()
        }
    }

    /// Waits until every pair handed over was compared (tests, and the shutdown's save);
    /// false if `seconds` passed first.
    @discardableResult
    func waitUntilIdle(seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        condition.lock()
        defer { condition.unlock() }
        while !pending.isEmpty || busy {
            if !condition.wait(until: deadline) { return pending.isEmpty && !busy }
        }
        return true
    }

    /// Compares what is pending (up to `seconds`), then ends the thread; later pairs are
    /// dropped.
    func stop(seconds: Double) {
        waitUntilIdle(seconds: seconds)
        let wasStarted = condition.withLock { () -> Bool in
            stopped = true
            condition.broadcast()
            return started
        }
        if wasStarted { _ = exited.wait(timeout: .now() + seconds) }
    }
}
