import Foundation

/// How many refusal records each uid gets in the audit log: `perSecond` per one-second
/// window; the rest are counted, and one summary line per uid says how many were not
/// written, once that uid's window is over (at its next refusal, at anybody's, or at stop).
/// Without it a caller who may open the socket could fill the disk and the fsync queue with
/// refused commands. Shared by every admin connection thread: behind its own lock, never
/// the commit lock.
final class RefusalLimiter: @unchecked Sendable {
    /// A refusal a uid made that was not written, summed up.
    struct Summary: Equatable {
        var uid: UInt32
        var count: Int
        var since: String
        var until: String
    }

    let perSecond: Int
    private let lock = NSLock()
    /// Protected by `lock`: the current window of every uid refused in the last second.
    private var windows: [UInt32: Window] = [:]

    private struct Window {
        var startMilliseconds: UInt64
        var recorded = 0
        var suppressed = 0
        var firstSuppressed = ""
        var lastSuppressed = ""
    }

    init(perSecond: Int = 10) {
        precondition(perSecond > 0)
        self.perSecond = perSecond
    }

    /// Counts one refusal by `uid` at `nowMilliseconds` (monotonic) and `time` (for the
    /// summary); whether to write its record, and the summaries of windows that are over.
    func admit(uid: UInt32, nowMilliseconds: UInt64, time: String) -> (record: Bool, summaries: [Summary]) {
        lock.lock()
        defer { lock.unlock() }
        var summaries = closeWindows(olderThan: nowMilliseconds)
        var window = windows[uid] ?? Window(startMilliseconds: nowMilliseconds)
        let record = window.recorded < perSecond
        if record {
            window.recorded += 1
        } else {
            if window.suppressed == 0 { window.firstSuppressed = time }
            window.suppressed += 1
            window.lastSuppressed = time
        }
        windows[uid] = window
        summaries.sort { $0.uid < $1.uid }
        return (record, summaries)
    }

    /// Every pending summary, whatever the time (at stop).
    func flush() -> [Summary] {
        lock.lock()
        defer { lock.unlock() }
        return closeWindows(olderThan: UInt64.max)
    }

    /// Removes windows that started a second or more before `now`; summaries of those that
    /// suppressed something. Caller holds `lock`. Callers read the clock before taking the
    /// lock, so `now` may be a little before a window another thread just opened: that
    /// window is not over (and the subtraction must not wrap).
    private func closeWindows(olderThan now: UInt64) -> [Summary] {
        var summaries: [Summary] = []
        for (uid, window) in windows where now >= window.startMilliseconds && now - window.startMilliseconds >= 1000 {
            if window.suppressed > 0 {
                summaries.append(Summary(uid: uid, count: window.suppressed, since: window.firstSuppressed, until: window.lastSuppressed))
            }
            windows[uid] = nil
        }
        return summaries
    }
}
