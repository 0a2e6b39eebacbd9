import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
import SwitchyardProxy

/// What an HTTP/2 connection read from its client stays intact while nghttp2 works through
/// it. Its callbacks run exchanges, and an exchange may read its TLS upstream on the spot
/// (a write that found the server gone reads the answer it left). Before, both reads shared
/// the worker's one scratch buffer: the server's ciphertext overwrote the client's frames
/// not yet parsed, and the whole connection ended with GOAWAY(FRAME_SIZE_ERROR) — a form
/// post cut (curl exit 18) where the server's 401 should have arrived.
@Suite struct H2ConnectionInputTests {
    @Test func framesAfterOneWhoseCallbackReadTheUpstreamAreParsedAsSent() throws {
        let rig = try UpstreamTLSEarlyAnswerTests.rig()
        defer { rig.stop() }
        let proxy = rig.proxy
        var outcomes: [String] = []
        for _ in 0..<15 {
            outcomes.append(try Self.trickledPost(port: proxy.port))
        }
        #expect(outcomes.allSatisfy { $0 == "401 login" }, "\(outcomes)")
        #expect(proxy.proxy.stats().h2ProtocolErrors == 0)
    }

    /// One POST whose body comes as two one-byte DATA frames a write, so that the frame
    /// whose callback meets the server's reset has another right behind it in the same read.
    /// "STATUS BODY" when the answer arrived whole, else what happened instead.
    static func trickledPost(port: UInt16) throws -> String {
        let client = try H2FrameClient(port: port, timeoutSeconds: 5)
        client.request(stream: 1, method: "POST", path: "/notes", extra: [("content-length", "100000")], endStream: false)
        let pair = H2FrameClient.frame(type: H2FrameClient.data, flags: 0, stream: 1, payload: [0x61])
            + H2FrameClient.frame(type: H2FrameClient.data, flags: 0, stream: 1, payload: [0x62])
        var status = 0
        var body: [UInt8] = []
        var sent = 0
        while sent < 90_000 {
            guard client.send(pair) else { return "send failed after \(sent) bytes" }
            sent += 2
            usleep(50)
            var poller = pollfd(fd: client.fd, events: Int16(POLLIN), revents: 0)
            while poll(&poller, 1, 0) > 0 {
                guard let frame = client.readFrame() else { return "connection closed (status \(status))" }
                switch frame.type {
                case H2FrameClient.goAway: return "GOAWAY \(frame.payload.count >= 8 ? frame.payload[7] : 0)"
                case H2FrameClient.rstStream: return "RST_STREAM (status \(status))"
                case H2FrameClient.headers:
                    if let value = client.decode(frame.payload).first(where: { $0.0 == ":status" })?.1 { status = Int(value) ?? -1 }
                case H2FrameClient.data: body += frame.payload
                default: break
                }
                if frame.flags & H2FrameClient.endStream != 0, frame.type == H2FrameClient.data || frame.type == H2FrameClient.headers {
                    return "\(status) \(String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))"
                }
            }
        }
        return "no answer after \(sent) bytes"
    }
}
