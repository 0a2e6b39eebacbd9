import CSwitchyardShims

/// Signal handling the simple, thread-safe way: block the signals everywhere and take them
/// synchronously on one thread with sigwait(3).
enum Signals {
    static func block(_ signals: [Int32]) {
        _ = signals.withUnsafeBufferPointer { sy_block_signals($0.baseAddress, Int32($0.count)) }
    }

    static func wait(_ signals: [Int32]) -> Int32 {
        signals.withUnsafeBufferPointer { sy_wait_signal($0.baseAddress, Int32($0.count)) }
    }

}
