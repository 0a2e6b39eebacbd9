import Foundation
import Testing
import SwitchyardTestSupport
import SwitchyardProxy

/// "client connections per worker (beyond that the worker stops accepting until below)",
/// set by `limit connections N` in the routes file.
@Suite struct ConnectionLimitTests {
    @Test func aWorkerAtItsConnectionLimitStopsAcceptingUntilBelow() throws {
        let h = try ProxyHarness(routes: """
            limit connections 5
            backend legacy {
                server 127.0.0.1:LEGACY
            }
            route app {
                backend legacy
            }
            """)
        defer { h.stop() }
        var open: [TestClient] = []
        for i in 0..<5 {
            let client = try h.client()
            #expect(client.get("/c\(i)")?.status == 200)
            open.append(client)
        }
        // The kernel completes the sixth handshake, but the worker does not take it.
        let sixth = try h.client(timeoutSeconds: 1)
        sixth.send("GET /sixth HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(sixth.readResponse() == nil, "no answer while the worker holds 5 connections")
        #expect(h.legacy.requestCount == 5, "the sixth request did not reach the backend")
        #expect(h.proxy.stats().openConnections == 5)
        #expect(h.proxy.stats().acceptPauses >= 1)
        // One closes: the sixth is taken and answered.
        open.removeFirst()
        var answer: TestClient.Response?
        #expect(waitUntil(10) {
            answer = sixth.readResponse()
            return answer != nil
        }, "the sixth connection is served once below the limit")
        #expect(answer?.text == "legacy answered GET /sixth\n")
    }
}
