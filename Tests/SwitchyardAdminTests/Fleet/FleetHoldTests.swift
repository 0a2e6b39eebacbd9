import Foundation
import Glibc
import Testing
import SwitchyardTestSupport

/// The write hold across a fleet: `hold` typed on one instance parks writes on all of them,
/// a flip moves them, and `release` typed there sends every instance's parked writes on.
extension FleetTests {
    @Suite struct FleetHoldTests {
        @Test func aHoldAndReleaseTypedOnOneInstanceParkAndReleaseWritesOnAnother() throws {
            let fixture = try FleetFixture(instanceNames: ["a", "b"])
            defer { fixture.shutdown() }
            let hold = fixture.a.command("hold app")
            #expect(hold.contains("every live instance serves"), "\(hold)")
            // A write on B parks: nothing reaches a backend.
            let port = try fixture.b.port()
            let parked = Background<String?> {
                guard let client = try? TestClient(port: port, timeoutSeconds: 30) else { return nil }
                return HoldSupport.post(client, "/notes/1", body: "note")?.text
            }
            try waitFor("B to park the write", seconds: 5) { fixture.b.command("status").contains("; 1 parked (") }
            #expect(HoldSupport.seen(fixture.legacy, "POST", "/notes") == 0)
            #expect(HoldSupport.seen(fixture.cloud, "POST", "/notes") == 0)
            #expect(fixture.a.command("flip app").contains("every live instance serves"))
            let release = fixture.a.command("release app")
            #expect(release.contains("every live instance serves"), "\(release)")
            // B releases its own parked write, to the routing in force now: cloud.
            let answer = try parked.wait(seconds: 20)
            #expect(answer?.hasPrefix("cloud answered POST /notes/1") == true, "\(answer ?? "no answer")")
            #expect(HoldSupport.seen(fixture.legacy, "POST", "/notes") == 0)
        }

        /// `hold` typed on A answers quiet — the signal that the database freeze may start —
        /// only once B's write already in flight upstream has been answered. Before, A looked
        /// at its own writes only and said "0 in flight" while B's write was still running
        /// against the database about to be frozen.
        @Test func aHoldWaitsForWritesInFlightOnEveryInstance() throws {
            let fixture = try FleetFixture(instanceNames: ["a", "b"])
            defer { fixture.shutdown() }
            let port = try fixture.b.port()
            let slow = Background<String?> {
                guard let client = try? TestClient(port: port, timeoutSeconds: 30) else { return nil }
                return HoldSupport.post(client, "/slow?ms=3000", body: "note")?.text
            }
            try waitFor("B's write to reach legacy", seconds: 5) { HoldSupport.seen(fixture.legacy, "POST", "/slow") == 1 }
            let started = Date()
            let hold = fixture.a.command("hold app")
            let waited = Date().timeIntervalSince(started)
            let answer = try slow.wait(seconds: 10)
            #expect(answer?.hasPrefix("legacy answered slowly") == true, "B's write was answered: \(answer ?? "none")")
            #expect(hold.contains("every other instance of fleet clinic quiet") && !hold.contains("not quiet"), "\(hold)")
            #expect(waited > 1.5, "the answer waited for B's write (\(waited) s): \(hold)")
        }

        /// A retired instance stays in `members/` (no instance removes its own), and every
        /// fleet `hold` answered "not quiet" naming it until someone ran `etcdctl del` by
        /// hand. `fleet forget` removes it, audited, and only once its record has expired:
        /// a running instance, this one, or a name that is no member is refused, unchanged.
        @Test func aRetiredInstanceIsForgottenSoAHoldNoLongerWaitsForIt() throws {
            let fixture = try FleetFixture(instanceNames: ["a", "b"])
            defer { fixture.shutdown() }
            let running = fixture.a.command("fleet forget b")
            #expect(running.contains("b is running") && running.contains("stop it first"), "\(running)")
            #expect(fixture.a.command("fleet forget a").contains("a is this instance"))
            let unknown = fixture.a.command("fleet forget zz")
            #expect(unknown.contains("has no member zz (members: a, b)"), "\(unknown)")
            #expect(!(try fixture.cluster.etcdctl(["get", fixture.keys + "members/b"])).isEmpty, "nothing refused was removed")
            fixture.b.stop()
            try waitFor("b's record to expire", seconds: 15) { fixture.a.command("status").contains("gone") }
            // No record is no proof that it stopped (one cut off from the store loses it
            // too): it must have been gone a while (10 minutes; 2 s in these tests).
            let early = fixture.a.command("fleet forget b")
            #expect(early.contains("b had a live record") && early.contains("still serves"), "\(early)")
            usleep(2_100_000)
            let forgot = fixture.a.command("fleet forget b --reason retired")
            #expect(forgot.contains("b forgotten"), "\(forgot)")
            #expect(try fixture.cluster.etcdctl(["get", fixture.keys + "members/b"]).isEmpty, "b's member key is gone")
            // The next hold is quiet at once; before, it waited 30 s and named b.
            let hold = fixture.a.command("hold app")
            #expect(hold.contains("every other instance of fleet clinic quiet") && !hold.contains("not quiet"), "\(hold)")
            let audit = (try? String(contentsOfFile: fixture.a.directory + "/audit.log", encoding: .utf8)) ?? ""
            #expect(audit.contains("fleet forget b --reason retired"), "the forget is audited")
        }
    }
}
