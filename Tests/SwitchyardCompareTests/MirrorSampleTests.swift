import Testing
@testable import SwitchyardCompare

@Suite struct MirrorSampleTests {
    /// A body captured under the limit that inflates past it (gzip) is compared by its bytes
    /// and counted over_limit: the README promises structural comparison up to 1 MiB only.
    @Test func aGzipBodyInflatingPastTheCaptureLimitIsComparedByItsBytes() {
        let filler = String(repeating: "0", count: MirrorAnswer.captureLimit)
        let a = Fixture.json(#"{"a":"\#(filler)","b":1}"#, gzip: true)
        let b = Fixture.json(#"{"a":"\#(filler)","b":2}"#, gzip: true)
        #expect(a.body!.count < MirrorAnswer.captureLimit, "captured whole")
        let differing = PairComparer.compare(Fixture.sample(a, b), rules: .init())
        #expect(differing == PairOutcome(endpoint: "GET /patients/{id}", differences: ["body"], hashOnly: "over_limit"))
        let same = Fixture.json(#"{"b":1,"a":"\#(filler)"}"#, gzip: true)
        #expect(PairComparer.compare(Fixture.sample(a, same), rules: .init()).hashOnly == "over_limit")
        #expect(PairComparer.compare(Fixture.sample(a, same), rules: .init()).differences == ["body"], "by bytes, not by structure")
    }

    @Test func aDocumentWithTooManyValuesIsComparedByItsBytes() {
        let many = "[" + Array(repeating: "0", count: JSONParser.maxNodes).joined(separator: ",") + "]"
        #expect(throws: JSONParser.Invalid.self) { try JSONParser.parse(Array(many.utf8)) }
        let fits = "[" + Array(repeating: "0", count: JSONParser.maxNodes - 1).joined(separator: ",") + "]"
        #expect(throws: Never.self) { try JSONParser.parse(Array(fits.utf8)) }
        let outcome = PairComparer.compare(Fixture.sample(Fixture.json(many), Fixture.json(many + " ")), rules: .init())
        #expect(outcome.hashOnly == "invalid_json")
        #expect(outcome.differences == ["body"])
    }
}
