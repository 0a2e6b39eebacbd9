import Foundation
import Glibc
import SwitchyardSystem

/// Looks up the names of etcd endpoints within a deadline, and remembers the last address
/// each one had.
///
/// getaddrinfo cannot be given a timeout, and with a resolver that drops packets it blocks
/// for the resolver's retries (tens of seconds). Fleet calls run under the commit lock: a
/// `revert` typed at 2 a.m. waited that long for a name it had resolved a second before.
/// So a lookup runs on a thread of its own (one at a time per name; later callers wait for
/// the same one), and a caller waits no longer than its deadline. A lookup that times out,
/// or fails for now (EAI_AGAIN: the resolver unreachable), falls back to the name's last
/// address; a name the DNS says does not exist does not.
final class EtcdResolver: @unchecked Sendable {
    static let shared = EtcdResolver()

    /// How a name is looked up: getaddrinfo. Tests put a slow or failing one in its place
    /// (a resolver that hangs cannot be run on loopback without changing the machine's).
    var lookup: @Sendable (String, UInt16) throws(Errno) -> SocketAddress = { host, port throws(Errno) in
        try SocketAddress.resolve(host: host, port: port)
    }

    /// One lookup in flight: its result once the thread has it.
    private final class Pending: @unchecked Sendable {
        let done = DispatchSemaphore(value: 0)
        var result: Result<SocketAddress, Errno>?
    }

    private let lock = NSLock()
    private var lastGood: [String: SocketAddress] = [:]
    private var inFlight: [String: Pending] = [:]
    /// Lookups started (tests: callers of one name share one).
    private(set) var started = 0

    /// The address of `host`:`port` within `timeoutMilliseconds`. A numeric host is never
    /// looked up.
    func address(host: String, port: UInt16, timeoutMilliseconds: Int) throws(EtcdError) -> SocketAddress {
        if let numeric = SocketAddress(ip: host, port: port) { return numeric }
        let key = "\(host):\(port)"
        let pending: Pending = lock.withLock {
            if let running = inFlight[key] { return running }
            let fresh = Pending()
            inFlight[key] = fresh
            started += 1
            let lookup = self.lookup
            let thread = Thread { [self] in
                let result: Result<SocketAddress, Errno>
                do throws(Errno) { result = .success(try lookup(host, port)) } catch { result = .failure(error) }
                lock.withLock {
                    fresh.result = result
                    inFlight[key] = nil
                    if case .success(let address) = result { lastGood[key] = address }
                }
                // Every caller waiting on this lookup wakes (each `wait` below signals on).
                fresh.done.signal()
            }
            thread.name = "switchyard-dns"
            thread.start()
            return fresh
        }
        let finished = pending.done.wait(timeout: .now() + .milliseconds(max(timeoutMilliseconds, 1))) == .success
        if finished { pending.done.signal() }   // for the next caller waiting on the same lookup
        let (result, last) = lock.withLock { (pending.result, lastGood[key]) }
        switch result {
        case .success(let address)?:
            return address
        case .failure(let error)?:
            if error.code == EAGAIN, let last { return last }
            throw EtcdError(message: "\(key): \(error)")
        case nil:
            if let last { return last }
            throw EtcdError(message: "\(key): name lookup did not finish within \(timeoutMilliseconds) ms")
        }
    }
}
