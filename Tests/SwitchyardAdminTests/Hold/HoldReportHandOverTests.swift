import Foundation
import Glibc
import Testing
@testable import SwitchyardAdmin
import SwitchyardTestSupport

/// A release's report is written once its released writes are answered, after the command
/// itself was committed. An upgrade may hand the service over in between; the audit log is
/// then the new process's, and a report appended by the old one forked its hash chain.
@Suite struct HoldReportHandOverTests {
    @Test func aReportDueAfterAHandOverStaysOutOfTheAuditLog() throws {
        let h = try AdminHarness(routes: HoldSupport.routes)
        defer { h.stop() }
        #expect(h.run("hold app").ok)
        // A write the backend answers slowly: still running when the release has sent it.
        let writer = Handed(try TestClient(port: h.port))
        let parked = Background { HoldSupport.post(writer.client, "/slow?ms=1500") }
        try waitFor("the write to park", seconds: 5) { h.proxy.holdSnapshot().parked == 1 }
        let release = Background { h.run("release app") }
        try waitFor("the released write to reach the backend", seconds: 5) { HoldSupport.seen(h.legacy, "POST", "/slow") == 1 }
        let recordsAtHandOver = h.auditRecords().count
        h.service.handOver("handed over to a test")
        let answer = try release.wait(seconds: 15)
        #expect(answer.ok && answer.text.contains("1 parked write(s) sent upstream"), "\(answer.text)")
        #expect(try parked.wait(seconds: 10)?.status == 200)
        let records = h.auditRecords()
        #expect(records.count == recordsAtHandOver, "nothing appended after the hand-over: \(records.suffix(2))")
        #expect(!records.contains { $0["outcome"] as? String == "hold-report" })
    }
}
