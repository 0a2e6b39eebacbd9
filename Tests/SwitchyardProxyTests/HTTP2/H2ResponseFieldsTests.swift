import Foundation
import Glibc
import Testing
import SwitchyardTestSupport

/// What an HTTP/1.1 backend may send that an HTTP/2 client may not receive: the answer is
/// translated so that the client keeps it.
@Suite struct H2ResponseFieldsTests {
    /// A backend that repeats an equal Content-Length (HTTP/1.1 allows it; some legacy stacks
    /// do it): the HTTP/2 client gets one. Before, both went into the HEADERS and nghttp (the
    /// real client) reset the stream: the answer was lost for HTTP/2 clients only.
    @Test func aRepeatedContentLengthReachesAnHTTP2ClientOnce() throws {
        try requireTools("nghttp")
        let (backend, _) = try OneThreadServer.counting { fd in
            var head = [UInt8]()
            var byte: UInt8 = 0
            while !head.suffix(4).elementsEqual(Array("\r\n\r\n".utf8)), Glibc.read(fd, &byte, 1) == 1 { head.append(byte) }
            let answer = Array("HTTP/1.1 200 OK\r\nContent-Length: 12\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nhello, twice".utf8)
            _ = answer.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        }
        defer { backend.stop() }
        let h = try ProxyHarness(routes: """
            listen http 127.0.0.1:0 h2c
            backend legacy {
                server 127.0.0.1:\(backend.port)
            }
            route app {
                backend legacy
            }
            """)
        defer { h.stop() }
        let result = HTTP2Tests.run(toolPath("nghttp"), ["-v", "http://127.0.0.1:\(h.port)/doubled"])
        #expect(result.output.contains("hello, twice"), "\(result.output)")
        #expect(!result.output.contains("RST_STREAM"), "\(result.output)")
        let lengths = result.output.components(separatedBy: "\n").filter { $0.contains("content-length:") }
        #expect(lengths.count == 1, "\(lengths)")
    }
}
