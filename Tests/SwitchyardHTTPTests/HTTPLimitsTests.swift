import Testing
import SwitchyardHTTP

/// Every limit at N (accepted) and N+1 (refused with its status), under every feed.
@Suite struct HTTPLimitsTests {
    /// A request whose request line, CRLF included, is exactly `length` bytes.
    private func request(lineLength length: Int) -> String {
        let fixed = "GET / HTTP/1.1\r\n".utf8.count
        return "GET /" + String(repeating: "a", count: length - fixed) + " HTTP/1.1\r\nHost: a\r\n\r\n"
    }

    /// A request whose header block, final CRLF included, is exactly `length` bytes.
    private func request(headerBlockLength length: Int) -> String {
        let fixed = "Host: a\r\nX: \r\n\r\n".utf8.count
        return "GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "v", count: length - fixed) + "\r\n\r\n"
    }

    private func request(fieldCount count: Int) -> String {
        "GET / HTTP/1.1\r\nHost: a\r\n" + String(repeating: "X: 1\r\n", count: count - 1) + "\r\n"
    }

    private func expectSameForEveryFeed(_ message: String, limits: HTTPLimits, status: Int?) {
        let whole = parseRequest(message, limits: limits)
        if let status {
            #expect(whole.errorStatus == status)
        } else {
            #expect(whole.result == .complete(headLength: message.utf8.count))
        }
        for feed in Feed.all {
            #expect(parseRequest(message, feed, limits: limits) == whole, "feed \(feed)")
        }
    }

    @Test(arguments: [HTTPLimits.default.maxRequestLineBytes, 64])
    func requestLine(limit: Int) {
        let limits = HTTPLimits(maxRequestLineBytes: limit)
        expectSameForEveryFeed(request(lineLength: limit), limits: limits, status: nil)
        expectSameForEveryFeed(request(lineLength: limit + 1), limits: limits, status: 414)
    }

    @Test func requestLineLimitIsDetectedBeforeTheLineEnds() {
        let limits = HTTPLimits(maxRequestLineBytes: 64)
        let endless = "GET /" + String(repeating: "a", count: 70)
        let s = parseRequest(endless, limits: limits)
        #expect(s.errorStatus == 414)
        if case .error(let e) = s.result { #expect(e.offset == 64) }
        // 62 bytes before the CR still fit: CR and LF make 64.
        #expect(parseRequest(String(endless.prefix(62)), limits: limits).result == .needMore)
        #expect(parseRequest(String(endless.prefix(62)) + "\r", limits: limits).result == .needMore)
        #expect(parseRequest(String(endless.prefix(63)), limits: limits).errorStatus == 414)
    }

    @Test(arguments: [HTTPLimits.default.maxHeaderBytes, 40])
    func headerBytes(limit: Int) {
        let limits = HTTPLimits(maxHeaderBytes: limit)
        expectSameForEveryFeed(request(headerBlockLength: limit), limits: limits, status: nil)
        expectSameForEveryFeed(request(headerBlockLength: limit + 1), limits: limits, status: 431)
    }

    @Test func headerBytesLimitIsDetectedBeforeTheHeadEnds() {
        let limits = HTTPLimits(maxHeaderBytes: 40)
        let endless = "GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "v", count: 60)
        #expect(parseRequest(endless, limits: limits).errorStatus == 431)
    }

    @Test(arguments: [HTTPLimits.default.maxHeaderCount, 3])
    func headerCount(limit: Int) {
        let limits = HTTPLimits(maxHeaderCount: limit)
        expectSameForEveryFeed(request(fieldCount: limit), limits: limits, status: nil)
        expectSameForEveryFeed(request(fieldCount: limit + 1), limits: limits, status: 431)
    }

    @Test func noFieldsAllowed() {
        let limits = HTTPLimits(maxHeaderCount: 0)
        #expect(parseRequest("GET / HTTP/1.0\r\n\r\n", limits: limits).result == .complete(headLength: 18))
        #expect(parseRequest("GET / HTTP/1.0\r\nX: 1\r\n\r\n", limits: limits).errorStatus == 431)
    }

    @Test func statusLineUsesTheRequestLineLimit() {
        let limits = HTTPLimits(maxRequestLineBytes: 32)
        let fixed = "HTTP/1.1 200 \r\n".utf8.count
        let ok = "HTTP/1.1 200 " + String(repeating: "r", count: 32 - fixed) + "\r\nContent-Length: 0\r\n\r\n"
        let long = "HTTP/1.1 200 " + String(repeating: "r", count: 33 - fixed) + "\r\nContent-Length: 0\r\n\r\n"
        #expect(parseResponse(ok, limits: limits).status == 200)
        #expect(parseResponse(long, limits: limits).errorStatus == 502)
    }

    @Test func responseHeaderLimitsAreReportedAs502() {
        let limits = HTTPLimits(maxHeaderBytes: 30, maxHeaderCount: 2)
        #expect(parseResponse("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n", limits: limits).status == 200)
        #expect(parseResponse("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits: limits).errorStatus == 502)
        let big = "HTTP/1.1 200 OK\r\nA: " + String(repeating: "x", count: 40) + "\r\n\r\n"
        #expect(parseResponse(big, limits: limits).errorStatus == 502)
    }

    /// A body whose one chunk extension run (from ';' to the CR) is `length` bytes.
    private func body(extensionLength length: Int) -> String {
        "3;" + String(repeating: "e", count: length - 1) + "\r\nabc\r\n0\r\n\r\n"
    }

    @Test(arguments: [HTTPLimits.default.maxChunkExtensionBytes, 10])
    func chunkExtensionBytes(limit: Int) {
        let limits = HTTPLimits(maxChunkExtensionBytes: limit)
        for feed in Feed.all {
            let ok = decodeChunked(body(extensionLength: limit), feed, limits: limits)
            #expect(ok.finished && ok.data == bytes("abc"), "feed \(feed)")
            let long = decodeChunked(body(extensionLength: limit + 1), feed, limits: limits)
            #expect(long.error?.status == 400, "feed \(feed)")
        }
    }

    /// A body whose trailer section, final CRLF included, is `length` bytes.
    private func body(trailerLength length: Int) -> String {
        let fixed = "T: \r\n\r\n".utf8.count
        return "3\r\nabc\r\n0\r\nT: " + String(repeating: "t", count: length - fixed) + "\r\n\r\n"
    }

    @Test(arguments: [HTTPLimits.default.maxTrailerBytes, 12])
    func trailerBytes(limit: Int) {
        let limits = HTTPLimits(maxTrailerBytes: limit)
        for feed in Feed.all {
            let ok = decodeChunked(body(trailerLength: limit), feed, limits: limits)
            #expect(ok.finished, "feed \(feed)")
            let long = decodeChunked(body(trailerLength: limit + 1), feed, limits: limits)
            #expect(long.error?.status == 400, "feed \(feed)")
        }
    }

    @Test func emptyTrailerSectionIsTwoBytes() {
        #expect(decodeChunked("0\r\n\r\n", limits: HTTPLimits(maxTrailerBytes: 2)).finished)
        #expect(decodeChunked("0\r\n\r\n", limits: HTTPLimits(maxTrailerBytes: 1)).error?.status == 400)
    }

    @Test func defaults() {
        let d = HTTPLimits.default
        #expect(d.maxRequestLineBytes == 8192)
        #expect(d.maxHeaderBytes == 32768)
        #expect(d.maxHeaderCount == 100)
        #expect(d.maxChunkExtensionBytes == 256)
        #expect(d.maxTrailerBytes == 4096)
    }
}
