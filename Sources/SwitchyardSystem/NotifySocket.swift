import CSwitchyardShims
import Glibc

/// systemd's notification socket (sd_notify(3)), spoken directly rather than through
/// libsystemd: one datagram per message to the `AF_UNIX` address in `$NOTIFY_SOCKET`. A
/// value starting with `/` is a file-system path; one starting with `@` names an address in
/// the abstract namespace (unix(7): the `@` becomes a leading NUL and the address has no
/// terminating NUL, so its length is counted exactly).
public struct NotifySocket: Sendable {
    /// What `$NOTIFY_SOCKET` held, for messages.
    public let name: String
    private let address: SocketAddress

    /// Why `$NOTIFY_SOCKET` cannot be used.
    public struct Refusal: Error, CustomStringConvertible {
        public let description: String
    }

    /// nil when `value` is nil or empty (not started by systemd, nothing to tell).
    public init?(environment value: String?) throws(Refusal) {
        guard let value, !value.isEmpty else { return nil }
        name = value
        let bytes = Array(value.utf8)
        var sun = sockaddr_un()
        sun.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: sun.sun_path)
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
        let length: Int
        switch bytes.first {
        case UInt8(ascii: "/"):
            guard bytes.count < capacity else { throw Refusal(description: "NOTIFY_SOCKET \(value): longer than \(capacity - 1) bytes") }
            withUnsafeMutableBytes(of: &sun.sun_path) { raw in
                raw.copyBytes(from: bytes)
                raw[bytes.count] = 0
            }
            length = pathOffset + bytes.count + 1
        case UInt8(ascii: "@"):
            guard bytes.count <= capacity else { throw Refusal(description: "NOTIFY_SOCKET \(value): longer than \(capacity) bytes") }
            withUnsafeMutableBytes(of: &sun.sun_path) { raw in
                raw[0] = 0
                raw.baseAddress!.advanced(by: 1).copyMemory(from: bytes.dropFirst().withUnsafeBytes { $0.baseAddress! },
                                                            byteCount: bytes.count - 1)
            }
            length = pathOffset + bytes.count
        default:
            // vsock: addresses (systemd ≥ 254 in VMs) are not spoken here.
            throw Refusal(description: "NOTIFY_SOCKET \(value): only a path (/…) or an abstract name (@…) is supported")
        }
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { raw in
            withUnsafeBytes(of: sun) { raw.copyMemory(from: $0) }
        }
        address = SocketAddress(storage: storage, length: socklen_t(length))
    }

    /// Sends `message` (newline-separated `KEY=VALUE` assignments) as one datagram. A fresh
    /// socket each time: messages are rare (state changes, a watchdog ping every few
    /// seconds), and nothing is kept open that a forked child could inherit.
    public func send(_ message: String) throws(Errno) {
        let fd = FileDescriptor(rawValue: try syscallValue("socket(AF_UNIX, SOCK_DGRAM)") {
            socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        })
        defer { fd.close() }
        var address = address
        _ = try syscallValue("connect(\(name))") { sy_connect(fd.rawValue, &address.storage, address.length) }
        let bytes = Array(message.utf8)
        let sent = try syscallValue("send(\(name))") {
            bytes.withUnsafeBytes { Glibc.send(fd.rawValue, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
        // A datagram goes whole or not at all (unix(7)); a short count would be a kernel bug.
        precondition(sent == bytes.count, "short datagram to \(name)")
    }
}
