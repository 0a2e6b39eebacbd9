import CNGHTTP2
import Glibc
import SwitchyardTestSupport
import SwitchyardSystem

/// A frame-level HTTP/2 client over plain TCP (h2c with prior knowledge), for tests that
/// must send what no well-behaved client sends: floods, oversized header blocks, resets.
/// It encodes header blocks itself (literal fields, no Huffman) and decodes the server's
/// with nghttp2's HPACK inflater.
final class H2FrameClient {
    struct Frame {
        var type: UInt8
        var flags: UInt8
        var stream: UInt32
        var payload: [UInt8]
    }

    static let data: UInt8 = 0, headers: UInt8 = 1, rstStream: UInt8 = 3, settings: UInt8 = 4
    static let ping: UInt8 = 6, goAway: UInt8 = 7, windowUpdate: UInt8 = 8, continuation: UInt8 = 9
    static let endStream: UInt8 = 0x1, endHeaders: UInt8 = 0x4, ack: UInt8 = 0x1

    let fd: Int32
    private var input: [UInt8] = []
    private var inflater: OpaquePointer?
    private(set) var closedByServer = false
    /// Every frame read so far, in order.
    private(set) var history: [Frame] = []

    init(port: UInt16, timeoutSeconds: Int = 10) throws {
        fd = try Socket.connectBlocking(to: SocketAddress(ip: "127.0.0.1", port: port)!).rawValue
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        nghttp2_hd_inflate_new(&inflater)
        send(Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8))
        sendFrame(type: Self.settings, flags: 0, stream: 0, payload: [])
        // A large connection window, so answers are never held back by us.
        sendFrame(type: Self.windowUpdate, flags: 0, stream: 0, payload: Self.uint32(1 << 30))
    }

    deinit {
        Glibc.close(fd)
        nghttp2_hd_inflate_del(inflater)
    }

    // MARK: sending

    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool { writeAll(fd, bytes) }

    static func frame(type: UInt8, flags: UInt8, stream: UInt32, payload: [UInt8]) -> [UInt8] {
        let n = payload.count
        return [UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF), type, flags] + uint32(stream & 0x7FFF_FFFF) + payload
    }

    func sendFrame(type: UInt8, flags: UInt8, stream: UInt32, payload: [UInt8]) {
        _ = send(Self.frame(type: type, flags: flags, stream: stream, payload: payload))
    }

    static func uint32(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
    }

    /// An HPACK integer with an `prefixBits`-bit prefix, `first` holding the pattern bits.
    static func integer(_ value: Int, prefixBits: Int, first: UInt8) -> [UInt8] {
        let limit = (1 << prefixBits) - 1
        if value < limit { return [first | UInt8(value)] }
        var out = [first | UInt8(limit)]
        var rest = value - limit
        while rest >= 128 {
            out.append(UInt8(rest % 128 + 128))
            rest /= 128
        }
        out.append(UInt8(rest))
        return out
    }

    static func string(_ s: [UInt8]) -> [UInt8] { integer(s.count, prefixBits: 7, first: 0) + s }

    /// Literal fields without indexing (RFC 7541 §6.2.2), names as given.
    static func headerBlock(_ fields: [(String, String)]) -> [UInt8] {
        var out: [UInt8] = []
        for (name, value) in fields {
            out.append(0x00)
            out += string(Array(name.utf8)) + string(Array(value.utf8))
        }
        return out
    }

    static func requestFields(_ method: String, _ path: String, extra: [(String, String)] = []) -> [(String, String)] {
        [(":method", method), (":scheme", "http"), (":path", path), (":authority", "localhost")] + extra
    }

    /// Sends a request head on `stream` (one HEADERS frame; `endStream`: no body).
    func request(stream: UInt32, method: String = "GET", path: String, extra: [(String, String)] = [], endStream: Bool = true) {
        let block = Self.headerBlock(Self.requestFields(method, path, extra: extra))
        sendFrame(type: Self.headers, flags: Self.endHeaders | (endStream ? Self.endStream : 0), stream: stream, payload: block)
    }

    // MARK: receiving

    /// The next frame, or nil when the server closed the connection (or the read timed out).
    func readFrame() -> Frame? {
        while true {
            if input.count >= 9 {
                let length = Int(input[0]) << 16 | Int(input[1]) << 8 | Int(input[2])
                if input.count >= 9 + length {
                    let stream = (UInt32(input[5]) << 24 | UInt32(input[6]) << 16 | UInt32(input[7]) << 8 | UInt32(input[8])) & 0x7FFF_FFFF
                    let frame = Frame(type: input[3], flags: input[4], stream: stream, payload: Array(input[9..<9 + length]))
                    input.removeFirst(9 + length)
                    history.append(frame)
                    if frame.type == Self.settings && frame.flags & Self.ack == 0 {
                        sendFrame(type: Self.settings, flags: Self.ack, stream: 0, payload: [])
                    }
                    return frame
                }
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 {
                if n == 0 || errno == ECONNRESET || errno == EPIPE { closedByServer = true }
                return nil
            }
            input.append(contentsOf: chunk[0..<n])
        }
    }

    enum Liveness { case ended, answered, silent }

    /// Sends a PING and reads until the server closes the connection (`ended`) or
    /// acknowledges that PING (`answered`), for at most `seconds`; `silent` if neither.
    func endsOrAnswersPing(within seconds: Double) -> Liveness {
        let deadline = Clock.monotonicMilliseconds() + UInt64(seconds * 1000)
        let opaque: [UInt8] = [0x73, 0x77, 0x69, 0x74, 0x63, 0x68, 0x79, 0x64]
        if !send(Self.frame(type: Self.ping, flags: 0, stream: 0, payload: opaque)) { return .ended }
        while Clock.monotonicMilliseconds() < deadline {
            guard let frame = readFrame() else {
                if closedByServer { return .ended }
                continue   // the read timed out: try again until the deadline
            }
            if frame.type == Self.ping && frame.flags & Self.ack != 0 && frame.payload == opaque { return .answered }
        }
        return closedByServer ? .ended : .silent
    }

    /// Every frame until the server closes the connection.
    func readUntilClosed() -> [Frame] {
        var frames: [Frame] = []
        while let frame = readFrame() { frames.append(frame) }
        return frames
    }

    struct Response {
        var status: Int
        var headers: [(String, String)]
        var body: [UInt8]
        var reset: UInt32?
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// Reads frames until `stream` ends (END_STREAM or RST_STREAM); nil if the connection
    /// ended first.
    func response(stream: UInt32) -> Response? {
        var result = Response(status: 0, headers: [], body: [], reset: nil)
        var block: [UInt8] = []
        while let frame = readFrame() {
            guard frame.stream == stream else { continue }
            switch frame.type {
            case Self.headers, Self.continuation:
                var payload = frame.payload
                if frame.type == Self.headers && frame.flags & 0x8 != 0 {   // PADDED
                    let pad = Int(payload[0])
                    payload = Array(payload[1..<payload.count - pad])
                }
                if frame.type == Self.headers && frame.flags & 0x20 != 0 { payload.removeFirst(5) }   // PRIORITY
                block += payload
                if frame.flags & Self.endHeaders != 0 {
                    let fields = decode(block)
                    block = []
                    if let status = fields.first(where: { $0.0 == ":status" }).flatMap({ Int($0.1) }), status >= 200 {
                        result.status = status
                        result.headers = fields
                    }
                }
            case Self.data:
                result.body += frame.payload
                if !frame.payload.isEmpty {
                    sendFrame(type: Self.windowUpdate, flags: 0, stream: stream, payload: Self.uint32(UInt32(frame.payload.count)))
                }
            case Self.rstStream:
                result.reset = frame.payload.count >= 4
                    ? UInt32(frame.payload[0]) << 24 | UInt32(frame.payload[1]) << 16 | UInt32(frame.payload[2]) << 8 | UInt32(frame.payload[3])
                    : 0
                return result
            default:
                break
            }
            if frame.flags & Self.endStream != 0 && (frame.type == Self.data || frame.type == Self.headers) { return result }
        }
        return nil
    }

    /// Decodes a complete header block with nghttp2's HPACK inflater (it keeps the dynamic
    /// table across blocks, as the connection does).
    func decode(_ block: [UInt8]) -> [(String, String)] {
        var fields: [(String, String)] = []
        block.withUnsafeBufferPointer { buffer in
            var offset = 0
            while true {
                var nv = nghttp2_nv()
                var flags: Int32 = 0
                let n = nghttp2_hd_inflate_hd2(inflater, &nv, &flags, buffer.baseAddress! + offset, buffer.count - offset, 1)
                if n < 0 { return }
                offset += n
                if flags & Int32(NGHTTP2_HD_INFLATE_EMIT.rawValue) != 0 {
                    fields.append((String(decoding: UnsafeBufferPointer(start: nv.name, count: nv.namelen), as: UTF8.self),
                                   String(decoding: UnsafeBufferPointer(start: nv.value, count: nv.valuelen), as: UTF8.self)))
                }
                if flags & Int32(NGHTTP2_HD_INFLATE_FINAL.rawValue) != 0 {
                    nghttp2_hd_inflate_end_headers(inflater)
                    return
                }
                if n == 0 && flags & Int32(NGHTTP2_HD_INFLATE_EMIT.rawValue) == 0 { return }
            }
        }
        return fields
    }

    /// The GOAWAY frame among `frames`, with its error code.
    static func goAwayCode(_ frames: [Frame]) -> UInt32? {
        guard let frame = frames.first(where: { $0.type == goAway }), frame.payload.count >= 8 else { return nil }
        let p = frame.payload
        return UInt32(p[4]) << 24 | UInt32(p[5]) << 16 | UInt32(p[6]) << 8 | UInt32(p[7])
    }
}
