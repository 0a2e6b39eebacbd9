import Foundation
import SwitchyardSystem

/// Whether every worker's event loop is still turning, for the systemd watchdog: a prober
/// thread posts an empty task to every loop and waits until all of them ran it, again and
/// again. A worker stuck in a handler never runs the task, so the round never completes and
/// `allLoopsTurned(withinMilliseconds:)` turns false; the watchdog then stays silent and
/// systemd restarts the process. Rounds are a few per second, never per request.
public final class WorkerLiveness: Sendable {
    private let proxy: Proxy
    /// When the last complete round finished (monotonic ms); 0: none yet.
    private let lastRound = Locked<UInt64>(0)
    private let pauseMilliseconds: UInt32

    public init(proxy: Proxy, pauseMilliseconds: UInt32 = 100) {
        self.proxy = proxy
        self.pauseMilliseconds = pauseMilliseconds
    }

    /// Starts the prober thread. It blocks for good on a stuck worker, and it lives as long
    /// as the process (it holds no lock another thread waits for).
    public func start() {
        let thread = Thread { [self] in
            while true {
                _ = proxy.onEveryWorker { _ in 0 }
                let now = Clock.monotonicMilliseconds()
                lastRound.withLock { $0 = now }
                usleep(pauseMilliseconds * 1000)
            }
        }
        thread.name = "switchyard-liveness"
        thread.start()
    }

    /// True when every loop ran a task within the last `milliseconds`.
    public func allLoopsTurned(withinMilliseconds milliseconds: UInt64) -> Bool {
        let last = lastRound.withLock { $0 }
        return last != 0 && Clock.monotonicMilliseconds() &- last <= milliseconds
    }
}

extension Proxy {
    /// Test-only: blocks worker `index`'s loop for good (its thread sleeps inside a task), so
    /// that a test can watch the watchdog fall silent. Returns at once.
    public func hangWorkerForTesting(_ index: Int) {
        let thread = Thread { [self] in
            _ = onEveryWorker { worker -> Int in
                if worker.index == index { while true { sleep(3600) } }
                return 0
            }
        }
        thread.start()
    }
}
