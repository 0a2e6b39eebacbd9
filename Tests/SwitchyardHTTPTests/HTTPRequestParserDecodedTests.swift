import Testing
@testable import SwitchyardHTTP

/// A head an HTTP/2 session decoded, loaded into the parser without text: the same rules as
/// a text head, applied to the spans.
@Suite struct HTTPRequestParserDecodedTests {
    /// Names and values laid out one after another, as `H2RequestHead` lays them out.
    struct Decoded {
        var bytes: [UInt8] = []
        mutating func keep(_ text: String) -> ByteSpan {
            let span = ByteSpan(start: bytes.count, count: text.utf8.count)
            bytes += Array(text.utf8)
            return span
        }
    }

    /// Loads method, path and fields; returns the parser's verdict.
    static func load(_ parser: HTTPRequestParser, method: String = "GET", path: String = "/a?b=1",
                     fields: [(String, String)], streamBody: Bool = false) -> (HeadParseResult, [UInt8]) {
        var d = Decoded()
        let m = d.keep(method), p = d.keep(path)
        var spans: [(ByteSpan, ByteSpan)] = []
        for (name, value) in fields { spans.append((d.keep(name), d.keep(value))) }
        return d.bytes.withUnsafeBytes { raw in
            if let refused = parser.beginDecoded(raw, method: m, target: p) { return (refused, d.bytes) }
            for (name, value) in spans {
                if let refused = parser.addDecodedField(raw, name: name, value: value) { return (refused, d.bytes) }
            }
            return (parser.finishDecoded(raw, bodyByStreamEnd: streamBody), d.bytes)
        }
    }

    static func status(_ result: HeadParseResult) -> Int? {
        if case .error(let error) = result { return error.status }
        return nil
    }

    @Test func aDecodedHeadDescribesTheRequestLikeATextOne() {
        let parser = HTTPRequestParser()
        let (result, bytes) = Self.load(parser, method: "POST", fields: [
            ("Host", "clinic.example"), ("content-length", "5"), ("x-trace", "abc"),
        ])
        #expect(result == .complete(headLength: 0))
        #expect(parser.method == .post)
        #expect(Array(bytes[parser.pathSpan.start..<parser.pathSpan.end]) == Array("/a".utf8))
        #expect(Array(bytes[parser.querySpan.start..<parser.querySpan.end]) == Array("?b=1".utf8))
        #expect(parser.framing == .contentLength(5))
        #expect(parser.headerCount == 3)
        #expect(!parser.keepAlive, "one exchange per stream")
        let host = parser.hostSpan!
        #expect(Array(bytes[host.start..<host.end]) == Array("clinic.example".utf8))
    }

    @Test func aBodyWithoutLengthIsFramedChunkedForTheUpstream() {
        let parser = HTTPRequestParser()
        #expect(Self.load(parser, fields: [("Host", "a")], streamBody: true).0 == .complete(headLength: 0))
        #expect(parser.framing == .chunked)
        let withLength = HTTPRequestParser()
        _ = Self.load(withLength, fields: [("Host", "a"), ("content-length", "3")], streamBody: true)
        #expect(withLength.framing == .contentLength(3))
    }

    @Test(arguments: [
        ([("Host", "a"), ("Host", "b")], 400),                        // two hosts
        ([("Host", "a"), ("content-length", "1"), ("content-length", "1")], 400),
        ([("Host", "a"), ("content-length", "-1")], 400),
        ([("Host", "a"), ("x-bad", "a\u{1}b")], 400),                 // a control byte in a value
        ([("Host", "a"), ("bad name", "x")], 400),                    // not a token
        ([("Host", "a"), ("expect", "later")], 417),
        ([("Host", "a b")], 400),                                     // not an authority
        ([], 400),                                                    // no Host at all
    ] as [([(String, String)], Int)])
    func badFieldsAreRefusedWithTheTextHeadsStatus(fields: [(String, String)], status: Int) {
        #expect(Self.status(Self.load(HTTPRequestParser(), fields: fields).0) == status)
    }

    @Test func badMethodsAndTargetsAreRefused() {
        #expect(Self.status(Self.load(HTTPRequestParser(), method: "G T", fields: [("Host", "a")]).0) == 400)
        #expect(Self.status(Self.load(HTTPRequestParser(), path: "", fields: [("Host", "a")]).0) == 400)
        #expect(Self.status(Self.load(HTTPRequestParser(), path: "/a#frag", fields: [("Host", "a")]).0) == 400)
        #expect(Self.status(Self.load(HTTPRequestParser(), path: "/a b", fields: [("Host", "a")]).0) == 400)
        let long = "/" + String(repeating: "x", count: HTTPLimits.default.maxRequestLineBytes)
        #expect(Self.status(Self.load(HTTPRequestParser(), path: long, fields: [("Host", "a")]).0) == 414)
    }

    @Test func moreFieldsThanTheTableHoldsIs431() {
        let fields = [("Host", "a")] + (0..<HTTPLimits.default.maxHeaderCount).map { ("x-\($0)", "v") }
        #expect(Self.status(Self.load(HTTPRequestParser(), fields: fields).0) == 431)
    }

    @Test func theParserIsReusableAfterADecodedHead() {
        let parser = HTTPRequestParser()
        _ = Self.load(parser, fields: [("Host", "a"), ("Host", "b")])
        #expect(Self.load(parser, fields: [("Host", "a")]).0 == .complete(headLength: 0))
        parser.reset()
        let text = Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
        #expect(text.withUnsafeBytes { parser.parse($0) } == .complete(headLength: text.count))
    }
}
