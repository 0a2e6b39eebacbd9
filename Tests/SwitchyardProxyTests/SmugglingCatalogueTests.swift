import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
import SwitchyardOrigin
import SwitchyardSystem

/// Request smuggling, as a catalogue checked on real sockets: each malformed request gets
/// its documented answer from the proxy, the connection closes, and the backend receives
/// nothing — not a request, not even a connection. (RFC 9112 §2.2, §5, §6, §7; the tiers of
/// aws http-desync-guardian; HAProxy's transfer-encoding regression cases.)
@Suite struct SmugglingCatalogueTests {
    struct Case: CustomStringConvertible, Sendable {
        let name: String
        let request: String
        let status: Int
        var description: String { name }
    }

    static let h = "Host: a\r\n"
    static let cases: [Case] = [
        // Content-Length and Transfer-Encoding together, or doubled.
        Case(name: "CL and TE", request: "POST / HTTP/1.1\r\n\(h)Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400),
        Case(name: "TE and CL", request: "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", status: 400),
        Case(name: "two different CL", request: "POST / HTTP/1.1\r\n\(h)Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", status: 400),
        Case(name: "two equal CL", request: "POST / HTTP/1.1\r\n\(h)Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", status: 400),
        Case(name: "CL list", request: "POST / HTTP/1.1\r\n\(h)Content-Length: 5, 5\r\n\r\nhello", status: 400),
        Case(name: "CL plus sign", request: "POST / HTTP/1.1\r\n\(h)Content-Length: +5\r\n\r\nhello", status: 400),
        Case(name: "CL minus sign", request: "POST / HTTP/1.1\r\n\(h)Content-Length: -5\r\n\r\nhello", status: 400),
        Case(name: "CL inner space", request: "POST / HTTP/1.1\r\n\(h)Content-Length: 1 0\r\n\r\nhello", status: 400),
        Case(name: "CL hex", request: "POST / HTTP/1.1\r\n\(h)Content-Length: 0x5\r\n\r\nhello", status: 400),
        Case(name: "CL overflow", request: "POST / HTTP/1.1\r\n\(h)Content-Length: 99999999999999999999999\r\n\r\nhello", status: 400),
        Case(name: "CL empty", request: "POST / HTTP/1.1\r\n\(h)Content-Length: \r\n\r\n", status: 400),
        // Transfer-Encoding values that are not exactly chunked, last.
        Case(name: "TE xchunked", request: "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", status: 400),
        Case(name: "TE chunked, gzip", request: "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", status: 400),
        Case(name: "TE gzip alone", request: "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: gzip\r\n\r\n0\r\n\r\n", status: 400),
        Case(name: "TE gzip, chunked", request: "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", status: 501),
        Case(name: "TE chunked, chunked", request: "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", status: 400),
        Case(name: "two TE fields", request: "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400),
        Case(name: "TE on HTTP/1.0", request: "POST / HTTP/1.0\r\n\(h)Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400),
        Case(name: "TE with vertical tab", request: "POST / HTTP/1.1\r\n\(h)Transfer-Encoding:\u{0B}chunked\r\n\r\n0\r\n\r\n", status: 400),
        // Field syntax.
        Case(name: "space before colon", request: "POST / HTTP/1.1\r\n\(h)Content-Length : 5\r\n\r\nhello", status: 400),
        Case(name: "tab before colon", request: "POST / HTTP/1.1\r\n\(h)Transfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n", status: 400),
        Case(name: "space before first field", request: "GET / HTTP/1.1\r\n Host: a\r\n\r\n", status: 400),
        Case(name: "obs-fold", request: "GET / HTTP/1.1\r\n\(h)X-A: b\r\n c\r\n\r\n", status: 400),
        Case(name: "bare CR in value", request: "GET / HTTP/1.1\r\n\(h)X-A: b\rc\r\n\r\n", status: 400),
        Case(name: "bare LF line ends", request: "GET / HTTP/1.1\n\(h)\n", status: 400),
        Case(name: "bare LF in head", request: "GET / HTTP/1.1\r\n\(h)X-A: b\n\r\n", status: 400),
        Case(name: "NUL in value", request: "GET / HTTP/1.1\r\n\(h)X-A: b\u{0}c\r\n\r\n", status: 400),
        Case(name: "control byte in name", request: "GET / HTTP/1.1\r\n\(h)X\u{01}A: b\r\n\r\n", status: 400),
        Case(name: "underscore framing name", request: "POST / HTTP/1.1\r\n\(h)Content_Length: 5\r\n\r\nhello", status: 400),
        Case(name: "underscore TE name", request: "POST / HTTP/1.1\r\n\(h)Transfer_Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400),
        Case(name: "empty field name", request: "GET / HTTP/1.1\r\n\(h): b\r\n\r\n", status: 400),
        Case(name: "line without colon", request: "GET / HTTP/1.1\r\n\(h)X-A b\r\n\r\n", status: 400),
        Case(name: "non-ASCII in name", request: "GET / HTTP/1.1\r\n\(h)Cont\u{E9}nt-Length: 5\r\n\r\n", status: 400),
        // Chunked framing.
        Case(name: "chunk size non-hex", request: "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", status: 400),
        Case(name: "chunk size sign", request: "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n", status: 400),
        Case(name: "chunk size 0x", request: "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", status: 400),
        Case(name: "chunk size leading space", request: "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n", status: 400),
        Case(name: "chunk size overflow", request: "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nhello\r\n0\r\n\r\n", status: 400),
        Case(name: "chunk extension control byte", request: "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\n\r\n5;a=\u{01}\r\nhello\r\n0\r\n\r\n", status: 400),
        Case(name: "chunk extension too long", request: "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\n\r\n5;\(String(repeating: "a", count: 300))\r\nhello\r\n0\r\n\r\n", status: 400),
        Case(name: "missing CRLF after data", request: "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\n\r\n5\r\nhelloX0\r\n\r\n", status: 400),
        Case(name: "LF only after data", request: "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", status: 400),
        Case(name: "CL in trailer", request: "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 5\r\n\r\n", status: 400),
        Case(name: "TE in trailer", request: "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\n\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400),
        Case(name: "Host in trailer", request: "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\n\r\n0\r\nHost: b\r\n\r\n", status: 400),
        // Request line.
        Case(name: "bad method char", request: "G(T / HTTP/1.1\r\n\(h)\r\n", status: 400),
        Case(name: "target without slash", request: "GET index.html HTTP/1.1\r\n\(h)\r\n", status: 400),
        Case(name: "space in target", request: "GET /a b HTTP/1.1\r\n\(h)\r\n", status: 400),
        Case(name: "two spaces", request: "GET  / HTTP/1.1\r\n\(h)\r\n", status: 400),
        Case(name: "version 1.32", request: "GET / HTTP/1.32\r\n\(h)\r\n", status: 505),
        Case(name: "version 2.0", request: "GET / HTTP/2.0\r\n\(h)\r\n", status: 505),
        Case(name: "lower-case version", request: "GET / http/1.1\r\n\(h)\r\n", status: 400),
        Case(name: "asterisk with GET", request: "GET * HTTP/1.1\r\n\(h)\r\n", status: 400),
        // Host.
        Case(name: "no Host", request: "GET / HTTP/1.1\r\n\r\n", status: 400),
        Case(name: "two Host fields", request: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", status: 400),
        Case(name: "absolute form host mismatch", request: "GET http://evil.example/ HTTP/1.1\r\nHost: a\r\n\r\n", status: 400),
        Case(name: "Host with slash", request: "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", status: 400),
        // Limits.
        Case(name: "request line over 8 KiB", request: "GET /\(String(repeating: "a", count: 8200)) HTTP/1.1\r\n\(h)\r\n", status: 414),
        Case(name: "header block over 32 KiB", request: "GET / HTTP/1.1\r\n\(h)" + (0..<40).map { "X-\($0): \(String(repeating: "b", count: 1000))\r\n" }.joined() + "\r\n", status: 431),
        Case(name: "over 100 fields", request: "GET / HTTP/1.1\r\n\(h)" + (0..<101).map { "X-\($0): b\r\n" }.joined() + "\r\n", status: 431),
        Case(name: "Expect other than 100-continue", request: "GET / HTTP/1.1\r\n\(h)Expect: 200-ok\r\n\r\n", status: 417),
        Case(name: "CONNECT", request: "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", status: 501),
    ]

    @Test(arguments: cases)
    func refusedAndNeverForwarded(_ c: Case) throws {
        let h = try ProxyHarness()
        defer { h.stop() }
        // Positive control on the same proxy: a valid request is forwarded, so a refusal
        // below is the proxy's doing and not a dead backend or a broken harness.
        let control = try h.client()
        #expect(control.get("/control")?.text == "legacy answered GET /control (generation 1)\n")
        #expect(h.legacy.requestCount == 1)
        h.legacy.resetRecords()
        let client = try h.client()
        client.send(c.request)
        let response = try #require(client.readResponse(), "no answer")
        #expect(response.status == c.status)
        #expect(response.header("Connection") == "close")
        #expect(client.readToEnd().isEmpty, "the connection closes")
        #expect(h.legacy.requestCount == 0, "the backend received a request")
        #expect(h.legacy.connectionCount == 0, "the backend was even connected to")
        #expect(h.legacy.rawRequests.isEmpty, "not a byte of it reached the backend")
    }

    /// The README promises "a 62-case request-smuggling catalogue on real sockets": exactly
    /// that many distinct cases.
    @Test func catalogueIsTheOneTheREADMEDescribes() throws {
        let readme = try String(contentsOf: repositoryRoot().appendingPathComponent("README.md"), encoding: .utf8)
        #expect(readme.contains("a \(Self.cases.count)-case request-smuggling catalogue on real sockets"),
                "README's on-the-wire catalogue size is not \(Self.cases.count)")
        #expect(Set(Self.cases.map(\.name)).count == Self.cases.count, "case names are unique")
        #expect(Set(Self.cases.map(\.request)).count == Self.cases.count, "no case is repeated")
    }
}

/// A backend that answers every request with fixed bytes: for malformed responses.
final class RawOrigin: @unchecked Sendable {
    let port: UInt16
    private let listener: FileDescriptor
    private let answer: [UInt8]
    private let lock = NSLock()
    private var _connections = 0
    var connections: Int { lock.lock(); defer { lock.unlock() }; return _connections }

    init(answer: String) throws {
        self.answer = Array(answer.utf8)
        let fd = try Socket.listen(on: SocketAddress(ip: "127.0.0.1", port: 0)!, reusePort: false)
        let flags = fcntl(fd.rawValue, F_GETFL)
        _ = fcntl(fd.rawValue, F_SETFL, flags & ~O_NONBLOCK)
        listener = fd
        port = try Socket.localAddress(fd).port
        Thread { [self] in
            while true {
                let client = accept(listener.rawValue, nil, nil)
                if client < 0 { return }
                lock.lock(); _connections += 1; lock.unlock()
                Thread { [self] in
                    var buffer = [UInt8](repeating: 0, count: 65536)
                    var seen: [UInt8] = []
                    while true {
                        let n = buffer.withUnsafeMutableBytes { Glibc.read(client, $0.baseAddress, $0.count) }
                        if n <= 0 { break }
                        seen += buffer[0..<n]
                        while let end = (0..<max(0, seen.count - 3)).first(where: { seen[$0] == 13 && seen[$0 + 1] == 10 && seen[$0 + 2] == 13 && seen[$0 + 3] == 10 }) {
                            seen.removeFirst(end + 4)
                            _ = self.answer.withUnsafeBytes { Glibc.write(client, $0.baseAddress, $0.count) }
                        }
                    }
                    Glibc.close(client)
                }.start()
            }
        }.start()
    }

    func stop() { Glibc.shutdown(listener.rawValue, Int32(SHUT_RDWR)) }
}

@Suite struct MalformedResponseTests {
    static let answers: [(String, String)] = [
        ("CL and TE", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("bad TE", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
        ("two different CL", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
        ("bad status line", "HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n"),
        ("bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\n\n"),
        ("obs-fold", "HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\nContent-Length: 0\r\n\r\n"),
    ]

    @Test(arguments: answers.map(\.0))
    func malformedResponseIs502AndTheConnectionIsNotReused(_ name: String) throws {
        let answer = Self.answers.first { $0.0 == name }!.1
        let origin = try RawOrigin(answer: answer)
        defer { origin.stop() }
        let h = try ProxyHarness(routes: """
            backend raw {
                server 127.0.0.1:\(origin.port)
            }
            route app {
                backend raw
            }
            """)
        defer { h.stop() }
        for _ in 0..<2 {
            let client = try h.client()
            #expect(client.get("/")?.status == 502)
        }
        #expect(origin.connections == 2, "a connection that carried a malformed response is never reused")
    }
}
