import Foundation
import Glibc
import Testing
import SwitchyardTestSupport

/// An HTTP/1.1 answer whose body of known length (4 KiB or more) came whole with its head in
/// one upstream read is not copied behind the rewritten head: the head is written into the
/// consumed bytes in front of the body, and the read buffer becomes the client's output
/// (`DownstreamConnection.adoptResponseBody`). Answers must still arrive whole, each with
/// its own head, on connections that stay usable; bytes a server sends after its answer's
/// last must never reach the client.
@Suite struct ResponseBodyAdoptionTests {
    /// Random uploads echoed one after another on one keep-alive connection, of sizes around
    /// the threshold, a TLS record, an upstream buffer and beyond. The origin writes head and
    /// body at once, so most bodies come with their head. Checked to fail with the head not
    /// written in front of the adopted body (every adopted answer then lacks its head).
    @Test func bodiesReadWithTheirHeadReachTheClientWhole() throws {
        let h = try ProxyHarness()
        defer { h.stop() }
        let client = try h.client()
        var random = SplitMix64(seed: 0xAD0_B7ED)
        for size in [4_095, 4_096, 16_384, 60_000, 200_003, 100, 30_000] {
            let body = (0..<size).map { _ in UInt8.random(in: 0...255, using: &random) }
            client.send(Array("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: \(size)\r\n\r\n".utf8) + body)
            let response = try #require(client.readResponse(), "an answer to the \(size)-byte upload")
            #expect(response.status == 200)
            #expect(response.header("content-length") == "\(size)")
            #expect(response.body.count == size && response.body == body, "the \(size)-byte echo byte for byte (\(response.body.count) bytes)")
        }
        #expect(client.get("/after")?.text == "legacy answered GET /after (generation 1)\n", "the connection is still in step")
    }

    /// The server sends its body with a whole second answer glued behind it, in one write.
    /// The client gets the body and nothing more; the next request goes out on a new
    /// upstream connection. Adopting a buffer that holds more than the body would hand the
    /// glued answer to the client (or count past the answer's end).
    @Test(arguments: [4_000, 40_000])
    func bytesAfterTheAnswerNeverReachTheClient(bodyBytes: Int) throws {
        let origin = try GluedAnswerOrigin.start(bodyBytes: bodyBytes, headApart: false)
        defer { origin.server.stop() }
        let h = try ProxyHarness(routes: ProxyHarness.routes(toOriginAt: origin.server.port))
        defer { h.stop() }
        let client = try h.client()
        for path in ["/first", "/second"] {
            let response = try #require(client.get(path), "an answer to \(path)")
            #expect(response.status == 200)
            #expect(response.body.count == bodyBytes && response.body.allSatisfy { $0 == UInt8(ascii: "y") },
                    "\(path): the body and nothing after it (\(response.body.count) bytes, \(response.body.suffix(8).map { Character(UnicodeScalar($0)) }))")
        }
        #expect(origin.connections() == 2, "the connection that sent bytes after its answer was not reused")
    }

    /// The same over TLS (HTTP/1.1 by ALPN, from curl, one keep-alive connection): the adopted
    /// buffer is what OpenSSL encrypts.
    @Test func bodiesReadWithTheirHeadReachATLSClientWhole() throws {
        try requireTools("openssl", "curl")
        let (h, pki, port) = try H2ResponseDataTests.httpsProxy()
        defer { h.stop() }
        let sizes = [4_096, 16_375, 70_001, 5_000]
        let (uploads, arguments) = try H2ResponseDataTests.echoUploads(sizes, seed: 0x7_15AD0, pki: pki, port: port, version: "--http1.1",
                                                                       writeOut: "%{http_version} %{http_code} %{num_connects}\\n")
        let result = TLSConfigurationTests.curl(port, ca: pki.path("site.pem"), arguments)
        #expect(result.status == 0, "\(result.output)")
        let lines = result.output.split(separator: "\n").map(String.init)
        #expect(lines.count == sizes.count && lines.allSatisfy { $0.hasPrefix("1.1 200 ") }, "every echo over HTTP/1.1, answered 200: \(lines)")
        #expect(lines.dropFirst().allSatisfy { $0.hasSuffix(" 0") }, "one connection, kept alive: \(lines)")
        for (i, body) in uploads.enumerated() {
            let echo = try #require(FileManager.default.contents(atPath: pki.path("echo-\(i)")))
            #expect(echo == Data(body), "echo \(i) (\(body.count) bytes) is its upload byte for byte (\(echo.count) bytes)")
        }
    }
}
