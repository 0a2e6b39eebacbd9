import Foundation
import Testing
import SwitchyardTestSupport

/// The store going back while instances watch it (an old `history/N` put back into `state`
/// by hand, a restore under running instances): every watching instance raises the alarm
/// and keeps its generation, and a change committed elsewhere meanwhile is not reported as
/// acknowledged by them. Before, the watch took the older document for a late event and
/// ignored it — and cleared any alarm — so every signal said the fleet agreed while
/// instances served different routing.
/// (Part of the serialized `FleetTests`: two etcd clusters at once would only slow both.)
extension FleetTests {
    @Suite struct FleetStoreBackTests {
        @Test func anOlderStatePutBackRaisesTheAlarmOnEveryWatcher() throws {
            let fixture = try FleetFixture(instanceNames: ["a", "b"])
            defer { fixture.shutdown() }
            for share in 11...14 {
                #expect(fixture.a.command("weight other cloud \(share)%").contains("every live instance"))
            }
            let generation = try #require(fixture.a.generation())
            #expect(generation >= 5)
            let key = fixture.keys + "history/" + String(repeating: "0", count: 19) + "3"
            let old = try #require(try fixture.cluster.get(key), "history 3")
            try fixture.cluster.etcdctl(["put", fixture.keys + "state", old])
            for instance in fixture.instances {
                try waitFor("\(instance.name) to raise the alarm", seconds: 10) {
                    instance.command("status").contains("went back to generation 3")
                }
                #expect(instance.generation() == generation, "\(instance.name) keeps its generation")
            }
            // Its record says so to the others (and to a change's acknowledgement check).
            try waitFor("a to see b's record as rejected", seconds: 10) {
                fixture.a.command("status").split(separator: "\n").contains { $0.hasPrefix("  b ") && $0.contains("rejected") }
            }
            #expect(fixture.b.command("weight other cloud 30%").contains("not applied anywhere"), "changes are refused in alarm")
        }
    }
}
