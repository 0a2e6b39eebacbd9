import Glibc
import Testing
import SwitchyardTLS

/// With the connection's socket lent to a write (`writePlaintext(_:sendingTo:)`), full
/// records go from OpenSSL's record buffer straight to the socket, after what waits in the
/// sink; short records, and what the socket refuses, wait in the sink for the caller's send.
extension CiphertextSinkTests {
    /// A real socket pair, both ends non-blocking; `small`: the sending end with a small
    /// buffer, so that it refuses records part-way.
    private func socketPair(small: Bool = true) throws -> (send: Int32, receive: Int32) {
        var fds: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        var size: Int32 = 16 * 1024
        if small { _ = setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size)) }
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        return (fds[0], fds[1])
    }

    /// 1,000,000 bytes through a socket that keeps refusing: much of the ciphertext goes
    /// straight to it, some waits in the sink when it is full, and the client reads every
    /// byte in order (a record sent ahead of what waited would not decrypt).
    @Test func fullRecordsGoStraightToTheSocketAndWhatItRefusesWaitsInOrder() throws {
        let pipe = try TLSPipe(clientContext, serverContext)
        try pipe.handshake()
        let (sending, receiving) = try socketPair()
        defer { close(sending); close(receiving) }
        let plaintext = (0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 11) }

        var offset = 0
        var received: [UInt8] = []
        var wire = [UInt8](repeating: 0, count: 64 * 1024)
        var waitedAfterADirectSend = false
        var rounds = 0
        while received.count < plaintext.count && rounds < 100_000 {
            rounds += 1
            // The caller's send of what waits, as `TLSTransport.flush` does it.
            let waiting = pipe.server.ciphertextToSend
            if !waiting.isEmpty {
                let n = send(sending, waiting.baseAddress, waiting.count, Int32(MSG_NOSIGNAL))
                if n > 0 { pipe.server.ciphertextSent(n) }
            }
            if offset < plaintext.count, pipe.server.ciphertextToSend.isEmpty {
                let before = pipe.server.ciphertextSentDirectly
                offset += try plaintext.withUnsafeBytes {
                    try pipe.server.writePlaintext(UnsafeRawBufferPointer(rebasing: $0[offset...]), sendingTo: sending)
                }
                if pipe.server.ciphertextSentDirectly > before && !pipe.server.ciphertextToSend.isEmpty {
                    waitedAfterADirectSend = true
                }
            }
            // The client's side: what the socket holds, as far as its session takes it.
            let room = min(wire.count, pipe.client.ciphertextRoom)
            let n = wire.withUnsafeMutableBytes { recv(receiving, $0.baseAddress, room, 0) }
            if n > 0 {
                let fed = wire.withUnsafeBytes { pipe.client.feedCiphertext(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                try #require(fed == n)
            }
            guard try pipe.client.drainPlaintext(into: &received) else { Issue.record("the server closed"); return }
        }
        #expect(received.count == plaintext.count)
        #expect(received == plaintext, "every byte arrived, in order")
        #expect(pipe.server.ciphertextSentDirectly > 100_000,
                "a good part of the ciphertext went straight to the socket (\(pipe.server.ciphertextSentDirectly) bytes)")
        #expect(waitedAfterADirectSend, "the socket refused part of a write at least once, and that part waited")
        #expect(!pipe.server.hasCiphertextToSend)
    }

    /// A small answer's record is not sent by the write: it waits for the caller's one
    /// send, with anything else that write made (a session ticket ahead of the data).
    @Test func shortRecordsWaitForTheCallersSend() throws {
        let pipe = try TLSPipe(clientContext, serverContext)
        try pipe.handshake()
        let (sending, receiving) = try socketPair()
        defer { close(sending); close(receiving) }
        let answer = Array("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".utf8)
        let taken = try answer.withUnsafeBytes { try pipe.server.writePlaintext($0, sendingTo: sending) }
        #expect(taken == answer.count)
        #expect(pipe.server.ciphertextSentDirectly == 0)
        #expect(pipe.server.ciphertextToSend.count > answer.count, "the record waits in the sink")
        var byte: UInt8 = 0
        #expect(recv(receiving, &byte, 1, 0) == -1 && errno == EAGAIN, "nothing reached the socket")
    }

    /// What waits goes out ahead of the full record that follows it, in the same send: the
    /// session ticket our first write after the client's request queues, and a short answer,
    /// then a 40,000-byte one. TLS 1.3 numbers its records: one lost or sent out of turn and
    /// the client cannot decrypt what follows.
    @Test func whatWaitsLeavesAheadOfTheNextFullRecord() throws {
        let pipe = try TLSPipe(clientContext, serverContext)
        try pipe.handshake()
        let (sending, receiving) = try socketPair(small: false)
        defer { close(sending); close(receiving) }
        // The client's request: the server's next write carries the session ticket.
        #expect(try pipe.send(Array("GET / HTTP/1.1\r\n\r\n".utf8), from: .client).count == 18)

        let short = Array("a short answer".utf8)
        let long = (0..<40_000).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 5) }
        #expect(try short.withUnsafeBytes { try pipe.server.writePlaintext($0, sendingTo: sending) } == short.count)
        let waiting = pipe.server.ciphertextToSend.count
        #expect(waiting > short.count && pipe.server.ciphertextSentDirectly == 0, "ticket and short answer wait")
        #expect(try long.withUnsafeBytes { try pipe.server.writePlaintext($0, sendingTo: sending) } == long.count)
        #expect(pipe.server.ciphertextSentDirectly > 32_000, "the full records went to the socket")
        #expect(!pipe.server.hasCiphertextToSend || pipe.server.ciphertextToSend.count < 9_000,
                "what waited left with them; at most the last, short record waits")
        let rest = pipe.server.ciphertextToSend
        if !rest.isEmpty { try #require(send(sending, rest.baseAddress, rest.count, Int32(MSG_NOSIGNAL)) == rest.count) }

        var wire = [UInt8](repeating: 0, count: 128 * 1024)
        let n = wire.withUnsafeMutableBytes { recv(receiving, $0.baseAddress, $0.count, 0) }
        try #require(n > 0)
        #expect(wire.withUnsafeBytes { pipe.client.feedCiphertext(UnsafeRawBufferPointer(rebasing: $0[0..<n])) } == n)
        var received: [UInt8] = []
        #expect(try pipe.client.drainPlaintext(into: &received), "the server did not close")
        #expect(received == short + long, "both answers, in order")
        #expect(pipe.client.resumableSession != nil, "the ticket arrived ahead of them")
    }
}
