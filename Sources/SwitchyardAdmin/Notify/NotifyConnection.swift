import Foundation
import Glibc
import SwitchyardTLS

/// One connection to a `notify post` receiver, plain or TLS, on a notify thread: blocking
/// work in small steps, every wait bounded by the attempt's deadline (poll), errors as one
/// line for the error log. TLS goes through the same `TLSSession` (memory BIOs) as the data
/// plane's upstreams: the certificate must chain to the `ca` file (or the system store) and
/// name the host.
final class NotifyConnection {
    private let fd: Int32
    private let tls: TLSSession?
    private let deadline: Date
    let peer: String

    private init(fd: Int32, tls: TLSSession?, deadline: Date, peer: String) {
        self.fd = fd
        self.tls = tls
        self.deadline = deadline
        self.peer = peer
    }

    deinit {
        close(fd)
    }

    /// Connects (and for TLS, shakes hands) before `deadline`, or says why not.
    static func open(host: String, port: UInt16, tls context: TLSClientContext?, deadline: Date) -> Result<NotifyConnection, NotifyFailure> {
        let peer = "\(host):\(port)"
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let info = list else { return .failure("cannot resolve \(host)") }
        defer { freeaddrinfo(list) }
        let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return .failure("socket: errno \(errno)") }
        if connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 && errno != EINPROGRESS {
            let reason = String(cString: strerror(errno))
            close(fd)
            return .failure(NotifyFailure("connect to \(peer): \(reason)"))
        }
        var session: TLSSession?
        if let context {
            do { session = try TLSSession(client: context, serverName: host) } catch {
                close(fd)
                return .failure(NotifyFailure("TLS to \(peer): \(error.message)"))
            }
        }
        let connection = NotifyConnection(fd: fd, tls: session, deadline: deadline, peer: peer)
        guard connection.wait(POLLOUT) else { return .failure("connect to \(peer) timed out") }
        var soError: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length)
        if soError != 0 { return .failure("connect to \(peer): \(String(cString: strerror(soError)))") }
        if let failure = connection.handshake() { return .failure(failure) }
        return .success(connection)
    }

    /// Sends all of `bytes` (encrypted first over TLS), or says why not.
    func send(_ bytes: [UInt8]) -> NotifyFailure? {
        guard let tls else { return sendRaw(bytes) }
        var offset = 0
        while offset < bytes.count {
            let written: Int
            do { written = try bytes[offset...].withUnsafeBytes { (raw) throws(TLSError) -> Int in try tls.writePlaintext(raw) } } catch {
                return NotifyFailure("TLS to \(peer): \(error)")
            }
            offset += written
            if let failure = flush() { return failure }
            if written == 0, let failure = readCiphertext() { return failure }
        }
        return nil
    }

    /// Some bytes of the answer; an empty array at the end of the stream.
    func receive() -> Result<[UInt8], NotifyFailure> {
        var buffer = [UInt8](repeating: 0, count: 4096)
        guard let tls else {
            while true {
                guard wait(POLLIN) else { return .failure("no answer from \(peer) in time") }
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n >= 0 { return .success(Array(buffer[0..<n])) }
                if errno != EAGAIN && errno != EINTR { return .failure("recv from \(peer): \(String(cString: strerror(errno)))") }
            }
        }
        while true {
            let result: TLSReadResult
            do { result = try buffer.withUnsafeMutableBytes { (raw) throws(TLSError) -> TLSReadResult in try tls.readPlaintext(into: raw) } } catch {
                return .failure(NotifyFailure("TLS from \(peer): \(error)"))
            }
            switch result {
            case .bytes(let n): return .success(Array(buffer[0..<n]))
            case .closed: return .success([])
            case .needMore:
                if let failure = flush() { return .failure(failure) }
                if let failure = readCiphertext() { return failure == Self.endOfStream ? .success([]) : .failure(failure) }
            }
        }
    }

    // MARK: TLS plumbing

    private static let endOfStream: NotifyFailure = "end of stream"

    private func handshake() -> NotifyFailure? {
        guard let tls else { return nil }
        while true {
            let state: TLSHandshakeState
            do { state = try tls.handshake() } catch {
                _ = flush()  // the alert, if one is pending
                return NotifyFailure("TLS handshake with \(peer): \(error.message)")
            }
            if let failure = flush() { return failure }
            if state == .complete { return nil }
            if let failure = readCiphertext() { return failure == Self.endOfStream ? "\(peer) closed during the TLS handshake" : failure }
        }
    }

    /// Sends whatever ciphertext the session has for the network.
    private func flush() -> NotifyFailure? {
        guard let tls else { return nil }
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while tls.hasCiphertextToSend {
            let n = chunk.withUnsafeMutableBytes { tls.takeCiphertext(into: $0) }
            if n == 0 { break }
            if let failure = sendRaw(Array(chunk[0..<n])) { return failure }
        }
        return nil
    }

    /// Reads one batch of ciphertext from the socket into the session.
    private func readCiphertext() -> NotifyFailure? {
        guard let tls else { return nil }
        var chunk = [UInt8](repeating: 0, count: max(1, min(16_384, tls.ciphertextRoom)))
        while true {
            guard wait(POLLIN) else { return "no answer from \(peer) in time" }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return Self.endOfStream }
            if n > 0 {
                // Sized to the session's room, so all of it is taken.
                _ = chunk[0..<n].withUnsafeBytes { tls.feedCiphertext($0) }
                return nil
            }
            if errno != EAGAIN && errno != EINTR { return "recv from \(peer): \(String(cString: strerror(errno)))" }
        }
    }

    private func sendRaw(_ bytes: [UInt8]) -> NotifyFailure? {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 { sent += n; continue }
            guard n < 0, errno == EAGAIN || errno == EINTR else { return "send to \(peer): \(String(cString: strerror(errno)))" }
            guard wait(POLLOUT) else { return "sending to \(peer) timed out" }
        }
        return nil
    }

    /// Waits for `event` until the deadline; false when it passed.
    private func wait(_ event: Int32) -> Bool {
        while true {
            let left = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
            guard left > 0 else { return false }
            var pfd = pollfd(fd: fd, events: Int16(event), revents: 0)
            let ready = poll(&pfd, 1, left)
            if ready > 0 { return true }
            if ready == 0 || errno != EINTR { return false }
        }
    }
}

/// Why an attempt failed, one line for the error log.
struct NotifyFailure: Error, Equatable, ExpressibleByStringInterpolation {
    let message: String
    init(_ message: String) { self.message = message }
    init(stringLiteral value: String) { message = value }
}
