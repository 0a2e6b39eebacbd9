import Foundation
import Testing
import SwitchyardTestSupport
import SwitchyardAdmin
import SwitchyardSystem

/// A revert guard whose revert cannot be committed (here: the state file cannot be
/// replaced) says so: the audit record is `failed` with the reason, the trip still latches
/// (raises refused), and the route keeps its traffic where it is; once the cause passes,
/// the guard's retry commits the revert. Before, the failure went
/// to the error log only and the audit said "tripped: nothing to revert to" — the trail
/// claimed there was nothing to undo while the new side kept its users.
@Suite(.serialized) struct GuardRevertFailureTests {
    /// A ramped route with a revert guard (also `GuardRetryAfterRestartTests`').
    static let routes = """
        listen http 127.0.0.1:0
        backend legacy {
            server 127.0.0.1:LEGACY
        }
        backend cloud {
            server 127.0.0.1:CLOUD
        }
        route app {
            split legacy 100% cloud 0%
            sticky header X-User
            guard errs errors new cloud old legacy revert window 5s min 10 checks 2
        }
        """

    @Test func aRevertThatCannotBeCommittedIsAuditedAsFailed() throws {
        let h = try AdminHarness(routes: Self.routes)
        defer { h.stop() }
        #expect(h.run("weight app cloud 50% --reason ramp").ok)
        let ramped = h.proxy.table.state.routes["app"]
        // The state file can no longer be replaced: a directory (not empty) in its place.
        try FileManager.default.removeItem(atPath: h.statePath)
        try FileManager.default.createDirectory(atPath: h.statePath + "/blocked", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: h.statePath) }
        h.cloud.failingOneIn = 2
        let evaluator = GuardEvaluator(service: h.service, proxy: h.proxy)
        evaluator.start()
        defer { evaluator.stop() }
        let load = ClientLoad(clients: 2, port: h.port) { worker, n, client in
            usleep(10_000)
            return client?.get("/x", headers: "X-User: u\(worker)-\(n % 30)\r\n") != nil
        }
        defer { try? load.stop() }
        let audited = waitUntil(15) { h.auditRecords().contains { ($0["user"] as? String) == "guard app errs" } }
        try load.stop()
        #expect(audited, "no audit record by the guard: \(h.run("guards").text)")
        let record = h.auditRecords().last { ($0["user"] as? String) == "guard app errs" }
        #expect(record?["outcome"] as? String == "failed", "\(record ?? [:])")
        let changes = (record?["changes"] as? [String])?.joined(separator: " ") ?? ""
        #expect(changes.contains("revert FAILED") && !changes.contains("nothing to revert to"), "\(changes)")
        #expect((record?["error"] as? String)?.isEmpty == false, "the reason is recorded")
        #expect(h.proxy.table.state.routes["app"] == ramped, "nothing half-applied")
        #expect(h.run("status").text.contains("TRIPPED"))

        // The cause passes (the file can be replaced again): the latched guard's retry
        // commits the revert, audited as the guard's, without anyone acking or retyping.
        try FileManager.default.removeItem(atPath: h.statePath)
        let reverted = waitUntil(15) { h.proxy.table.state.routes["app"] != ramped }
        #expect(reverted, "the revert was not retried: \(h.run("guards").text)")
        // The record is appended after the table is published: wait for it, not the table.
        _ = waitUntil(5) { h.auditRecords().last { ($0["user"] as? String) == "guard app errs" }?["outcome"] as? String == "accepted" }
        let retried = h.auditRecords().last { ($0["user"] as? String) == "guard app errs" }
        #expect(retried?["outcome"] as? String == "accepted", "\(retried ?? [:])")
        #expect((retried?["reason"] as? String)?.contains("revert retried") == true, "\(retried ?? [:])")
    }
}
