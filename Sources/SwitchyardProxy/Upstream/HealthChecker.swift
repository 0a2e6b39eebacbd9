import Foundation
import Glibc
import SwitchyardRouting
import SwitchyardSystem

/// Active health checks: one thread for the whole proxy probes every server whose backend
/// has a `health` line (a short HTTP/1.1 request on a fresh connection), and counts
/// consecutive results against `rise` and `fall`. Only a change of state crosses to the
/// workers (through `onChange`), so requests never look at shared health state.
final class HealthChecker: @unchecked Sendable {
    struct Target {
        let key: String          // "backend/address", the workers' pool key
        let label: String
        let address: SocketAddress
        let host: String
        /// TLS towards the server (nil: plain): the check speaks it as requests do, and
        /// verifies the certificate as they do.
        let tls: UpstreamTLS?
        let check: HealthCheckConfig
        var healthy = true
        var successes = 0
        var failures = 0
        var due: UInt64 = 0
        var lastError = ""
    }

    private let lock = NSLock()
    private var targets: [Target] = []
    private var stopped = false
    /// Signalled when the targets change or the checker stops, so that the thread sleeps
    /// until the next check is due instead of polling. A semaphore, not a condition: its
    /// timeout runs on the monotonic clock (`NSCondition.wait(until:)` takes a wall-clock
    /// deadline, which a clock stepped back would stretch), and a signal given before the
    /// thread waits is not lost.
    private let changed = DispatchSemaphore(value: 0)
    /// Times the thread went to sleep with no check due (tests: an idle checker stays
    /// asleep).
    private var idleSleeps = 0
    private let onChange: @Sendable (String, Bool) -> Void
    private let errorLog: ErrorLog

    init(errorLog: ErrorLog, onChange: @escaping @Sendable (String, Bool) -> Void) {
        self.errorLog = errorLog
        self.onChange = onChange
    }

    /// The servers to check under a (new) table; state is kept for servers that stay.
    func update(config: RoutesConfig, servers: ResolvedServers) {
        lock.lock()
        defer { lock.unlock() }
        var next: [Target] = []
        for (b, backend) in config.backends.enumerated() {
            guard let check = backend.health else { continue }
            for (s, server) in backend.servers.enumerated() {
                let address = servers.addresses[b][s]
                let key = "\(backend.name)/\(address)"
                if var existing = targets.first(where: { $0.key == key }) {
                    existing = Target(key: key, label: existing.label, address: address, host: server.endpoint.host,
                                      tls: servers.tls[b][s], check: check,
                                      healthy: existing.healthy, successes: existing.successes, failures: existing.failures,
                                      due: existing.due, lastError: existing.lastError)
                    next.append(existing)
                } else {
                    next.append(Target(key: key, label: "\(backend.name)/\(server.endpoint)", address: address,
                                       host: server.endpoint.host, tls: servers.tls[b][s], check: check))
                }
            }
        }
        targets = next
        changed.signal()
    }

    /// Health by pool key, for servers that are checked.
    var states: [String: Bool] {
        lock.lock()
        defer { lock.unlock() }
        return Dictionary(targets.map { ($0.key, $0.healthy) }, uniquingKeysWith: { a, _ in a })
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "switchyard-health"
        thread.start()
    }

    func stop() {
        lock.lock(); stopped = true; lock.unlock()
        changed.signal()
    }

    /// Sleeps with no check due, since the start.
    var idleSleepCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return idleSleeps
    }

    private func run() {
        while true {
            lock.lock()
            if stopped { lock.unlock(); return }
            let now = Clock.monotonicMilliseconds()
            let dueIndex = targets.indices.first { targets[$0].due <= now }
            let target = dueIndex.map { targets[$0] }
            guard let index = dueIndex, var target else {
                // Nothing due: sleep until the next check is, or until the targets change
                // or the checker stops (both signal). It used to poll every 20 ms, which
                // woke a proxy without a single health line 50 times a second, on the
                // CPU its workers share. A signal given between the unlock and the wait
                // is kept by the semaphore, so no change is slept through.
                let next = targets.lazy.map(\.due).min()
                idleSleeps += 1
                lock.unlock()
                if let next {
                    _ = changed.wait(timeout: .now() + .milliseconds(Int(next &- now)))
                } else {
                    changed.wait()
                }
                continue
            }
            lock.unlock()
            let result = HealthProbe.check(target)
            lock.lock()
            // The list may have been replaced while probing: apply to the same key.
            if let current = targets.firstIndex(where: { $0.key == target.key }) {
                target = targets[current]
                target.due = Clock.monotonicMilliseconds() + UInt64(target.check.intervalMilliseconds)
                var changed: Bool?
                switch result {
                case nil:
                    target.successes += 1
                    target.failures = 0
                    if !target.healthy && target.successes >= target.check.rise { target.healthy = true; changed = true }
                case let error?:
                    target.failures += 1
                    target.successes = 0
                    target.lastError = error
                    if target.healthy && target.failures >= target.check.fall { target.healthy = false; changed = false }
                }
                targets[current] = target
                // Queued to the workers under the lock: a publish that stops checking this
                // server (`update`, then `install` clearing its verdict) queues after it, so a
                // late DOWN can never land after the clearing (`onChange` only queues).
                if let up = changed { onChange(target.key, up) }
                lock.unlock()
                if let up = changed {
                    if up {
                        errorLog.info("server \(target.label) is UP (\(target.check.rise) good checks)")
                    } else {
                        errorLog.error("server \(target.label) is DOWN (\(target.check.fall) failed checks, last: \(target.lastError))")
                    }
                }
            } else {
                lock.unlock()
            }
            _ = index
        }
    }
}
