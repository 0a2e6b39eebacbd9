/// A last-in-first-out stack of objects for the per-worker pools (buffers): push and pop
/// are a store and a load. A Swift `Array` property costs a uniqueness check, and on
/// append a capacity check through the runtime, on every call — a few hundred
/// instructions a request for the pools alone (callgrind).
///
/// The stack owns one strong reference to each object it holds. One thread only (the
/// worker's loop), like the pools.
final class ObjectStack<Element: AnyObject> {
    /// Strong references, initialized and moved out as owned values: a push moves the
    /// caller's reference in and a pop moves it out, with no retain or release.
    private var slots: UnsafeMutablePointer<Element>
    private var capacity: Int
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 16)
        slots = .allocate(capacity: self.capacity)
    }

    deinit {
        removeLast(count)
        slots.deallocate()
    }

    /// `consuming`: the caller's reference moves into the stack (no retain and release
    /// pair, each an atomic, for a buffer going back to its pool).
    @inline(__always)
    func push(_ element: consuming Element) {
        if count == capacity { grow() }
        (slots + count).initialize(to: consume element)
        count &+= 1
    }

    @inline(__always)
    func pop() -> Element? {
        poppedInWindow = true
        guard count > 0 else {
            lowWater = 0
            return nil
        }
        count &-= 1
        if count < lowWater { lowWater = count }
        return (slots + count).move()
    }

    /// The fewest objects the stack held since the current window began: objects above it
    /// were not needed during the window.
    private var lowWater = Int.max
    /// Whether anything was asked for during the current window (an empty stack too).
    private var poppedInWindow = false
    private var ticksInWindow = 0

    /// Called on every loop tick. Once every `windowTicks` ticks, releases a quarter of the
    /// objects above `keep` that stayed unused for the whole window, so a burst's memory
    /// goes back gradually while traffic goes on. The window is long (a second, not one
    /// tick) because steady traffic whose demand swings between ticks — HTTP/2 clients
    /// with a hundred streams each — would otherwise free objects on one tick and make them
    /// again on the next: at -m 100, one 64 KiB buffer unmapped and mapped again every
    /// 15 requests (strace). A window in which nothing at all was taken means the traffic
    /// stopped: everything above `keep` goes at once (thousands of connections gone idle
    /// after a burst should not hold the burst's buffers for seconds more). The number
    /// released.
    @discardableResult
    func releaseUnused(keeping keep: Int, windowTicks: Int) -> Int {
        ticksInWindow += 1
        guard ticksInWindow >= windowTicks else { return 0 }
        ticksInWindow = 0
        let quiet = !poppedInWindow
        let excess = (quiet ? count : min(lowWater, count)) - keep
        lowWater = count
        poppedInWindow = false
        guard excess > 0 else { return 0 }
        let released = quiet ? excess : max(1, excess / 4)
        removeLast(released)
        return released
    }

    /// Drops the `n` most recently pushed objects.
    func removeLast(_ n: Int) {
        precondition(n >= 0 && n <= count, "removing \(n) of \(count)")
        for _ in 0..<n {
            count -= 1
            (slots + count).deinitialize(count: 1)
        }
    }

    private func grow() {
        let bigger = UnsafeMutablePointer<Element>.allocate(capacity: capacity * 2)
        bigger.moveInitialize(from: slots, count: count)
        slots.deallocate()
        slots = bigger
        capacity *= 2
    }
}
