import Glibc
import SwitchyardSystem
import SwitchyardTestSupport

/// Makes the next close of `fd` a reset (SO_LINGER 0) instead of a FIN, as a client that
/// gives up or a server that closes abruptly does.
func resetOnClose(_ fd: Int32) {
    Socket.resetOnClose(FileDescriptor(rawValue: fd))
}

/// Sends `byte(i)` for the i-th byte on a connected socket until the way to a peer that reads
/// nothing is full (three times, with a pause between, so every buffer on the way has
/// filled), then closes it with a reset. Returns how many bytes the peer's kernel had
/// acknowledged: the ones sent but not acknowledged are lost with the reset.
func fillThenReset(_ fd: Int32, byte: (Int) -> UInt8) -> Int {
    let sent = fill(fd, byte: byte)
    return resetNow(fd, sent: sent)
}

/// Sends `byte(i)` for the i-th byte without blocking until the way to a peer that reads
/// nothing is full (three times, with a pause between, so every buffer on the way has
/// filled); the socket stays non-blocking. Returns the bytes sent.
func fill(_ fd: Int32, byte: (Int) -> UInt8) -> Int {
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    var sent = 0
    var chunk = [UInt8](repeating: 0, count: 16 << 10)
    for _ in 0..<3 {
        while true {
            for i in chunk.indices { chunk[i] = byte(sent + i) }
            let n = chunk.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            sent += n
        }
        usleep(200_000)
    }
    return sent
}

/// Closes `fd` with a reset; of the `sent` bytes, returns how many the peer's kernel had
/// acknowledged (the others are lost with the reset).
func resetNow(_ fd: Int32, sent: Int) -> Int {
    var unsent: Int32 = 0
    _ = ioctl(fd, UInt(TIOCOUTQ), &unsent)
    resetOnClose(fd)
    Glibc.close(fd)
    return sent - Int(unsent)
}

/// Reads `fd` (blocking) until its end or an error: the bytes, and the errno that ended the
/// reading (0: an orderly end of stream). `afterEachRead` gets the count so far (a client
/// that reads slowly sleeps there).
func readUntilEnd(_ fd: Int32, chunkSize: Int = 64 << 10, afterEachRead: (Int) -> Void = { _ in }) -> (bytes: [UInt8], error: Int32) {
    var received: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: chunkSize)
    while true {
        let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if n < 0 { return (received, errno) }
        if n == 0 { return (received, 0) }
        received += chunk[0..<n]
        afterEachRead(received.count)
    }
}

/// A listener with a backlog of 0 holding the one connection such a backlog takes: further
/// connection attempts to `port` go unanswered (the kernel drops their SYNs), like a server
/// behind a firewall that drops them.
final class FullBacklogListener {
    let port: UInt16
    private let listener: FileDescriptor
    private let queued: TestClient

    init() throws {
        listener = try Socket.listen(on: SocketAddress(ip: "127.0.0.1", port: 0)!, reusePort: false, backlog: 0)
        do {
            port = try Socket.localAddress(listener).port
            queued = try TestClient(port: port)
        } catch {
            listener.close()
            throw error
        }
    }

    deinit { listener.close() }
}
