import Foundation
import Testing
import SwitchyardTestSupport

/// A watch on an etcd member that froze (a hung host: its sockets open, nothing sent) is
/// noticed: the heartbeat, which moves on to a member that answers, sees the store's newer
/// generation, and after 3 s of the watch saying nothing of it the watcher reads the state
/// whole from the next member. Before, the watch waited on the frozen member for good: the
/// instance kept its old routing while every headline said "synced".
/// (Part of the serialized `FleetTests`: two etcd clusters at once would only slow both.)
extension FleetTests {
    @Suite struct FleetFrozenMemberTests {
        @Test func aWatchOnAFrozenMemberIsReplacedAndTheChangeArrives() throws {
            let fixture = try FleetFixture(instanceNames: ["a", "b"])
            defer {
                fixture.cluster.freeze(0, false)
                fixture.shutdown()
            }
            // Every instance lists the members in the same order: both watch the first.
            fixture.cluster.freeze(0, true)
            usleep(3_000_000)   // the heartbeats move to members that answer
            // A change that is safe to repeat: a lost answer retried sets the same share.
            try waitFor("a to commit the change", seconds: 20) {
                let answer = fixture.a.command("weight other cloud 30%")
                return answer.contains("every live instance") || answer.contains("not yet acknowledged")
            }
            try waitFor("b to apply the change with its first member frozen", seconds: 15) {
                fixture.b.command("status").contains("cloud 30.00%")
            }
            fixture.cluster.freeze(0, false)
        }
    }
}
