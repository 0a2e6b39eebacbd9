import Foundation
import Synchronization
import Testing
import SwitchyardTestSupport
import SwitchyardAdmin
import SwitchyardSystem

/// The promise ops rely on: once a command has answered, every request whose head is
/// parsed afterwards — in every worker, on new and already-open connections — uses the
/// new generation; requests already in flight finish where they started; none fails.
@Suite struct FlipUnderLoadTests {
    struct Sample { var sent: UInt64; var status: Int; var generation: Int; var backend: String }

    @Test func flipsAndRevertsUnderLoadFailNothingAndNeverReachTheOldSide() throws {
        let h = try AdminHarness(routes: """
            listen http 127.0.0.1:0
            generation-header X-Switchyard-Generation
            backend legacy {
                server 127.0.0.1:LEGACY
            }
            backend cloud {
                server 127.0.0.1:CLOUD
            }
            route app {
                active legacy standby cloud
            }
            """)
        defer { h.stop() }
        let samples = SampleBox()
        // Half the clients also open fresh connections now and then.
        let load = ClientLoad(clients: 4, port: h.port, reconnectEvery: { worker, n in worker % 2 == 1 && n % 10 == 0 }) { worker, n, client in
            let sent = Clock.monotonicNanoseconds()
            guard let result = client?.get("/w\(worker)/\(n)") else {
                samples.append(Sample(sent: sent, status: 0, generation: -1, backend: ""))
                return false
            }
            // "legacy answered GET /w1/7 (generation 3)\n"
            let backend = String(result.text.split(separator: " ").first ?? "")
            let generation = Int(result.text.split(separator: " ").last?.dropLast(2) ?? "") ?? -1
            samples.append(Sample(sent: sent, status: result.status, generation: generation, backend: backend))
            return true
        }
        // (answered at, generation it created)
        var answered: [(UInt64, Int)] = [(0, 1)]
        #expect(waitUntil(10) { samples.values.count >= 20 }, "the load got going")
        for i in 0..<30 {
            let answer = h.run(i % 2 == 0 ? "flip app" : "revert")
            #expect(answer.ok, "\(answer.text)")
            answered.append((Clock.monotonicNanoseconds(), Int(h.proxy.table.generation)))
            usleep(30_000)
        }
        try load.stop()
        let all = samples.values
        #expect(all.count > 200, "the load was real: \(all.count) requests")
        let failed = all.filter { $0.status != 200 }
        #expect(failed.isEmpty, "\(failed.count) failed requests")
        var stale = 0
        var wrongSide = 0
        for sample in all where sample.status == 200 {
            let floor = answered.last { $0.0 <= sample.sent }?.1 ?? 1
            if sample.generation < floor { stale += 1 }
            // Odd generations route to legacy, even ones (after a flip) to cloud.
            if sample.backend != (sample.generation % 2 == 1 ? "legacy" : "cloud") { wrongSide += 1 }
        }
        #expect(stale == 0, "\(stale) requests sent after an answer used an older generation")
        #expect(wrongSide == 0, "\(wrongSide) requests reached a side their generation does not route to")
    }
}

/// Samples appended from several client threads (a lock TSan understands).
final class SampleBox: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [FlipUnderLoadTests.Sample] = []
    func append(_ sample: FlipUnderLoadTests.Sample) { lock.lock(); items.append(sample); lock.unlock() }
    var values: [FlipUnderLoadTests.Sample] { lock.lock(); defer { lock.unlock() }; return items }
}
