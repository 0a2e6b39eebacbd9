import Testing
import SwitchyardHTTP

/// The data carried by `chunkedBody()`.
private let payload = bytes("hello") + bytes(", wonderful ") + Array(repeating: UInt8(ascii: "z"), count: 300)
    + bytes("world")

/// A body with extensions (a quoted one among them), a zero-padded size, a chunk larger than
/// some reads, and trailers.
private func chunkedBody() -> [UInt8] {
    var body = bytes("5;name=value;flag\r\nhello\r\n")
    body += bytes("00C;q=\"quoted \\\" ext\"\r\n, wonderful \r\n")
    body += bytes("12c\r\n") + Array(repeating: UInt8(ascii: "z"), count: 300) + bytes("\r\n")
    body += bytes("5\r\nworld\r\n")
    body += bytes("0;last=1\r\nServer-Timing: db;dur=53\r\nX-Checksum:\tabc \r\n\r\n")
    return body
}

let malformedChunkedBodies: [Sample] = [
    ("space after the size", "5 \r\nhello\r\n0\r\n\r\n"),
    ("space before ';'", "5 ;a\r\nhello\r\n0\r\n\r\n"),
    ("space before the size", " 5\r\nhello\r\n0\r\n\r\n"),
    ("plus sign", "+5\r\nhello\r\n0\r\n\r\n"),
    ("minus sign", "-5\r\nhello\r\n0\r\n\r\n"),
    ("0x prefix", "0x5\r\nhello\r\n0\r\n\r\n"),
    ("14 hex digits", "00000000000005\r\nhello\r\n0\r\n\r\n"),
    ("huge size", "FFFFFFFFFFFFFFFF\r\n"),
    ("empty size line", "\r\nhello\r\n0\r\n\r\n"),
    ("non-hex size", "g\r\n"),
    ("LF without CR after the size", "5\nhello\r\n0\r\n\r\n"),
    ("CR without LF after the size", "5\rhello\r\n0\r\n\r\n"),
    ("too much data", "5\r\nhelloX\r\n0\r\n\r\n"),
    ("LF only after data", "5\r\nhello\n0\r\n\r\n"),
    ("CR only after data", "5\r\nhello\r0\r\n\r\n"),
    ("nothing after data", "5\r\nhello0\r\n\r\n"),
    ("NUL in an extension", "5;a\u{0}\r\nhello\r\n0\r\n\r\n"),
    ("bare LF in an extension", "5;a\nb\r\nhello\r\n0\r\n\r\n"),
    ("DEL in an extension", "5;a\u{7F}\r\nhello\r\n0\r\n\r\n"),
    ("Content-Length trailer", "0\r\nContent-Length: 5\r\n\r\n"),
    ("Transfer-Encoding trailer", "0\r\ntransfer-encoding: chunked\r\n\r\n"),
    ("Host trailer", "0\r\nHOST: evil\r\n\r\n"),
    ("Content_Length trailer", "0\r\nContent_Length: 5\r\n\r\n"),
    ("obs-fold in trailers", "0\r\nX: a\r\n b\r\n\r\n"),
    ("trailer starting with a space", "0\r\n X: a\r\n\r\n"),
    ("trailer without a colon", "0\r\nX\r\n\r\n"),
    ("space before a trailer colon", "0\r\nX : a\r\n\r\n"),
    ("NUL in a trailer value", "0\r\nX: a\u{0}\r\n\r\n"),
    ("bare CR in a trailer", "0\r\nX: a\rb\r\n\r\n"),
    ("bare LF in a trailer", "0\r\nX: a\n\r\n"),
    ("final CRLF missing", "0\r\n\rX"),
    ("final LF alone", "0\r\n\n"),
].map { Sample(name: $0.0, text: $0.1) }

@Suite struct ChunkedDecoderTests {
    @Test func multiChunkBodyWithExtensionsAndTrailers() {
        let body = chunkedBody() + bytes("NEXT REQUEST")
        for feed in Feed.all {
            for maxData in [1, 7, 64, 1 << 20] {
                let decoded = decodeChunked(body, feed, maxData: maxData)
                #expect(decoded.error == nil, "feed \(feed), maxData \(maxData)")
                #expect(decoded.finished, "feed \(feed), maxData \(maxData)")
                #expect(decoded.data == payload, "feed \(feed), maxData \(maxData)")
                #expect(decoded.consumed == body.count - 12, "nothing after the body is consumed")
                #expect(decoded.longestRun <= maxData)
            }
        }
    }

    @Test func oneDataRunPerCall() throws {
        var decoder = ChunkedDecoder()
        let body = bytes("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        try body.withUnsafeBytes { input in
            var step = try decoder.decode(input, maxData: 2)
            #expect(step == ChunkedStep(consumed: 5, data: ByteSpan(start: 3, count: 2), finished: false))
            let rest = UnsafeRawBufferPointer(rebasing: input[5...])
            step = try decoder.decode(rest, maxData: 100)
            #expect(step == ChunkedStep(consumed: 1, data: ByteSpan(start: 0, count: 1), finished: false))
            let afterC = UnsafeRawBufferPointer(rebasing: rest[1...])
            step = try decoder.decode(afterC, maxData: 100)
            // The CRLF after "abc" and the next size line are framing; then "de".
            #expect(step == ChunkedStep(consumed: 7, data: ByteSpan(start: 5, count: 2), finished: false))
            let tail = UnsafeRawBufferPointer(rebasing: afterC[7...])
            step = try decoder.decode(tail, maxData: 100)
            #expect(step == ChunkedStep(consumed: 7, data: ByteSpan(start: 0, count: 0), finished: true))
            step = try decoder.decode(tail, maxData: 100)
            #expect(step.finished && step.consumed == 0)
        }
    }

    @Test func needMoreIsConsumedZero() throws {
        var decoder = ChunkedDecoder()
        let step = try [UInt8]().withUnsafeBytes { try decoder.decode($0, maxData: 10) }
        #expect(step == ChunkedStep(consumed: 0, data: ByteSpan(start: 0, count: 0), finished: false))
        let partial = try bytes("1a").withUnsafeBytes { try decoder.decode($0, maxData: 10) }
        #expect(partial.consumed == 2 && !partial.finished && partial.data.count == 0)
    }

    @Test func largestChunkSize() throws {
        var decoder = ChunkedDecoder()
        let step = try bytes("FFFFFFFFFFFFF\r\nab").withUnsafeBytes { try decoder.decode($0, maxData: 10) }
        #expect(step.data == ByteSpan(start: 15, count: 2))
    }

    @Test func resetStartsANewBody() throws {
        var decoder = ChunkedDecoder()
        _ = try bytes("5\r\nab").withUnsafeBytes { try decoder.decode($0, maxData: 10) }
        decoder.reset()
        let step = try bytes("0\r\n\r\n").withUnsafeBytes { try decoder.decode($0, maxData: 10) }
        #expect(step.finished && step.consumed == 5)
    }

    @Test func errorOffsetsCountFromTheBodyStart() {
        for feed in Feed.all {
            let decoded = decodeChunked("3\r\nabc\r\n2\r\nde\r\nX\r\n", feed)
            #expect(decoded.error?.offset == 15, "feed \(feed)")
        }
    }

    @Test(arguments: malformedChunkedBodies)
    func malformedBodiesAre400(_ sample: Sample) {
        let whole = decodeChunked(sample.text)
        #expect(whole.error?.status == 400, "\(whole)")
        for feed in Feed.all {
            #expect(decodeChunked(sample.text, feed).error == whole.error, "feed \(feed)")
        }
    }
}
