import Foundation
import Glibc
import SwitchyardSystem
import SwitchyardTLS

/// One connection to a `notify post` receiver, plain or TLS, on a notify thread: blocking
/// work in small steps, every wait bounded by the attempt's deadline (poll), errors as one
/// line for the error log. TLS goes through the same `TLSSession` (in-memory BIOs) as the data
/// plane's upstreams: the certificate must chain to the `ca` file (or the system store) and
/// name the host.
final class NotifyConnection {
    private let fd: FileDescriptor
    private let tls: TLSSession?
    /// Monotonic milliseconds (`Clock.monotonicMilliseconds`).
    private let deadline: UInt64
    let peer: String

    private init(fd: FileDescriptor, tls: TLSSession?, deadline: UInt64, peer: String) {
        self.fd = fd
        self.tls = tls
        self.deadline = deadline
        self.peer = peer
    }

    deinit {
        fd.close()
    }

    /// Connects (and for TLS, shakes hands) before `deadline` (monotonic milliseconds), or
    /// says why not.
    static func open(host: String, port: UInt16, tls context: TLSClientContext?, deadline: UInt64) -> Result<NotifyConnection, NotifyFailure> {
        let peer = "\(host):\(port)"
        let fd: FileDescriptor, connected: Bool
        do { (fd, connected) = try Socket.connect(to: try SocketAddress.resolve(host: host, port: port)) } catch {
            return .failure(NotifyFailure("connect to \(peer): \(error)"))
        }
        var session: TLSSession?
        if let context {
            do { session = try TLSSession(client: context, serverName: host) } catch {
                fd.close()
                return .failure(NotifyFailure("TLS to \(peer): \(error.message)"))
            }
        }
        let connection = NotifyConnection(fd: fd, tls: session, deadline: deadline, peer: peer)
        if !connected {
            guard connection.wait(POLLOUT) else { return .failure("connect to \(peer) timed out") }
            let error = Socket.takeError(fd)
            if error != 0 { return .failure("connect to \(peer): \(String(cString: strerror(error)))") }
        }
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
                let n = buffer.withUnsafeMutableBytes { recv(fd.rawValue, $0.baseAddress, $0.count, 0) }
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
        // No room means a full window of the receiver's bytes waits undecrypted while we
        // still send: it talks without reading. Reading on would have to drop what it sent.
        let room = min(16_384, tls.ciphertextRoom)
        guard room > 0 else { return "\(peer) sent more than \(TLSSession.pendingCiphertextLimit / 1024) KiB before reading the notification" }
        var chunk = [UInt8](repeating: 0, count: room)
        while true {
            guard wait(POLLIN) else { return "no answer from \(peer) in time" }
            let n = chunk.withUnsafeMutableBytes { recv(fd.rawValue, $0.baseAddress, $0.count, 0) }
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
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd.rawValue, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 { sent += n; continue }
            guard n < 0, errno == EAGAIN || errno == EINTR else { return "send to \(peer): \(String(cString: strerror(errno)))" }
            guard wait(POLLOUT) else { return "sending to \(peer) timed out" }
        }
        return nil
    }

    /// Waits for `event` until the deadline; false when it passed.
    private func wait(_ event: Int32) -> Bool {
        Socket.waitReady(fd, events: event, until: deadline)
    }
}

/// Why an attempt failed, one line for the error log.
struct NotifyFailure: Error, Equatable, ExpressibleByStringInterpolation {
    let message: String
    init(_ message: String) { self.message = message }
    init(stringLiteral value: String) { message = value }
}
