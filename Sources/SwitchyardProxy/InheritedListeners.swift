import Foundation
import Glibc
import SwitchyardSystem

/// Listening sockets this process did not bind itself: handed over by the process it
/// replaces (`switchyard upgrade`, through the admin socket) or by systemd's socket
/// activation (`LISTEN_FDS`). `Proxy` uses them instead of binding, so that the kernel's
/// accept queues — and the connections waiting in them — stay the same sockets throughout.
///
/// Sockets are matched to `listen` lines by the address they are bound to (read from the
/// socket itself, not from what the sender called it); a line with port 0 takes the first
/// group bound to its host. What no line takes is closed by `closeLeftovers`.
///
/// A socket systemd activated stays systemd's after an upgrade: the old process names it
/// "systemd listen …" when it hands it over, so that the new one knows it too.
public struct InheritedListeners: Sendable {
    /// Sockets bound to one address, with the names they came with.
    struct Group: Sendable {
        var address: SocketAddress
        var sockets: [FileDescriptor]
        var names: [String]
        /// systemd keeps its own descriptor: closing ours resets nothing, and what we set on
        /// the socket stays for the next process it starts.
        var keptBySystemd: Bool
    }
    private var groups: [Group] = []

    public init() {}

    /// The name an upgrade gives a socket systemd activated (`keptBySystemd`).
    public static let systemdPrefix = "systemd "

    /// `sockets`: descriptors and the names they came with (for the log). A descriptor that
    /// is not a bound TCP socket is closed here. `fromSystemd`: all of them are systemd's.
    public init(_ sockets: [(name: String, fd: FileDescriptor)], fromSystemd: Bool = false) {
        for (name, fd) in sockets {
            guard let address = try? Socket.localAddress(fd), address.family == AF_INET || address.family == AF_INET6 else {
                fd.close()
                continue
            }
            // systemd's sockets are blocking; ours never are (and a handed-over socket
            // already is not: the flag belongs to the shared open file).
            try? fd.setNonBlocking()
            _ = fcntl(fd.rawValue, F_SETFD, FD_CLOEXEC)
            let kept = fromSystemd || name.hasPrefix(Self.systemdPrefix)
            if let i = groups.firstIndex(where: { $0.address.description == address.description }) {
                groups[i].sockets.append(fd)
                groups[i].names.append(name)
                groups[i].keptBySystemd = groups[i].keptBySystemd || kept
            } else {
                groups.append(Group(address: address, sockets: [fd], names: [name], keptBySystemd: kept))
            }
        }
    }

    public var isEmpty: Bool { groups.isEmpty }
    public var count: Int { groups.reduce(0) { $0 + $1.sockets.count } }

    /// Takes the sockets bound to `address` (port 0: any port on its host).
    mutating func take(matching address: SocketAddress) -> (sockets: [FileDescriptor], keptBySystemd: Bool) {
        let index = groups.firstIndex { group in
            address.port == 0 ? group.address.ipString == address.ipString && group.address.family == address.family
                              : group.address.description == address.description
        }
        guard let index else { return ([], false) }
        let group = groups.remove(at: index)
        return (group.sockets, group.keptBySystemd)
    }

    /// Takes the sockets the sender named with `prefix` (the read-only HTTP listener, which
    /// is not a `listen` line's: `metrics ADDRESS`).
    public mutating func take(namedWith prefix: String) -> [FileDescriptor] {
        var taken: [FileDescriptor] = []
        groups.removeAll { group in
            guard group.names.allSatisfy({ $0.hasPrefix(prefix) }) else { return false }
            taken += group.sockets
            return true
        }
        return taken
    }

    /// Closes what no `listen` line took; their addresses, for the log.
    mutating func closeLeftovers() -> [String] {
        defer { groups.removeAll() }
        for group in groups { for fd in group.sockets { fd.close() } }
        return groups.map { "\($0.address) (\($0.names.joined(separator: ", ")))" }
    }

    /// systemd's socket activation (sd_listen_fds(3)): `LISTEN_FDS` descriptors from 3 on,
    /// meant for this process when `LISTEN_PID` is its pid, named by `LISTEN_FDNAMES`
    /// (colon-separated). The variables are removed, so that no child takes them for its own.
    public static func fromSystemd() -> InheritedListeners {
        let environment = ProcessInfo.processInfo.environment
        defer { for name in ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"] { unsetenv(name) } }
        guard let countText = environment["LISTEN_FDS"], let count = Int32(countText), count > 0,
              environment["LISTEN_PID"].flatMap({ Int32($0) }) == getpid() else { return InheritedListeners() }
        let names = (environment["LISTEN_FDNAMES"] ?? "").split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let sockets = (0..<count).map { i in
            (name: Int(i) < names.count && !names[Int(i)].isEmpty ? names[Int(i)] : "fd \(3 + i)", fd: FileDescriptor(rawValue: 3 + i))
        }
        return InheritedListeners(sockets, fromSystemd: true)
    }
}
