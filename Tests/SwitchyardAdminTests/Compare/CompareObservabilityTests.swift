import Foundation
import Testing
import SwitchyardAdmin
import SwitchyardTestSupport

/// The comparison where people and tools look: `/metrics` (promtool), `/status.json` and
/// the cutover page's panel (headless Chromium), over the metrics listener's real socket.
@Suite(.serialized) struct CompareObservabilityTests {
    @Test func metricsCountPairsMismatchesByKindAndNoiseAndPromtoolAcceptsThem() throws {
        let h = try MetricsHarness(routes: CompareSamples.routes)
        defer { h.stop() }
        #expect(!(try h.scrape()).contains("switchyard_compare_pairs_total{"), "no series before any pair")
        h.admin.service.ingestMirrorSamples(CompareSamples.planted(pairs: 200))
        let scrape = try h.scrape()
        let samples = parseSamples(scrape)
        #expect(samples[#"switchyard_compare_pairs_total{route="app",kind="mirror"}"#] == 400)
        #expect(samples[#"switchyard_compare_pairs_total{route="app",kind="noise"}"#] == 40)
        #expect(samples[#"switchyard_compare_mismatches_total{route="app",kind="status"}"#] == 200)
        #expect(samples[#"switchyard_compare_mismatches_total{route="app",kind="json"}"#] == 400, "the timestamp differs in every pair")
        #expect(samples[#"switchyard_compare_mismatches_total{route="app",kind="header"}"#] == 0)
        // Classed as noise when compared: the /patients pairs with only the timestamp, once the
        // first noise samples were in (the batch is one call, so a few early ones were not).
        let noise = try #require(samples[#"switchyard_compare_noise_total{route="app"}"#])
        #expect(noise > 150 && noise <= 194, "\(noise)")
        guard let promtool = try? tool("promtool") else { return }
        let file = NSTemporaryDirectory() + "switchyard-compare-scrape-\(UUID().uuidString).txt"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try scrape.write(toFile: file, atomically: true, encoding: .utf8)
        let check = try runProcess("/bin/sh", ["-c", "\(promtool) check metrics < \(file)"])
        #expect(check.status == 0 && check.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "promtool: \(check.output)")
    }

    @Test func statusJSONCarriesTheReportAndThePageShowsTheVerdictAndFieldPaths() throws {
        let h = try MetricsHarness(routes: CompareSamples.routes)
        defer { h.stop() }
        h.admin.service.ingestMirrorSamples(CompareSamples.planted(pairs: 300))
        let document = try h.request("/status.json")
        #expect(!document.text.contains("secret") && !document.text.contains("Patient "))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(document.text.utf8)) as? [String: Any])
        let app = try #require((object["routes"] as? [[String: Any]])?.first { $0["name"] as? String == "app" })
        let compare = try #require(app["compare"] as? [String: Any])
        #expect(compare["pairs"] as? Int == 600)
        #expect((compare["verdict"] as? String)?.hasPrefix("not ready: ") == true)
        #expect((compare["missing"] as? [String])?.contains("0 s of 1 min") == true, "\(compare["missing"] ?? "")")

        guard (try? tool("chromium")) != nil else { return }
        let dom = try CutoverPageTests.chromium("http://127.0.0.1:\(h.port)/", extra: ["--dump-dom"])
        #expect(dom.contains("Mirror comparison"), "\(dom.suffix(3000))")
        #expect(dom.contains("600 pairs (60 primary-vs-primary)"))
        #expect(dom.contains("GET /patients/{id}: 300 pairs; mismatches: $.patient.fullName 3 %, $.patient.name 3 %; noise: $.generatedAt"), "\(dom.suffix(3000))")
        #expect(dom.contains("GET /reports/{id}/pdf: 300 pairs; mismatches: status:200&gt;500 100 %; noise: $.generatedAt"))
        #expect(CutoverPageTests.scriptErrors(dom).isEmpty, "\(CutoverPageTests.scriptErrors(dom))")
    }
}
