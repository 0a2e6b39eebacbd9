import Testing
import SwitchyardHTTP

@Suite struct ChunkedEncoderTests {
    private func header(_ count: Int) -> String {
        var buffer = [UInt8](repeating: 0, count: ChunkedEncoder.maxChunkHeaderBytes)
        let n = buffer.withUnsafeMutableBytes { ChunkedEncoder.writeChunkHeader(count: count, into: $0) }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }

    @Test func chunkHeaders() {
        #expect(header(1) == "1\r\n")
        #expect(header(15) == "f\r\n")
        #expect(header(16) == "10\r\n")
        #expect(header(300) == "12c\r\n")
        #expect(header(65536) == "10000\r\n")
        #expect(header(Int.max) == "7fffffffffffffff\r\n")
        #expect(header(0) == "0\r\n")
    }

    @Test func constants() {
        #expect(ChunkedEncoder.chunkTrailer.description == "\r\n")
        #expect(ChunkedEncoder.lastChunk.description == "0\r\n\r\n")
    }

    @Test func encodedBodiesDecode() {
        var body: [UInt8] = []
        var expected: [UInt8] = []
        for size in [1, 10, 255, 4096] {
            let data = (0..<size).map { UInt8(truncatingIfNeeded: $0) }
            var buffer = [UInt8](repeating: 0, count: 18)
            let n = buffer.withUnsafeMutableBytes { ChunkedEncoder.writeChunkHeader(count: size, into: $0) }
            body += buffer[0..<n] + data + bytes(ChunkedEncoder.chunkTrailer.description)
            expected += data
        }
        body += bytes(ChunkedEncoder.lastChunk.description)
        let decoded = decodeChunked(body, .random(seed: 9), maxData: 1000)
        #expect(decoded.finished)
        #expect(decoded.data == expected)
    }
}
