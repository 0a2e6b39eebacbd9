import Foundation
import Glibc
import Testing
@testable import SwitchyardAdmin
@testable import SwitchyardProxy
import SwitchyardSystem

/// Input from outside that reached arithmetic or an index that traps (found by an audit
/// helper): each is now refused in one line, and the process goes on.
@Suite struct OutsideInputTests {
    /// A peer on the admin socket path answering `takeover` with a socket count of 0 or one
    /// near Int.max (a broken or impostor process): the new process refuses to take over.
    /// Before, `lines[1...0]` and `count + 2` trapped.
    @Test(arguments: ["0", "9223372036854775807", "-1"])
    func aTakeoverAnswerWithAnImpossibleCountIsRefused(count: String) throws {
        let path = NSTemporaryDirectory() + "sy-takeover-\(UUID().uuidString.prefix(8)).sock"
        let listener = try Socket.listenUnix(path: path)
        defer { listener.close(); unlink(path) }
        let answered = answerTakeover(on: listener, with: "takeover generation 1 pid 1 sockets \(count)\nend\n")
        #expect(throws: AdminError.self) { _ = try TakeoverClient(adminPath: path) }
        _ = answered.wait(timeout: .now() + 10)
    }

    /// The sockets are taken only from the process that started this one, as the kernel
    /// names the listener (SO_PEERCRED), not as its answer says. Before, any process that held
    /// the admin socket's path had its listening sockets served as the proxy's own. Here the
    /// listener is this test process: taken from it when it is the expected one, refused
    /// (nothing received, one line naming both pids) when another pid is expected.
    @Test func socketsAreTakenOnlyFromTheProcessThatStartedThisOne() throws {
        let me = getpid(), other = getppid()
        let (listeners, _) = try takeover(expectedPID: me)
        #expect(listeners == 1)
        do {
            _ = try takeover(expectedPID: other)
            Issue.record("the sockets of pid \(me) were taken while pid \(other) was expected")
        } catch {
            #expect("\(error)".contains("it is pid \(me), not the process that started this one (pid \(other))"), "\(error)")
        }
    }

    /// A peer on a fresh path answering `takeover` properly, with one TCP listener passed.
    private func takeover(expectedPID: Int32) throws -> (listeners: Int, path: String) {
        let path = NSTemporaryDirectory() + "sy-takeover-\(UUID().uuidString.prefix(8)).sock"
        let listener = try Socket.listenUnix(path: path)
        defer { listener.close(); unlink(path) }
        let passed = try Socket.listen(on: SocketAddress(ip: "127.0.0.1", port: 0)!, reusePort: false, backlog: 1)
        defer { passed.close() }
        let answered = answerTakeover(on: listener, with: "takeover generation 1 pid \(getpid()) sockets 1\nhttp 127.0.0.1:0\nend\n",
                                      passing: [passed])
        defer { _ = answered.wait(timeout: .now() + 10) }
        let client = try TakeoverClient(adminPath: path, expectedPID: expectedPID)
        client.abandon()
        var taken = client.listeners
        defer { _ = taken.closeLeftovers() }
        return (taken.count, path)
    }

    /// `simulate … --since` further back than ten years or before 1970 is refused. Before,
    /// `1000000h` passed (the bound was on the number, not the time) and a date before 1970
    /// trapped converting negative seconds for the report.
    @Test func aSinceBefore1970OrBeyondTenYearsIsRefused() throws {
        let now = Date()
        for text in ["1000000h", "315360000d", "1900-01-01", "1969-12-31T23:59:59Z"] {
            #expect(throws: AdminError.self, "\(text)") { _ = try SinceOption.parse(text, now: now) }
        }
        #expect(try SinceOption.parse("7d", now: now) == now.addingTimeInterval(-7 * 86_400))
        #expect(try SinceOption.parse("87600h", now: now) == now.addingTimeInterval(-87_600 * 3600))
    }
}

/// A fake running proxy on `listener`: takes one connection, reads its request line and
/// answers `reply` with `passing` attached (SCM_RIGHTS); signals when done. A client that
/// closed without asking (refused before it did) gets no answer.
private func answerTakeover(on listener: FileDescriptor, with reply: String, passing: [FileDescriptor] = []) -> DispatchSemaphore {
    let answered = DispatchSemaphore(value: 0)
    Thread {
        let fd = acceptWithin10Seconds(listener)
        if fd >= 0 {
            var byte: UInt8 = 0
            while Glibc.read(fd, &byte, 1) == 1 && byte != UInt8(ascii: "\n") {}
            if byte == UInt8(ascii: "\n") {
                try? DescriptorPassing.send(FileDescriptor(rawValue: fd), Array(reply.utf8), descriptors: passing)
            }
            usleep(200_000)
            Glibc.close(fd)
        }
        answered.signal()
    }.start()
    return answered
}

/// One connection from `listener`, or -1 after 10 s (a client that never came must not leave
/// the thread blocked on a descriptor the test has closed and another test may reuse); reads
/// on it time out after 10 s too.
private func acceptWithin10Seconds(_ listener: FileDescriptor) -> Int32 {
    var ready = pollfd(fd: listener.rawValue, events: Int16(POLLIN), revents: 0)
    guard poll(&ready, 1, 10_000) == 1 else { return -1 }
    let fd = accept(listener.rawValue, nil, nil)
    guard fd >= 0 else { return -1 }
    var timeout = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    return fd
}
