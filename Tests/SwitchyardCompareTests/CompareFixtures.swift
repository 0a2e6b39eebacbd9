import CZlib
import Foundation
@testable import SwitchyardCompare

/// Samples and bodies the comparer tests plant differences in.
enum Fixture {
    static func json(_ text: String, status: Int = 200, gzip: Bool = false, latency: Int = 10_000,
                     headers: [(name: String, value: String)] = []) -> MirrorAnswer {
        let raw = Array(text.utf8)
        let body = gzip ? Fixture.gzip(raw) : raw
        var fields: [(name: String, value: String)] = [("Content-Type", "application/json")]
        if gzip { fields.append(("Content-Encoding", "gzip")) }
        return MirrorAnswer(status: status, headers: fields + headers, body: body, bodyHash: [], bodyLength: body.count,
                            latencyMicros: latency)
    }

    static func sample(_ primary: MirrorAnswer, _ other: MirrorAnswer, kind: MirrorSample.Kind = .mirror,
                       route: String = "charting", method: String = "GET", path: String = "/patients/42") -> MirrorSample {
        MirrorSample(kind: kind, route: route, target: kind == .mirror ? "cloud" : "legacy", method: method, path: path,
                     primary: primary, other: other)
    }

    /// gzip with zlib's deflate (windowBits 16+15: a gzip wrapper).
    static func gzip(_ input: [UInt8]) -> [UInt8] { compress(input, windowBits: 16 + MAX_WBITS) }

    /// zlib's deflate with `windowBits`: 15 the zlib format ("deflate" as RFC 9110 says),
    /// −15 the raw stream some servers send for it.
    static func compress(_ input: [UInt8], windowBits: Int32) -> [UInt8] {
        var stream = z_stream()
        precondition(deflateInit2_(&stream, Z_BEST_SPEED, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY,
                                   ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK)
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 64)
        var input = input
        let produced = input.withUnsafeMutableBufferPointer { source in
            output.withUnsafeMutableBufferPointer { out -> Int in
                stream.next_in = source.baseAddress
                stream.avail_in = uInt(source.count)
                stream.next_out = out.baseAddress
                stream.avail_out = uInt(out.count)
                precondition(deflate(&stream, Z_FINISH) == Z_STREAM_END)
                return out.count - Int(stream.avail_out)
            }
        }
        return Array(output[0..<produced])
    }
}
