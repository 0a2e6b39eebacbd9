import Foundation
import Glibc
import Testing
import SwitchyardRouting
import SwitchyardSystem
@testable import SwitchyardAdmin

/// Something that is not etcd answering on an etcd endpoint (a wrong port in the `fleet`
/// line, a broken relay): the client refuses an answer that grows without end instead of
/// buffering it all. A real etcd cannot be made to do this, so a listener plays the part.
@Suite struct EtcdConnectionLimitTests {
    /// Accepts one connection on 127.0.0.1 port 0, reads the request, writes `head`, then
    /// `filler` until `total` bytes or the client goes away.
    final class Babbler: @unchecked Sendable {
        let port: UInt16
        private let listener: Int32

        init(head: String, filler: UInt8, total: Int) {
            let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            self.listener = listener
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } }
            listen(listener, 4)
            _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
            port = UInt16(bigEndian: address.sin_port)
            Thread {
                let client = accept(listener, nil, nil)
                guard client >= 0 else { return }
                defer { close(client) }
                var request = [UInt8](repeating: 0, count: 4096)
                _ = recv(client, &request, request.count, 0)
                var sent = 0
                let first = Array(head.utf8)
                guard send(client, first, first.count, Int32(MSG_NOSIGNAL)) == first.count else { return }
                let block = [UInt8](repeating: filler, count: 1 << 16)
                while sent < total {
                    let n = send(client, block, block.count, Int32(MSG_NOSIGNAL))
                    if n <= 0 { return }
                    sent += n
                }
            }.start()
        }

        func stop() { shutdown(listener, Int32(SHUT_RDWR)); close(listener) }
    }

    static func connect(_ babbler: Babbler) throws -> EtcdConnection {
        let connection = try EtcdConnection.open(FleetEndpoint(host: "127.0.0.1", port: babbler.port), deadline: Clock.monotonicMilliseconds() + 5_000)
        try connection.send(path: "/v3/watch", json: Data("{}".utf8), token: nil, deadline: Clock.monotonicMilliseconds() + 5_000)
        return connection
    }

    @Test func aWatchLineThatNeverEndsIsRefusedPastItsBound() throws {
        // Content-Length framing, a body of 'a' without a newline past the bound.
        let babbler = Babbler(head: "HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\n", filler: 0x61,
                              total: EtcdConnection.maxBodyBytes + (4 << 20))
        defer { babbler.stop() }
        let connection = try Self.connect(babbler)
        #expect(try connection.readHead(deadline: Clock.monotonicMilliseconds() + 5_000) == 200)
        let deadline = Clock.monotonicMilliseconds() + 30_000
        do {
            while Clock.monotonicMilliseconds() < deadline { _ = try connection.readLine(deadline: deadline) }
            Issue.record("no error within 30 s")
        } catch {
            #expect("\(error)".contains("larger than 64 MiB"), "\(error)")
        }
    }

    @Test func aHeadThatNeverEndsIsRefusedPastItsBound() throws {
        let babbler = Babbler(head: "HTTP/1.1 200 OK\r\nX: ", filler: 0x62, total: 1 << 20)
        defer { babbler.stop() }
        let connection = try Self.connect(babbler)
        do {
            _ = try connection.readHead(deadline: Clock.monotonicMilliseconds() + 30_000)
            Issue.record("the head was accepted")
        } catch {
            #expect("\(error)".contains("head larger than 64 KiB"), "\(error)")
        }
    }
}
