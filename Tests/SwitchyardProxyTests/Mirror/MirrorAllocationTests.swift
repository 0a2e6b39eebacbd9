import CSwitchyardMallocCounter
import Foundation
import Testing
import SwitchyardProxy
import SwitchyardTestSupport

/// What a mirror costs the worker in allocations: nothing for the requests of a mirrored
/// route whose users are outside the share, a bounded figure for a mirrored one (the
/// sample's strings and arrays: route, method, path, header fields, the captured bodies —
/// what the comparer needs — and the pair and copy objects): 22 in the debug build on
/// 2026-11-30. Pinned so it can only go down.
@Suite struct MirrorAllocationTests {
    static let routes = mirrorRoutes("mirror cloud 100%", extra: "mirror noise 0%\nmirror rate 100000/s\nmirror in-flight 1000")

    @Test(.enabled(if: sy_malloc_counter_active() == 1, "sanitizer builds own the allocator"))
    func aUserOutsideTheShareAllocatesNothing() throws {
        let h = try ProxyHarness(routes: mirrorRoutes("mirror cloud 0.01%", extra: "mirror noise 0%"), settings: ProxyHarness.noIdleReduction)
        defer { h.stop() }
        let client = try h.client()
        // A user whose bucket is outside the first 0.01 %: found by asking, then reused.
        var user = ""
        for k in 0..<50 {
            #expect(client.get("/chart/1", headers: "X-User: probe-\(k)\r\n")?.status == 200)
            if h.mirrorCounters("cloud").sent == 0 { user = "probe-\(k)" ; break }
        }
        for _ in 0..<500 { _ = client.get("/chart/1", headers: "X-User: \(user)\r\n") }
        _ = AllocationTests.measure(h) {}
        let counted = try AllocationTests.measure(h) {
            for _ in 0..<2_000 {
                let answer = try #require(client.get("/chart/1", headers: "X-User: \(user)\r\n"))
                #expect(answer.status == 200)
            }
        }
        #expect(counted == 0, "\(counted) allocations in 2,000 requests of a mirrored route outside the share")
    }

    @Test(.enabled(if: sy_malloc_counter_active() == 1, "sanitizer builds own the allocator"))
    func aMirroredRequestAllocatesABoundedAmount() throws {
        let h = try ProxyHarness(routes: Self.routes, settings: ProxyHarness.noIdleReduction)
        defer { h.stop() }
        let client = try h.client()
        func round(_ n: Int) throws {
            let before = h.cloud.requestCount
            for _ in 0..<n {
                let answer = try #require(client.get("/chart/1", headers: "X-User: u\r\n"))
                #expect(answer.status == 200)
            }
            // Waiting on the origin, not on the worker: a snapshot taken on the worker's
            // thread would be counted too.
            let expected = before + n
            try waitFor("the copies", seconds: 10) { h.cloud.requestCount >= expected }
            usleep(200_000)
        }
        try round(300)
        _ = h.proxy.drainMirrorSamples()
        _ = AllocationTests.measure(h) {}
        let count = 1_000
        let counted = try AllocationTests.measure(h) { try round(count) }
        _ = h.proxy.drainMirrorSamples()
        let perRequest = Double(counted) / Double(count)
        print("mirror: \(perRequest) allocations per mirrored request on the worker thread (debug build)")
        #expect(perRequest <= 24, "\(perRequest) allocations per mirrored request")
    }
}
