import Foundation
import Glibc
import SwitchyardSystem

/// A blocking test server on 127.0.0.1 port 0: one thread runs `serve` with the listening
/// descriptor (blocking, so `accept` waits). `stop()` wakes that accept, waits for the thread
/// to leave, then closes the listener — its number is not reused under a thread still calling
/// `accept` on it. The servers built on it (`AbruptTLSServer`, `ClosingOrigin`,
/// `SmallPacketServer`, `AnswerThenCloseOrigin`, `GluedAnswerOrigin`) say what they do with
/// each connection.
final class OneThreadServer: @unchecked Sendable {
    let port: UInt16
    private let listener: FileDescriptor
    private let finished = DispatchSemaphore(value: 0)

    init(serve: @escaping @Sendable (_ listener: Int32) -> Void) throws {
        let fd = try Socket.listen(on: SocketAddress(ip: "127.0.0.1", port: 0)!, reusePort: false)
        _ = fcntl(fd.rawValue, F_SETFL, fcntl(fd.rawValue, F_GETFL) & ~O_NONBLOCK)
        listener = fd
        port = try Socket.localAddress(fd).port
        Thread { [finished] in
            serve(fd.rawValue)
            finished.signal()
        }.start()
    }

    func stop() {
        Glibc.shutdown(listener.rawValue, Int32(SHUT_RDWR))
        _ = finished.wait(timeout: .now() + 10)
        listener.close()
    }
}

extension OneThreadServer {
    /// A server that takes one connection at a time: counts it, hands it to `handle` (on
    /// the server's thread), closes it, takes the next. `connections` says how many came.
    static func counting(_ handle: @escaping @Sendable (_ fd: Int32) -> Void) throws
        -> (server: OneThreadServer, connections: @Sendable () -> Int) {
        let counter = ConnectionCounter()
        let server = try OneThreadServer { listener in
            while true {
                let fd = accept(listener, nil, nil)
                guard fd >= 0 else { return }
                counter.accepted()
                handle(fd)
                Glibc.close(fd)
            }
        }
        return (server, { counter.value })
    }
}

/// Connections a test server accepted, counted on its thread and read by the test's.
private final class ConnectionCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    func accepted() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}

/// Reads a request head from a blocking socket, a byte at a time (nothing after it is
/// consumed), up to its blank line or the end of the stream.
func readRequestHead(_ fd: Int32) -> [UInt8] {
    var head: [UInt8] = []
    var byte: UInt8 = 0
    while !head.suffix(4).elementsEqual([13, 10, 13, 10]), Glibc.read(fd, &byte, 1) == 1 { head.append(byte) }
    return head
}

/// A request head's target and its `Content-Length` (nil without one), for the test servers
/// that answer "answered TARGET".
func targetAndLength(ofHead head: String) -> (target: Substring, length: Int?) {
    let target = head.split(separator: " ").dropFirst().first ?? "?"
    let length = head.lowercased().components(separatedBy: "\r\n")
        .first { $0.hasPrefix("content-length:") }
        .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) }
    return (target, length)
}
