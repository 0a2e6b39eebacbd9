import Glibc

/// A value guarded by a pthread mutex: the lock every module uses for state shared between threads
/// (control-plane state, an event loop's queue of handed-over work; never a per-request path).
///
/// Why not the standard library's `Synchronization.Mutex`: on Linux it takes the lock with atomics
/// inside `libswiftSynchronization.so`, which is not built with ThreadSanitizer, so `make tsan` sees
/// no synchronisation between two threads that took it in turn and reports every contended access
/// under it as a race (checked on a four-thread program: two reports with `Mutex`, none with this).
/// ThreadSanitizer intercepts `pthread_mutex_lock`, so with this lock its reports are real ones.
public final class Locked<Value>: @unchecked Sendable {
    // @unchecked: `value` is only touched between pthread_mutex_lock and _unlock on `mutex`.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    public init(_ initialValue: Value) {
        value = initialValue
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let status = pthread_mutex_init(mutex, nil)
        precondition(status == 0, "pthread_mutex_init failed: \(status)")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    /// Runs `body` with the value, holding the lock; `body` must not take this lock again.
    @inline(__always)
    public func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
