import Foundation
import Testing
import SwitchyardTestSupport
import SwitchyardHTTP

/// A malformed request and the status it must get.
struct MalformedRequest: CustomTestStringConvertible, Sendable {
    var name: String
    var message: [UInt8]
    var status: Int

    init(_ name: String, _ message: String, _ status: Int) {
        self.name = name
        self.message = Array(message.utf8)
        self.status = status
    }

    init(_ name: String, raw: [UInt8], _ status: Int) {
        self.name = name
        self.message = raw
        self.status = status
    }

    var testDescription: String { name }
}

private let requestLine = "GET / HTTP/1.1\r\n"
private let host = "Host: example.com\r\n"
private let post = "POST / HTTP/1.1\r\nHost: example.com\r\n"

/// The request-smuggling catalogue: ambiguous framing, line endings, field syntax, targets
/// and versions, each with the status we answer.
let malformedRequests: [MalformedRequest] = [
    // Line endings.
    .init("bare LF line endings", "GET / HTTP/1.1\nHost: a\n\n", 400),
    .init("bare LF ending one field", requestLine + "Host: a\nX: y\r\n\r\n", 400),
    .init("bare LF ending the head", requestLine + host + "\n", 400),
    .init("bare CR inside a value", requestLine + host + "X: a\rb\r\n\r\n", 400),
    .init("CR CR LF", requestLine + "Host: a\r\r\n\r\n", 400),
    .init("bare CR in the request line", "GET /\r HTTP/1.1\r\n" + host + "\r\n", 400),
    .init("leading empty line", "\r\n" + requestLine + host + "\r\n", 400),
    // Field syntax.
    .init("space before colon", post + "Content-Length : 5\r\n\r\nhello", 400),
    .init("tab before colon", post + "Transfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n", 400),
    .init("space inside a name", requestLine + host + "Content Length: 5\r\n\r\n", 400),
    .init("obs-fold continuation line", requestLine + host + "X: a\r\n b\r\n\r\n", 400),
    .init("obs-fold of Transfer-Encoding", post + "Transfer-Encoding:\r\n chunked\r\n\r\n", 400),
    .init("first field line starts with SP", requestLine + " Host: a\r\n\r\n", 400),
    .init("first field line starts with HTAB", requestLine + "\tHost: a\r\n\r\n", 400),
    .init("field line without a colon", requestLine + host + "X-No-Colon\r\n\r\n", 400),
    .init("empty field name", requestLine + host + ": value\r\n\r\n", 400),
    .init("NUL in a value", requestLine + host + "X: a\u{0}b\r\n\r\n", 400),
    .init("DEL in a value", requestLine + host + "X: a\u{7F}b\r\n\r\n", 400),
    .init("CTL in a value", requestLine + host + "X: a\u{1}b\r\n\r\n", 400),
    .init("vertical tab before chunked", post + "Transfer-Encoding: \u{0B}chunked\r\n\r\n", 400),
    .init("non-token byte in a name", requestLine + host + "X(y): 1\r\n\r\n", 400),
    .init("obs-text in a name", raw: Array((requestLine + host + "X").utf8) + [0xC3, 0xA9] + Array(": 1\r\n\r\n".utf8), 400),
    .init("Content_Length", post + "Content_Length: 5\r\n\r\nhello", 400),
    .init("Transfer_Encoding", post + "transfer_encoding: chunked\r\n\r\n", 400),
    // Content-Length.
    .init("CL then TE", post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    .init("TE then CL", post + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400),
    .init("two equal Content-Length fields", post + "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", 400),
    .init("two differing Content-Length fields", post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
    .init("Content-Length list", post + "Content-Length: 5, 5\r\n\r\n", 400),
    .init("Content-Length with a sign", post + "Content-Length: +5\r\n\r\n", 400),
    .init("negative Content-Length", post + "Content-Length: -1\r\n\r\n", 400),
    .init("hex Content-Length", post + "Content-Length: 0x10\r\n\r\n", 400),
    .init("space inside Content-Length", post + "Content-Length: 1 0\r\n\r\n", 400),
    .init("16-digit Content-Length", post + "Content-Length: 1000000000000000\r\n\r\n", 400),
    .init("overflowing Content-Length", post + "Content-Length: 18446744073709551617\r\n\r\n", 400),
    .init("empty Content-Length", post + "Content-Length:\r\n\r\n", 400),
    .init("Connection names Content-Length", post + "Connection: Content-Length\r\nContent-Length: 5\r\n\r\n", 400),
    // Transfer-Encoding.
    .init("chunked not last", post + "Transfer-Encoding: chunked, gzip\r\n\r\n", 400),
    .init("gzip then chunked", post + "Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
    .init("deflate, compress, chunked", post + "Transfer-Encoding: deflate, compress, chunked\r\n\r\n", 501),
    .init("gzip alone", post + "Transfer-Encoding: gzip\r\n\r\n", 400),
    .init("xchunked", post + "Transfer-Encoding: xchunked\r\n\r\n", 400),
    .init("unknown coding then chunked", post + "Transfer-Encoding: foo, chunked\r\n\r\n", 400),
    .init("chunked twice in one field", post + "Transfer-Encoding: chunked, chunked\r\n\r\n", 400),
    .init("two Transfer-Encoding fields", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    .init("empty Transfer-Encoding", post + "Transfer-Encoding:\r\n\r\n", 400),
    .init("Transfer-Encoding with a parameter", post + "Transfer-Encoding: chunked;q=1\r\n\r\n", 400),
    .init("Transfer-Encoding with an empty element", post + "Transfer-Encoding: chunked,\r\n\r\n", 400),
    .init("quoted chunked", post + "Transfer-Encoding: \"chunked\"\r\n\r\n", 400),
    .init("Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    // Host.
    .init("missing Host", requestLine + "\r\n", 400),
    .init("two Host fields", requestLine + host + "Host: other.example\r\n\r\n", 400),
    .init("Host with userinfo", requestLine + "Host: user@example.com\r\n\r\n", 400),
    .init("Host with a path", requestLine + "Host: example.com/evil\r\n\r\n", 400),
    .init("Host with a space", requestLine + "Host: example.com evil\r\n\r\n", 400),
    .init("Host with a comma", requestLine + "Host: a.example,b.example\r\n\r\n", 400),
    .init("empty Host", requestLine + "Host:\r\n\r\n", 400),
    .init("Host with an empty port", requestLine + "Host: example.com:\r\n\r\n", 400),
    .init("Host with a bad port", requestLine + "Host: example.com:80a\r\n\r\n", 400),
    .init("absolute-form authority differs from Host", "GET http://evil.example/ HTTP/1.1\r\n" + host + "\r\n", 400),
    .init("absolute-form with userinfo", "GET http://u@example.com/ HTTP/1.1\r\n" + host + "\r\n", 400),
    .init("Connection names Host", requestLine + host + "Connection: host\r\n\r\n", 400),
    // Versions.
    .init("HTTP/2.0", "GET / HTTP/2.0\r\n" + host + "\r\n", 505),
    .init("HTTP/1.2", "GET / HTTP/1.2\r\n" + host + "\r\n", 505),
    .init("HTTP/0.9", "GET / HTTP/0.9\r\n" + host + "\r\n", 505),
    .init("HTTP/1.32", "GET / HTTP/1.32\r\n" + host + "\r\n", 505),
    .init("lowercase http/1.1", "GET / http/1.1\r\n" + host + "\r\n", 400),
    .init("HTTP/1.1 with a trailing space", "GET / HTTP/1.1 \r\n" + host + "\r\n", 400),
    .init("HTTP/1", "GET / HTTP/1\r\n" + host + "\r\n", 400),
    .init("HTTP/1.x", "GET / HTTP/1.x\r\n" + host + "\r\n", 400),
    .init("no version (HTTP/0.9 style)", "GET /\r\n" + host + "\r\n", 400),
    // Request line.
    .init("two spaces after the method", "GET  / HTTP/1.1\r\n" + host + "\r\n", 400),
    .init("two spaces before the version", "GET /  HTTP/1.1\r\n" + host + "\r\n", 400),
    .init("tab as separator", "GET\t/ HTTP/1.1\r\n" + host + "\r\n", 400),
    .init("leading space", " GET / HTTP/1.1\r\n" + host + "\r\n", 400),
    .init("space inside the target", "GET /a b HTTP/1.1\r\n" + host + "\r\n", 400),
    .init("DEL in the target", "GET /a\u{7F} HTTP/1.1\r\n" + host + "\r\n", 400),
    .init("non-ASCII in the target", "GET /caf\u{e9} HTTP/1.1\r\n" + host + "\r\n", 400),
    .init("fragment in the target", "GET /a#b HTTP/1.1\r\n" + host + "\r\n", 400),
    .init("relative target", "GET index.html HTTP/1.1\r\n" + host + "\r\n", 400),
    .init("asterisk with GET", "GET * HTTP/1.1\r\n" + host + "\r\n", 400),
    .init("CONNECT with origin-form", "CONNECT / HTTP/1.1\r\n" + host + "\r\n", 400),
    .init("CONNECT without a port", "CONNECT example.com HTTP/1.1\r\n" + host + "\r\n", 400),
    .init("authority-form with GET", "GET example.com:80 HTTP/1.1\r\n" + host + "\r\n", 400),
    .init("ftp scheme", "GET ftp://example.com/ HTTP/1.1\r\n" + host + "\r\n", 400),
    .init("invalid byte in the method", "GE(T / HTTP/1.1\r\n" + host + "\r\n", 400),
    .init("method of 33 bytes", String(repeating: "M", count: 33) + " / HTTP/1.1\r\n" + host + "\r\n", 400),
    // Other fields.
    .init("Expect other than 100-continue", requestLine + host + "Expect: 200-ok\r\n\r\n", 417),
    .init("Connection with a non-token", requestLine + host + "Connection: keep alive\r\n\r\n", 400),
    .init("two Upgrade fields", requestLine + host + "Upgrade: websocket\r\nUpgrade: h2c\r\n\r\n", 400),
]

@Suite struct RequestSmugglingCatalogueTests {
    /// The README promises "a 90-case request-smuggling catalogue" with every refusal
    /// status: the catalogue holds exactly that many distinct cases and covers each
    /// status that is not a size limit.
    @Test func catalogueIsTheOneTheREADMEDescribes() throws {
        let readme = try String(contentsOf: repositoryRoot().appendingPathComponent("README.md"), encoding: .utf8)
        #expect(readme.contains("a \(malformedRequests.count)-case request-smuggling catalogue;"),
                "README's parser catalogue size is not \(malformedRequests.count)")
        #expect(Set(malformedRequests.map(\.name)).count == malformedRequests.count, "case names are unique")
        #expect(Set(malformedRequests.map(\.message)).count == malformedRequests.count, "no case is repeated")
        // (414 and 431 are proved at N and N+1 in HTTPLimitsTests.)
        #expect(Set(malformedRequests.map(\.status)) == [400, 417, 501, 505])
    }

    @Test(arguments: malformedRequests)
    func refusedWithTheRightStatus(_ entry: MalformedRequest) {
        let whole = parseRequest(entry.message)
        #expect(whole.errorStatus == entry.status, "\(entry.name): \(whole.result)")
        for feed in Feed.all {
            #expect(parseRequest(entry.message, feed) == whole, "\(entry.name), feed \(feed)")
        }
    }
}
