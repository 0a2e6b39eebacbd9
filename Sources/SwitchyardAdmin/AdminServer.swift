import Foundation
import Glibc
import SwitchyardProxy
import SwitchyardSystem

/// The admin socket: a Unix stream socket, mode 0660, in a directory `AdminDirectory`
/// trusts. Each connection is served on its own thread (admin traffic is a few
/// commands a minute): lines in, answers out, until the client closes. The caller's
/// identity comes from the kernel (SO_PEERCRED), never from what it says.
public final class AdminServer: @unchecked Sendable {
    public let path: String
    private let listener: FileDescriptor
    private let service: AdminService
    /// A command line longer than this is refused (and the connection closed).
    static let maxLineBytes = 4096

    public init(path: String, groupID: UInt32?, trust: AdminDirectory.Trust, service: AdminService) throws(AdminError) {
        self.path = path
        self.service = service
        try AdminDirectory.prepare(AdminDirectory.parent(of: path), trust: trust)
        try Self.removeStaleSocket(path)
        let fd = try Self.listen(at: path)
        // Group members (the ops group) may connect; others may not even open it.
        if let groupID { _ = chown(path, UInt32.max, groupID) }
        guard chmod(path, 0o660) == 0 else {
            fd.close()
            throw AdminError("admin socket \(path): chmod: \(String(cString: strerror(errno)))")
        }
        listener = fd
    }

    /// Binds the socket with mode 0660 from the first instant. bind(2) creates the file with
    /// 0777 & ~umask, so with the usual umask 022 it would be 0755 until the chmod below:
    /// a window in which anybody could connect. umask(2) is process-wide; this runs at
    /// start, before the workers and the admin thread exist, and the old mask comes back at
    /// once (a file another thread created meanwhile would only be more closed).
    static func listen(at path: String) throws(AdminError) -> FileDescriptor {
        let previous = umask(0o117)
        defer { umask(previous) }
        do {
            return try Socket.listenUnix(path: path)
        } catch {
            throw AdminError("admin socket \(path): \(error)")
        }
    }

    /// A socket file left by a proxy that died is removed; one that answers means another
    /// proxy is running, and we refuse rather than steal its socket.
    static func removeStaleSocket(_ path: String) throws(AdminError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if let address = SocketAddress(unixPath: path), let fd = try? Socket.connectBlocking(to: address) {
            fd.close()
            throw AdminError("another switchyard is already listening on \(path)")
        }
        unlink(path)
    }

    public func start() {
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "switchyard-admin"
        thread.start()
    }

    public func stop() {
        Glibc.shutdown(listener.rawValue, Int32(SHUT_RDWR))
        listener.close()
        unlink(path)
    }

    private func acceptLoop() {
        while true {
            let fd = accept(listener.rawValue, nil, nil)
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            let thread = Thread { [self] in serve(FileDescriptor(rawValue: fd)) }
            thread.start()
        }
    }

    private func serve(_ fd: FileDescriptor) {
        defer { fd.close() }
        guard let credentials = try? Socket.peerCredentials(fd) else { return }
        let caller = Caller(uid: credentials.uid, gid: credentials.gid, pid: credentials.pid)
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeFirst(newline + 1)
                if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
                let (answer, json) = service.execute(line, caller: caller)
                send(fd, answer.rendered(json: json))
            }
            if pending.count > Self.maxLineBytes {
                send(fd, AdminAnswer.failure(AdminError("command longer than \(Self.maxLineBytes) bytes")).rendered(json: false))
                return
            }
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd.rawValue, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                // A last line without a newline (printf "status" | socat ...) still counts.
                if !pending.isEmpty {
                    let (answer, json) = service.execute(String(decoding: pending, as: UTF8.self), caller: caller)
                    send(fd, answer.rendered(json: json))
                }
                return
            }
            pending.append(contentsOf: chunk[0..<n])
        }
    }

    private func send(_ fd: FileDescriptor, _ text: String) {
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { try? fd.writeAll($0) }
    }
}
