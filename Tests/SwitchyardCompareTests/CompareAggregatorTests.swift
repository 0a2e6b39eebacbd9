import Foundation
import Testing
import SwitchyardRouting
@testable import SwitchyardCompare

/// The issue's planted differences: legacy (primary) and cloud answer the same JSON except
/// (a) a field renamed on 3 % of requests, (b) a timestamp and a random id in every answer,
/// (c) a 500 on one endpoint. (b) also differs primary-vs-primary, so it is noise.
@Suite struct CompareAggregatorTests {
    static func answer(_ i: Int, renamed: Bool = false, status: Int = 200) -> MirrorAnswer {
        let name = renamed ? "fullName" : "name"
        return Fixture.json(#"{"patient":{"id":\#(i),"\#(name)":"P\#(i)"},"generatedAt":"\#(UUID().uuidString)","meta":{"requestId":"\#(Int.random(in: 0..<1_000_000_000))"}}"#,
                            status: status, latency: 1000 + i % 50)
    }

    static func planted(pairs: Int, start: Date) -> CompareAggregator {
        var aggregator = CompareAggregator()
        var samples: [MirrorSample] = []
        for i in 0..<pairs {
            samples.append(Fixture.sample(answer(i), answer(i, renamed: i % 100 < 3), path: "/patients/\(i)?q=secret"))
            samples.append(Fixture.sample(answer(i), answer(i, status: 500), path: "/reports/\(i)/pdf"))
            // One in ten also sent to the primary again: same answer, other timestamp and id.
            if i % 10 == 0 { samples.append(Fixture.sample(answer(i), answer(i), kind: .noise, path: "/patients/\(i)")) }
            if i % 10 == 0 { samples.append(Fixture.sample(answer(i), answer(i), kind: .noise, path: "/reports/\(i)/pdf")) }
        }
        // Spread over two hours of ingest calls.
        let batches = 8
        let size = (samples.count + batches - 1) / batches
        for b in 0..<batches {
            let batch = Array(samples[min(samples.count, b * size)..<min(samples.count, (b + 1) * size)])
            aggregator.ingest(batch, now: start.addingTimeInterval(Double(b) * 1000), rules: { $0 == "charting" ? CompareRules() : nil })
        }
        return aggregator
    }

    @Test func theRenameAndThe500AreMismatchesAndTheTimestampAndIdAreNoise() throws {
        let aggregator = Self.planted(pairs: 2000, start: Date(timeIntervalSince1970: 1_800_000_000))
        let report = CompareReport(book: aggregator.book, routes: [("charting", CompareRules())])
        let route = try #require(report.routes.first)
        #expect(route.pairs == 4000)
        let patients = try #require(route.endpoints.first { $0.endpoint == "GET /patients/{id}" })
        let key = { (name: String) in patients.keys.first { $0.key == name } }
        #expect(key("json:$.patient.name")?.count == 60)
        #expect(key("json:$.patient.name")?.isNoise == false)
        #expect(key("json:$.patient.fullName")?.rate == 0.03)
        #expect(key("json:$.generatedAt")?.isNoise == true)
        #expect(key("json:$.meta.requestId")?.isNoise == true)
        #expect(patients.aboveNoise == 60)
        #expect(patients.noiseOnly == 1940)
        let reports = try #require(route.endpoints.first { $0.endpoint == "GET /reports/{id}/pdf" })
        #expect(reports.keys.first { $0.key == "status:200>500" }?.isNoise == false)
        #expect(reports.aboveNoise == 2000)
        #expect(reports.kindCounts[.status] == 2000)
        #expect(!route.verdict.ready)
        #expect(route.verdict.text.contains("mismatches above noise"))
        #expect(route.verdict.text.contains("status:200>500 on GET /reports/{id}/pdf"), "\(route.verdict.text)")
        #expect(patients.examples.count == EndpointBook.maxExamples)
        #expect(patients.examples.allSatisfy { $0.differences.contains("json:$.patient.name") }, "mismatches kept over noise-only pairs")
    }

    @Test func withoutNoiseSamplesEveryDifferenceIsAMismatch() throws {
        var aggregator = CompareAggregator()
        let samples = (0..<100).map { Fixture.sample(Self.answer($0), Self.answer($0)) }
        aggregator.ingest(samples, now: Date(), rules: { _ in CompareRules() })
        let route = try #require(CompareReport(book: aggregator.book, routes: [("charting", CompareRules())]).routes.first)
        #expect(route.aboveNoise == 100)
        #expect(route.noiseOnly == 0)
    }

    @Test func theVerdictIsReadyOnlyWithEnoughPairsOverEnoughTimeAndFewMismatches() throws {
        var rules = CompareRules()
        rules.readyPairs = 100
        rules.readySeconds = 600
        let same = Fixture.json(#"{"a":1}"#)
        var aggregator = CompareAggregator()
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        aggregator.ingest((0..<40).map { _ in Fixture.sample(same, same) }, now: start, rules: { _ in rules })
        aggregator.ingest((0..<1).map { _ in Fixture.sample(same, Fixture.json(#"{"a":2}"#)) }, now: start.addingTimeInterval(120), rules: { _ in rules })
        var route = try #require(CompareReport(book: aggregator.book, routes: [("charting", rules)]).routes.first)
        #expect(route.verdict.missing == ["41 of 100 pairs", "2 min of 10 min", "2.4 % mismatches above noise (at most 0.1 %), most at $.a on GET /patients/{id}"])
        aggregator.ingest((0..<1000).map { _ in Fixture.sample(same, same) }, now: start.addingTimeInterval(700), rules: { _ in rules })
        route = try #require(CompareReport(book: aggregator.book, routes: [("charting", rules)]).routes.first)
        #expect(route.verdict.ready, "\(route.verdict.text)")
        #expect(route.verdict.text == "ready")
    }

    /// Old evidence is not readiness: with the latest pair longer ago than `ready`'s span
    /// (the mirror turned off, a new build of the target deployed since), the verdict says
    /// so, and a plan that requires compare-ready waits. Before, a month-old comparison
    /// against another build still said "ready".
    @Test func theVerdictAsksForARecentLatestPair() throws {
        var rules = CompareRules()
        rules.readyPairs = 100
        rules.readySeconds = 600
        let same = Fixture.json(#"{"a":1}"#)
        var aggregator = CompareAggregator()
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        aggregator.ingest((0..<100).map { _ in Fixture.sample(same, same) }, now: start, rules: { _ in rules })
        aggregator.ingest((0..<100).map { _ in Fixture.sample(same, same) }, now: start.addingTimeInterval(700), rules: { _ in rules })
        let latest = start.timeIntervalSince1970 + 700
        let fresh = try #require(CompareReport(book: aggregator.book, routes: [("charting", rules)], now: latest + 300).routes.first)
        #expect(fresh.verdict.ready, "\(fresh.verdict.text)")
        let stale = try #require(CompareReport(book: aggregator.book, routes: [("charting", rules)], now: latest + 2 * 3600).routes.first)
        #expect(stale.verdict.missing == ["latest pair 2 h ago (at most 10 min)"], "\(stale.verdict.text)")
    }

    /// Mirroring paused longer than 3 days (or the ready time, when longer): the mirror off,
    /// a new build of the target deployed meanwhile. The route's counts start afresh with the
    /// next pair. Before, old agreement plus one fresh pair said "ready", and the old pairs
    /// diluted the new build's mismatches under the 0.1 % limit.
    @Test func aLongPauseInMirroringStartsTheCountsAfresh() throws {
        var rules = CompareRules()
        rules.readyPairs = 100
        rules.readySeconds = 600
        let same = Fixture.json(#"{"a":1}"#)
        let changed = Fixture.json(#"{"a":2}"#)
        var aggregator = CompareAggregator()
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        for offset in stride(from: 0.0, through: 1200, by: 300) {
            aggregator.ingest((0..<1000).map { _ in Fixture.sample(same, same) }, now: start.addingTimeInterval(offset), rules: { _ in rules })
        }
        let before = try #require(CompareReport(book: aggregator.book, routes: [("charting", rules)], now: start.timeIntervalSince1970 + 1200).routes.first)
        #expect(before.verdict.ready && before.pairs == 5000, "\(before.verdict.text)")
        // Four days later the target differs on 2 % of pairs: 1 of 50, under 0.1 % of 5,050.
        let later = start.addingTimeInterval(1200 + 4 * 86_400)
        aggregator.ingest((0..<50).map { $0 == 0 ? Fixture.sample(same, changed) : Fixture.sample(same, same) }, now: later, rules: { _ in rules })
        let after = try #require(CompareReport(book: aggregator.book, routes: [("charting", rules)], now: later.timeIntervalSince1970).routes.first)
        #expect(after.pairs == 50 && after.aboveNoise == 1, "only the pairs since the pause count: \(after.pairs)")
        #expect(!after.verdict.ready && after.verdict.text.contains("50 of 100 pairs") && after.verdict.text.contains("2 % mismatches"),
                "\(after.verdict.text)")
        #expect(CompareReport(book: aggregator.book, routes: [("charting", rules)]).text().contains("counted afresh after mirroring paused 4 d"))
        // A pause of a weekend (a clinic closed, a quiet route) restarts nothing.
        aggregator.ingest([Fixture.sample(same, same)], now: later.addingTimeInterval(2.5 * 86_400), rules: { _ in rules })
        #expect(aggregator.book.routes["charting"]?.endpoints.values.reduce(0) { $0 + $1.pairs } == 51)
    }

    /// A pair whose user-side answer failed (the browser cancelled, the old side reset) says
    /// nothing of the target: left out and counted as such, never a mismatch. Before, each
    /// was a `failure:primary:reset` mismatch above noise until enough noise samples showed
    /// it, and a little browser cancelling kept a route from ready.
    @Test func pairsWhoseUserAnswerFailedAreLeftOut() throws {
        var rules = CompareRules()
        rules.readyPairs = 100
        rules.readySeconds = 60
        let same = Fixture.json(#"{"a":1}"#)
        var cut = same
        cut.failure = .reset
        var aggregator = CompareAggregator()
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        aggregator.ingest((0..<60).map { _ in Fixture.sample(same, same) }, now: start, rules: { _ in rules })
        aggregator.ingest((0..<5).map { _ in Fixture.sample(cut, same) }, now: start.addingTimeInterval(30), rules: { _ in rules })
        aggregator.ingest((0..<60).map { _ in Fixture.sample(same, same) }, now: start.addingTimeInterval(90), rules: { _ in rules })
        let route = try #require(CompareReport(book: aggregator.book, routes: [("charting", rules)]).routes.first)
        #expect(route.pairs == 120 && route.aboveNoise == 0 && route.leftOut == 5)
        #expect(route.verdict.ready, "\(route.verdict.text)")
        #expect(CompareReport(book: aggregator.book, routes: [("charting", rules)]).text().contains("5 left out"))
        #expect(try JSONDecoder().decode(CompareBook.self, from: try JSONEncoder().encode(aggregator.book)) == aggregator.book)
    }

    /// Pairs whose bodies were not compared (a coding not decoded) are no evidence that the
    /// sides agree: they do not count towards `ready`'s pairs, and the verdict and the text
    /// say why. Otherwise a route whose new side answers brotli could be "ready" on no body
    /// compared at all.
    @Test func pairsWhoseBodiesWereNotComparedAreNotEvidence() throws {
        var rules = CompareRules()
        rules.readyPairs = 100
        rules.readySeconds = 60
        rules.ignoredHeaders = ["content-encoding"]
        let same = Fixture.json(#"{"a":1}"#)
        var brotli = Fixture.json(#"{"a":1}"#, headers: [("Content-Encoding", "br")])
        brotli.body = [0x8b, 0x03, 0x80, 0x7b, 0x22, 0x61, 0x22, 0x3a, 0x31, 0x7d, 0x03]
        var aggregator = CompareAggregator()
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        aggregator.ingest((0..<60).map { _ in Fixture.sample(same, same) }, now: start, rules: { _ in rules })
        aggregator.ingest((0..<500).map { _ in Fixture.sample(same, brotli) }, now: start.addingTimeInterval(90), rules: { _ in rules })
        let route = try #require(CompareReport(book: aggregator.book, routes: [("charting", rules)]).routes.first)
        #expect(route.aboveNoise == 0)
        #expect(!route.verdict.ready)
        #expect(route.verdict.missing == ["60 of 100 pairs (500 more not counted: bodies in a coding not decoded, such as br)"], "\(route.verdict.text)")
        let text = CompareReport(book: aggregator.book, routes: [("charting", rules)]).text()
        #expect(text.contains("bodies not compared (a coding not decoded, such as br; not counted towards ready): 500 pairs"), "\(text)")
        aggregator.ingest((0..<40).map { _ in Fixture.sample(same, same) }, now: start.addingTimeInterval(100), rules: { _ in rules })
        let later = try #require(CompareReport(book: aggregator.book, routes: [("charting", rules)]).routes.first)
        #expect(later.verdict.ready, "\(later.verdict.text)")
    }

    @Test func theBookRoundTripsThroughJSONAndKeepsNoBodyOrQuery() throws {
        let aggregator = Self.planted(pairs: 200, start: Date())
        let data = try JSONEncoder().encode(aggregator.book)
        let text = String(decoding: data, as: UTF8.self)
        #expect(!text.contains("secret"))
        #expect(!text.contains("P17"))
        #expect(!text.contains("generatedAt\":\""))
        #expect(try JSONDecoder().decode(CompareBook.self, from: data) == aggregator.book)
        let report = CompareReport(book: aggregator.book, routes: [("charting", CompareRules())])
        let rendered = report.text() + String(decoding: try JSONSerialization.data(withJSONObject: report.json()), as: UTF8.self)
        #expect(!rendered.contains("secret"))
        #expect(!rendered.contains("P17"))
        #expect(rendered.contains("$.patient.name"))
    }

    @Test func endpointsAndSignaturesStayBounded() {
        var aggregator = CompareAggregator()
        let samples = (0..<500).map { i in
            // Letters only: a segment mixing digits and letters over 8 bytes is folded to {id}.
            let word = String(i).unicodeScalars.map { Character(Unicode.Scalar($0.value + 49)!) }
            return Fixture.sample(Fixture.json(#"{"k\#(i)":1}"#), Fixture.json(#"{"k\#(i)":2}"#), path: "/files/report-\(String(word))")
        }
        aggregator.ingest(samples, now: Date(), rules: { _ in CompareRules() })
        let book = aggregator.book.routes["charting"]!
        #expect(book.endpoints.count == RouteBook.maxEndpoints + 1)
        let other = book.endpoints[RouteBook.otherEndpoint]!
        #expect(other.pairs == 300)
        #expect(other.signatures.count == EndpointBook.maxSignatures)
        #expect(other.overflowPairs == 300 - EndpointBook.maxSignatures)
        #expect(other.keyCounts.count <= EndpointBook.maxKeys)
    }

    @Test func latencyPercentilesComeFromFixedBuckets() {
        var h = LatencyHistogram()
        for _ in 0..<99 { h.add(1_000) }
        h.add(2_000_000)
        #expect(h.quantileMicros(0.5).map { $0 >= 1_000 && $0 < 1_500 } == true)
        #expect(h.quantileMicros(0.99).map { $0 >= 1_000 && $0 < 1_500 } == true)
        #expect(h.quantileMicros(1.0).map { $0 >= 2_000_000 } == true)
        #expect(LatencyHistogram().quantileMicros(0.5) == nil)
    }
}
