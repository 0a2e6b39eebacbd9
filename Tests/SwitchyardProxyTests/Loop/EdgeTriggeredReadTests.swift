import Foundation
import Glibc
import Testing
@testable import SwitchyardProxy
import SwitchyardSystem

/// `EventLoop`'s edge-triggered registrations on a real loopback TCP connection: 64 KiB sit
/// queued in the socket before it is registered (one edge in all), and a handler reads at
/// most 4 KiB per event, as a reader with a full buffer does. Without `readAgain` the bytes
/// after the first read would wait for an edge that never comes.
@Suite struct EdgeTriggeredReadTests {
    static let queued = 64 * 1024
    static let chunk = 4 * 1024

    /// A read that fills what it asked for asks for another turn, and gets one per batch
    /// until a read comes back short: every byte is read.
    @Test func aReadThatFillsItsRoomIsGivenAnotherTurn() throws {
        let rig = try Rig()
        defer { rig.stop() }
        rig.handler.asksAgain = true
        try rig.register()
        #expect(rig.handler.waitFor(bytes: Self.queued), "read \(rig.handler.total) of \(Self.queued) bytes")
        #expect(rig.handler.againEvents >= Self.queued / Self.chunk - 1, "the reads after the first came from readAgain")
    }

    /// The edge flag survives `setInterest`: with the read interest dropped, an owed read
    /// is not delivered; given back, `EPOLL_CTL_MOD` reports the socket still readable once
    /// (one read, not a level-triggered stream of them), and `readAgain` carries on.
    @Test func anOwedReadWaitsForTheInterestAndTheEdgeFlagStays() throws {
        let rig = try Rig()
        defer { rig.stop() }
        rig.handler.asksAgain = true
        rig.handler.dropsInterestAfterFirstRead = true
        try rig.register()
        #expect(rig.handler.waitFor(bytes: Self.chunk))
        usleep(300_000)
        #expect(rig.handler.total == Self.chunk, "no read while the interest is off")
        rig.handler.asksAgain = false
        rig.onLoop { $0.loop.setInterest($0.handler.registration, Epoll.readable) }
        #expect(rig.handler.waitFor(bytes: 2 * Self.chunk))
        usleep(300_000)
        #expect(rig.handler.total == 2 * Self.chunk, "one report for the MOD: still edge-triggered")
        rig.handler.asksAgain = true
        rig.onLoop { $0.loop.readAgain($0.handler.registration) }
        #expect(rig.handler.waitFor(bytes: Self.queued), "read \(rig.handler.total) of \(Self.queued) bytes")
    }

    // MARK: support

    /// Reads up to `chunk` bytes per event on the loop's thread; counts what it read.
    final class ChunkReader: EventHandler, @unchecked Sendable {
        let fd: FileDescriptor
        unowned(unsafe) var loop: EventLoop
        var registration = RegistrationID.none
        private let lock = NSLock()
        private var _total = 0
        private var _again = 0
        private var _asksAgain = false
        var dropsInterestAfterFirstRead = false
        var total: Int { lock.withLock { _total } }
        var againEvents: Int { lock.withLock { _again } }
        var asksAgain: Bool {
            get { lock.withLock { _asksAgain } }
            set { lock.withLock { _asksAgain = newValue } }
        }

        init(fd: FileDescriptor, loop: EventLoop) {
            self.fd = fd
            self.loop = loop
        }

        override func eventsReceived(_ events: UInt32) {
            guard events & Epoll.readable != 0 else { return }
            var buffer = [UInt8](repeating: 0, count: EdgeTriggeredReadTests.chunk)
            let n = buffer.withUnsafeMutableBytes { recv(fd.rawValue, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return }
            let first = lock.withLock {
                _total += n
                if events & EventLoop.again != 0 { _again += 1 }
                return _total == n
            }
            if first && dropsInterestAfterFirstRead { loop.setInterest(registration, 0) }
            if n == EdgeTriggeredReadTests.chunk && asksAgain { loop.readAgain(registration) }
        }

        func waitFor(bytes: Int) -> Bool {
            let deadline = Date().addingTimeInterval(10)
            while total < bytes, Date() < deadline { usleep(5_000) }
            return total == bytes
        }
    }

    /// A loop on its own thread and a connected loopback pair with `queued` bytes already
    /// sent to the side the loop will read.
    final class Rig: @unchecked Sendable {
        let loop: EventLoop
        let handler: ChunkReader
        let client: FileDescriptor
        private let thread: Thread
        private let finished = DispatchSemaphore(value: 0)

        init() throws {
            loop = try EventLoop()
            let listener = try Socket.listen(on: SocketAddress(ip: "127.0.0.1", port: 0)!, reusePort: false)
            defer { listener.close() }
            client = try Socket.connectBlocking(to: SocketAddress(ip: "127.0.0.1", port: try Socket.localAddress(listener).port)!)
            var peer = SocketAddress(ip: "127.0.0.1", port: 0)!
            var accepted: FileDescriptor?
            for _ in 0..<200 where accepted == nil {
                if case .processed(let fd) = try Socket.accept(listener, peer: &peer) { accepted = fd } else { usleep(5_000) }
            }
            let server = try #require(accepted)
            let bytes = [UInt8](repeating: 0x61, count: EdgeTriggeredReadTests.queued)
            try client.writeAll(bytes.withUnsafeBytes { $0 })
            // All of it in the server's receive queue before it is registered: one edge.
            var waiting: Int32 = 0
            for _ in 0..<200 {
                _ = ioctl(server.rawValue, UInt(FIONREAD), &waiting)
                if Int(waiting) == EdgeTriggeredReadTests.queued { break }
                usleep(5_000)
            }
            handler = ChunkReader(fd: server, loop: loop)
            let loop = self.loop
            let finished = self.finished
            thread = Thread { loop.run(); finished.signal() }
            thread.start()
        }

        func register() throws {
            let done = DispatchSemaphore(value: 0)
            onLoop { rig in
                rig.handler.registration = (try? rig.loop.register(rig.handler.fd, rig.handler, events: Epoll.readable, edgeTriggered: true)) ?? .none
                done.signal()
            }
            _ = done.wait(timeout: .now() + 5)
            #expect(handler.registration != .none)
        }

        func onLoop(_ work: @escaping @Sendable (Rig) -> Void) {
            loop.execute { [self] in work(self) }
        }

        func stop() {
            let done = DispatchSemaphore(value: 0)
            onLoop { rig in
                if rig.handler.registration != .none { rig.loop.deregister(rig.handler.registration) }
                done.signal()
            }
            _ = done.wait(timeout: .now() + 5)
            loop.stop()
            _ = finished.wait(timeout: .now() + 5)
            handler.fd.close()
            client.close()
        }
    }
}
