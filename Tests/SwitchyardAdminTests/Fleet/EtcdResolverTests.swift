import Foundation
import Testing
@testable import SwitchyardAdmin
import SwitchyardRouting
import SwitchyardSystem

/// An etcd endpoint's name lookup is bounded by the call's deadline, and a lookup that
/// hangs or fails for now falls back to the name's last address. Before, getaddrinfo ran
/// unbounded under the commit lock: with the resolver dropping packets, `revert` waited for
/// its retries. The stand-in lookups below are the one part not run for real: a resolver
/// that hangs cannot be set up on loopback without changing the machine's resolv.conf.
@Suite struct EtcdResolverTests {
    /// A resolver whose lookups answer 127.0.0.1, fail with `failure`, or hang until released.
    final class Rig: @unchecked Sendable {
        let resolver = EtcdResolver()
        let hanging = Locked(false)
        let failure = Locked<Errno?>(nil)
        let release = DispatchSemaphore(value: 0)

        init() {
            resolver.lookup = { [hanging, failure, release] _, port throws(Errno) in
                if hanging.withLock({ $0 }) { _ = release.wait(timeout: .now() + 30) }
                if let error = failure.withLock({ $0 }) { throw error }
                return SocketAddress(ip: "127.0.0.1", port: port)!
            }
        }

        func stop() {
            hanging.withLock { $0 = false }
            for _ in 0..<8 { release.signal() }
        }

        /// The address, or the error's text, and how long the call took.
        func address(_ host: String, within milliseconds: Int) -> (String, UInt64) {
            let start = Clock.monotonicMilliseconds()
            let text: String
            do throws(EtcdError) {
                text = try resolver.address(host: host, port: 2379, deadline: start + UInt64(milliseconds)).description
            } catch {
                text = "error: \(error)"
            }
            return (text, Clock.monotonicMilliseconds() - start)
        }
    }

    @Test func aLookupThatHangsGivesTheNamesLastAddressWellWithinTheDeadline() {
        let rig = Rig()
        defer { rig.stop() }
        let (first, _) = rig.address("etcd-1.clinic.internal", within: 2_000)
        #expect(first == "127.0.0.1:2379")
        rig.hanging.withLock { $0 = true }
        let (again, took) = rig.address("etcd-1.clinic.internal", within: 4_000)
        #expect(again == "127.0.0.1:2379", "the last address, not an error")
        #expect(took < 3_000, "a quarter of the budget at most, not the lookup's 30 s (\(took) ms)")
        // The lookup still hangs: the next caller does not wait for it at all.
        let before = rig.resolver.started
        let (third, _) = rig.address("etcd-1.clinic.internal", within: 4_000)
        #expect(third == "127.0.0.1:2379" && rig.resolver.started == before)

        // A name never resolved: a clear error after half the budget, not a wait.
        let (never, tookNever) = rig.address("etcd-2.clinic.internal", within: 600)
        #expect(never.contains("etcd-2.clinic.internal:2379") && never.contains("did not finish in time"), "\(never)")
        #expect(tookNever < 10_000)
        // Its next caller waits for the same lookup: no thread piles up per call.
        let started = rig.resolver.started
        _ = rig.address("etcd-2.clinic.internal", within: 100)
        #expect(rig.resolver.started == started)
    }

    @Test func aTemporaryFailureFallsBackButANameThatDoesNotExistDoesNot() {
        let rig = Rig()
        defer { rig.stop() }
        #expect(rig.address("etcd-1.clinic.internal", within: 2_000).0 == "127.0.0.1:2379")
        rig.failure.withLock { $0 = Errno(code: EAGAIN, call: "getaddrinfo(etcd-1.clinic.internal): Temporary failure in name resolution") }
        #expect(rig.address("etcd-1.clinic.internal", within: 2_000).0 == "127.0.0.1:2379")
        rig.failure.withLock { $0 = Errno(code: EHOSTUNREACH, call: "getaddrinfo(etcd-1.clinic.internal): Name or service not known") }
        let (gone, _) = rig.address("etcd-1.clinic.internal", within: 2_000)
        #expect(gone.hasPrefix("error:") && gone.contains("Name or service not known"), "\(gone)")
        // Numeric hosts are never looked up.
        let before = rig.resolver.started
        #expect(rig.address("127.0.0.1", within: 10).0 == "127.0.0.1:2379")
        #expect(rig.resolver.started == before)
    }

    /// The real getaddrinfo through the resolver: "localhost" comes from /etc/hosts.
    @Test func theRealLookupResolvesLocalhost() {
        let resolver = EtcdResolver()
        let address = try? resolver.address(host: "localhost", port: 2379, deadline: Clock.monotonicMilliseconds() + 5_000)
        #expect(address?.port == 2379)
    }

    /// Through the client, against a real etcd member: a call whose name lookup hangs still
    /// reaches etcd at the name's last address, within the call's timeout. Before the lookup
    /// took the call's whole deadline, and the send that followed timed out at once.
    @Test func anEtcdCallWhoseLookupHangsReachesEtcdAtTheLastAddress() throws {
        let directory = NSTemporaryDirectory() + "switchyard-resolver-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cluster = try EtcdCluster(directory: directory, size: 1)
        defer { cluster.stopAll() }
        // Only this made-up name is looked up by the stand-in; every other one as before.
        let name = "etcd-\(UUID().uuidString.prefix(8)).clinic.internal"
        let hanging = Locked(false)
        let release = DispatchSemaphore(value: 0)
        let shared = EtcdResolver.shared
        let real = shared.lookup
        shared.lookup = { [hanging, release] host, port throws(Errno) in
            guard host == name else { return try real(host, port) }
            if hanging.withLock({ $0 }) { _ = release.wait(timeout: .now() + 30) }
            return SocketAddress(ip: "127.0.0.1", port: port)!
        }
        defer {
            shared.lookup = real
            hanging.withLock { $0 = false }
            for _ in 0..<4 { release.signal() }
        }
        let client = EtcdClient(endpoints: [FleetEndpoint(host: name, port: cluster.members[0].clientPort)], credentials: nil,
                                timeoutMilliseconds: 2_000)
        try client.put("switchyard-resolver-test", Data("before".utf8))
        hanging.withLock { $0 = true }
        let start = Clock.monotonicMilliseconds()
        let read = try client.range("switchyard-resolver-test")
        #expect(read.kvs.first.map { String(decoding: $0.value, as: UTF8.self) } == "before")
        #expect(Clock.monotonicMilliseconds() - start < 2_000, "within the call's timeout")
        try client.put("switchyard-resolver-test", Data("after".utf8))
        #expect(try cluster.get("switchyard-resolver-test") == "after")
    }
}
