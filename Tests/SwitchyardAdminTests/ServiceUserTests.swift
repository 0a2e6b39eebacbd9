import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
import SwitchyardAdmin
import SwitchyardOrigin

/// `serve` started as root runs as the service user once its listeners and files are open.
@Suite(.serialized) struct ServiceUserTests {
    static let nobody = Caller(uid: 65534, gid: 65534, pid: 0).userName

    static func idLine(_ pid: Int32, _ key: String) -> String {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        return status.split(separator: "\n").first { $0.hasPrefix(key + ":") }.map(String.init) ?? ""
    }

    static func makeDirectory() throws -> String {
        let directory = NSTemporaryDirectory() + "switchyard-user-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        return directory
    }

    @Test(.enabled(if: rootOrCI, "needs root, to drop to uid 65534 (under CI=true it fails instead)"))
    func serveDropsToTheUserLineAndStillPersistsState() throws {
        try requireRoot("serve drops from root to uid 65534")
        guard Self.nobody != "uid 65534" else { throw TestPrecondition("no user with uid 65534 (nobody) on this host") }
        let legacy = try OriginServer(name: "legacy"), cloud = try OriginServer(name: "cloud")
        legacy.start(); cloud.start()
        defer { legacy.stop(); cloud.stop() }
        let parent = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        // A directory serve creates, for the service user.
        let admin = parent + "/run/switchyard"
        let routes = ServeProcessTests.routes(admin, legacy.port, cloud.port) + "\nuser \(Self.nobody)\n"
        try routes.write(toFile: parent + "/test.routes", atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try switchyardBinary())
        process.arguments = ["serve", parent + "/test.routes", "--workers", "1", "--error-log", parent + "/error.log"]
        try process.run()
        defer { if process.isRunning { process.terminate(); process.waitUntilExit() } }
        let socket = admin + "/admin.sock"
        let deadline = Date().addingTimeInterval(10)
        while ServeProcessTests.command(socket, "help") == nil && Date() < deadline && process.isRunning { usleep(20_000) }
        let log = { (try? String(contentsOfFile: parent + "/error.log", encoding: .utf8)) ?? "" }
        try #require(process.isRunning, "serve exited: \(log())")

        let pid = process.processIdentifier
        #expect(Self.idLine(pid, "Uid") == "Uid:\t65534\t65534\t65534\t65534")
        #expect(Self.idLine(pid, "Gid").hasPrefix("Gid:\t65534\t65534\t65534\t65534"), Comment(rawValue: Self.idLine(pid, "Gid")))
        #expect(!Self.idLine(pid, "Groups").contains(" 0") && Self.idLine(pid, "Groups") != "Groups:\t0", "root's group is gone")
        #expect(log().contains("running as user \(Self.nobody) (uid 65534"))
        var info = stat()
        #expect(lstat(admin, &info) == 0 && info.st_uid == 65534, "the admin directory was made for the service user")

        // A change after the drop is still written down.
        let answer = try #require(ServeProcessTests.command(socket, "flip all --reason CHG-8"))
        #expect(answer.contains("generation 2"), "\(answer)")
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: admin + "/state.json"))) as? [String: Any]
        #expect(state?["generation"] as? Int == 2)
        let audit = (try? String(contentsOfFile: admin + "/audit.log", encoding: .utf8)) ?? ""
        #expect(audit.contains("\"outcome\":\"accepted\""), "\(audit)")
        #expect(stat(admin + "/state.json", &info) == 0 && info.st_uid == 65534)

        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "stopped cleanly as the service user")
    }

    /// Runs serve expecting it to refuse to start; its status and output.
    static func refusal(_ arguments: [String]) throws -> (Int32, String)? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try switchyardBinary())
        process.arguments = arguments
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit(); return nil }
        return (process.terminationStatus, String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    }

    @Test(.enabled(if: rootOrCI, "needs root, to drop to uid 65534 (under CI=true it fails instead)"))
    func anUnknownUserOrARootOwnedStateDirectoryIsRefused() throws {
        try requireRoot("serve drops from root to uid 65534")
        guard Self.nobody != "uid 65534" else { throw TestPrecondition("no user with uid 65534 (nobody) on this host") }
        let parent = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let admin = parent + "/admin"
        try FileManager.default.createDirectory(atPath: admin, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        try ServeProcessTests.routes(admin, 9, 9).write(toFile: parent + "/test.routes", atomically: true, encoding: .utf8)

        let unknown = try #require(try Self.refusal(["serve", parent + "/test.routes", "--workers", "1", "--user", "no-such-user-here"]))
        #expect(unknown.0 == 1)
        #expect(unknown.1.contains("user no-such-user-here: no such user"), "\(unknown.1)")

        // root's directory is not given away; the service user could not write there.
        let rootOwned = try #require(try Self.refusal(["serve", parent + "/test.routes", "--workers", "1", "--user", Self.nobody]))
        #expect(rootOwned.0 == 1)
        #expect(rootOwned.1.contains("\(admin) belongs to uid 0"), "\(rootOwned.1)")
        var info = stat()
        #expect(lstat(admin, &info) == 0 && info.st_uid == 0, "left as it was")
        #expect(!FileManager.default.fileExists(atPath: admin + "/state.json"), "refused before anything was written")
    }
}
