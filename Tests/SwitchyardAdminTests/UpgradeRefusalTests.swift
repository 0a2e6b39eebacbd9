import Foundation
import Glibc
import Testing
@testable import SwitchyardAdmin
import SwitchyardRouting
import SwitchyardSystem
import SwitchyardTestSupport

/// `upgrade` refused before any process starts, each refusal audited like any refused change:
/// while writes are held or parked (a new process cannot take parked requests over, and the
/// old one cut them at the end of its grace: clinicians' saves lost), and `--binary` from an
/// ops member (the binary runs as the proxy: before, anyone of the admin group could run a
/// file of their choosing as the service, and nothing was audited).
@Suite struct UpgradeRefusalTests {
    static let ops = Caller(uid: 4242, gid: 4242, pid: 7, userName: "ops")

    static func upgrade(_ h: AdminHarness, _ line: String, as caller: Caller = AdminHarness.root) throws -> AdminAnswer {
        h.service.runUpgrade(try AdminCommandLine(parsing: line), caller: caller)
    }

    /// An upgrade given up after a SIGTERM arrived (the shutdown froze changes while the new
    /// process was starting) thaws its own freeze only: changes stay refused while the
    /// workers drain. Before, the thaw opened them again, and a fleet generation or a command
    /// on a connection already accepted could write the state file of a stopping proxy.
    @Test func aGivenUpUpgradeLeavesTheShutdownFreezeInPlace() throws {
        let h = try AdminHarness(routes: HoldSupport.routes)
        defer { h.stop() }
        h.service.freeze("an upgrade is handing this proxy over to pid 1")
        h.service.freezeForShutdown()
        h.service.thaw()
        let refused = h.run("flip app")
        #expect(!refused.ok && refused.text.contains("shutting down"), "\(refused.text)")
        // Without a shutdown, the thaw opens changes again.
        let other = try AdminHarness(routes: HoldSupport.routes)
        defer { other.stop() }
        other.service.freeze("an upgrade is handing this proxy over to pid 1")
        other.service.thaw()
        let flipped = other.run("flip app")
        #expect(flipped.ok, "\(flipped.text)")
    }

    @Test func anUpgradeWhileWritesAreHeldOrParkedIsRefusedAndTheParkedWriteIsKept() throws {
        let h = try AdminHarness(routes: HoldSupport.routes)
        defer { h.stop() }
        #expect(h.run("hold app --reason CHG-7").ok)
        let writer = Handed(try TestClient(port: h.port))
        let parked = Background { HoldSupport.post(writer.client, "/notes/1", body: "note 1") }
        try waitFor("the write to park", seconds: 5) { h.proxy.holdSnapshot().parked == 1 }
        let refused = try Self.upgrade(h, "upgrade --reason CHG-8")
        #expect(!refused.ok && refused.text.contains("route app held, 1 write(s) parked") && refused.text.contains("release first"),
                "\(refused.text)")
        let record = h.auditRecords().last
        #expect(record?["outcome"] as? String == "refused" && (record?["command"] as? String)?.hasPrefix("upgrade") == true, "\(String(describing: record))")
        #expect(h.proxy.holdSnapshot().parked == 1, "the parked write is still there")
        #expect(h.run("release app").ok)
        let answer = try parked.wait(seconds: 10)
        #expect(answer?.status == 200, "the parked write was answered after the release")
    }

    @Test func upgradeWithABinaryIsForRootAndTheServiceUserOnly() throws {
        let h = try AdminHarness(allowUIDs: [Self.ops.uid])
        defer { h.stop() }
        #expect(h.run("weight app cloud 20%", as: Self.ops).ok, "an ops member may change routing")
        let refused = try Self.upgrade(h, "upgrade --binary /tmp/anything", as: Self.ops)
        #expect(!refused.ok && refused.text.contains("upgrade --binary is for root and the proxy's own user"), "\(refused.text)")
        let record = h.auditRecords().last
        #expect(record?["outcome"] as? String == "refused" && record?["uid"] as? Int == 4242, "\(String(describing: record))")
        // Without --binary the same member passes the checks (the harness is no `serve`
        // process, so it stops there).
        let plain = try Self.upgrade(h, "upgrade", as: Self.ops)
        #expect(plain.text.contains("only a `switchyard serve` process can be upgraded"), "\(plain.text)")
        // An option upgrade does not take: refused, not ignored.
        let drain = try Self.upgrade(h, "upgrade --drain 30s")
        #expect(!drain.ok && drain.text.contains("upgrade does not take --drain (it takes --binary, --reason)"), "\(drain.text)")
    }
}
