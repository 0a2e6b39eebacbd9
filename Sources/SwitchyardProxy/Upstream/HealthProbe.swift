import Glibc
import SwitchyardSystem
import SwitchyardTLS

/// One health check on a fresh connection: a short HTTP/1.1 request and the status line of
/// the answer. A server the routes file reaches over TLS is checked over TLS, verified as the
/// requests' own connections are (its CA, its name): a plain request to a TLS port gets an
/// alert or a 400, and would mark a healthy server down.
enum HealthProbe {
    private struct Failure: Error {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }

    /// nil when the server answered the expected status in time, else why not.
    static func check(_ target: HealthChecker.Target) -> String? {
        // A short interval must not make the check itself impatient: a busy server that
        // answers in 500 ms is slow, not down.
        let timeout = max(1_000, min(target.check.intervalMilliseconds, 2_000))
        let fd: FileDescriptor
        do {
            // A server that drops SYNs would otherwise hold this one thread — every other
            // server's checks — for the kernel's two minutes of retries.
            fd = try Socket.connectBlocking(to: target.address, timeoutMilliseconds: timeout)
        } catch {
            return "\(error)"
        }
        defer { fd.close() }
        var tv = timeval(tv_sec: timeout / 1000, tv_usec: Int((timeout % 1000) * 1000))
        setsockopt(fd.rawValue, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd.rawValue, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        // An IPv6 literal goes in brackets (RFC 9110 §7.2, the URI's host form).
        let host = target.host.contains(":") ? "[\(target.host)]" : target.host
        let request = Array("\(target.check.method) \(target.check.path) HTTP/1.1\r\nHost: \(host)\r\nUser-Agent: switchyard-health\r\nConnection: close\r\n\r\n".utf8)
        let head: [UInt8]
        do throws(Failure) {
            if let tls = target.tls {
                head = try exchangeOverTLS(fd, tls, request, timeout: timeout)
            } else {
                head = try exchange(fd, request, timeout: timeout)
            }
        } catch {
            return error.reason
        }
        guard let status = statusCode(head) else { return "not an HTTP answer" }
        return status == target.check.expectStatus ? nil : "status \(status), expected \(target.check.expectStatus)"
    }

    /// The status of "HTTP/1.x NNN" followed by a space or the line's end: the reason phrase
    /// may be empty or missing (RFC 9112 §4), as the proxy's own response parser accepts.
    static func statusCode(_ head: [UInt8]) -> Int? {
        guard head.count >= 12, head.starts(with: "HTTP/1.".utf8), head[7] >= UInt8(ascii: "0"), head[7] <= UInt8(ascii: "9"),
              head[8] == UInt8(ascii: " ") else { return nil }
        var status = 0
        for byte in head[9..<12] {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            status = status * 10 + Int(byte - UInt8(ascii: "0"))
        }
        if head.count > 12, head[12] != UInt8(ascii: " "), head[12] != UInt8(ascii: "\r") { return nil }
        return status
    }

    /// The request in plain text; the answer's first 12 bytes or more.
    private static func exchange(_ fd: FileDescriptor, _ request: [UInt8], timeout: Int) throws(Failure) -> [UInt8] {
        try send(fd, request.withUnsafeBytes { $0 }, timeout: timeout)
        var buffer = [UInt8](repeating: 0, count: 256)
        var received = 0
        while received < 12 {
            received += try receive(fd, into: &buffer, at: received, timeout: timeout, what: "an answer")
        }
        return Array(buffer[0..<received])
    }

    /// The handshake (verified as the context says), the request, the answer's first 12
    /// plaintext bytes or more, then close_notify.
    private static func exchangeOverTLS(_ fd: FileDescriptor, _ tls: UpstreamTLS, _ request: [UInt8],
                                        timeout: Int) throws(Failure) -> [UInt8] {
        let session: TLSSession
        do {
            session = try TLSSession(client: tls.context, serverName: tls.serverName)
        } catch {
            throw Failure("TLS: \(error.message)")
        }
        var ciphertext = [UInt8](repeating: 0, count: 16 * 1024)
        func sendWaiting() throws(Failure) {
            while session.hasCiphertextToSend {
                let waiting = session.ciphertextToSend
                try send(fd, waiting, timeout: timeout)
                session.ciphertextSent(waiting.count)
            }
        }
        func receiveCiphertext(_ what: String) throws(Failure) {
            let room = min(ciphertext.count, session.ciphertextRoom)
            guard room > 0 else { throw Failure("TLS: the server's records do not fit") }
            let n = try receive(fd, into: &ciphertext, at: 0, limit: room, timeout: timeout, what: what)
            _ = ciphertext.withUnsafeBytes { session.feedCiphertext(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
        while try tlsStep({ () throws(TLSError) in try session.handshake() }) == .needMore {
            try sendWaiting()
            try receiveCiphertext("the TLS handshake's end")
        }
        var offset = 0
        while offset < request.count {
            offset += try tlsStep { () throws(TLSError) in
                try request.withUnsafeBytes { bytes in
                    Result { () throws(TLSError) in try session.writePlaintext(UnsafeRawBufferPointer(rebasing: bytes[offset...])) }
                }.get()
            }
            try sendWaiting()
        }
        var head: [UInt8] = []
        var plaintext = [UInt8](repeating: 0, count: 256)
        while head.count < 12 {
            let result = try tlsStep { () throws(TLSError) in
                try plaintext.withUnsafeMutableBytes { buffer in
                    Result { () throws(TLSError) in try session.readPlaintext(into: buffer) }
                }.get()
            }
            switch result {
            case .bytes(let n):
                head += plaintext[0..<n]
            case .needMore:
                try sendWaiting()
                try receiveCiphertext("an answer")
            case .closed:
                throw Failure("closed without an answer")
            }
        }
        session.shutdown()
        try? sendWaiting()
        return head
    }

    private static func tlsStep<T>(_ body: () throws(TLSError) -> T) throws(Failure) -> T {
        do {
            return try body()
        } catch {
            throw Failure("TLS: \(error.message)")
        }
    }

    private static func send(_ fd: FileDescriptor, _ bytes: UnsafeRawBufferPointer, timeout: Int) throws(Failure) {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd.rawValue, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Failure("cannot send the check within \(timeout) ms") }
            offset += n
        }
    }

    /// Reads once (at least one byte) into `buffer[at...]`, at most `limit` bytes.
    private static func receive(_ fd: FileDescriptor, into buffer: inout [UInt8], at offset: Int, limit: Int = .max,
                                timeout: Int, what: String) throws(Failure) -> Int {
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd.rawValue, $0.baseAddress! + offset, min(limit, $0.count - offset)) }
            if n < 0 && errno == EINTR { continue }
            if n == 0 { throw Failure("closed without \(what)") }
            if n < 0 { throw Failure("no answer within \(timeout) ms") }
            return n
        }
    }
}
