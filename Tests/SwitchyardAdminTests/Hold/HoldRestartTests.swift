import Foundation
import Glibc
import Testing
import SwitchyardOrigin
import SwitchyardTestSupport

/// kill -9 with a write parked: its client sees the connection close, never a success;
/// the restarted process keeps the hold (new writes park again) and forwards nothing from
/// before the crash.
@Suite(.serialized) struct HoldRestartTests {
    @Test func kill9WithParkedWritesKeepsTheHoldAndForwardsNothingFromBefore() throws {
        let legacy = try OriginServer(name: "legacy"), cloud = try OriginServer(name: "cloud")
        legacy.start(); cloud.start()
        defer { legacy.stop(); cloud.stop() }
        let directory = NSTemporaryDirectory() + "switchyard-hold-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let routes = ServeProcessTests.routes(directory, legacy.port, cloud.port)

        var served = try ServeProcessTests.Served(directory: directory, routes: routes)
        let held = try #require(ServeProcessTests.command(served.admin, "hold app --max-wait 120s"))
        #expect(held.contains("held: app (writes); 0 in flight; 0 parked"), "\(held)")
        let writer = Handed(try TestClient(port: try served.port()))
        let parked = Background { HoldSupport.post(writer.client, "/notes/crash", body: "before the crash") }
        try waitFor("the write to park", seconds: 5) {
            ServeProcessTests.command(served.admin, "status")?.contains("1 parked") == true
        }
        served.kill9()
        #expect(try parked.wait() == nil, "the client saw its connection close, not a success")

        served = try ServeProcessTests.Served(directory: directory, routes: routes)
        defer { served.stop() }
        let status = ServeProcessTests.command(served.admin, "status") ?? ""
        #expect(status.contains("write hold:") && status.contains("app: held for"), "\(status)")
        // Where ops look first: the route's own line and the start's log (before, only the
        // section further down said so, and a restarted proxy parked every write quietly).
        #expect(status.contains("app (http): split legacy 90.00% cloud 10.00%; WRITES HELD for"), "\(status)")
        #expect(served.errorLog.contains("warning route app: writes are HELD since")
                && served.errorLog.contains("(max-wait 120s): they park until `switchyard release app`"), "\(served.errorLog)")
        let again = Handed(try TestClient(port: try served.port()))
        let parkedAgain = Background { HoldSupport.post(again.client, "/notes/after", body: "after the restart") }
        try waitFor("a new write to park after the restart", seconds: 5) {
            ServeProcessTests.command(served.admin, "status")?.contains("1 parked") == true
        }
        let release = ServeProcessTests.command(served.admin, "release app") ?? ""
        #expect(release.contains("released: app; 1 parked write(s)"), "\(release)")
        #expect(try parkedAgain.wait()?.status == 200)
        let posts = (legacy.requestHeads + cloud.requestHeads).filter { $0.hasPrefix("POST") }
        #expect(posts.count == 1 && posts[0].hasPrefix("POST /notes/after"), "nothing from before the crash: \(posts)")
    }
}
