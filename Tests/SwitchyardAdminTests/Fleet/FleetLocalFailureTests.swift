import Foundation
import Testing
import SwitchyardTestSupport

/// A change the store committed but this instance could not apply (its state file cannot be
/// written) is answered as such: it used to say "nothing changed" while every other instance
/// served it.
extension FleetTests {
    @Suite struct FleetLocalFailureTests {
        @Test func aChangeCommittedButNotAppliedHereIsNotCalledUnchanged() throws {
            let fixture = try FleetFixture(instanceNames: ["a", "b"])
            defer { fixture.shutdown() }
            let start = try #require(fixture.b.generation())
            let pid = try #require(fixture.a.process?.pid)
            let blocker = fixture.a.directory + "/state.json.tmp.\(pid)"
            try FileManager.default.createDirectory(atPath: blocker, withIntermediateDirectories: false)
            defer { try? FileManager.default.removeItem(atPath: blocker) }
            let answer = fixture.a.command("flip app")
            #expect(answer.hasPrefix("error") && answer.contains("committed to the store as generation \(start + 1)"), "\(answer)")
            #expect(!answer.contains("nothing changed"), "\(answer)")
            try waitFor("b at generation \(start + 1)", seconds: 5) { fixture.b.generation() == start + 1 }
        }
    }
}
