import Foundation
import Glibc
import SwitchyardSystem

/// Plays systemd's side of sd_notify(3) for a test: a datagram socket bound at a path or at
/// an abstract `@name`, whose messages a test reads in order, each wait with a deadline.
public final class NotifyReceiver: @unchecked Sendable {
    /// What to put in `NOTIFY_SOCKET`.
    public let name: String
    private let fd: Int32

    /// `abstract`: an address in the abstract namespace (`@…`), else a path in `directory`.
    public init(directory: String, abstract: Bool) throws {
        let tag = UUID().uuidString.prefix(8)
        name = abstract ? "@switchyard-test-notify-\(tag)" : "\(directory)/notify-\(tag).sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestPrecondition("socket(AF_UNIX, SOCK_DGRAM): \(String(cString: strerror(errno)))") }
        var sun = sockaddr_un()
        sun.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(name.utf8)
        if abstract { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &sun.sun_path) { $0.copyBytes(from: bytes) }
        let length = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count + (abstract ? 0 : 1)
        let bound = withUnsafePointer(to: &sun) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(length)) }
        }
        guard bound == 0 else { throw TestPrecondition("bind \(name): \(String(cString: strerror(errno)))") }
    }

    deinit {
        close(fd)
        if name.hasPrefix("/") { unlink(name) }
    }

    /// The next message, or nil when none came within `seconds`.
    public func next(seconds: Double) -> String? {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(seconds * 1000)) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n < 0 ? nil : String(decoding: buffer[0..<n], as: UTF8.self)
    }

    /// The next message; fails the test, saying what it waited for, when none came.
    public func expectNext(_ what: String, seconds: Double = 15) throws -> String {
        guard let message = next(seconds: seconds) else {
            throw TestPrecondition("no notification within \(seconds) s (waited for \(what))")
        }
        return message
    }

    /// Every message that arrives within `seconds`.
    public func collect(seconds: Double) -> [String] {
        var messages: [String] = []
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { break }
            guard let message = next(seconds: left) else { break }
            messages.append(message)
        }
        return messages
    }
}
