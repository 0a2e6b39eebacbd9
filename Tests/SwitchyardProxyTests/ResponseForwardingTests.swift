import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
import SwitchyardProxy

/// What the proxy does to answers on their way to the client: hop-by-hop fields removed,
/// 1xx answers relayed (to HTTP/1.1 clients: an HTTP/2 stream drops interim answers, see
/// H2Stream).
@Suite struct ResponseForwardingTests {
    @Test func hopByHopResponseFieldsAreRemoved() throws {
        let h = try ProxyHarness()
        defer { h.stop() }
        let client = try h.client()
        let response = try #require(client.get("/hop-by-hop"))
        #expect(response.status == 200)
        #expect(response.text == "hop\n")
        // The origin sent Connection: X-Foo, X-Foo, Keep-Alive, Trailer and Proxy-Connection.
        for dropped in ["X-Foo", "Keep-Alive", "Trailer", "Proxy-Connection"] {
            #expect(response.header(dropped) == nil, "\(dropped) must not reach the client: \(response.head)")
        }
        #expect(!response.head.contains("secret"), "a field named by Connection is dropped: \(response.head)")
        #expect(response.header("Connection").map { !$0.contains("X-Foo") } ?? true, "\(response.head)")
        #expect(response.header("X-Kept") == "yes", "end-to-end fields stay")
        #expect(client.get("/again")?.status == 200, "the connection is still in step")
    }

    @Test func earlyHints103IsRelayedBeforeTheAnswer() throws {
        let h = try ProxyHarness()
        defer { h.stop() }
        let client = try h.client()
        client.send("GET /early-hints HTTP/1.1\r\nHost: a\r\n\r\n")
        let hints = try #require(client.readResponse())
        #expect(hints.status == 103)
        #expect(hints.header("Link") == "</style.css>; rel=preload")
        let final = try #require(client.readResponse())
        #expect(final.status == 200)
        #expect(final.text == "after hints\n")
        #expect(client.get("/again")?.status == 200)
    }

    /// Large 103 heads to a client that does not read: a head that does not fit behind the
    /// unsent output is left out whole, never cut (it was appended up to the buffer's end,
    /// and the next head or our 502 glued after the cut).
    @Test func interimHeadsThatDoNotFitAreNeverCutShort() throws {
        let link = String(repeating: "a", count: 30_000)
        let (origin, _) = try OneThreadServer.counting { fd in
            _ = readRequestHead(fd)
            var answer = ""
            for _ in 0..<20 { answer += "HTTP/1.1 103 Early Hints\r\nLink: <\(link)>\r\n\r\n" }
            answer += "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
            _ = writeAll(fd, Array(answer.utf8))
        }
        defer { origin.stop() }
        let h = try ProxyHarness(routes: ProxyHarness.routes(toOriginAt: origin.port))
        defer { h.stop() }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var small: Int32 = 4096
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = h.port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(connected == 0)
        #expect(writeAll(fd, Array("GET /hints HTTP/1.1\r\nHost: a\r\n\r\n".utf8)))
        sleep(1)   // not reading while the answer arrives
        var stream: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while !stream.suffix(2).elementsEqual("ok".utf8) || !String(decoding: stream, as: UTF8.self).contains("HTTP/1.1 200") {
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { break }
            stream += chunk[0..<n]
        }
        // Every head is whole: 103s with the whole Link, then the 200 with its body.
        var text = Substring(String(decoding: stream, as: UTF8.self))
        var interim = 0
        var final: Substring?
        while let end = text.range(of: "\r\n\r\n") {
            let head = text[..<end.lowerBound]
            text = text[end.upperBound...]
            if head.hasPrefix("HTTP/1.1 103 ") {
                #expect(head.hasSuffix("Link: <\(link)>"), "a 103 cut short: \(head.count) bytes, ends \(head.suffix(60))")
                interim += 1
            } else {
                final = head
                break
            }
        }
        #expect(final?.hasPrefix("HTTP/1.1 200 OK") == true, "\(final?.prefix(80) ?? "no final head")")
        #expect(text == "ok")
        #expect(interim >= 1 && interim <= 20)
    }
}
