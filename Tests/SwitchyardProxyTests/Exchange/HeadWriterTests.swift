import Testing
import SwitchyardHTTP
@testable import SwitchyardProxy

/// The heads we forward carry every field the peer sent that we keep, in its order, each as
/// `name: value` CRLF — whether the received line could be copied whole (and joined with its
/// neighbours into one copy) or had to be rebuilt from its name and trimmed value.
@Suite struct HeadWriterTests {
    static let separators = [": ", ":", ":  ", ":\t", ": "]
    static let trailers = ["", "", " ", "\t", "  "]

    /// A field line as a peer may send it, and the line we must forward for it.
    static func randomField(_ index: Int, using generator: inout SystemRandomNumberGenerator) -> (sent: String, forwarded: String?) {
        let value = Bool.random(using: &generator) ? "v\(index)" : (Bool.random(using: &generator) ? "" : "a b \(index)")
        let separator = separators.randomElement(using: &generator)!
        let trailer = trailers.randomElement(using: &generator)!
        // Dropped on the way: a hop-by-hop field and a client's X-Forwarded-For.
        switch Int.random(in: 0..<8, using: &generator) {
        case 0: return ("Keep-Alive\(separator)timeout=\(index)\(trailer)", nil)
        case 1: return ("X-Forwarded-For\(separator)10.0.0.\(index)\(trailer)", nil)
        default: return ("X-F\(index)\(separator)\(value)\(trailer)", "X-F\(index): \(value)")
        }
    }

    static func lines(_ fields: [(sent: String, forwarded: String?)]) -> String {
        var text = ""
        for field in fields { if let line = field.forwarded { text += line + "\r\n" } }
        return text
    }

    static func written(_ head: String, write: (IOBuffer, UnsafeRawPointer) -> Bool) -> String? {
        let bytes = Array(head.utf8)
        let out = IOBuffer(heapCapacity: 16 * 1024)
        let ok = bytes.withUnsafeBytes { write(out, $0.baseAddress!) }
        return ok ? String(decoding: out.readable, as: UTF8.self) : nil
    }

    @Test func requestFieldsAreForwardedInOrderWhetherCopiedWholeOrRebuilt() throws {
        var generator = SystemRandomNumberGenerator()
        for round in 0..<500 {
            let fields = (0..<Int.random(in: 0...12, using: &generator)).map { Self.randomField($0, using: &generator) }
            let head = "GET /p?q=\(round) HTTP/1.1\r\nHost: h\r\n" + fields.map { $0.sent + "\r\n" }.joined() + "\r\n"
            let parser = HTTPRequestParser()
            let bytes = Array(head.utf8)
            let result = bytes.withUnsafeBytes { parser.parse($0) }
            try #require(result == .complete(headLength: bytes.count), "\(head)")
            let text = try #require(Self.written(head) { out, base in
                "10.9.9.9".utf8.withContiguousStorageIfAvailable { ip in
                    "for=10.9.9.9".utf8.withContiguousStorageIfAvailable { forwarded in
                        let extras = HeadWriter.RequestExtras(
                            clientIP: UnsafeRawBufferPointer(ip), forwardedFor: UnsafeRawBufferPointer(forwarded),
                            scheme: "http", generationHeader: UnsafeRawBufferPointer(start: nil, count: 0), generation: 0,
                            trustedPeer: false, requestID: UnsafeRawBufferPointer(start: nil, count: 0))
                        return HeadWriter.writeRequestHead(out, base, parser, extras)
                    }!
                }!
            })
            let kept: String = Self.lines(fields)
            let ours = "X-Forwarded-For: 10.9.9.9\r\nX-Real-IP: 10.9.9.9\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n"
            let forwarded = "Forwarded: for=10.9.9.9;proto=http\r\n\r\n"
            let expected = "GET /p?q=\(round) HTTP/1.1\r\nHost: h\r\n" + kept + ours + forwarded
            #expect(text == expected, "sent:\n\(head)")
        }
    }

    @Test func responseFieldsAreForwardedInOrderWhetherCopiedWholeOrRebuilt() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let fields = (0..<Int.random(in: 0...12, using: &generator)).map { Self.randomField($0, using: &generator) }
                .filter { !$0.sent.hasPrefix("X-Forwarded-For") }   // a response keeps it
            let head = "HTTP/1.1 200 OK\r\n" + fields.map { $0.sent + "\r\n" }.joined() + "Content-Length: 0\r\n\r\n"
            let parser = HTTPResponseParser()
            let bytes = Array(head.utf8)
            let result = bytes.withUnsafeBytes { parser.parse($0, requestMethod: .get) }
            try #require(result == .complete(headLength: bytes.count), "\(head)")
            let extras = HeadWriter.ResponseExtras(clientIsHTTP10: false, closeAfter: false, chunkToClient: false, upgrade: false,
                                                   cookieName: UnsafeRawBufferPointer(start: nil, count: 0), cookieValue: 0, secureCookie: false)
            let text = try #require(Self.written(head) { out, base in HeadWriter.writeResponseHead(out, base, parser, extras) })
            let kept: String = Self.lines(fields)
            let expected = "HTTP/1.1 200 OK\r\n" + kept + "Content-Length: 0\r\n\r\n"
            #expect(text == expected, "sent:\n\(head)")
        }
    }
}
