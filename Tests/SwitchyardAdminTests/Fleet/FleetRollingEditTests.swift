import Foundation
import Testing
import SwitchyardTestSupport

/// A rolling edit of the routes files: one instance's file no longer has a route the others
/// still serve. A change made on that instance replaces only what it changed in the store's
/// state; the route it lacks keeps its runtime on the others. Before, the instance sent its
/// whole state, without the route: every other instance moved that route's users back to
/// its file's default, under an audit record that never named it.
/// (Part of the serialized `FleetTests`: two etcd clusters at once would only slow both.)
extension FleetTests {
    @Suite struct FleetRollingEditTests {
        @Test func aChangeFromAnInstanceWithoutARouteLeavesThatRouteAlone() throws {
            let fixture = try FleetFixture(instanceNames: ["a", "b"])
            defer { fixture.shutdown() }
            #expect(fixture.a.command("flip app").contains("every live instance"))
            #expect(fixture.b.answeredBy() == "cloud")
            // a's file loses route app (a rolling edit that reaches a first).
            let text = try String(contentsOfFile: fixture.a.routesPath, encoding: .utf8)
            let edited = text.replacingOccurrences(of: "route app {\n    active legacy standby cloud\n}\n", with: "")
            #expect(edited != text, "the route was taken out of a's file")
            try edited.write(toFile: fixture.a.routesPath, atomically: true, encoding: .utf8)
            let reload = fixture.a.command("reload")
            #expect(!reload.contains("refused"), "\(reload)")
            let weight = fixture.a.command("weight other cloud 20%")
            #expect(weight.contains("every live instance"), "\(weight)")
            let generation = try #require(fixture.a.generation())
            try waitFor("b to apply a's change", seconds: 10) { fixture.b.generation() == generation }
            #expect(fixture.b.answeredBy() == "cloud", "b's users of app were moved back: \(fixture.b.command("status"))")
            #expect(fixture.b.command("status").contains("cloud 20.00%"), "a's own change arrived")
        }
    }
}
