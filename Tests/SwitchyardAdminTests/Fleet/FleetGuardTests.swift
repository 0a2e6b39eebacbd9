import Foundation
import Glibc
import Testing
import SwitchyardTestSupport

/// A guard on one instance of a fleet: its trip is a change like a person's, committed
/// through the store, so every instance reverts — not only the one whose traffic tripped it.
extension FleetTests {
    @Suite struct FleetGuardTests {
        @Test func aGuardTripOnOneInstanceRevertsEveryInstance() throws {
            let fixture = try FleetFixture(instanceNames: ["a", "b"])
            defer { fixture.shutdown() }
            // Route `other` is at cloud 10 % in the routes file; a person raises it to 50 %.
            let raise = fixture.a.command("weight other cloud 50%")
            #expect(raise.contains("every live instance serves"), "\(raise)")
            let raised = try #require(fixture.b.generation())
            let add = fixture.a.command("guard other add cf errors new cloud old legacy revert window 5s min 10 checks 1")
            #expect(!add.hasPrefix("error"), "\(add)")
            // Cloud turns sick; only A carries traffic, so only A's evaluator sees it.
            fixture.cloud.failing = true
            let port = try fixture.a.port()
            // Traffic goes on until B serves the revert: the guard judges a sliding window,
            // and on a loaded machine its first checks may come late.
            var cloudErrors = 0
            let deadline = Date().addingTimeInterval(20)
            var reverted = false
            while !reverted && Date() < deadline {
                for _ in 0..<10 {
                    guard let client = try? TestClient(port: port), let response = client.get("/other/x") else { continue }
                    if response.status == 503 { cloudErrors += 1 }
                    usleep(20_000)
                }
                reverted = (fixture.b.generation() ?? 0) > raised
            }
            #expect(cloudErrors > 10, "cloud answered 503 to its share (\(cloudErrors))")
            #expect(reverted, "B serves the guard's revert; A's error log: \(fixture.a.errorLog.suffix(1500))")
            let history = fixture.b.command("history")
            #expect(history.contains("guard other cf"), "B applied the guard's change from the store: \(history)")
            let shown = fixture.b.command("show routes")
            #expect(shown.contains("split legacy 90.00% cloud 10.00%"), "B is back at the pre-raise split: \(shown)")
            // The trip is latched on A until `guard other ack`: a raise typed on A is refused
            // before the store has it, so no instance serves it.
            let latched = try #require(fixture.b.generation())
            let again = fixture.a.command("weight other cloud 50%")
            #expect(again.hasPrefix("error") && again.contains("may not rise"), "\(again)")
            let quiet = Date().addingTimeInterval(2)
            while Date() < quiet && fixture.b.generation() == latched { usleep(50_000) }
            #expect(fixture.b.generation() == latched, "B never serves the refused raise")
            #expect(fixture.a.generation() == latched, "nor does A, through its watcher")
            #expect(fixture.b.command("show routes").contains("split legacy 90.00% cloud 10.00%"))
            let audit = try fixture.cluster.objects(fixture.keys + "audit/")
            #expect(audit.contains { ($0["user"] as? String ?? $0["actor"] as? String ?? "").contains("guard other cf")
                || ($0["command"] as? String ?? "").hasPrefix("guard other cf") }, "the store's audit has the trip: \(audit.last ?? [:])")
        }
    }
}
