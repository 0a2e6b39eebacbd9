import Foundation
import Glibc
import Testing
import SwitchyardAdmin
import SwitchyardOrigin
import SwitchyardSystem
import SwitchyardTestSupport

/// The CLI sends nothing to a socket that belongs to, or is served by, a user it was not
/// told to trust.
@Suite(.serialized) struct CLISocketTrustTests {
    /// A socat run as uid 65534 that listens on `socket` for one connection and writes what
    /// it receives to `received`.
    final class ForeignListener: @unchecked Sendable {
        let process = Process()

        init(socket: String, received: String) throws {
            process.executableURL = URL(fileURLWithPath: try tool("setpriv"))
            process.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", "--",
                                 try tool("socat"), "-u", "UNIX-LISTEN:\(socket)", "OPEN:\(received),creat,append"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            try waitFor("socat to listen on \(socket)", seconds: 10) { access(socket, F_OK) == 0 }
        }

        func stop() {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
        }
    }

    static func makeDirectory(owner: UInt32, mode: Int = 0o755) throws -> String {
        let directory = NSTemporaryDirectory() + "switchyard-trust-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: mode])
        chown(directory, owner, owner)
        return directory
    }

    /// A proxy that takes the command and closes without a word (killed while running it)
    /// is not "done": the CLI says it is unknown and exits 3. It exited 0 with an empty line.
    @Test func aConnectionClosedWithoutAnAnswerIsNotSuccess() throws {
        let binary = try switchyardBinary()
        let directory = try Self.makeDirectory(owner: geteuid(), mode: 0o700)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socket = directory + "/admin.sock", received = directory + "/received"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try tool("socat"))
        process.arguments = ["-u", "UNIX-LISTEN:\(socket)", "OPEN:\(received),creat,append"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() }; process.waitUntilExit() }
        try waitFor("socat to listen on \(socket)", seconds: 10) { access(socket, F_OK) == 0 }
        let (status, output) = try runProcess(binary, ["weight", "app", "cloud", "20%", "--admin", socket])
        #expect(status == 3, "\(output)")
        #expect(output.contains("closed the connection without answering \"weight\": it may or may not have been applied"), "\(output)")
        #expect(((try? String(contentsOfFile: received, encoding: .utf8)) ?? "").contains("\"weight\""), "the command was sent")
    }

    @Test(.enabled(if: rootOrCI, "needs root, to run socat as another uid (under CI=true it fails instead)"))
    func aSocketOfAnotherUserGetsNothing() throws {
        try requireRoot("setpriv runs socat as uid 65534")
        let binary = try switchyardBinary()
        let directory = try Self.makeDirectory(owner: 65534)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socket = directory + "/admin.sock", received = directory + "/received"
        let listener = try ForeignListener(socket: socket, received: received)
        defer { listener.stop() }
        #expect(access(socket, F_OK) == 0, "socat listens")

        let (status, output) = try runProcess(binary, ["flip", "all", "--reason", "CHG-secret", "--admin", socket])
        #expect(status == 2)
        #expect(output.hasPrefix("switchyard: refusing to talk to \(socket): it belongs to"), "\(output)")
        #expect(output.contains("uid 65534"))
        #expect(output.split(separator: "\n").count == 1)
        #expect(((try? String(contentsOfFile: received, encoding: .utf8)) ?? "").isEmpty, "nothing was sent")

        // Told to trust that user, the CLI does talk to it (so the refusal above was the check).
        let (trusted, said) = try runProcess(binary, ["flip", "all", "--admin", socket, "--expect-owner", "65534"])
        // socat takes the line and closes without an answer: applied or not is unknown (3).
        #expect(trusted == 3 && said.contains("closed the connection without answering \"flip\""), "\(said)")
        #expect(waitUntil(5) { ((try? String(contentsOfFile: received, encoding: .utf8)) ?? "").contains("\"flip\" \"all\"") })
    }

    @Test(.enabled(if: rootOrCI, "needs root, to run socat as another uid (under CI=true it fails instead)"))
    func aRootOwnedSocketServedByAnotherUserGetsNothing() throws {
        try requireRoot("setpriv runs socat as uid 65534")
        let binary = try switchyardBinary()
        let directory = try Self.makeDirectory(owner: 65534)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socket = directory + "/admin.sock", received = directory + "/received"
        let listener = try ForeignListener(socket: socket, received: received)
        defer { listener.stop() }
        #expect(chown(socket, 0, 0) == 0)
        let (status, output) = try runProcess(binary, ["status", "--admin", socket])
        #expect(status == 2)
        #expect(output.contains("the process listening on it runs as"), "\(output)")
        #expect(((try? String(contentsOfFile: received, encoding: .utf8)) ?? "").isEmpty, "nothing was sent")
    }

    @Test(.enabled(if: rootOrCI, "needs root, to chown the socket (under CI=true it fails instead)"))
    func theServiceUserIsTrustedWhenNamed() throws {
        try requireRoot("chowns the admin socket to uid 65534")
        let binary = try switchyardBinary()
        let directory = try Self.makeDirectory(owner: 0, mode: 0o750)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let served = try ServeProcessTests.Served(directory: directory, routes: ServeProcessTests.routes(directory, 9, 9))
        defer { served.stop() }
        #expect(try runProcess(binary, ["status", "--admin", served.admin]).status == 0, "root's socket: no flag needed")
        #expect(chown(served.admin, 65534, 65534) == 0)
        let (refused, text) = try runProcess(binary, ["status", "--admin", served.admin])
        #expect(refused == 2, "\(text)")
        #expect(text.contains("give --expect-owner"), "\(text)")
        let name = Caller(uid: 65534, gid: 65534, pid: 0).userName
        #expect(try runProcess(binary, ["status", "--admin", served.admin, "--expect-owner", name]).status == 0)
    }

    @Test func theDemoFallbackMustBeTheCallersOwn() throws {
        let directory = try Self.makeDirectory(owner: getuid(), mode: 0o750)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socket = directory + "/admin.sock"
        let fd = try Socket.listenUnix(path: socket)
        defer { fd.close() }
        #expect(AdminSocketTrust.isCallersOwn(socket))
        let link = directory + "/link.sock"
        #expect(symlink(socket, link) == 0)
        #expect(!AdminSocketTrust.isCallersOwn(link), "a symlink is not a socket of ours")
        if getuid() == 0 {
            chown(socket, 65534, 65534)
            #expect(!AdminSocketTrust.isCallersOwn(socket))
            chown(socket, 0, 0)
            chown(directory, 65534, 65534)
            #expect(!AdminSocketTrust.isCallersOwn(socket), "a directory of somebody else")
        }
    }

}
