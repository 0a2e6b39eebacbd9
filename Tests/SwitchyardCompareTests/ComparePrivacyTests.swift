import Foundation
import Testing
import SwitchyardRouting
@testable import SwitchyardCompare

/// What a person's data may hide in besides bodies: JSON object keys (a map keyed by name,
/// record number or e-mail) and path segments. None of it may reach the report text, its
/// JSON or the saved book; and the keys kept per endpoint stay bounded in count and length.
@Suite struct ComparePrivacyTests {
    static let secrets = ["Jane Doe", "jane@x.org", "MRN00417", "\u{1b}", "[31m", "31m", "a1b2c3d4e5"]

    @Test func secretsInKeysAndPathSegmentsNeverReachTheReportOrTheBook() throws {
        let before = #"{"patients":{"Jane Doe":{"age":40},"MRN00417":{"age":1},"\u001b[31m":1,"plain":1},"byMail":{"jane@x.org":1}}"#
        let after = #"{"patients":{"Jane Doe":{"age":41},"MRN00417":{"age":2},"\u001b[31m":2,"plain":2},"byMail":{"jane@x.org":2}}"#
        var aggregator = CompareAggregator()
        let paths = ["/by-email/jane@x.org", "/mrn/MRN00417/notes", "/t/a1b2c3d4e5", "/q/x=Jane%20Doe;v=1", "/c/\u{1b}[31m"]
        aggregator.ingest(paths.map { Fixture.sample(Fixture.json(before), Fixture.json(after), path: $0) },
                          now: Date(), rules: { _ in CompareRules() })
        let report = CompareReport(book: aggregator.book, routes: [("charting", CompareRules())])
        let outputs = [report.text(),
                       String(decoding: try JSONSerialization.data(withJSONObject: report.json()), as: UTF8.self),
                       String(decoding: try JSONEncoder().encode(aggregator.book), as: UTF8.self)]
        for output in outputs {
            for secret in Self.secrets { #expect(!output.contains(secret), "\(secret) in \(output.prefix(300))") }
            #expect(!output.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" || $0.value == 0x7F })
        }
        let endpoints = Set(try #require(aggregator.book.routes["charting"]).endpoints.keys)
        #expect(endpoints == ["GET /by-email/{id}", "GET /mrn/{id}/notes", "GET /t/{id}", "GET /q/{id}", "GET /c/{id}"])
        let keys = Set(endpoints.flatMap { aggregator.book.routes["charting"]!.endpoints[$0]!.keyCounts.keys })
        #expect(keys == ["json:$.patients.{key}.age", "json:$.patients.{id}.age", "json:$.patients.{key}",
                         "json:$.patients.plain", "json:$.byMail.{key}"])
    }

    @Test func keysFoldToIdOrKeyUnlessTheyAreNames() {
        let cases = ["name": "name", "generated_at": "generated_at", "x-trace": "x-trace", "v2": "v2",
                     "42": "{id}", "3f2c9a1e-0b4d-4c8e-9f1a-2b3c4d5e6f70": "{id}", "MRN00417": "{id}",
                     "Jane Doe": "{key}", "jane@x.org": "{key}", "": "{key}", "\u{1b}[31m": "{key}", "José": "{key}",
                     String(repeating: "a", count: 65): "{key}", String(repeating: "a", count: 64): String(repeating: "a", count: 64),
                     String(repeating: "a1", count: 20): "{id}", "emergencyContactPhoneNumberSecondary": "emergencyContactPhoneNumberSecondary"]
        for (key, folded) in cases { #expect(JSONDifference.fold(key: key) == folded, "\(key)") }
        #expect(JSONDifference.paths(.object([JSONMember(key: "a.b", value: .null)]), .object([]), ignoring: []) == [#"$["a.b"]"#])
    }

    @Test func ignorePatternsMatchTheRealKeysBeforeFolding() throws {
        let a = Fixture.json(#"{"patients":{"Jane Doe":{"age":40},"John Roe":{"age":50}},"n":1}"#)
        let b = Fixture.json(#"{"patients":{"Jane Doe":{"age":41},"John Roe":{"age":51}},"n":1}"#)
        let rules = CompareRules(ignoredJSON: [try JSONPathPattern(parsing: #"$.patients["Jane Doe"]"#)])
        #expect(PairComparer.compare(Fixture.sample(a, b), rules: rules).differences == ["json:$.patients.{key}.age"])
        let all = CompareRules(ignoredJSON: [try JSONPathPattern(parsing: #"$.patients.*.age"#)])
        #expect(PairComparer.compare(Fixture.sample(a, b), rules: all).differences == [])
    }

    @Test func longKeysAreCutButStayDistinct() {
        let name = String(repeating: "abcdefgh", count: 8)   // 64 bytes: still a name
        let deep = (0..<5).map { _ in name }.joined(separator: #"":{""#)
        let a = Fixture.json(#"{""# + deep + #"":{"x":1,"y":1}}}}}}"#)
        let b = Fixture.json(#"{""# + deep + #"":{"x":2,"y":2}}}}}}"#)
        let keys = PairComparer.compare(Fixture.sample(a, b), rules: .init()).differences
        #expect(keys.count == 2)
        #expect(keys.allSatisfy { $0.utf8.count <= DifferenceKey.maxBytes }, "\(keys.map(\.utf8.count))")
        #expect(DifferenceKey.capped("json:$.a") == "json:$.a")
        let long = PairComparer.compare(Fixture.sample(a, b, path: "/" + Array(repeating: "segment", count: 40).joined(separator: "/")),
                                        rules: .init()).endpoint
        #expect(long.utf8.count <= DifferenceKey.maxBytes)
    }

    @Test func everyKindOfKeyIsBoundedPerEndpoint() {
        var aggregator = CompareAggregator()
        let same = Fixture.json(#"{"a":1}"#)
        // 300 different status pairs on one endpoint: keys that are not JSON paths.
        let samples = (0..<300).map { i in Fixture.sample(same, Fixture.json(#"{"a":1}"#, status: 1000 + i)) }
        aggregator.ingest(samples, now: Date(), rules: { _ in CompareRules() })
        let e = aggregator.book.routes["charting"]!.endpoints["GET /patients/{id}"]!
        #expect(e.pairs == 300)
        #expect(e.keyCounts.count <= EndpointBook.maxKeys)
        #expect(e.keyCounts["status:(other)"] == 300 - (EndpointBook.maxKeys - DifferenceKind.allCases.count))
    }
}
