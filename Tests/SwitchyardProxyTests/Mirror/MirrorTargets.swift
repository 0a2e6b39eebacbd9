import Foundation
import Glibc
import SwitchyardSystem

/// Misbehaving mirror targets on 127.0.0.1 port 0, on plain blocking sockets (independent of
/// the proxy's code): one that never answers, one that resets every connection once the
/// request arrived, one that answers every request with a large body, one whose body never
/// ends.
final class MirrorTarget: @unchecked Sendable {
    enum Behaviour {
        case stall, reset, big(bytes: Int), endless
        /// On each connection: the first request answered (keep-alive), the second taken
        /// in and the connection closed without an answer.
        case answerOnceThenClose
    }

    let port: UInt16
    private let listener: Int32
    private let behaviour: Behaviour
    private let lock = NSLock()
    private var _requests = 0
    private var held: [Int32] = []
    /// Requests whose head arrived.
    var requests: Int { lock.lock(); defer { lock.unlock() }; return _requests }
    private var _received: [UInt8] = []
    /// Every byte received, on every connection, in arrival order.
    var received: String { lock.lock(); defer { lock.unlock() }; return String(decoding: _received, as: UTF8.self) }

    init(_ behaviour: Behaviour) throws {
        self.behaviour = behaviour
        listener = try Socket.listen(on: SocketAddress(ip: "127.0.0.1", port: 0)!, reusePort: false).rawValue
        // The listener was made non-blocking for the proxy's loops; these threads block.
        _ = fcntl(listener, F_SETFL, fcntl(listener, F_GETFL) & ~O_NONBLOCK)
        port = try Socket.localAddress(FileDescriptor(rawValue: listener)).port
        Thread { [self] in acceptLoop() }.start()
    }

    private func acceptLoop() {
        while true {
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { return }
            Thread { [self] in serve(fd) }.start()
        }
    }

    private func serve(_ fd: Int32) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var seen: [UInt8] = []
        var onConnection = 0
        while true {
            let n = read(fd, &buffer, buffer.count)
            guard n > 0 else { Glibc.close(fd); return }
            seen += buffer[0..<n]
            lock.lock(); _received += buffer[0..<n]; lock.unlock()
            while let end = Self.headEnd(seen) {
                seen.removeFirst(end)
                lock.lock(); _requests += 1; lock.unlock()
                onConnection += 1
                switch behaviour {
                case .answerOnceThenClose:
                    guard onConnection == 1 else {
                        Glibc.close(fd)
                        return
                    }
                    guard writeAll(fd, Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8)) else { Glibc.close(fd); return }
                case .stall:
                    lock.lock(); held.append(fd); lock.unlock()
                    return   // never answers; closed by `stop`
                case .reset:
                    resetOnClose(fd)
                    Glibc.close(fd)
                    return
                case .endless:
                    // A body with no end, as fast as the socket takes it.
                    let head = Array("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n".utf8)
                    guard writeAll(fd, head) else { Glibc.close(fd); return }
                    let block = [UInt8](repeating: 0x62, count: 64 * 1024)
                    while writeAll(fd, block) {}
                    Glibc.close(fd)
                    return
                case .big(let bytes):
                    let head = Array("HTTP/1.1 200 OK\r\nContent-Length: \(bytes)\r\nContent-Type: application/octet-stream\r\n\r\n".utf8)
                    guard writeAll(fd, head) else { Glibc.close(fd); return }
                    let block = [UInt8](repeating: 0x61, count: 64 * 1024)
                    var left = bytes
                    while left > 0 {
                        let part = min(left, block.count)
                        guard writeAll(fd, Array(block[0..<part])) else { Glibc.close(fd); return }
                        left -= part
                    }
                }
            }
        }
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { return false }
            sent += n
        }
        return true
    }

    private static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4) where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
            return i + 4
        }
        return nil
    }

    func stop() {
        Glibc.shutdown(listener, Int32(SHUT_RDWR))
        lock.lock()
        for fd in held { Glibc.shutdown(fd, Int32(SHUT_RDWR)) ; Glibc.close(fd) }
        held = []
        lock.unlock()
    }
}
