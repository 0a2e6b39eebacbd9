import Foundation
import Testing
@testable import SwitchyardAdmin
import SwitchyardRouting

/// A change applied from the fleet writes the state file as a local change does — with this
/// instance's guard record (trips, loaded plans, plan progress). Before, the fleet's apply
/// wrote the file without it, so a restart after any fleet change forgot an unacknowledged
/// guard trip and every plan's progress (found by an audit helper). No etcd needed: the
/// document is applied the way the watcher applies it.
@Suite struct FleetApplyStateFileTests {
    @Test func aFleetAppliedChangeKeepsTheGuardRecordInTheStateFile() throws {
        let h = try AdminHarness(workers: 1)
        defer { h.stop() }
        let plan = PlanConfig(name: "ramp", route: "app", newSide: "cloud", oldSide: "legacy",
                              steps: [PlanStep(basisPoints: 10_000, holdMilliseconds: nil, text: "cloud 100%")])
        h.service.lock.withLock { h.service.guardBook.record.loadedPlans = [plan] }
        let table = h.service.lock.withLock { h.service.table }
        let document = FleetDocument(generation: table.generation + 1, state: table.state, instance: "other", user: "ops", uid: 0,
                                     command: "weight app cloud 10%", reason: nil, changes: [], time: "2026-12-02T00:00:00Z",
                                     committedAtMilliseconds: 0)
        #expect(try h.service.applyFleetDocument(document))
        let file = try #require(try StateFile.load(path: h.statePath))
        #expect(file.generation == table.generation + 1)
        #expect(file.guards?.loadedPlans == [plan], "the guard record went with the fleet's change")
    }
}
