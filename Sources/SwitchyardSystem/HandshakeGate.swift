import CSwitchyardShims
import Glibc

/// Closing a listening socket without resetting clients that have already connected.
///
/// When the last descriptor of a listening socket closes, the kernel resets every
/// connection it has not handed over yet. Some of those clients believe they are connected
/// and have sent, or are about to send, a request. With `TCP_DEFER_ACCEPT` this is common:
/// a connection waits in the kernel until its first bytes arrive, so it cannot be accepted
/// before closing.
///
/// The way out is to shut the door before closing it:
/// 1. `hold`: new handshakes are dropped. A new client's SYN goes unanswered and is resent
///    after a second, by when the socket is closed and the client is refused. It never
///    connected, so it never sent anything.
/// 2. Handshakes already begun finish. Their connections are accepted as their bytes arrive,
///    and are answered.
/// 3. Once `inProgress` counts none, the socket can close.
public enum HandshakeGate {
    /// Drops new handshakes on the listening socket `fd` and stops deferring accept. A
    /// client already connected but still silent is then handed over when it speaks, or
    /// when it answers the SYN-ACK the kernel resends, rather than after the deferral.
    public static func hold(_ fd: FileDescriptor) throws(Errno) {
        _ = try syscallValue("setsockopt(SO_ATTACH_FILTER)") { sy_hold_new_handshakes(fd.rawValue, 1) }
        try Socket.setOption(fd, Int32(IPPROTO_TCP), TCP_DEFER_ACCEPT, 0)
    }

    /// Removes `hold`'s filter: a socket inherited from a process that was stopped in the
    /// middle of its shutdown may still carry it. None attached is not an error.
    public static func release(_ fd: FileDescriptor) {
        _ = sy_hold_new_handshakes(fd.rawValue, 0)
    }

    /// Handshakes towards the local `ports` that have begun and are not yet complete
    /// connections (state SYN_RECV in /proc/net/tcp and /proc/net/tcp6), all addresses
    /// and processes together. 0 when the tables cannot be read.
    public static func inProgress(ports: Set<UInt16>) -> Int {
        guard !ports.isEmpty else { return 0 }
        var count = 0
        for path in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let table = readProcFile(path) else { continue }
            count += inProgress(table: table, ports: ports)
        }
        return count
    }

    /// A /proc file's whole text (its size is not known ahead: read to the end).
    private static func readProcFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var text: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                text.append(contentsOf: chunk[..<n])
            } else if n == 0 {
                return text
            } else if sy_errno() != EINTR {
                return nil
            }
        }
    }

    /// `inProgress` on the text of one table. Lines that do not parse count for nothing.
    static func inProgress(table: [UInt8], ports: Set<UInt16>) -> Int {
        var count = 0
        for line in table.split(separator: UInt8(ascii: "\n")) {
            // "  sl  local_address rem_address   st ...": local is "ADDRESS:PORT" in hex.
            let fields = line.split(separator: UInt8(ascii: " "), maxSplits: 4)
            guard fields.count >= 4, fields[3].elementsEqual("03".utf8),
                  let colon = fields[1].lastIndex(of: UInt8(ascii: ":")),
                  let port = UInt16(String(decoding: fields[1][(colon + 1)...], as: UTF8.self), radix: 16),
                  ports.contains(port) else { continue }
            count += 1
        }
        return count
    }
}
