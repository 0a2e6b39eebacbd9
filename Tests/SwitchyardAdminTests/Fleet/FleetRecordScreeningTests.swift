import Foundation
import Testing
import SwitchyardTestSupport

/// Instance records and member names come from etcd, where anyone with access can write:
/// `status` shows them screened (a control character becomes U+FFFD), as it shows the
/// state document. Before, an escape sequence or a newline in one reached the operator's
/// terminal as written — a forged line, or a screen repainted.
/// (Part of the serialized `FleetTests`: two etcd clusters at once would only slow both.)
extension FleetTests {
    @Suite struct FleetRecordScreeningTests {
        @Test func recordsFromTheStoreAreScreenedInStatus() throws {
            let fixture = try FleetFixture(instanceNames: ["a"])
            defer { fixture.shutdown() }
            let evil = "evil\u{1b}[2J\ngeneration 999"
            let record = #"{"name":"\#(evil.replacingOccurrences(of: "\u{1b}", with: "\\u001b").replacingOccurrences(of: "\n", with: "\\n"))","generation":1,"revision":1,"appliedAtMilliseconds":0,"seenAtMilliseconds":0,"status":"synced\u001b[31m","error":null}"#
            try fixture.cluster.etcdctl(["put", fixture.keys + "instances/evil", record])
            try fixture.cluster.etcdctl(["put", fixture.keys + "members/gone\u{1b}]0;x\u{07}", "x"])
            try waitFor("a's view to list the record", seconds: 10) { fixture.a.command("status").contains("evil") }
            let status = fixture.a.command("status")
            #expect(!status.contains("\u{1b}") && !status.contains("\u{07}"), "\(status.debugDescription)")
            #expect(!status.contains("\ngeneration 999"), "a forged line: \(status)")
            #expect(status.contains("\u{FFFD}"))
        }

        /// The command word of a state document becomes a `switchyard_admin_changes_total`
        /// label: one no change command has is counted as "other". Before, each word a writer
        /// of the store chose made a new series, without end.
        @Test func aStoreDocumentsCommandWordIsNotAMetricLabelUnlessItIsACommand() throws {
            let fixture = try FleetFixture(instanceNames: ["a"])
            defer { fixture.shutdown() }
            #expect(fixture.a.command("weight other cloud 20%").contains("every live instance"))
            let before = try #require(fixture.a.generation())
            var document = try fixture.storeState()
            document["generation"] = before + 1
            document["command"] = "label-\(UUID().uuidString.prefix(8)) all"
            let word = try #require((document["command"] as? String)?.split(separator: " ").first).description
            let text = String(decoding: try JSONSerialization.data(withJSONObject: document), as: UTF8.self)
            try fixture.cluster.etcdctl(["put", fixture.keys + "state", text])
            try waitFor("a to apply the hand-written generation", seconds: 10) { fixture.a.generation() == before + 1 }
            let metrics = try #require(fixture.a.adminHTTP("/metrics"))
            #expect(!metrics.contains(word), "the store's word became a label")
            #expect(metrics.contains(#"switchyard_admin_changes_total{command="other"} 1"#), "\(metrics)")
            #expect(metrics.contains(#"switchyard_admin_changes_total{command="weight"} 1"#))
        }
    }
}
