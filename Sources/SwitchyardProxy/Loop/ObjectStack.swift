/// A last-in-first-out stack of objects for the per-worker pools (buffers): push and pop
/// are a store and a load. A Swift `Array` property costs a uniqueness check, and on
/// append a capacity check through the runtime, on every call — a few hundred
/// instructions a request for the pools alone (callgrind).
///
/// The stack owns one strong reference to each object it holds. One thread only (the
/// worker's loop), like the pools.
final class ObjectStack<Element: AnyObject> {
    private var slots: UnsafeMutablePointer<Unmanaged<Element>>
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

    @inline(__always)
    func push(_ element: Element) {
        if count == capacity { grow() }
        (slots + count).initialize(to: .passRetained(element))
        count &+= 1
    }

    @inline(__always)
    func pop() -> Element? {
        guard count > 0 else { return nil }
        count &-= 1
        return slots[count].takeRetainedValue()
    }

    /// Drops the `n` most recently pushed objects.
    func removeLast(_ n: Int) {
        precondition(n >= 0 && n <= count, "removing \(n) of \(count)")
        for _ in 0..<n {
            count -= 1
            slots[count].release()
        }
    }

    private func grow() {
        let bigger = UnsafeMutablePointer<Unmanaged<Element>>.allocate(capacity: capacity * 2)
        bigger.moveInitialize(from: slots, count: count)
        slots.deallocate()
        slots = bigger
        capacity *= 2
    }
}
