import Testing
import SwitchyardHTTP

let validResponses: [Sample] = [
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive, X-Internal\r\nX-Internal: 1\r\n\r\n",
    "HTTP/1.1 204 No Content\r\n\r\n",
    "HTTP/1.0 200 OK\r\nServer: legacy\r\n\r\nbody until close",
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 100\r\n\r\n",
    "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 500 Internal \u{e9}rror\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n",
].enumerated().map { Sample(name: "response \($0.offset)", text: $0.element) }

let malformedResponses: [Sample] = [
    ("bad version", "HTTP/2.0 200 OK\r\n\r\n"),
    ("lowercase version", "http/1.1 200 OK\r\n\r\n"),
    ("two-digit status", "HTTP/1.1 20 OK\r\n\r\n"),
    ("four-digit status", "HTTP/1.1 2000 OK\r\n\r\n"),
    ("status below 100", "HTTP/1.1 099 OK\r\n\r\n"),
    ("status above 599", "HTTP/1.1 600 OK\r\n\r\n"),
    ("letters in status", "HTTP/1.1 2OO OK\r\n\r\n"),
    ("two spaces before the status", "HTTP/1.1  200 OK\r\n\r\n"),
    ("no status", "HTTP/1.1\r\n\r\n"),
    ("NUL in reason", "HTTP/1.1 200 O\u{0}K\r\n\r\n"),
    ("leading empty line", "\r\nHTTP/1.1 200 OK\r\n\r\n"),
    ("bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\n\n"),
    ("bare CR", "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n"),
    ("obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"),
    ("space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n"),
    ("CL and TE", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
    ("TE and CL", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
    ("TE gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"),
    ("TE gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
    ("two TE fields", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
    ("TE in HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
    ("differing CL", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
    ("CL list", "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n"),
    ("negative CL", "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n"),
    ("Content_Length", "HTTP/1.1 200 OK\r\nContent_Length: 5\r\n\r\n"),
    ("Connection names Content-Length", "HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 1\r\n\r\n"),
].map { Sample(name: $0.0, text: $0.1) }

@Suite struct HTTPResponseParserTests {
    @Test(arguments: validResponses)
    func everyFeedGivesTheSameResult(_ sample: Sample) {
        let reference = parseResponse(sample.text)
        guard case .complete = reference.result else {
            Issue.record("expected a complete head, got \(reference.result)")
            return
        }
        for feed in Feed.all {
            #expect(parseResponse(sample.text, feed) == reference, "feed \(feed)")
        }
    }

    @Test(arguments: malformedResponses)
    func malformedResponsesAre502(_ sample: Sample) {
        let whole = parseResponse(sample.text)
        #expect(whole.errorStatus == 502, "\(whole.result)")
        for feed in Feed.all {
            #expect(parseResponse(sample.text, feed) == whole, "feed \(feed)")
        }
    }

    @Test func statusLineAndFields() {
        let m = bytes("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 3\r\n\r\nbye")
        let s = parseResponse(m)
        #expect(s.result == .complete(headLength: m.count - 3))
        #expect(s.status == 503)
        #expect(text(m, s.reasonSpan) == "Service Unavailable")
        #expect(s.version == .http11)
        #expect(s.headers.count == 2)
        #expect(text(m, s.headers[0].name) == "Retry-After")
        #expect(s.headers[1].role == .contentLength)
        #expect(s.framing == .contentLength(3))
        #expect(s.keepAlive == true)
    }

    @Test func reasonMayBeMissingOrEmpty() {
        #expect(parseResponse("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n").reasonSpan?.count == 0)
        #expect(parseResponse("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n").reasonSpan?.count == 0)
    }

    /// RFC 9112 §6.3, row by row.
    @Test func framing() {
        let cases: [(String, HTTPMethod, BodyFraming, Bool)] = [
            ("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", .head, .none, true),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", .head, .none, true),
            ("HTTP/1.1 100 Continue\r\n\r\n", .post, .none, true),
            ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n", .get, .none, true),
            ("HTTP/1.1 204 No Content\r\n\r\n", .delete, .none, true),
            ("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", .get, .none, true),
            ("HTTP/1.1 200 Connection established\r\n\r\n", .connect, .none, true),
            ("HTTP/1.1 407 Proxy Auth\r\nContent-Length: 0\r\n\r\n", .connect, .contentLength(0), true),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED\r\n\r\n", .get, .chunked, true),
            ("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", .get, .contentLength(10), true),
            ("HTTP/1.1 200 OK\r\n\r\n", .get, .untilClose, false),
            ("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n", .get, .contentLength(1), false),
            ("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", .get, .contentLength(1), false),
            ("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n", .get, .contentLength(1), true),
            ("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", .get, .untilClose, false),
        ]
        for (message, method, framing, keepAlive) in cases {
            let s = parseResponse(message, requestMethod: method)
            #expect(s.framing == framing, "\(message)")
            #expect(s.keepAlive == keepAlive, "\(message)")
        }
    }

    @Test func upgradeAndHopByHop() {
        let m = bytes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade, X-Hop\r\n"
                      + "X-Hop: 1\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
        let s = parseResponse(m)
        #expect(s.status == 101)
        #expect(text(m, s.upgradeSpan) == "websocket")
        #expect(s.headers.map(\.role) == [.hopByHop, .hopByHop, .hopByHop, .other])
    }

    @Test func resetForTheFinalResponseAfter100Continue() {
        let parser = HTTPResponseParser()
        let interim = bytes("HTTP/1.1 100 Continue\r\n\r\n")
        #expect(interim.withUnsafeBytes { parser.parse($0, requestMethod: .put) } == .complete(headLength: interim.count))
        #expect(parser.framing == BodyFraming.none)
        parser.reset()
        let final = bytes("HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
        #expect(final.withUnsafeBytes { parser.parse($0, requestMethod: .put) } == .complete(headLength: final.count - 2))
        #expect(parser.status == 201)
        #expect(parser.framing == .contentLength(2))
        #expect(parser.headerCount == 1)
    }
}
