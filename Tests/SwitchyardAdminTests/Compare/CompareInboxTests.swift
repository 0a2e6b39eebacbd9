import Foundation
import Testing
import SwitchyardAdmin
import SwitchyardCompare
import SwitchyardTestSupport

/// The path the guard tick uses: pairs handed over (`enqueueMirrorSamples`) are compared on
/// the comparer's own thread; over its bounds (8,192 pairs, 64 MiB of bodies waiting) they
/// are dropped at once and counted, in `compare` and in `/metrics`.
@Suite(.serialized) struct CompareInboxTests {
    static func tiny(_ i: Int, status: Int = 200) -> MirrorSample {
        let answer = MirrorAnswer(status: status, headers: [("Content-Type", "text/plain")], body: Array("ok \(i)".utf8), bodyLength: 4)
        return MirrorSample(kind: .mirror, route: "app", target: "cloud", method: "GET", path: "/t/\(i)", primary: answer, other: answer)
    }

    @Test func handedOverPairsAreComparedOnTheComparersThread() throws {
        let h = try AdminHarness(routes: CompareSamples.routes)
        defer { h.stop() }
        h.service.enqueueMirrorSamples(CompareSamples.planted(pairs: 50))
        #expect(h.service.waitForComparisons(seconds: 30))
        let text = h.run("compare app").text
        #expect(text.contains("100 pairs over"), "\(text)")
        #expect(text.contains("$.patient.name"))
        #expect(!text.contains("not compared"))
    }

    @Test func pairsOverTheBacklogAreDroppedAndCounted() throws {
        let h = try MetricsHarness(routes: CompareSamples.routes)
        defer { h.stop() }
        // One hand-over larger than the backlog: the thread cannot take any before it ends.
        h.admin.service.enqueueMirrorSamples((0..<(8_192 + 50)).map { Self.tiny($0) })
        #expect(h.admin.service.waitForComparisons(seconds: 60))
        let answer = h.admin.service.execute("compare app --json", caller: AdminHarness.root).0.json
        let object = try #require(try JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any])
        #expect(object["not_compared"] as? Int == 50)
        #expect((object["routes"] as? [[String: Any]])?.first?["pairs"] as? Int == 8_192)
        #expect(h.admin.run("compare app").text.contains("50 mirrored pairs not compared: the comparer was behind"))
        #expect(parseSamples(try h.scrape())["switchyard_compare_dropped_total"] == 50)
    }

    @Test func bodiesWaitingAreBoundedTo64MiB() throws {
        let h = try AdminHarness(routes: CompareSamples.routes)
        defer { h.stop() }
        let body = [UInt8](repeating: 0x61, count: MirrorAnswer.captureLimit)
        let answer = MirrorAnswer(status: 200, body: body, bodyLength: body.count)
        let sample = MirrorSample(kind: .mirror, route: "app", target: "cloud", method: "GET", path: "/big", primary: answer, other: answer)
        // 2 MiB a pair: 32 fit in 64 MiB, the other 8 are dropped.
        h.service.enqueueMirrorSamples(Array(repeating: sample, count: 40))
        #expect(h.service.waitForComparisons(seconds: 60))
        let answerText = h.service.execute("compare app --json", caller: AdminHarness.root).0.json
        let object = try #require(try JSONSerialization.jsonObject(with: Data(answerText.utf8)) as? [String: Any])
        #expect(object["not_compared"] as? Int == 8)
        #expect((object["routes"] as? [[String: Any]])?.first?["pairs"] as? Int == 32)
    }
}
