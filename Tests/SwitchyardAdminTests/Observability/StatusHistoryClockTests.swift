import Foundation
import Testing
import SwitchyardTestSupport
@testable import SwitchyardAdmin

/// The cutover page's history measures its spans on the monotonic clock; the wall clock only
/// labels the points. Before, a clock stepped back an hour (NTP, a resumed VM, a date fixed
/// by hand) made no new point for that hour and a rate of 0 on every side: the page showed
/// traffic stopped while it flowed.
@Suite struct StatusHistoryClockTests {
    final class WallClock: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 1_800_000_000.0
        func read() -> Double { lock.withLock { value } }
        func step(_ seconds: Double) { lock.withLock { value += seconds } }
    }

    @Test func aWallClockSteppedBackDoesNotStopThePointsOrTheRates() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        let wall = WallClock()
        let history = StatusHistory(proxy: h.proxy, tickMilliseconds: 60_000, pointSpanSeconds: 0.5, wallClock: { wall.read() })
        history.sample()
        let client = try TestClient(port: h.port)
        for i in 0..<10 { #expect(client.get("/p\(i)")?.status == 200) }
        usleep(700_000)
        wall.step(-3_600)
        history.sample()
        let keys = h.proxy.metricsSnapshot().cells.keys
        let points = keys.flatMap { history.points($0) }
        #expect(points.reduce(0) { $0 + $1.requests } == 10, "no point after the step: \(points)")
        #expect(points.allSatisfy { $0.time == wall.read() }, "points are labelled with the wall clock")
        let rate = points.map(\.requestsPerSecond).reduce(0, +)
        #expect(rate > 5 && rate < 20, "10 requests over about 0.7 s, not \(rate) per second")
    }
}
