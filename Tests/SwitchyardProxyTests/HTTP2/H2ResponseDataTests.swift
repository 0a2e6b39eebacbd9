import Foundation
import Glibc
import Testing
import SwitchyardTestSupport

/// Response bodies over HTTP/2 take nghttp2's no-copy path: `H2ServerSession` writes each
/// DATA frame itself, straight into the connection's output buffer, between the frames
/// nghttp2 serialises, and cuts a frame to the room that buffer has left; over TLS a large
/// frame is instead encrypted where its stream staged it, with the frames before it first.
/// These tests hold many answers in flight on one connection, so that buffers fill
/// mid-frame, and check that every answer arrives whole, in order, and in well-formed frames.
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
        let (h, pki, port) = try Self.httpsProxy()
        defer { h.stop() }
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

    /// Over TLS a large DATA frame is encrypted where its stream staged the body
    /// (`H2Stream.sendResponseBodyInPlace`): its header is written into the consumed bytes
    /// in front of the payload, and the frames before it (the answer's HEADERS, other
    /// streams' frames) go first or in front. Random uploads echoed at once on one
    /// connection, of sizes around the in-place threshold (4,096), the frame size and the
    /// record size, and small ones whose frames come between, must come back byte for byte:
    /// a header written over a payload byte, frames passed on out of order, or bytes sent
    /// twice show here, where a body of one repeated byte would hide them.
    @Test func answersEncryptedWhereTheyAreStagedComeBackByteForByte() throws {
        try requireTools("openssl", "curl")
        let (h, pki, port) = try Self.httpsProxy()
        defer { h.stop() }
        let sizes = [100, 4_095, 4_096, 16_375, 16_384, 16_385, 3_000, 70_001, 200_003, 50]
        let (uploads, arguments) = try Self.echoUploads(sizes, seed: 0x1A_91ACE, pki: pki, port: port, version: "--http2",
                                                        writeOut: "%{http_version} %{http_code}\\n")
        let result = TLSConfigurationTests.curl(port, ca: pki.path("site.pem"), ["--http2", "--parallel", "--parallel-max", "10"] + arguments)
        #expect(result.status == 0, "\(result.output)")
        let lines = result.output.split(separator: "\n").map(String.init)
        #expect(lines.count == sizes.count && lines.allSatisfy { $0 == "2 200" }, "every echo over HTTP/2, answered 200: \(lines)")
        for (i, body) in uploads.enumerated() {
            let echo = try #require(FileManager.default.contents(atPath: pki.path("echo-\(i)")))
            #expect(echo.count == body.count, "echo \(i): \(echo.count) bytes of \(body.count)")
            #expect(echo == Data(body), "echo \(i) (\(body.count) bytes) is its upload byte for byte")
        }
    }

    /// The frames of a large answer over TLS are sized for records: one sent in place is
    /// encrypted alone, so its header and payload (and the HEADERS frame before it, when
    /// both leave in one go) fit one 16 KiB record. nghttp (the real client, `-v`) shows
    /// each DATA frame's length: none reaches nghttp2's 16,384 (what a copied frame of a
    /// large answer has), and the full ones hold 16,375 bytes, or 16,375 less the HEADERS
    /// frame for the first when they share its record (the origin writes head and body at
    /// once; whether one upstream read brings both is the kernel's timing).
    @Test func framesSentInPlaceFitOneRecord() throws {
        try requireTools("openssl", "nghttp")
        let (h, pki, port) = try Self.httpsProxy()
        defer { h.stop() }
        let size = 40_000
        try Data(repeating: UInt8(ascii: "u"), count: size).write(to: URL(fileURLWithPath: pki.path("upload")))
        let result = TLSTerminationTests.run(toolPath("nghttp"), ["-v", "-n", "-d", pki.path("upload"), "https://127.0.0.1:\(port)/echo"])
        #expect(result.status == 0, "\(result.output.suffix(2_000))")
        func lengths(_ kind: String) -> [Int] {
            result.output.split(separator: "\n").compactMap { line -> Int? in
                guard line.contains("recv \(kind) frame <length="), let at = line.range(of: "length=") else { return nil }
                return Int(line[at.upperBound...].prefix { $0.isNumber })
            }
        }
        let data = lengths("DATA")
        let headers = try #require(lengths("HEADERS").first, "\(result.output.suffix(2_000))")
        let record = 16_384, frameHeader = 9
        #expect(data.reduce(0, +) == size, "the whole answer (\(data))")
        #expect(data.allSatisfy { $0 <= record - frameHeader }, "no frame needs a second record for its last bytes: \(data)")
        let shared = record - frameHeader - (frameHeader + headers)
        #expect(data.first == shared || data.first == record - frameHeader, "the first frame fills a record, or the one it shares with HEADERS (\(headers) bytes): \(data)")
        #expect(data.dropFirst().dropLast().allSatisfy { $0 == record - frameHeader }, "the frames between fill a record each: \(data)")
    }

    /// Random uploads of `sizes` written to files in `pki`'s directory, and curl's arguments
    /// to post each to `/echo` on `port` (`version`: `--http2` or `--http1.1`), one transfer
    /// each (`--next` between them), the answers to `echo-N`, `writeOut` after each.
    static func echoUploads(_ sizes: [Int], seed: UInt64, pki: TLSConfigurationTests.PKI, port: UInt16, version: String,
                            writeOut: String) throws -> (uploads: [[UInt8]], arguments: [String]) {
        var random = SplitMix64(seed: seed)
        var arguments: [String] = []
        var uploads: [[UInt8]] = []
        for (i, size) in sizes.enumerated() {
            let body = (0..<size).map { _ in UInt8.random(in: 0...255, using: &random) }
            uploads.append(body)
            try Data(body).write(to: URL(fileURLWithPath: pki.path("upload-\(i)")))
            if i > 0 { arguments.append("--next") }
            arguments += ["--cacert", pki.path("site.pem"), "--resolve", "localhost:\(port):127.0.0.1", version,
                          "--data-binary", "@" + pki.path("upload-\(i)"), "-o", pki.path("echo-\(i)"),
                          "-w", writeOut, "https://localhost:\(port)/echo"]
        }
        return (uploads, arguments)
    }

    /// A proxy with an HTTPS listener (ALPN h2) in front of the origins, its certificate
    /// authority's directory, and the listener's port.
    static func httpsProxy() throws -> (ProxyHarness, TLSConfigurationTests.PKI, UInt16) {
        let pki = try TLSConfigurationTests.PKI()
        try pki.selfSigned("site", name: "localhost")
        let h = try ProxyHarness(routes: TLSConfigurationTests.httpsRoutes(pki))
        do {
            return (h, pki, try #require(h.proxy.httpsAddresses.first, "an HTTPS listener").port)
        } catch {
            h.stop()
            throw error
        }
    }
}
