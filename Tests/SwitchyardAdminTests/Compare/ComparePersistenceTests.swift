import Foundation
import Testing
import SwitchyardCompare
import SwitchyardRouting
import SwitchyardTestSupport
import SwitchyardOrigin

/// The comparison survives a restart of a real `switchyard serve` (`compare.json` beside
/// the state file, read at start, written at shutdown); a damaged file is set aside with one
/// error-log line and the proxy starts with an empty comparison and serves.
@Suite(.serialized) struct ComparePersistenceTests {
    func pairs(_ admin: String) throws -> Int {
        let answer = try #require(ServeProcessTests.command(admin, "json compare app"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any])
        return (object["routes"] as? [[String: Any]])?.first?["pairs"] as? Int ?? -1
    }

    @Test func theComparisonSurvivesARestartAndADamagedFileIsKeptAside() throws {
        let directory = NSTemporaryDirectory() + "switchyard-compare-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let routes = ServeProcessTests.routes(directory, 9, 9)
        // What an earlier run saved: 40 pairs on route app.
        var aggregator = CompareAggregator()
        aggregator.ingest(CompareSamples.planted(pairs: 20), now: Date(), rules: { _ in CompareRules() })
        try JSONEncoder().encode(aggregator.book).write(to: URL(fileURLWithPath: directory + "/compare.json"))

        var served = try ServeProcessTests.Served(directory: directory, routes: routes)
        #expect(try pairs(served.admin) == 40)
        #expect(ServeProcessTests.command(served.admin, "compare reset app")?.contains("40 pairs forgotten") == true)
        #expect(try pairs(served.admin) == 0)
        served.stop()
        let saved = try String(contentsOfFile: directory + "/compare.json", encoding: .utf8)
        #expect(!saved.contains("patients"), "the reset was written at once")

        try JSONEncoder().encode(aggregator.book).write(to: URL(fileURLWithPath: directory + "/compare.json"))
        served = try ServeProcessTests.Served(directory: directory, routes: routes)
        #expect(try pairs(served.admin) == 40)
        served.stop()
        #expect(try String(contentsOfFile: directory + "/compare.json", encoding: .utf8).contains("patients"),
                "what was loaded is still there after the shutdown")

        try "{\"version\": 1, \"routes\": [".write(toFile: directory + "/compare.json", atomically: true, encoding: .utf8)
        served = try ServeProcessTests.Served(directory: directory, routes: routes)
        defer { served.stop() }
        #expect(try pairs(served.admin) == 0)
        let damagedLines = served.errorLog.split(separator: "\n").filter { $0.contains("compare file") && $0.contains("damaged") }
        #expect(damagedLines.count == 1, "\(served.errorLog)")
        let aside = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("compare.json.damaged-") }
        #expect(aside.count == 1)
    }

    @Test func whatWasComparedIsSavedAndNothingIsWrittenWhenNothingWasCompared() throws {
        let h = try AdminHarness(routes: CompareSamples.routes)
        defer { h.stop() }
        let path = h.directory + "/compare.json"
        h.service.saveComparison()
        #expect(!FileManager.default.fileExists(atPath: path), "no pair, no file")
        func savedPairs() throws -> Int {
            let book = try JSONDecoder().decode(CompareBook.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
            return book.routes["app"]?.endpoints.values.reduce(0) { $0 + $1.pairs } ?? -1
        }
        h.service.ingestMirrorSamples(CompareSamples.planted(pairs: 30))
        h.service.saveComparison()
        #expect(try savedPairs() == 60)
        h.service.ingestMirrorSamples(CompareSamples.planted(pairs: 30))
        h.service.saveComparison(final: true)
        #expect(try savedPairs() == 120)
        h.service.ingestMirrorSamples(CompareSamples.planted(pairs: 30))
        h.service.saveComparison()
        #expect(try savedPairs() == 120, "nothing is written after the shutdown's save")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(!text.contains("secret") && !text.contains("Patient "), "no query, no body")
    }
}
