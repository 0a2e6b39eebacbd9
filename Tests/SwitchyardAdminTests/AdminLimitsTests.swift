import Foundation
import Glibc
import Testing
import SwitchyardOrigin
import SwitchyardSystem
import SwitchyardTestSupport

/// The admin socket's resource limits on a real `switchyard serve`: connection caps (in all
/// and per uid), the idle timeout, the command-length limit, and no descriptor left behind.
@Suite(.serialized) struct AdminLimitsTests {
    /// A client connection with a receive timeout, so that a test never hangs on it.
    struct Connection {
        let fd: FileDescriptor

        init(_ socket: String) throws {
            fd = try Socket.connectBlocking(to: #require(SocketAddress(unixPath: socket)))
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(fd.rawValue, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        /// MSG_NOSIGNAL: the server may close before reading everything (that is the point
        /// of some tests), and a SIGPIPE would end the test process.
        func send(_ text: String) {
            let bytes = Array(text.utf8)
            var offset = 0
            while offset < bytes.count {
                let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd.rawValue, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                offset += n
            }
        }

        /// Sends `text` and says that is all (the server answers, then sees end of stream).
        func sendLast(_ text: String) {
            send(text)
            Socket.shutdownWrite(fd)
        }

        /// Everything until the server closes (end of stream, or a reset when the server
        /// closed with bytes of ours unread), then closes our end.
        func readToEnd() -> String {
            defer { fd.close() }
            var answer: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 8192)
            while true {
                let n = chunk.withUnsafeMutableBytes { read(fd.rawValue, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                answer += chunk[0..<n]
            }
            return String(decoding: answer, as: UTF8.self)
        }

        /// One answer line (the connection stays open).
        func readLine() -> String {
            var line: [UInt8] = []
            var byte: UInt8 = 0
            while read(fd.rawValue, &byte, 1) == 1 {
                if byte == UInt8(ascii: "\n") { break }
                line.append(byte)
            }
            return String(decoding: line, as: UTF8.self)
        }
    }

    static func serve(_ directory: String, adminOptions: String) throws -> ServeProcessTests.Served {
        let routes = ServeProcessTests.routes(directory, 9, 9)
            .replacingOccurrences(of: "admin \(directory)/admin.sock", with: "admin \(directory)/admin.sock \(adminOptions)")
        return try ServeProcessTests.Served(directory: directory, routes: routes)
    }

    static func makeDirectory(mode: Int = 0o750) throws -> String {
        let directory = NSTemporaryDirectory() + "switchyard-limits-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: mode])
        return directory
    }

    static func openDescriptors(_ pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    static func threads(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("Threads:") } ?? ""
        return Int(line.split(separator: "\t").last.map(String.init) ?? "") ?? -1
    }

    @Test
    func descriptorsStayFlatOver10000RefusedIdleAndOversizedConnections() throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let served = try Self.serve(directory, adminOptions: "max-connections 64 max-connections-per-uid 64 idle-timeout 100ms")
        defer { served.stop() }
        let pid = served.process.processIdentifier
        #expect(ServeProcessTests.command(served.admin, "status") != nil)
        let baseline = Self.openDescriptors(pid)
        let baselineThreads = Self.threads(pid)
        #expect(baseline > 0)

        var connections = 0
        var idleClosed = 0, overCap = 0, oversized = 0, unknown = 0
        // Idle ones, 64 at a time, plus 16 more that find every slot taken.
        for _ in 0..<70 {
            let batch = try (0..<80).map { _ in try Connection(served.admin) }
            for connection in batch {
                let answer = connection.readToEnd()
                if answer.hasPrefix("error: idle for 100 ms") { idleClosed += 1 }
                if answer.hasPrefix("error: too many admin connections") { overCap += 1 }
                #expect(answer.filter { $0 == "\n" }.count == 1, "one line: \(answer)")
            }
            connections += batch.count
        }
        // Lines over the limit, and refused commands.
        for i in 0..<4_400 {
            let connection = try Connection(served.admin)
            if i % 2 == 0 {
                connection.sendLast(String(repeating: "x", count: 5_017) + "\n")
                if connection.readToEnd().hasPrefix("error: command longer than 4096 bytes") { oversized += 1 }
            } else {
                connection.sendLast("frobnicate all\n")
                if connection.readToEnd().hasPrefix("error: unknown command") { unknown += 1 }
            }
            connections += 1
        }
        #expect(connections == 10_000)
        #expect(idleClosed + overCap == 5_600)
        #expect(idleClosed >= 70 * 60, "most of each batch was served until idle: \(idleClosed)")
        #expect(overCap > 0, "a batch over the cap was refused")
        #expect(oversized == 2_200)
        #expect(unknown == 2_200)
        // Each connection's thread gives its descriptor back as it ends.
        #expect(waitUntil(5) { Self.openDescriptors(pid) == baseline },
                "descriptors: \(baseline) before, \(Self.openDescriptors(pid)) after")
        // The baseline may still count the thread of the first status command as it ends.
        #expect(waitUntil(5) { Self.threads(pid) <= baselineThreads },
                "threads: \(baselineThreads) before, \(Self.threads(pid)) after")
        #expect(ServeProcessTests.command(served.admin, "status")?.contains("generation") == true, "still serving")
    }

    /// A connection known to hold a slot (it answered). The slot of the command that saw
    /// the server ready is given back by the server's thread a moment after its answer,
    /// so a refusal here is retried for a while before it counts.
    static func servedConnection(_ admin: String) throws -> Connection {
        for _ in 0..<50 {
            let connection = try Connection(admin)
            connection.send("json help\n")
            if connection.readLine().hasPrefix("{") { return connection }
            connection.fd.close()
            usleep(100_000)
        }
        Issue.record("no admin slot came free within 5 s")
        return try Connection(admin)
    }

    @Test
    func connectionsOverTheCapAreRefusedInOneLine() throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let served = try Self.serve(directory, adminOptions: "max-connections 2 idle-timeout 10s")
        defer { served.stop() }
        // Two held connections, each known to be served (it answered).
        let held = try (0..<2).map { _ in try Self.servedConnection(served.admin) }
        let third = try Connection(served.admin)
        third.sendLast("status\n")
        let refusal = third.readToEnd()
        #expect(refusal == "error: too many admin connections (2 open); try again when one has finished\n")
        for connection in held { connection.fd.close() }
        // Slots come back when connections end.
        #expect(waitUntil(5) { ServeProcessTests.command(served.admin, "status")?.hasPrefix("error") == false })
    }

    @Test(.enabled(if: rootOrCI, "needs root, to run the CLI as another uid (under CI=true it fails instead)"))
    func thePerUIDCapLeavesOtherUsersIn() throws {
        try requireRoot("setpriv runs the CLI as uid 65534")
        let setpriv = try tool("setpriv")
        // 0755 so that uid 65534 can reach the socket.
        let directory = try Self.makeDirectory(mode: 0o755)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let served = try Self.serve(directory, adminOptions: "max-connections-per-uid 2 idle-timeout 10s")
        defer { served.stop() }
        chmod(served.admin, 0o666)
        let held = try (0..<2).map { _ in try Self.servedConnection(served.admin) }
        let third = try Connection(served.admin)
        #expect(third.readToEnd() == "error: too many admin connections from uid 0 (2 open); close one first\n")
        let (status, output) = try runProcess(setpriv, ["--reuid=65534", "--regid=65534", "--clear-groups", "--",
                                                                  try switchyardBinary(), "status", "--admin", served.admin])
        #expect(status == 0, "another uid has its own slots: \(output)")
        for connection in held { connection.fd.close() }
    }

    /// The last quarter of the slots (at most 4) is kept for callers who may change
    /// routing: a reader of the socket's group holding connections open (a status loop, a
    /// stuck script) cannot lock out root in the middle of an incident. Before, it could take
    /// every slot.
    @Test(.enabled(if: rootOrCI, "needs root, to hold connections as another uid (under CI=true it fails instead)"))
    func theLastSlotsAreKeptForThoseWhoMayChangeRouting() throws {
        try requireRoot("setpriv holds the connections as uid 65534")
        let setpriv = try tool("setpriv")
        let directory = try Self.makeDirectory(mode: 0o755)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let served = try Self.serve(directory, adminOptions: "allow group users max-connections 8 max-connections-per-uid 10 idle-timeout 20s")
        defer { served.stop() }
        chmod(served.admin, 0o666)
        // uid 65534 opens 6 connections, each sending `status` and staying open, then runs
        // `switchyard status`, which is refused; root then asks and is let in.
        let socat = try tool("socat")
        let script = "for i in 1 2 3 4 5 6; do (printf 'status\\n'; sleep 6) | \(socat) - UNIX-CONNECT:$1 & done; sleep 2; "
            + "\(try switchyardBinary()) status --admin $1; wait"
        let reader = Background { try? runProcess(setpriv, ["--reuid=65534", "--regid=65534", "--clear-groups", "--",
                                                           "sh", "-c", script, "sh", served.admin], timeoutSeconds: 20) }
        usleep(3_500_000)
        let root = ServeProcessTests.command(served.admin, "status") ?? ""
        #expect(root.contains("generation"), "root is let in: \(root)")
        // A member of the allowed group by a supplementary group (as on-call operators are)
        // is let in too: the kernel's record of the peer's groups (SO_PEERGROUPS) says so.
        let member = try runProcess(setpriv, ["--reuid=65534", "--regid=65534", "--groups=100", "--",
                                              try switchyardBinary(), "status", "--admin", served.admin], timeoutSeconds: 10)
        #expect(member.status == 0 && member.output.contains("generation"), "\(member.output)")
        let output = try #require(try reader.wait(seconds: 25) ?? nil).output
        let refusals = output.components(separatedBy: "error: too many admin connections").count - 1
        #expect(refusals == 1 && output.contains("(6 open; the last 2 are kept for those who may change routing)"), "refusals \(refusals), served \(output.components(separatedBy: "generation").count - 1): \(output.split(separator: "\n").filter { !$0.hasPrefix(" ") && !$0.isEmpty }.joined(separator: " / "))")
        #expect(output.components(separatedBy: "generation").count - 1 >= 6, "six were served: \(output)")
    }

    @Test
    func theLengthLimitIsExact() throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let served = try Self.serve(directory, adminOptions: "")
        defer { served.stop() }
        let atLimit = try Connection(served.admin)
        atLimit.sendLast(String(repeating: "y", count: 4096) + "\n")
        #expect(atLimit.readToEnd().hasPrefix("error: unknown command"), "4096 bytes is a command")
        let over = try Connection(served.admin)
        over.sendLast(String(repeating: "y", count: 4097) + "\n")
        #expect(over.readToEnd() == "error: command longer than 4096 bytes\n")
    }

    /// `printf 'upgrade --binary X' | socat - UNIX:...`: a last line without its newline is
    /// the command it would be with one. Before, it skipped the upgrade words and was
    /// answered "unknown command".
    @Test
    func aLastLineWithoutItsNewlineIsTheSameCommand() throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let served = try Self.serve(directory, adminOptions: "")
        defer { served.stop() }
        let upgrade = try Connection(served.admin)
        upgrade.sendLast("upgrade --binary \(directory)/nothing")
        let answer = upgrade.readToEnd()
        #expect(answer.contains("upgrade refused: \(directory)/nothing is not an executable file"), "\(answer)")
        let status = try Connection(served.admin)
        status.sendLast("json status")
        #expect(status.readToEnd().hasPrefix("{"), "a read-only command the same")
    }
}
