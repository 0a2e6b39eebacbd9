import Testing
@testable import SwitchyardProxy

/// The worker's buffer pool gives a burst's buffers back to the kernel once the burst is
/// over, but keeps the buffers that steady traffic keeps coming back for, even when its
/// demand swings from one tick to the next (HTTP/2 clients with many streams each).
@Suite struct BufferPoolTests {
    /// Takes `n` buffers and gives them all back.
    private func cycle(_ pool: BufferPool, _ n: Int) {
        var taken: [IOBuffer] = []
        for _ in 0..<n { taken.append(pool.take()) }
        for buffer in taken { pool.give(buffer) }
    }

    @Test func demandSwingingBetweenTicksKeepsItsBuffers() {
        let pool = BufferPool(bufferSize: 4096, preallocate: 0)
        cycle(pool, 200)
        #expect(pool.idleCount == 200)
        // 200 buffers on one tick, 80 on the next, for five seconds of ticks: every buffer
        // is needed again within a window, so none may be released (and made again).
        for tick in 0..<(5 * BufferPool.trimWindowTicks) {
            cycle(pool, tick % 2 == 0 ? 80 : 200)
            pool.trim()
            #expect(pool.idleCount == 200, "tick \(tick)")
        }
    }

    @Test func aBurstsBuffersGoBackGraduallyOnceItIsOver() {
        let pool = BufferPool(bufferSize: 4096, preallocate: 0)
        cycle(pool, 300)
        // Nothing goes in the window that saw the burst, nor before the next window ends:
        // a buffer goes only once it stayed unused for a whole window.
        for _ in 0..<(2 * BufferPool.trimWindowTicks - 1) {
            cycle(pool, 10)
            pool.trim()
        }
        #expect(pool.idleCount == 300)
        cycle(pool, 10)
        pool.trim()
        let afterOneWindow = pool.idleCount
        #expect(afterOneWindow < 300)
        #expect(afterOneWindow >= 300 - (300 - BufferPool.keepIdle) / 4)
        // Half a minute of light traffic later, only the buffers kept for the next burst
        // and the ten this traffic takes on every tick.
        for _ in 0..<(30 * BufferPool.trimWindowTicks) {
            cycle(pool, 10)
            pool.trim()
        }
        #expect(pool.idleCount == BufferPool.keepIdle + 10)
    }

    @Test func aBurstFollowedBySilenceGoesBackAfterOneQuietWindow() {
        let pool = BufferPool(bufferSize: 4096, preallocate: 0)
        cycle(pool, 300)
        // The window that saw the burst took buffers: nothing goes at its end.
        for _ in 0..<BufferPool.trimWindowTicks { pool.trim() }
        #expect(pool.idleCount == 300)
        // A whole window with nothing taken: all but the kept ones go at once, and the
        // trim says how many (the worker then gives the heap back).
        var released = 0
        for _ in 0..<BufferPool.trimWindowTicks { released += pool.trim() }
        #expect(pool.idleCount == BufferPool.keepIdle)
        #expect(released == 0, "4 KiB buffers are mapped, not heap: none counts for a heap trim")
        // Small (heap) buffers count.
        var small: [IOBuffer] = []
        for _ in 0..<100 { small.append(pool.takeSmall()) }
        for buffer in small { pool.give(buffer) }
        small = []
        released = 0
        for _ in 0..<(2 * BufferPool.trimWindowTicks) { released += pool.trim() }
        #expect(released == 100 - BufferPool.keepIdle)
    }
}
