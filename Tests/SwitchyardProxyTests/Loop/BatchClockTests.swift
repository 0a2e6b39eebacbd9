import Foundation
import Testing
@testable import SwitchyardProxy
import SwitchyardSystem

/// `EventLoop.nowNanoseconds`, the batch clock every request timing and deadline is taken
/// from: read when `epoll_wait` returns, so work the loop does for an event never sees a
/// time from before the event was raised, and each batch sees a later time than the last.
@Suite struct BatchClockTests {
    /// Work posted at time t runs in a batch that began after its wake-up, so it sees a
    /// clock of at least t — across idle waits of 20 ms, where a clock kept from an earlier
    /// batch (or from the loop's start) would be that much behind.
    @Test func workSeesTheClockOfTheBatchItRunsIn() throws {
        let loop = try EventLoop()
        let finished = DispatchSemaphore(value: 0)
        let thread = Thread { loop.run(); finished.signal() }
        thread.start()
        defer {
            loop.stop()
            _ = finished.wait(timeout: .now() + 5)
        }
        var previous: UInt64 = 0
        for _ in 0..<5 {
            usleep(20_000)
            let posted = Clock.monotonicNanoseconds()
            let seen = Locked((nanoseconds: UInt64(0), milliseconds: UInt64(0)))
            let done = DispatchSemaphore(value: 0)
            loop.execute {
                seen.withLock { $0 = (loop.nowNanoseconds, loop.nowMilliseconds) }
                done.signal()
            }
            #expect(done.wait(timeout: .now() + 5) == .success)
            let after = Clock.monotonicNanoseconds()
            let (nanoseconds, milliseconds) = seen.withLock { $0 }
            #expect(nanoseconds >= posted, "the batch began \(posted - nanoseconds) ns before the work was posted")
            #expect(nanoseconds <= after)
            #expect(nanoseconds > previous, "each batch a later time")
            #expect(milliseconds == nanoseconds / 1_000_000, "one clock in two units")
            previous = nanoseconds
        }
    }
}
