import Foundation
import Testing
import SwitchyardTestSupport
import SwitchyardProxy

/// What a client costs while its head is still arriving (slowloris): a small heap buffer
/// and no parsers. A head that outgrows the small buffer moves to a full one; a head parsed
/// again from its first byte on every read still parses as one read would, and a broken
/// head is refused as soon as its bytes arrive.
@Suite struct WaitingHeadMemoryTests {
    @Test func aWaitingHeadHoldsASmallBufferAndNoParser() throws {
        let h = try ProxyHarness()
        defer { h.stop() }
        var clients: [TestClient] = []
        for i in 0..<40 {
            let client = try h.client()
            #expect(client.send("GET /slow/\(i) HTTP/1.1\r\nHost: a\r\nX-Trickle: 1\r\n"))
            clients.append(client)
        }
        try waitFor("40 heads buffered", seconds: 10) { h.proxy.heldForTest().smallBuffers == 40 }
        let waiting = h.proxy.heldForTest()
        #expect(waiting.buffers == 0, "no full buffer for a head that fits a small one: \(waiting)")
        #expect(waiting.scratches == 0, "no parser held between reads: \(waiting)")

        // Each head grows past the small buffer: its bytes move to a full one.
        let filler = String(repeating: "x", count: 3000)
        for client in clients { #expect(client.send("X-Filler: \(filler)\r\n")) }
        try waitFor("heads moved to full buffers", seconds: 10) { h.proxy.heldForTest().buffers == 40 }
        #expect(h.proxy.heldForTest().smallBuffers == 0)

        for (i, client) in clients.enumerated() {
            #expect(client.send("\r\n"))
            let response = try #require(client.readResponse())
            #expect(response.status == 200)
            #expect(response.text == "legacy answered GET /slow/\(i) (generation 1)\n")
        }
    }

    @Test func aHeadTrickledAByteAtATimeParsesAsOneReadWould() throws {
        let h = try ProxyHarness()
        defer { h.stop() }
        let client = try h.client()
        let cookie = String(repeating: "c", count: 2500)   // crosses the small buffer
        let head = "GET /trickled?x=1 HTTP/1.1\r\nHost: a\r\nCookie: k=\(cookie)\r\nAccept: */*\r\n\r\n"
        for byte in head.utf8 {
            #expect(client.send([byte]))
            if byte == UInt8(ascii: "\n") { usleep(2_000) }
        }
        let response = try #require(client.readResponse())
        #expect(response.status == 200)
        #expect(response.text == "legacy answered GET /trickled (generation 1)\n")
        let raw = String(decoding: try #require(h.legacy.rawRequests.last), as: UTF8.self)
        #expect(raw.hasPrefix("GET /trickled?x=1 HTTP/1.1\r\n"), "the target as sent")
        #expect(raw.contains("Cookie: k=\(cookie)\r\n"), "the whole cookie went upstream")
        // The same connection, next request: still a normal keep-alive exchange.
        #expect(client.get("/again")?.status == 200)
    }

    @Test func aBrokenHeadIsRefusedBeforeItCompletes() throws {
        let h = try ProxyHarness()
        defer { h.stop() }
        let client = try h.client()
        // A bare LF in the first line: refused at once, not when a head timeout passes.
        #expect(client.send("GET / HTTP/1.1\nHost: a\r\n"))
        let started = Date()
        let response = try #require(client.readResponse())
        #expect(response.status == 400)
        #expect(Date().timeIntervalSince(started) < 5, "answered when the bytes arrived")
        #expect(h.legacy.requestCount == 0)
    }
}
