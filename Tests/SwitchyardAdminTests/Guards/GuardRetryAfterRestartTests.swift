import Foundation
import Testing
import SwitchyardTestSupport
import SwitchyardAdmin
import SwitchyardRouting

/// A revert guard latched with its revert not in force (the revert could not be committed:
/// the fleet's store out of reach, say) is retried after a restart. The latch is in the
/// state file, the retries were in memory only: before, the restarted process kept the latch,
/// never tried again, and the failing side kept its share.
@Suite(.serialized) struct GuardRetryAfterRestartTests {
    @Test func aLatchedRevertNotInForceIsRetriedAfterARestart() throws {
        let h = try AdminHarness(routes: GuardRevertFailureTests.routes)
        defer { h.stop() }
        #expect(h.run("weight app cloud 50% --reason ramp").ok)
        // The trip as a process that could not commit its revert left it: latched on disk,
        // the route still ramped.
        var file = try #require(try StateFile.load(path: h.statePath))
        var guards = file.guards ?? GuardRecord()
        var trip = GuardTrip(time: "2026-12-05T02:00:00Z", figures: "cloud 9/20 errors (the store was out of reach)")
        trip.revertPending = true
        guards.trips["app/errs"] = trip
        file.guards = guards
        try file.save(path: h.statePath)

        let restarted = try h.restartedService()
        let evaluator = GuardEvaluator(service: restarted, proxy: h.proxy)
        evaluator.start()
        defer { evaluator.stop() }
        let reverted = waitUntil(10) { h.proxy.table.routes[0].split.map(\.basisPoints) == [10_000, 0] }
        #expect(reverted, "the latched revert was not retried: \(h.proxy.table.routes[0].split)")
        let record = h.auditRecords().last { ($0["user"] as? String) == "guard app errs" }
        #expect((record?["reason"] as? String)?.contains("revert retried") == true, "\(record ?? [:])")
        // Nothing more to revert once it is in force: no retry a second time.
        usleep(1_500_000)
        #expect(h.auditRecords().filter { ($0["user"] as? String) == "guard app errs" }.count == 1)
    }
}
