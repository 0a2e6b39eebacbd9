import Foundation
import Glibc
import Testing
import SwitchyardTestSupport

/// A guard's latch holds the whole fleet: tripped on one instance, it is in the store, so a
/// raise typed on another is refused and a plan running on another aborts; a `guard ROUTE
/// ack` on any instance opens it everywhere. Before, the latch stayed on the instance that
/// tripped: the operator on the other one could raise the failing side straight back.
extension FleetTests {
    @Suite struct FleetLatchTests {
        @Test func aTripOnOneInstanceLatchesEveryInstanceUntilAnAckOnAny() throws {
            let fixture = try FleetFixture(instanceNames: ["a", "b"])
            defer { fixture.shutdown() }
            // A ramp runs on B; its first step raises cloud from the file's 10 % to 20 %.
            let planFile = fixture.directory + "/ramp.plan"
            try "plan ramp {\n    route other\n    cloud 20% for 60s\n    cloud 60% for 60s\n    cloud 100%\n}\n"
                .write(toFile: planFile, atomically: true, encoding: .utf8)
            let load = fixture.b.command("plan load \(planFile)")
            #expect(!load.hasPrefix("error"), "\(load)")
            let start = fixture.b.command("plan start ramp")
            #expect(!start.hasPrefix("error"), "\(start)")
            try waitFor("step 1 everywhere", seconds: 10) { fixture.a.command("show routes").contains("cloud 20.00%") }
            // The guard is A's alone (added at run time there): only A's evaluator judges it.
            let add = fixture.a.command("guard other add cf errors new cloud old legacy freeze window 5s min 10 checks 1")
            #expect(!add.hasPrefix("error"), "\(add)")
            fixture.cloud.failing = true
            let port = try fixture.a.port()
            let deadline = Date().addingTimeInterval(20)
            while !fixture.a.command("guards").contains("TRIPPED") && Date() < deadline {
                for _ in 0..<10 {
                    _ = (try? TestClient(port: port))?.get("/other/x")
                    usleep(20_000)
                }
            }
            fixture.cloud.failing = false
            #expect(fixture.a.command("guards").contains("TRIPPED"), "A's error log: \(fixture.a.errorLog.suffix(1500))")
            let latches = try #require(try fixture.cluster.get(fixture.keys + "latches"), "the store holds the latch")
            #expect(latches.contains("\"other/cf\"") && latches.contains("\"instance\":\"a\""), "\(latches)")
            // B's plan aborts (the guard froze, so the abort puts the route back as before it).
            try waitFor("B's plan to abort", seconds: 10) { fixture.b.command("plan status ramp").contains("aborted") }
            #expect(fixture.b.command("plan status ramp").contains("tripped on instance a"), "\(fixture.b.command("plan status ramp"))")
            try waitFor("the abort everywhere", seconds: 10) { fixture.a.command("show routes").contains("cloud 10.00%") }
            // A raise typed on B is refused, naming where it tripped; a lowering is not.
            let raise = fixture.b.command("weight other cloud 60%")
            #expect(raise.hasPrefix("error") && raise.contains("tripped on instance a") && raise.contains("may not rise"), "\(raise)")
            #expect(fixture.a.command("show routes").contains("cloud 10.00%"), "no instance serves the refused raise")
            let lower = fixture.b.command("weight other cloud 5%")
            #expect(!lower.hasPrefix("error"), "\(lower)")
            let guards = fixture.b.command("guards")
            #expect(guards.contains("(not defined here)") && guards.contains("TRIPPED on instance a"), "\(guards)")
            // A latches document written by hand that does not parse opens nothing: the
            // latches read before it stay in force on every instance.
            _ = try fixture.cluster.etcdctl(["put", fixture.keys + "latches", "not json"])
            usleep(1_500_000)
            #expect(fixture.a.command("guards").contains("TRIPPED"), "A stays latched")
            let again = fixture.b.command("weight other cloud 60%")
            #expect(again.hasPrefix("error") && again.contains("tripped on instance a"), "\(again)")
            // B acknowledges: the store's latch goes, A's opens within a few heartbeats.
            let ack = fixture.b.command("guard other ack")
            #expect(!ack.hasPrefix("error") && ack.contains("on instance a acknowledged"), "\(ack)")
            let after = try fixture.cluster.get(fixture.keys + "latches") ?? ""
            #expect(!after.contains("other/cf"), "\(after)")
            try waitFor("A's latch to open", seconds: 10) { !fixture.a.command("guards").contains("TRIPPED") }
            #expect(fixture.a.errorLog.contains("acknowledged on another instance"), "\(fixture.a.errorLog.suffix(1500))")
            let raised = fixture.a.command("weight other cloud 30%")
            #expect(!raised.hasPrefix("error") && raised.contains("every live instance serves"), "\(raised)")
        }
    }
}
