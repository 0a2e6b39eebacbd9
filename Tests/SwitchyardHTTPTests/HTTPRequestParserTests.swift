import Testing
@testable import SwitchyardHTTP

/// Valid requests, each fed whole, byte by byte and in random splits.
let validRequests: [Sample] = [
    "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "POST /form?x=1 HTTP/1.1\r\nHost: example.com:8080\r\nContent-Length: 5\r\n\r\nhello",
    "POST /upload HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "GET http://Example.COM/a/b?c HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    "GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "GET /chat HTTP/1.1\r\nHost: ws.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "PUT /doc HTTP/1.1\r\nHost: example.com\r\nExpect: 100-Continue\r\nContent-Length: 0\r\n\r\n",
    "PATCH /x HTTP/1.1\r\nHost: [::1]:8443\r\nX-Empty:\r\nX-Tabs:\t v \t\r\nX-Obs: caf\u{e9}\r\n\r\n",
    browserRequest,
].enumerated().map { Sample(name: "request \($0.offset)", text: $0.element) }

let browserRequest = "GET /charting/patient/42?tab=vitals HTTP/1.1\r\n"
    + "Host: charting.clinic.example\r\n"
    + "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    + "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    + "Accept-Language: en-US,en;q=0.5\r\n"
    + "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    + "Connection: keep-alive, X-Trace-Token\r\n"
    + "X-Trace-Token: abc123\r\n"
    + "Cookie: SWITCHYARD_BUCKET=1234; session=xyz\r\n"
    + "Upgrade-Insecure-Requests: 1\r\n"
    + "Keep-Alive: timeout=5\r\n"
    + "X-Forwarded-For: 10.0.0.1\r\n"
    + "X-Forwarded-Proto: https\r\n"
    + "Forwarded: for=10.0.0.1\r\n"
    + "TE: trailers\r\n"
    + "Proxy-Connection: keep-alive\r\n"
    + "Proxy-Authorization: Basic Zm9vOmJhcg==\r\n"
    + "Sec-Fetch-Dest: document\r\n"
    + "Priority: u=0, i\r\n"
    + "\r\n"

@Suite struct HTTPRequestParserTests {
    @Test(arguments: validRequests)
    func everyFeedGivesTheSameResult(_ sample: Sample) {
        let message = sample.text
        let reference = parseRequest(message)
        guard case .complete = reference.result else {
            Issue.record("expected a complete head, got \(reference.result)")
            return
        }
        for feed in Feed.all {
            #expect(parseRequest(message, feed) == reference, "feed \(feed)")
        }
    }

    @Test func simpleGet() {
        let m = bytes("GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n")
        let s = parseRequest(m)
        #expect(s.result == .complete(headLength: m.count))
        #expect(s.method == .get)
        #expect(text(m, s.methodSpan) == "GET")
        #expect(text(m, s.targetSpan) == "/index.html?q=1")
        #expect(text(m, s.pathSpan) == "/index.html")
        #expect(s.version == .http11)
        #expect(text(m, s.hostSpan) == "example.com")
        #expect(s.framing == BodyFraming.none)
        #expect(s.keepAlive == true)
        #expect(s.upgrade == false)
        #expect(s.expectContinue == false)
    }

    @Test func bodyBytesAfterTheHeadAreNotPartOfIt() {
        let head = "POST /form HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\n"
        let s = parseRequest(head + "hello")
        #expect(s.result == .complete(headLength: head.utf8.count))
        #expect(s.framing == .contentLength(5))
    }

    @Test func chunkedFraming() {
        let s = parseRequest("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked \r\n\r\n")
        #expect(s.framing == .chunked)
    }

    @Test func largestContentLength() {
        let s = parseRequest("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999999999\r\n\r\n")
        #expect(s.framing == .contentLength(999_999_999_999_999))
    }

    @Test func browserRequestSpansAndRoles() {
        let m = bytes(browserRequest)
        let s = parseRequest(m)
        #expect(s.result == .complete(headLength: m.count))
        let expected: [(String, String, HeaderRole)] = [
            ("Host", "charting.clinic.example", .host),
            ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", .other),
            ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", .other),
            ("Accept-Language", "en-US,en;q=0.5", .other),
            ("Accept-Encoding", "gzip, deflate, br, zstd", .other),
            ("Connection", "keep-alive, X-Trace-Token", .hopByHop),
            ("X-Trace-Token", "abc123", .hopByHop),
            ("Cookie", "SWITCHYARD_BUCKET=1234; session=xyz", .other),
            ("Upgrade-Insecure-Requests", "1", .other),
            ("Keep-Alive", "timeout=5", .hopByHop),
            ("X-Forwarded-For", "10.0.0.1", .xForwardedFor),
            ("X-Forwarded-Proto", "https", .xForwardedProto),
            ("Forwarded", "for=10.0.0.1", .forwarded),
            ("TE", "trailers", .hopByHop),
            ("Proxy-Connection", "keep-alive", .hopByHop),
            ("Proxy-Authorization", "Basic Zm9vOmJhcg==", .other),
            ("Sec-Fetch-Dest", "document", .other),
            ("Priority", "u=0, i", .other),
        ]
        #expect(s.headers.count == expected.count)
        for (field, (name, value, role)) in zip(s.headers, expected) {
            #expect(text(m, field.name) == name)
            #expect(text(m, field.value) == value)
            #expect(field.role == role, "role of \(name)")
        }
        #expect(text(m, s.pathSpan) == "/charting/patient/42")
        #expect(s.keepAlive == true)
        #expect(text(m, s.cookieSpan) == "SWITCHYARD_BUCKET=1234; session=xyz")
    }

    /// The router reads the cookie through `cookieSpan`, not a search by name: it must be
    /// the first Cookie field, in any case, and nothing when there is none.
    @Test func cookieSpanIsTheFirstCookieField() {
        let m = bytes("GET / HTTP/1.1\r\nHost: a\r\nCOOKIE:  b=2 \r\nCookie: c=3\r\n\r\n")
        #expect(text(m, parseRequest(m).cookieSpan) == "b=2")
        #expect(parseRequest("GET / HTTP/1.1\r\nHost: a\r\nCookies: d=4\r\n\r\n").cookieSpan == nil)
    }

    @Test func connectionTokensMakeNamedFieldsHopByHop() {
        let m = bytes("GET / HTTP/1.1\r\nX-A: 1\r\nHost: a\r\nConnection: x-a,, X-B \r\nx-b: 2\r\n"
                      + "Connection: X-C\r\nX-C: 3\r\nX-D: 4\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n")
        let s = parseRequest(m)
        let roles = s.headers.map { (text(m, $0.name)!, $0.role) }
        #expect(roles.map(\.1) == [.hopByHop, .host, .hopByHop, .hopByHop, .hopByHop, .hopByHop, .other, .xForwardedFor])
        #expect(s.keepAlive == true)
    }

    /// A whole `Connection: keep-alive` is answered without a walk over the fields; a second
    /// Connection field naming one still marks it, and `close` still names a field "Close".
    @Test func aKeepAliveConnectionFieldSkipsTheWalkButNotTheOtherFieldsTokens() {
        let m = bytes("GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive\r\nX-A: 1\r\nConnection: x-a\r\n\r\n")
        let s = parseRequest(m)
        #expect(s.headers.map(\.role) == [.host, .hopByHop, .hopByHop, .hopByHop])
        #expect(s.keepAlive == true)
        let plain = bytes("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nX-A: 1\r\n\r\n")
        #expect(parseRequest(plain).headers.map(\.role) == [.host, .hopByHop, .other])
        let close = bytes("HTTP/1.1 200 OK\r\nConnection: close\r\nClose: 1\r\nContent-Length: 0\r\n\r\n")
        let parser = HTTPResponseParser()
        #expect(close.withUnsafeBytes { parser.parse($0, requestMethod: .get) } == .complete(headLength: close.count))
        #expect(parser.header(1).role == .hopByHop)
        #expect(parser.keepAlive == false)
    }

    @Test func connectionMayNameForwardedFieldsWhichKeepTheirRole() {
        let m = bytes("GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Forwarded-For\r\nX-Forwarded-For: 1\r\n\r\n")
        #expect(parseRequest(m).headers.last?.role == .xForwardedFor)
    }

    @Test func trimmedValues() {
        let m = bytes("GET / HTTP/1.1\r\nHost:a\r\nX-Pad: \t padded value \t \r\nX-Empty:   \r\n\r\n")
        let s = parseRequest(m)
        #expect(text(m, s.headers[0].value) == "a")
        #expect(text(m, s.headers[1].value) == "padded value")
        #expect(s.headers[2].value.count == 0)
    }

    @Test func obsTextIsAllowedInValues() {
        let m: [UInt8] = bytes("GET / HTTP/1.1\r\nHost: a\r\nX: ") + [0x80, 0xFF, 0x20, 0xC3, 0xA9] + bytes("\r\n\r\n")
        #expect(parseRequest(m).headers[1].value.count == 5)
    }

    @Test func absoluteForm() {
        let m = bytes("GET HTTPS://EXAMPLE.com:8443/x/y?z HTTP/1.1\r\nHost: example.COM:8443\r\n\r\n")
        let s = parseRequest(m)
        #expect(s.result == .complete(headLength: m.count))
        #expect(text(m, s.pathSpan) == "/x/y")
        #expect(text(m, s.targetSpan) == "HTTPS://EXAMPLE.com:8443/x/y?z")
    }

    @Test func absoluteFormWithoutPathReadsSlash() {
        for target in ["http://example.com", "http://example.com?q"] {
            let m = bytes("GET \(target) HTTP/1.1\r\nHost: example.com\r\n\r\n")
            #expect(text(m, parseRequest(m).pathSpan) == "/", "\(target)")
        }
    }

    @Test func asteriskAndConnect() {
        let options = bytes("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")
        let o = parseRequest(options)
        #expect(o.method == .options)
        #expect(text(options, o.pathSpan) == "*")
        let connect = bytes("CONNECT db.internal:1433 HTTP/1.1\r\nHost: db.internal:1433\r\n\r\n")
        let c = parseRequest(connect)
        #expect(c.method == .connect)
        #expect(text(connect, c.targetSpan) == "db.internal:1433")
        #expect(c.pathSpan?.count == 0)
    }

    @Test func methods() {
        let cases: [(String, HTTPMethod)] = [
            ("GET", .get), ("HEAD", .head), ("POST", .post), ("PUT", .put), ("DELETE", .delete),
            ("OPTIONS", .options), ("PATCH", .patch), ("TRACE", .trace), ("PROPFIND", .other), ("get", .other),
            (String(repeating: "M", count: HTTPRequestParser.maxMethodBytes), .other),
        ]
        for (name, method) in cases {
            let m = bytes("\(name) / HTTP/1.1\r\nHost: a\r\n\r\n")
            let s = parseRequest(m)
            #expect(s.method == method, "\(name)")
            #expect(text(m, s.methodSpan) == name)
        }
    }

    @Test func keepAliveRules() {
        let cases: [(String, Bool)] = [
            ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", true),
            ("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", false),
            ("GET / HTTP/1.0\r\n\r\n", false),
            ("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
            ("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", false),
        ]
        for (message, keepAlive) in cases {
            #expect(parseRequest(message).keepAlive == keepAlive, "\(message)")
        }
    }

    @Test func upgradeNeedsTheTokenTheFieldAndHTTP11() {
        let ws = bytes("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n")
        let s = parseRequest(ws)
        #expect(s.upgrade == true)
        #expect(text(ws, s.upgradeSpan) == "websocket")
        #expect(parseRequest("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n").upgrade == false)
        #expect(parseRequest("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n").upgrade == false)
        #expect(parseRequest("GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n").upgrade == false)
        // h2c, alone or in a list, in any case: never an upgrade (RFC 9113 retired it).
        for value in ["h2c", "H2C", " h2c ", "websocket, h2c", "h2c,websocket"] {
            #expect(parseRequest("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: \(value)\r\n\r\n").upgrade == false, "\(value)")
        }
        for value in ["h2", "h2cx", "websocket"] {
            #expect(parseRequest("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: \(value)\r\n\r\n").upgrade == true, "\(value)")
        }
    }

    @Test func expectContinue() {
        #expect(parseRequest("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n").expectContinue == true)
        // RFC 9110 §10.1.1: a server ignores 100-continue from an HTTP/1.0 client.
        #expect(parseRequest("PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expectContinue == false)
    }

    @Test func http10NeedsNoHost() {
        let s = parseRequest("GET / HTTP/1.0\r\n\r\n")
        #expect(s.version == .http10)
        #expect(s.hostSpan == nil)
    }

    @Test func resetReusesTheParserForTheNextMessage() {
        let parser = HTTPRequestParser()
        let first = parseRequest(bytes("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nCookie: k=v\r\n\r\n"), parser: parser)
        #expect(first.framing == .contentLength(3))
        #expect(first.cookieSpan != nil)
        let second = parseRequest(bytes("GET /b HTTP/1.0\r\n\r\n"), parser: parser)
        #expect(second.framing == BodyFraming.none)
        #expect(second.headers.isEmpty)
        #expect(second.version == .http10)
        #expect(second.hostSpan == nil)
        #expect(second.cookieSpan == nil)
        let broken = parseRequest(bytes("GET / HTTP/1.1\r\n\r\n"), parser: parser)
        #expect(broken.errorStatus == 400)
        let third = parseRequest(bytes("GET / HTTP/1.1\r\nHost: c\r\n\r\n"), parser: parser)
        #expect(third.result == .complete(headLength: 27))
    }

    @Test func answersStayTheSameUntilReset() {
        let parser = HTTPRequestParser()
        let good = bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET")
        #expect(good.withUnsafeBytes { parser.parse($0) } == .complete(headLength: 27))
        #expect(good.withUnsafeBytes { parser.parse($0) } == .complete(headLength: 27))
        parser.reset()
        let bad = bytes("GET / HTTP/1.1\nHost: a\r\n\r\n")
        let error = bad.withUnsafeBytes { parser.parse($0) }
        guard case .error(let e) = error else {
            Issue.record("a bare LF must be refused, got \(error)")
            return
        }
        #expect(e.status == 400)
        #expect(e.offset == 14, "the bare LF ends the request line")
        #expect(bad.withUnsafeBytes { parser.parse($0) } == error, "asked again, the same error")
        // Even with more bytes, a refused message stays refused until reset.
        let more = bad + bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(more.withUnsafeBytes { parser.parse($0) } == error)
        parser.reset()
        #expect(bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n").withUnsafeBytes { parser.parse($0) } == .complete(headLength: 27))
    }

    @Test func errorsReportTheOffendingOffset() {
        let s = parseRequest("GET / HTTP/1.1\r\nHost: a\r\nX: a\u{0}b\r\n\r\n")
        guard case .error(let e) = s.result else {
            Issue.record("expected an error")
            return
        }
        #expect(e.status == 400)
        #expect(e.offset == 29)
        #expect(!e.reason.isEmpty)
    }

    @Test func needsMoreUntilTheEmptyLine() {
        #expect(parseRequest("GET / HTTP/1.1\r\nHost: a\r\n").result == .needMore)
        #expect(parseRequest("GET / HTTP/1.1\r\nHost: a\r\n\r").result == .needMore)
        #expect(parseRequest("").result == .needMore)
    }
}
