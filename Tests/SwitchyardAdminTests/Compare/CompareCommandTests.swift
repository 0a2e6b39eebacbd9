import Foundation
import Testing
import SwitchyardAdmin
import SwitchyardCompare
import SwitchyardRouting
import SwitchyardTestSupport

/// `switchyard compare` over a real admin socket, fed the planted differences through the
/// entry point the data plane will use (`AdminService.ingestMirrorSamples`).
@Suite(.serialized) struct CompareCommandTests {
    final class Served: @unchecked Sendable {
        let harness: AdminHarness
        let server: AdminServer
        var socket: String { harness.directory + "/admin.sock" }

        init() throws {
            harness = try AdminHarness(routes: CompareSamples.routes)
            server = try AdminServer(path: harness.directory + "/admin.sock", groupID: nil,
                                     trust: .init(serviceUID: geteuid(), serviceGID: getegid()),
                                     limits: AdminConfig(socketPath: harness.directory + "/admin.sock"), service: harness.service)
            server.start()
        }

        func stop() {
            server.stop()
            harness.stop()
        }

        func cli(_ arguments: [String]) throws -> (status: Int32, output: String) {
            try runProcess(try switchyardBinary(), arguments + ["--admin", socket])
        }
    }

    @Test func theReportNamesTheRenamedFieldAndThe500AndClassesTheTimestampAsNoise() throws {
        let s = try Served()
        defer { s.stop() }
        s.harness.service.ingestMirrorSamples(CompareSamples.planted(pairs: 1000))

        let text = try s.cli(["compare", "app"])
        #expect(text.status == 0, "\(text.output)")
        let lines = text.output.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("route app: not ready: ") == true, "\(text.output)")
        #expect(lines.contains { $0.contains("$.patient.name") && $0.contains("30 pairs (3 %)") && $0.contains("MISMATCH") }, "\(text.output)")
        #expect(lines.contains { $0.contains("$.generatedAt") && $0.contains("noise (100 of 100 primary-vs-primary)") }, "\(text.output)")
        #expect(lines.contains { $0.contains("status:200>500") && $0.contains("1,000 pairs (100 %)") && $0.contains("MISMATCH") })
        #expect(lines.contains { $0.contains("latency p50 / p99: primary 2.6 ms / 2.6 ms; mirror") }, "\(text.output)")
        #expect(lines.contains { $0.hasPrefix("    recent: ") && $0.contains(" cloud 200/200 $.patient.fullName, $.patient.name  body ") }, "\(text.output)")
        #expect(!text.output.contains("requestId"), "ignored by the routes file")
        #expect(!text.output.contains("secret") && !text.output.contains("Patient "), "no query, no body")

        let json = try s.cli(["compare", "app", "--json"])
        #expect(json.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any])
        let route = try #require((object["routes"] as? [[String: Any]])?.first)
        #expect(route["pairs"] as? Int == 2000)
        #expect(route["ready"] as? Bool == false)
        #expect(route["mismatches_above_noise"] as? Int == 1030)
        let patients = try #require((route["endpoints"] as? [[String: Any]])?.first { $0["endpoint"] as? String == "GET /patients/{id}" })
        let differences = try #require(patients["differences"] as? [[String: Any]])
        let name = try #require(differences.first { $0["display"] as? String == "$.patient.name" })
        #expect(name["rate"] as? Double == 0.03)
        #expect(name["noise"] as? Bool == false)
        #expect(differences.first { $0["display"] as? String == "$.generatedAt" }?["noise"] as? Bool == true)
        #expect((patients["examples"] as? [[String: Any]])?.count == 20)
        #expect(!json.output.contains("secret"))

        let unknown = try s.cli(["compare", "nosuch"])
        #expect(unknown.status != 0 && unknown.output.contains("unknown route \"nosuch\""), "\(unknown.output)")
    }

    @Test func resetIsAuditedRefusedToOthersAndForgetsTheRoute() throws {
        let s = try Served()
        defer { s.stop() }
        s.harness.service.ingestMirrorSamples(CompareSamples.planted(pairs: 50))

        let stranger = Caller(uid: 54321, gid: 54321, pid: 2, userName: "stranger")
        let refused = s.harness.run("compare reset app", as: stranger)
        #expect(!refused.ok && refused.text.contains("may not change routing"))
        #expect(s.harness.run("compare app").text.contains("100 pairs"))

        let reset = try s.cli(["compare", "reset", "app", "--reason", "CHG-7"])
        #expect(reset.status == 0 && reset.output.contains("comparison of route app reset (100 pairs forgotten; routing unchanged)"), "\(reset.output)")
        let record = try #require(s.harness.auditRecords().last)
        #expect((record["command"] as? String)?.hasPrefix("compare reset app") == true)
        #expect(record["reason"] as? String == "CHG-7")
        #expect(record["outcome"] as? String == "accepted")
        #expect(s.harness.auditRecords().contains { $0["command"] as? String == "compare reset app" && $0["outcome"] as? String == "refused" })
        let after = try s.cli(["compare", "app"])
        #expect(after.output.contains("nothing compared yet") && after.output.contains("0 of 100 pairs"), "\(after.output)")
        // Written at once: a restart does not bring the counts back.
        let saved = try String(contentsOfFile: s.harness.directory + "/compare.json", encoding: .utf8)
        #expect(!saved.contains("patients"))
        #expect(try s.cli(["compare", "reset"]).output.contains("usage: compare reset ROUTE|all"))
    }

    /// The reset is written before its audit record; when the record cannot be written the
    /// answer still says the counts are gone (they are), with a warning, not "refused".
    @Test func aResetThatCannotBeAuditedSaysWhatHappened() throws {
        let s = try Served()
        defer { s.stop() }
        s.harness.service.ingestMirrorSamples(CompareSamples.planted(pairs: 50))
        try? FileManager.default.removeItem(atPath: s.harness.auditPath)
        try FileManager.default.createDirectory(atPath: s.harness.auditPath, withIntermediateDirectories: false)
        let reset = s.harness.run("compare reset app")
        #expect(reset.ok && reset.text.contains("100 pairs forgotten") && reset.text.contains("warning: the audit record was not written"), "\(reset.text)")
        #expect(s.harness.run("compare app").text.contains("0 of 100 pairs"))
        try FileManager.default.removeItem(atPath: s.harness.auditPath)
    }

    @Test func checkPointsAtTheCharacterOfAnIgnorePathThatDoesNotParse() throws {
        let directory = NSTemporaryDirectory() + "switchyard-compare-check-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/bad.routes"
        let text = CompareSamples.routes.replacingOccurrences(of: "LEGACY", with: "9").replacingOccurrences(of: "CLOUD", with: "9")
            .replacingOccurrences(of: "compare ignore json $.meta.requestId", with: "compare ignore json $.items[x].ts")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try runProcess(try switchyardBinary(), ["check", path])
        #expect(result.status == 1)
        #expect(result.output.contains("\(path):10:33: bad JSON path \"$.items[x].ts\": expected an index, * or a quoted name inside [ ]"), "\(result.output)")
    }
}
