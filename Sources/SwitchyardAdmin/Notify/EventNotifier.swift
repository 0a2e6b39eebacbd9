import Foundation
import Glibc
import SwitchyardSystem
import SwitchyardProxy
import SwitchyardRouting

/// Tells the people on call about every change (`notify` lines): one delivery thread and
/// one bounded queue per target, so that a receiver that hangs or refuses delays only its
/// own events and never a commit. Each event is one JSON object; a delivery attempt has a
/// timeout, a failed one is retried 3 times with a growing pause, and an event that still
/// fails is logged and counted (`switchyard_notify_failures_total`). A full queue drops its
/// oldest event, counted too (`switchyard_notify_dropped_total`).
public final class EventNotifier: Sendable {
    /// Events waiting per target.
    static let queueLimit = 256
    static let attemptTimeoutMilliseconds = 2_000
    /// Pauses before the 3 retries.
    static let backoffMilliseconds = [200, 400, 800]

    private let errorLog: ErrorLog
    private let queues: Locked<[NotifyQueue]>
    public let counters = Locked((failures: UInt64(0), dropped: UInt64(0), delivered: UInt64(0)))

    public init(targets: [NotifyTarget], errorLog: ErrorLog) {
        self.errorLog = errorLog
        queues = Locked([])
        setTargets(targets)
    }

    /// After a reload: targets no longer named stop after their current event; new ones start.
    public func setTargets(_ targets: [NotifyTarget]) {
        queues.withLock { queues in
            for queue in queues where !targets.contains(queue.target) { queue.close() }
            queues.removeAll { !targets.contains($0.target) }
            for target in targets where !queues.contains(where: { $0.target == target }) {
                let queue = NotifyQueue(target: target)
                queues.append(queue)
                Thread { [self] in deliverLoop(queue) }.start()
            }
        }
    }

    /// Whether any target is named (no event is built for none).
    var hasTargets: Bool { queues.withLock { !$0.isEmpty } }

    /// Queues `event` for every target; returns at once.
    func send(_ event: [String: Any]) {
        guard let data = try? JSONSerialization.data(withJSONObject: event, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        let line = data + Data("\n".utf8)
        for queue in queues.withLock({ $0 }) where queue.push(line) {
            counters.withLock { $0.dropped += 1 }
            errorLog.warning("notify \(queue.target.description): queue full, oldest event dropped")
        }
    }

    private func deliverLoop(_ queue: NotifyQueue) {
        while let event = queue.pop() {
            var failure: String?
            for attempt in 0...Self.backoffMilliseconds.count {
                if attempt > 0 { usleep(UInt32(Self.backoffMilliseconds[attempt - 1]) * 1000) }
                failure = NotifyDelivery.deliver(event, to: queue.target, timeoutMilliseconds: Self.attemptTimeoutMilliseconds)
                if failure == nil { break }
            }
            if let failure {
                counters.withLock { $0.failures += 1 }
                errorLog.error("notify \(queue.target.description): event not delivered after \(Self.backoffMilliseconds.count + 1) attempts: \(failure)")
            } else {
                counters.withLock { $0.delivered += 1 }
            }
        }
    }
}

/// One target's events in order, at most `EventNotifier.queueLimit`.
final class NotifyQueue: @unchecked Sendable {
    let target: NotifyTarget
    private let condition = NSCondition()
    private var events: [Data] = []
    private var closed = false

    init(target: NotifyTarget) { self.target = target }

    /// True when the oldest event had to go to make room.
    func push(_ event: Data) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        var dropped = false
        if events.count >= EventNotifier.queueLimit {
            events.removeFirst()
            dropped = true
        }
        events.append(event)
        condition.signal()
        return dropped
    }

    /// The next event, waiting for one; nil once closed.
    func pop() -> Data? {
        condition.lock()
        defer { condition.unlock() }
        while events.isEmpty && !closed { condition.wait() }
        return closed ? nil : events.removeFirst()
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}
