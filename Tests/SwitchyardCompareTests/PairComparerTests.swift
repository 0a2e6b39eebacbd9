import CZlib
import Testing
import SwitchyardRouting
@testable import SwitchyardCompare

@Suite struct PairComparerTests {
    let rules = CompareRules()

    func differences(_ a: MirrorAnswer, _ b: MirrorAnswer, rules: CompareRules = CompareRules()) -> [String] {
        PairComparer.compare(Fixture.sample(a, b), rules: rules).differences
    }

    @Test func objectKeyOrderAndNumberSpellingDoNotMatter() {
        #expect(differences(Fixture.json(#"{"a":1,"b":{"c":[1,2]}}"#), Fixture.json(#"{"b":{"c":[1.0,2e0]},"a":1}"#)) == [])
    }

    /// Numbers by exact value, strings byte for byte: 64-bit ids above 2^53 that differ
    /// (what a rewrite that parses them as doubles sends) and a name precomposed on one side
    /// and decomposed on the other are differences. Before, both compared equal.
    @Test func largeIdsAndDifferentlyComposedNamesAreDifferences() {
        #expect(differences(Fixture.json(#"{"id":9007199254740993}"#), Fixture.json(#"{"id":9007199254740992}"#)) == ["json:$.id"])
        #expect(differences(Fixture.json(#"{"name":"Jos\u00e9"}"#), Fixture.json(#"{"name":"Jose\u0301"}"#)) == ["json:$.name"])
        #expect(differences(Fixture.json(#"{"a":[100,0.5,-0,1.50,12300]}"#), Fixture.json(#"{"a":[1e2,5e-1,0,1.5,1.23E4]}"#)) == [])
        #expect(differences(Fixture.json(#"{"a":1}"#), Fixture.json(#"{"a":-1}"#)) == ["json:$.a"])
        #expect(differences(Fixture.json(#"{"a":0.1}"#), Fixture.json(#"{"a":0.10000000000000001}"#)) == ["json:$.a"])
    }

    @Test func arraysAreComparedInOrderAndIndicesFoldToAStar() {
        #expect(differences(Fixture.json(#"{"items":[{"id":1},{"id":2}]}"#), Fixture.json(#"{"items":[{"id":2},{"id":1}]}"#))
                == ["json:$.items[*].id"])
        #expect(differences(Fixture.json(#"{"items":[1,2]}"#), Fixture.json(#"{"items":[1,2,3]}"#)) == ["json:$.items"])
    }

    @Test func aRenamedFieldNamesBothPaths() {
        #expect(differences(Fixture.json(#"{"patient":{"name":"A"}}"#), Fixture.json(#"{"patient":{"fullName":"A"}}"#))
                == ["json:$.patient.fullName", "json:$.patient.name"])
    }

    @Test func ignorePathsLeaveSubtreesOut() throws {
        var rules = CompareRules()
        rules.ignoredJSON = [try JSONPathPattern(parsing: "$.meta.requestId"), try JSONPathPattern(parsing: "$.items[*].ts")]
        let a = Fixture.json(#"{"meta":{"requestId":"x","v":1},"items":[{"ts":1,"n":1},{"ts":2,"n":2}]}"#)
        let b = Fixture.json(#"{"meta":{"requestId":"y","v":1},"items":[{"ts":3,"n":1},{"ts":4,"n":3}]}"#)
        #expect(differences(a, b, rules: rules) == ["json:$.items[*].n"])
    }

    @Test func statusAndTheDefaultHeaderSetAreCompared() {
        let a = Fixture.json("{}", headers: [("Date", "Mon"), ("Server", "legacy"), ("Cache-Control", "no-store"), ("ETag", "1")])
        let b = Fixture.json("{}", status: 500, headers: [("Date", "Tue"), ("Server", "cloud"), ("cache-control", "max-age=60"), ("ETag", "2")])
        #expect(differences(a, b) == ["header:cache-control", "status:200>500"])
        var rules = CompareRules()
        rules.ignoredHeaders = ["cache-control"]
        rules.extraHeaders = ["etag"]
        #expect(differences(a, b, rules: rules) == ["header:etag", "status:200>500"])
    }

    @Test func gzipBodiesAreDecodedBeforeComparing() {
        let plain = Fixture.json(#"{"a":1,"b":2}"#)
        let zipped = Fixture.json(#"{"b":2,"a":1}"#, gzip: true)
        // Content-Encoding differs (a header difference), the decoded documents do not.
        #expect(differences(plain, zipped) == ["header:content-encoding"])
        #expect(differences(Fixture.json(#"{"a":1}"#, gzip: true), Fixture.json(#"{"a":2}"#, gzip: true)) == ["json:$.a"])
    }

    /// "deflate" in both of its forms (zlib-wrapped as RFC 9110 says, raw as some servers
    /// send it) is decoded like gzip: a legacy server's deflate and a new one's gzip of the
    /// same document are the same body.
    @Test func deflateBodiesAreDecodedInBothForms() {
        func deflated(_ text: String, windowBits: Int32) -> MirrorAnswer {
            var answer = Fixture.json(text, headers: [("Content-Encoding", "deflate")])
            answer.body = Fixture.compress(Array(text.utf8), windowBits: windowBits)
            answer.bodyLength = answer.body!.count
            return answer
        }
        for bits in [MAX_WBITS, -MAX_WBITS] {
            let outcome = PairComparer.compare(Fixture.sample(deflated(#"{"a":1,"b":2}"#, windowBits: bits),
                                                              Fixture.json(#"{"b":2,"a":1}"#, gzip: true)), rules: rules)
            #expect(outcome.differences == ["header:content-encoding"], "windowBits \(bits)")
            #expect(outcome.hashOnly == nil)
            #expect(differences(deflated(#"{"a":1}"#, windowBits: bits), deflated(#"{"a":2}"#, windowBits: bits)) == ["json:$.a"])
        }
    }

    /// A coding the comparer cannot decode (brotli here) says nothing of the content unless
    /// the bytes are the same in the same coding: no body difference is claimed (before,
    /// every pair of a gzip legacy side and a brotli cloud side was "body" — the comparison
    /// could never be ready), and the pair is marked `unsupported_encoding` (no evidence
    /// either: see `CompareAggregatorTests.pairsWhoseBodiesWereNotComparedAreNotEvidence`).
    @Test func aCodingNotDecodedIsNotABodyDifference() {
        var brotli = Fixture.json(#"{"a":1}"#, headers: [("Content-Encoding", "br")])
        brotli.body = [0x8b, 0x03, 0x80, 0x7b, 0x22, 0x61, 0x22, 0x3a, 0x31, 0x7d, 0x03]
        brotli.bodyLength = brotli.body!.count
        let gzipped = Fixture.json(#"{"a":1}"#, gzip: true)
        let outcome = PairComparer.compare(Fixture.sample(gzipped, brotli), rules: rules)
        #expect(outcome.differences == ["header:content-encoding"])
        #expect(outcome.hashOnly == "unsupported_encoding")
        // Two encoders of the same coding: other bytes, maybe the same document.
        var other = brotli
        other.body = [0x8b, 0x03, 0x80, 0x7b, 0x22, 0x61, 0x22, 0x3a, 0x32, 0x7d, 0x03]
        let same = PairComparer.compare(Fixture.sample(brotli, other), rules: rules)
        #expect(same.differences == [] && same.hashOnly == "unsupported_encoding")
        let equal = PairComparer.compare(Fixture.sample(brotli, brotli), rules: rules)
        #expect(equal.differences == [] && equal.hashOnly == nil, "the same bytes in the same coding are the same body")
    }

    @Test func aGzipBombIsComparedByHashOnly() throws {
        let huge = [UInt8](repeating: 0x20, count: 9 << 20)
        let bomb = Fixture.gzip(huge)
        #expect(bomb.count < 100_000)
        #expect(throws: ContentDecoder.Failure.tooLarge) { try ContentDecoder.decode(bomb, .gzip) }
        var a = Fixture.json("{}", gzip: true)
        a.body = bomb
        a.bodyHash = [1]
        var b = a
        b.body = Fixture.gzip(huge + [0x21])
        b.bodyHash = [2]
        let outcome = PairComparer.compare(Fixture.sample(a, b), rules: rules)
        #expect(outcome.hashOnly == "decoded_too_large")
        #expect(outcome.differences == ["body"])
        var corrupt = a
        corrupt.body = Array(bomb.prefix(20))
        #expect(PairComparer.compare(Fixture.sample(corrupt, b), rules: rules).hashOnly == "undecodable")
    }

    @Test func bodiesOverTheCaptureLimitAreComparedByHash() {
        let a = MirrorAnswer(status: 200, headers: [("Content-Type", "application/json")], body: nil, bodyHash: [1, 2, 3],
                             bodyLength: MirrorAnswer.captureLimit + 1)
        var b = a
        #expect(PairComparer.compare(Fixture.sample(a, b), rules: rules) == PairOutcome(endpoint: "GET /patients/{id}", differences: [], hashOnly: "over_limit"))
        b.bodyHash = [9, 9, 9]
        #expect(PairComparer.compare(Fixture.sample(a, b), rules: rules).differences == ["body"])
    }

    @Test func garbageJSONIsComparedByBytes() {
        let a = Fixture.json("{not json")
        let b = Fixture.json("{not json!")
        let outcome = PairComparer.compare(Fixture.sample(a, b), rules: rules)
        #expect(outcome.hashOnly == "invalid_json")
        #expect(outcome.differences == ["body"])
        #expect(PairComparer.compare(Fixture.sample(a, a), rules: rules).differences == [])
    }

    @Test func aFailedSideIsAFailureDifference() {
        let failed = MirrorAnswer(status: 0, failure: .reset)
        #expect(differences(Fixture.json("{}"), failed) == ["failure:mirror:reset"])
    }

    @Test func endpointsFoldIdsAndDropTheQuery() {
        #expect(EndpointTemplate.fold(method: "GET", path: "/patients/42/notes/3f2c9a1e-0b4d-4c8e-9f1a-2b3c4d5e6f70?name=Smith")
                == "GET /patients/{id}/notes/{id}")
        #expect(EndpointTemplate.template("/files/deadbeefdeadbeef1/raw#x") == "/files/{id}/raw")
        #expect(EndpointTemplate.template("/files/deadbeef/v2") == "/files/deadbeef/v2")
        #expect(EndpointTemplate.template("?q=1") == "/")
    }
}
