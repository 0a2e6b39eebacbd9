import Foundation
import Glibc
import Testing
import SwitchyardTestSupport

/// Response bodies over HTTP/2 take nghttp2's no-copy path: `H2ServerSession` writes each
/// DATA frame itself, straight into the connection's output buffer, between the frames
/// nghttp2 serialises, and cuts a frame to the room that buffer has left. These tests hold
/// many answers in flight on one connection, so that buffers fill mid-frame, and check that
/// every answer arrives whole, in order, and in well-formed frames.
@Suite struct H2ResponseDataTests {
    /// Twelve streams at once on one h2c connection, each echoing its own random body of a
    /// different length (20–57 KB, under the 60 KiB stream window): each answer must be
    /// its upload byte for byte, in DATA frames of at most 16 KiB, and no stream is reset.
    /// A frame written out of order, cut wrongly or sent twice breaks the framing or a body.
    @Test func concurrentAnswersComeBackWholeInWellFormedFrames() throws {
        let h = try ProxyHarness(routes: HTTP2Tests.routes)
        defer { h.stop() }
        let client = try H2FrameClient(port: h.port, timeoutSeconds: 20)
        var random = SplitMix64(seed: 0x5EED_DA7A)
        var uploads: [UInt32: [UInt8]] = [:]
        for i in 0..<12 {
            let stream = UInt32(2 * i + 1)
            let body = (0..<(20_000 + i * 3_331)).map { _ in UInt8.random(in: 0...255, using: &random) }
            uploads[stream] = body
            client.request(stream: stream, method: "POST", path: "/echo", extra: [("content-length", "\(body.count)")], endStream: false)
            var offset = 0
            while offset < body.count {
                let end = min(offset + 16_384, body.count)
                client.sendFrame(type: H2FrameClient.data, flags: end == body.count ? H2FrameClient.endStream : 0,
                                 stream: stream, payload: Array(body[offset..<end]))
                offset = end
            }
        }

        var answers: [UInt32: [UInt8]] = [:]
        var ended: Set<UInt32> = []
        var largestFrame = 0
        var foreignFrames: [String] = []
        while ended.count < uploads.count, let frame = client.readFrame() {
            switch frame.type {
            case H2FrameClient.data:
                largestFrame = max(largestFrame, frame.payload.count)
                if uploads[frame.stream] == nil || ended.contains(frame.stream) {
                    foreignFrames.append("DATA on stream \(frame.stream)")
                }
                answers[frame.stream, default: []] += frame.payload
                if !frame.payload.isEmpty {
                    client.sendFrame(type: H2FrameClient.windowUpdate, flags: 0, stream: frame.stream,
                                     payload: H2FrameClient.uint32(UInt32(frame.payload.count)))
                }
                if frame.flags & H2FrameClient.endStream != 0 { ended.insert(frame.stream) }
            case H2FrameClient.rstStream, H2FrameClient.goAway:
                foreignFrames.append("frame type \(frame.type) on stream \(frame.stream)")
            default:
                break
            }
        }
        #expect(foreignFrames.isEmpty, "\(foreignFrames)")
        #expect(ended == Set(uploads.keys), "every stream ended (\(ended.count) of \(uploads.count))")
        #expect(largestFrame <= 16_384, "DATA frames stay within the default frame size (largest \(largestFrame))")
        for (stream, body) in uploads.sorted(by: { $0.key < $1.key }) {
            let answer = answers[stream] ?? []
            #expect(answer.count == body.count, "stream \(stream): \(answer.count) bytes back of \(body.count)")
            #expect(answer == body, "stream \(stream): the echo is the upload byte for byte")
        }
    }

    /// The same over TLS with ALPN h2, from curl: ten downloads multiplexed on one
    /// connection, of sizes that do not divide into frames or buffers evenly (up to 1.3 MB,
    /// so each crosses many 64 KiB output buffers), every byte the origin's.
    @Test func multiplexedDownloadsOverTLSArriveWhole() throws {
        try requireTools("openssl", "curl")
        let pki = try TLSConfigurationTests.PKI()
        try pki.selfSigned("site", name: "localhost")
        let h = try ProxyHarness(routes: TLSConfigurationTests.httpsRoutes(pki))
        defer { h.stop() }
        let port = try #require(h.proxy.httpsAddresses.first).port
        let sizes = (0..<10).map { 1 + $0 * 131_071 + ($0 % 3) * 9 }
        var arguments = ["--http2", "--parallel", "--parallel-max", "10",
                         "-w", "%{http_version} %{http_code} %{size_download}\\n"]
        for (i, size) in sizes.enumerated() {
            arguments += ["-o", pki.path("download-\(i)"), "https://localhost:\(port)/big?bytes=\(size)"]
        }
        let result = TLSConfigurationTests.curl(port, ca: pki.path("site.pem"), arguments)
        #expect(result.status == 0, "\(result.output)")
        let lines = result.output.split(separator: "\n").map(String.init)
        #expect(lines.count == sizes.count)
        #expect(lines.allSatisfy { $0.hasPrefix("2 200 ") }, "every download over HTTP/2, answered 200: \(lines)")
        for (i, size) in sizes.enumerated() {
            let data = try #require(FileManager.default.contents(atPath: pki.path("download-\(i)")))
            #expect(data.count == size, "download \(i): \(data.count) bytes of \(size)")
            // The origin's body is "x" throughout: a frame header or a byte of another
            // answer inside a body shows here.
            #expect(data.allSatisfy { $0 == UInt8(ascii: "x") }, "download \(i) holds only the origin's bytes")
        }
    }
}
