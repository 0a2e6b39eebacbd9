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
                    existing = Target(key: key, label: existing.label, address: address, host: server.endpoint.host, check: check,
                                      healthy: existing.healthy, successes: existing.successes, failures: existing.failures,
                                      due: existing.due, lastError: existing.lastError)
                    next.append(existing)
                } else {
                    next.append(Target(key: key, label: "\(backend.name)/\(server.endpoint)", address: address,
                                       host: server.endpoint.host, check: check))
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
            let result = probe(target)
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
                lock.unlock()
                if let up = changed {
                    if up {
                        errorLog.info("server \(target.label) is UP (\(target.check.rise) good checks)")
                    } else {
                        errorLog.error("server \(target.label) is DOWN (\(target.check.fall) failed checks, last: \(target.lastError))")
                    }
                    onChange(target.key, up)
                }
            } else {
                lock.unlock()
            }
            _ = index
        }
    }

    /// One check: nil when the server answered the expected status in time, else why not.
    private func probe(_ target: Target) -> String? {
        // A short interval must not make the check itself impatient: a busy server that
        // answers in 500 ms is slow, not down.
        let timeout = max(1_000, min(target.check.intervalMilliseconds, 2_000))
        let fd: FileDescriptor
        do {
            // A server that drops SYNs would otherwise hold this one thread — every other
            // server's checks — for the kernel's two minutes of retries.
            fd = try Socket.connectBlocking(to: target.address, timeoutMilliseconds: timeout)
        } catch {
            return "\(error)"
        }
        defer { fd.close() }
        var tv = timeval(tv_sec: timeout / 1000, tv_usec: Int((timeout % 1000) * 1000))
        setsockopt(fd.rawValue, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd.rawValue, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let request = "\(target.check.method) \(target.check.path) HTTP/1.1\r\nHost: \(target.host)\r\nUser-Agent: switchyard-health\r\nConnection: close\r\n\r\n"
        Array(request.utf8).withUnsafeBytes { try? fd.writeAll($0) }
        var buffer = [UInt8](repeating: 0, count: 256)
        var received = 0
        while received < 12 {
            let n = buffer.withUnsafeMutableBytes { read(fd.rawValue, $0.baseAddress! + received, $0.count - received) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return n == 0 ? "closed without an answer" : "no answer within \(timeout) ms" }
            received += n
        }
        // "HTTP/1.1 200 ..."
        let line = String(decoding: buffer[0..<received], as: UTF8.self)
        let parts = line.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else { return "not an HTTP answer" }
        return status == target.check.expectStatus ? nil : "status \(status), expected \(target.check.expectStatus)"
    }
}
