import Foundation
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
}
