import Foundation
import Glibc
import Testing
import SwitchyardTestSupport

/// An answer still under way when the shutdown's grace runs out is cut, and a plain HTTP/1.1
/// client must be able to tell: an answer ended by the close (no length, no chunks) ended by
/// an orderly close reads as whole. Before, `closeAll` closed the socket normally, and half a
/// report looked complete.
@Suite struct ShutdownCutAnswerTests {
    @Test func aCloseDelimitedAnswerCutByShutdownEndsWithAReset() throws {
        // A backend that sends the start of a close-delimited answer, then nothing for 5 s.
        let (backend, _) = try OneThreadServer.counting { fd in
            var head = [UInt8]()
            var byte: UInt8 = 0
            while !head.suffix(4).elementsEqual(Array("\r\n\r\n".utf8)), Glibc.read(fd, &byte, 1) == 1 { head.append(byte) }
            let start = Array("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npart one of the report\n".utf8)
            _ = start.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            usleep(5_000_000)
        }
        defer { backend.stop() }
        let h = try ProxyHarness(routes: """
            backend report {
                server 127.0.0.1:\(backend.port)
            }
            route app {
                backend report
            }
            """)
        let client = try h.client(timeoutSeconds: 10)
        client.send("GET /report HTTP/1.1\r\nHost: app\r\n\r\n")
        var received = [UInt8]()
        while !String(decoding: received, as: UTF8.self).contains("part one") {
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { Glibc.read(client.fd, $0.baseAddress, $0.count) }
            try #require(n > 0, "the start of the answer")
            received += chunk[0..<n]
        }
        let proxy = h.proxy
        let stopped = DispatchSemaphore(value: 0)
        Thread { proxy.shutdown(graceMilliseconds: 300); stopped.signal() }.start()
        var chunk = [UInt8](repeating: 0, count: 4096)
        var n = 0
        repeat { n = chunk.withUnsafeMutableBytes { Glibc.read(client.fd, $0.baseAddress, $0.count) } } while n > 0
        let error = errno
        #expect(n == -1 && error == ECONNRESET, "the cut answer ended with \(n == 0 ? "an orderly close" : "errno \(error)")")
        #expect(stopped.wait(timeout: .now() + 10) == .success)
        h.legacy.stop()
        h.cloud.stop()
    }
}
