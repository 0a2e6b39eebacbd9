import Foundation
import Glibc
import SwitchyardSystem

/// Looks up the names of etcd endpoints within a call's deadline, and remembers the last
/// address each one had.
///
/// getaddrinfo cannot be given a timeout, and with a resolver that drops packets it blocks
/// for the resolver's retries (tens of seconds). Fleet calls run under the commit lock: a
/// `revert` typed at 2 a.m. waited that long for a name it had resolved a second before.
/// So a lookup runs on a thread of its own (one at a time per name; later callers wait for
/// the same one), and a caller waits for it only a part of its budget: with a last address,
/// at most `lastGoodWaitMilliseconds` (and not at all while a lookup is already running);
/// without one, half of what is left, so that the connect and the call have the rest. A
/// lookup that did not finish, or failed for now (EAI_AGAIN: the resolver unreachable),
/// falls back to the last address; a name the DNS says does not exist does not.
final class EtcdResolver: @unchecked Sendable {
    static let shared = EtcdResolver()

    typealias Lookup = @Sendable (String, UInt16) throws(Errno) -> SocketAddress

    /// How a name is looked up: getaddrinfo. Tests put a slow or failing one in its place
    /// (a resolver that hangs cannot be run on loopback without changing the machine's).
    var lookup: Lookup {
        get { lock.withLock { lookupFunction } }
        set { lock.withLock { lookupFunction = newValue } }
    }
    private var lookupFunction: Lookup = { host, port throws(Errno) in
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

    /// How long a caller with a last address waits for a fresh lookup.
    static let lastGoodWaitMilliseconds = 250

    /// The address of `host`:`port`, in time for a call that must end by `deadline`
    /// (`Clock.monotonicMilliseconds`). A numeric host is never looked up.
    func address(host: String, port: UInt16, deadline: UInt64) throws(EtcdError) -> SocketAddress {
        if let numeric = SocketAddress(ip: host, port: port) { return numeric }
        let key = "\(host):\(port)"
        let (pending, last): (Pending?, SocketAddress?) = lock.withLock {
            if let running = inFlight[key] {
                // A lookup already hangs: the last address now, not another wait for it.
                return (lastGood[key] == nil ? running : nil, lastGood[key])
            }
            let fresh = Pending()
            inFlight[key] = fresh
            started += 1
            let lookup = lookupFunction
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
            return (fresh, lastGood[key])
        }
        guard let pending else { return last! }
        let left = Int(clamping: deadline > Clock.monotonicMilliseconds() ? deadline - Clock.monotonicMilliseconds() : 0)
        let wait = last == nil ? left / 2 : min(left / 4, Self.lastGoodWaitMilliseconds)
        let finished = pending.done.wait(timeout: .now() + .milliseconds(max(wait, 1))) == .success
        if finished { pending.done.signal() }   // for the next caller waiting on the same lookup
        let result = lock.withLock { pending.result }
        switch result {
        case .success(let address)?:
            return address
        case .failure(let error)?:
            if error.code == EAGAIN, let last { return last }
            throw EtcdError(message: "\(key): \(error)")
        case nil:
            if let last { return last }
            throw EtcdError(message: "\(key): name lookup did not finish in time (\(max(wait, 1)) ms)")
        }
    }
}
