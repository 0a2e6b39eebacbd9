import Glibc
import SwitchyardProxy
import SwitchyardSystem

/// The new process's side of an upgrade: asks the process serving the admin socket for its
/// listening sockets (`takeover`), receives them with SCM_RIGHTS, and — once it serves —
/// says `ready` and waits for `handed-over`. Anything unexpected is a one-line `AdminError`;
/// the old process then keeps serving.
public final class TakeoverClient {
    private let connection: FileDescriptor
    public let listeners: InheritedListeners
    /// The generation the old process serves (the new one must start at the same).
    public let generation: UInt64
    public let previousPID: Int32

    /// Connects to `adminPath` and takes the sockets over. `expectedPID`: the process that
    /// started this one (`SWITCHYARD_TAKEOVER`); the socket's listener must be that process,
    /// running as root or as this process's user. Listening sockets from anyone else — a
    /// process that took the path in a shared directory — would be served as ours.
    public init(adminPath: String, expectedPID: Int32? = nil) throws(AdminError) {
        guard let address = SocketAddress(unixPath: adminPath) else { throw AdminError("admin socket path too long: \(adminPath)") }
        let fd: FileDescriptor
        do {
            fd = try Socket.connectBlocking(to: address)
        } catch {
            throw AdminError("upgrade: cannot reach the running proxy at \(adminPath): \(error)")
        }
        if let problem = Self.peerProblem(fd, expectedPID: expectedPID) {
            fd.close()
            throw AdminError("upgrade: refusing the sockets of the process on \(adminPath): \(problem)")
        }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd.rawValue, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var text: [UInt8] = []
        var received: [FileDescriptor] = []
        do {
            try DescriptorPassing.send(fd, Array("takeover\n".utf8), descriptors: [])
            // Until "end": a header line, then one name per socket.
            while !(text.count >= 4 && text.suffix(4) == Array("end\n".utf8)) && !text.starts(with: Array("error:".utf8)) {
                let (bytes, descriptors) = try DescriptorPassing.receive(fd)
                received += descriptors
                if bytes.isEmpty { break }
                text += bytes
                if text.count > 1 << 20 { break }
            }
        } catch {
            for socket in received { socket.close() }
            fd.close()
            throw AdminError("upgrade: taking the sockets over: \(error)")
        }
        let lines = String(decoding: text, as: UTF8.self).split(separator: "\n").map(String.init)
        let header = lines.first?.split(separator: " ").map(String.init) ?? []
        guard header.count == 7, header[0] == "takeover", let generation = UInt64(header[2]), let pid = Int32(header[4]),
              let count = Int(header[6]), (1...Self.maxSockets).contains(count), expectedPID == nil || pid == expectedPID,
              lines.last == "end", lines.count == count + 2, received.count == count else {
            for socket in received { socket.close() }
            fd.close()
            let said = lines.first ?? "nothing"
            throw AdminError("upgrade: the running proxy did not hand its sockets over: \(said)")
        }
        connection = fd
        self.generation = generation
        previousPID = pid
        listeners = InheritedListeners(Array(zip(lines[1...count], received)).map { (name: $0.0, fd: $0.1) })
    }

    /// Why the process listening on `fd` is not the one to take sockets from, or nil. The
    /// kernel's word (SO_PEERCRED: who called listen), not what the peer says.
    static func peerProblem(_ fd: FileDescriptor, expectedPID: Int32?) -> String? {
        guard let peer = try? Socket.peerCredentials(fd) else { return "cannot tell who listens there" }
        guard [0, getuid(), geteuid()].contains(peer.uid) else {
            return "it runs as \(Caller.name(of: peer.uid)) (uid \(peer.uid)), not root or this process's user"
        }
        if let expectedPID, peer.pid != expectedPID {
            return "it is pid \(peer.pid), not the process that started this one (pid \(expectedPID))"
        }
        return nil
    }

    /// More listening sockets than any routes file opens: a count beyond it (or 0, or one
    /// whose arithmetic would overflow) is a peer that is not a Switchyard.
    static let maxSockets = 65_536

    /// Tells the old process this one serves; returns once it handed over (named us the main
    /// process and stopped taking changes). The connection stays open for `inPlace`.
    public func ready() throws(AdminError) {
        do {
            try DescriptorPassing.send(connection, Array("ready\n".utf8), descriptors: [])
            var answer: [UInt8] = []
            while !answer.contains(UInt8(ascii: "\n")) {
                let (bytes, descriptors) = try DescriptorPassing.receive(connection, capacity: 256)
                for fd in descriptors { fd.close() }
                if bytes.isEmpty { break }
                answer += bytes
            }
            guard answer == Array("handed-over\n".utf8) else {
                connection.close()
                throw AdminError("upgrade: the running proxy did not hand over: \(String(decoding: answer, as: UTF8.self))")
            }
        } catch let error as AdminError {
            throw error
        } catch {
            connection.close()
            throw AdminError("upgrade: \(error)")
        }
    }

    /// After `ready`: this process's admin socket now answers on the path, so the old process
    /// may answer `upgrade` and stop its own (a command sent in between would otherwise find
    /// a socket that no longer accepts). An old process that does not wait for this line
    /// (an earlier version) has closed the connection: the error is of no consequence.
    public func inPlace() {
        try? DescriptorPassing.send(connection, Array("in-place\n".utf8), descriptors: [])
        connection.close()
    }

    /// Closes the conversation. Before `ready` succeeded the old process goes on serving;
    /// after it (the admin socket could not take the path) the old one takes the close as
    /// the end of the hand-over and drains, and this process serves. `adminAt`: where this
    /// process's admin socket answers instead (`admin-at PATH`), so that the old process's
    /// answer to `upgrade` tells the operator, not only this process's error log.
    public func abandon(adminAt path: String? = nil) {
        if let path { try? DescriptorPassing.send(connection, Array("admin-at \(path)\n".utf8), descriptors: []) }
        connection.close()
    }
}
