import Foundation
import Testing
import SwitchyardTestSupport
import SwitchyardAdmin
import SwitchyardRouting
import SwitchyardSystem

/// An error guard once a flip has moved everything: the old side's window empties, and the
/// new side is judged against the old side as it last was. Before, an empty old side
/// counted as 0 % errors: the new side's ordinary error rate (the same as the old side's)
/// tripped a revert of a finished migration seconds after the flip.
@Suite(.serialized) struct GuardAfterFlipTests {
    static let routes = """
        listen http 127.0.0.1:0
        backend legacy {
            server 127.0.0.1:LEGACY
        }
        backend cloud {
            server 127.0.0.1:CLOUD
        }
        route app {
            active legacy standby cloud
            guard errs errors new cloud old legacy revert window 4s min 20 checks 2
        }
        """

    @Test func aCompletedFlipIsNotRevertedForTheOldSidesOwnErrorRateButIsForWorse() throws {
        let h = try AdminHarness(routes: Self.routes)
        defer { h.stop() }
        // Both sides fail one request in 50 (2 %): the backends' shared ordinary rate.
        h.legacy.failingOneIn = 50
        h.cloud.failingOneIn = 50
        let evaluator = GuardEvaluator(service: h.service, proxy: h.proxy)
        evaluator.start()
        defer { evaluator.stop() }
        let load = ClientLoad(clients: 2, port: h.port) { _, _, client in
            usleep(10_000)
            return client?.get("/x") != nil
        }
        defer { try? load.stop() }
        usleep(2_500_000)   // legacy's window fills
        let flip = h.run("flip app --reason cutover")
        #expect(flip.ok, "\(flip.text)")
        let flipped = h.proxy.table.state.routes["app"]
        // Past the window: legacy has had no request for longer than it reaches.
        usleep(9_000_000)
        let guards = h.run("guards").text
        #expect(!guards.contains("TRIPPED"), "\(guards)")
        #expect(h.proxy.table.state.routes["app"] == flipped, "the flip was reverted: \(h.run("history").text)")
        #expect(guards.contains("as in its last window with requests"), "\(guards)")

        // The admin side restarts (a restart, an upgrade): the baseline comes back from the
        // state file the flip wrote. Before, the guard had no old side to judge by — no
        // trip, however bad the new side, until legacy had traffic again.
        evaluator.stop()
        let saved = try StateFile.load(path: h.statePath)
        #expect(saved?.guards?.oldBaselines?["app/errs/legacy"].map { $0.requests >= 20 } == true, "the flip saved legacy's window")
        let restarted = try h.restartedService()
        let again = GuardEvaluator(service: restarted, proxy: h.proxy)
        again.start()
        defer { again.stop() }
        usleep(6_000_000)   // cloud's window fills again
        let after = restarted.execute("guards", caller: AdminHarness.root).0.text
        #expect(!after.contains("TRIPPED") && after.contains("as in its last window with requests"), "\(after)")

        // Cloud failing far worse than legacy ever did still trips, with no old traffic.
        h.cloud.failingOneIn = 3
        let reverted = waitUntil(15) { h.proxy.table.state.routes["app"] != flipped }
        #expect(reverted, "the guard did not revert: \(restarted.execute("guards", caller: AdminHarness.root).0.text)")
        try load.stop()
    }
}
