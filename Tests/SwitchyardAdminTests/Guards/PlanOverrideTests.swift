import Foundation
import Testing
import SwitchyardTestSupport
@testable import SwitchyardAdmin

/// A person's change to a running plan's route pauses the plan. Before, an operator's
/// emergency `revert` in the middle of a ramp held only until the step's time was up: the
/// plan then committed its next step, and the users just moved back went to the new side
/// again.
@Suite(.serialized) struct PlanOverrideTests {
    @Test func aRevertDuringARampPausesThePlanInsteadOfBeingUndone() throws {
        let rig = try PlanTests.Rig()
        defer { rig.stop() }
        let h = rig.h
        usleep(500_000)
        #expect(h.run("plan start ramp --reason CHG-9").ok)
        #expect(rig.cloudShare == 500, "step 1 is applied at once")
        let revert = h.run("revert --reason clinicians-report-errors")
        #expect(revert.ok, "\(revert.text)")
        #expect(revert.text.contains("plan ramp paused: its route changed; `plan resume ramp` applies step 1 again"), "\(revert.text)")
        #expect(rig.cloudShare == 0)
        // Step 1 holds for 2 s: well past it, the revert still stands.
        usleep(4_000_000)
        #expect(rig.cloudShare == 0, "the plan's next step undid the revert")
        let status = h.run("plan status ramp").text
        #expect(status.contains("paused") && status.contains("changed by `revert --reason"), "\(status)")
        // Resumed, the step in force is applied again (the route is not as it left it), and
        // the plan's own steps pause nothing: it goes on to step 2.
        #expect(h.run("plan resume ramp").ok)
        #expect(rig.cloudShare == 500)
        #expect(waitUntil(10) { rig.cloudShare == 2_500 }, "share \(rig.cloudShare)")
        #expect(h.run("plan status ramp").text.contains("running") || h.run("plan status ramp").text.contains("completed"))
        #expect(rig.failures.value == 0)
    }
}
