import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
import SwitchyardAdmin
import SwitchyardOrigin

/// The admin directory is checked before anything in it is read or written, and our files
/// are never followed through a symlink.
@Suite(.serialized) struct AdminDirectoryTests {
    /// Runs `switchyard serve` on a routes file in `directory`, expecting it to refuse to
    /// start; its exit status and standard error. A serve that keeps running is killed after
    /// the deadline and reported as nil.
    static func serveRefusal(_ directory: String, routesIn routesDirectory: String) throws -> (status: Int32, output: String)? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try switchyardBinary())
        process.arguments = ["serve", routesDirectory + "/test.routes", "--workers", "1"]
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (process.terminationStatus, output)
    }

    /// A routes directory (root's, 0700) whose routes file puts the admin files in `adminDirectory`.
    static func routesDirectory(adminDirectory: String) throws -> String {
        let directory = NSTemporaryDirectory() + "switchyard-routes-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try ServeProcessTests.routes(adminDirectory, 9, 9).write(toFile: directory + "/test.routes", atomically: true, encoding: .utf8)
        return directory
    }

    static func makeDirectory(mode: Int = 0o750) throws -> String {
        let directory = NSTemporaryDirectory() + "switchyard-dir-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: mode])
        return directory
    }

    @Test
    func aDirectoryOwnedByAnotherUserIsRefusedBeforeItsStateFileIsRead() throws {
        try requireRoot("to chown the admin directory")
        let admin = try Self.makeDirectory()
        let routes = try Self.routesDirectory(adminDirectory: admin)
        defer { try? FileManager.default.removeItem(atPath: admin); try? FileManager.default.removeItem(atPath: routes) }
        // Not JSON: had it been read first, the refusal would be about its contents.
        try "planted by uid 65534".write(toFile: admin + "/state.json", atomically: false, encoding: .utf8)
        #expect(chown(admin, 65534, 65534) == 0)
        let result = try #require(try Self.serveRefusal(admin, routesIn: routes), "serve started on a directory another user owns")
        #expect(result.status == 1)
        #expect(result.output.contains("\(admin) is owned by"), "names the path: \(result.output)")
        #expect(result.output.contains("uid 65534"), "\(result.output)")
        #expect(!result.output.contains("not valid"), "the planted state file was read: \(result.output)")
        #expect(result.output.split(separator: "\n").count == 1, "one line: \(result.output)")
        #expect(!FileManager.default.fileExists(atPath: admin + "/audit.log"), "nothing was written")
    }

    @Test
    func aWritableOrSymlinkedDirectoryIsRefused() throws {
        let good = try Self.makeDirectory()
        let worldWritable = try Self.makeDirectory(mode: 0o777)
        let groupWritable = try Self.makeDirectory(mode: 0o770)
        chmod(worldWritable, 0o777)
        chmod(groupWritable, 0o770)
        let link = NSTemporaryDirectory() + "switchyard-link-\(UUID().uuidString)"
        #expect(symlink(good, link) == 0)
        defer { for path in [good, worldWritable, groupWritable, link] { try? FileManager.default.removeItem(atPath: path) } }
        for (directory, why) in [(worldWritable, "is world-writable"), (groupWritable, "is writable by group"), (link, "is a symlink")] {
            let routes = try Self.routesDirectory(adminDirectory: directory)
            defer { try? FileManager.default.removeItem(atPath: routes) }
            let result = try #require(try Self.serveRefusal(directory, routesIn: routes), "serve started on \(directory)")
            #expect(result.status == 1)
            #expect(result.output.contains("\(directory) \(why)"), "\(result.output)")
        }
        #expect((try? FileManager.default.contentsOfDirectory(atPath: good)) == [], "nothing was created through the link")
    }

    @Test
    func anAuditLogThatIsASymlinkIsRefusedAndItsTargetUntouched() throws {
        let admin = try Self.makeDirectory()
        let routes = try Self.routesDirectory(adminDirectory: admin)
        let target = NSTemporaryDirectory() + "switchyard-target-\(UUID().uuidString)"
        defer { for path in [admin, routes, target] { try? FileManager.default.removeItem(atPath: path) } }
        try "precious\n".write(toFile: target, atomically: false, encoding: .utf8)
        #expect(symlink(target, admin + "/audit.log") == 0)
        let result = try #require(try Self.serveRefusal(admin, routesIn: routes), "serve started with a symlinked audit log")
        #expect(result.status == 1)
        #expect(result.output.contains("audit log \(admin)/audit.log is a symlink"), "\(result.output)")
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "precious\n")
        #expect(!FileManager.default.fileExists(atPath: admin + "/state.json"), "nothing was written")
    }

    @Test func aSymlinkPlantedWhileServingIsNotFollowed() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        let target = h.directory + "/elsewhere"
        try "precious\n".write(toFile: target, atomically: false, encoding: .utf8)
        try? FileManager.default.removeItem(atPath: h.auditPath)
        #expect(symlink(target, h.auditPath) == 0)
        let answer = h.run("flip all")
        #expect(answer.ok, "the change itself stands: \(answer.text)")
        #expect(answer.text.contains("audit record was not written"), "\(answer.text)")
        #expect(answer.text.contains("is a symlink"), "\(answer.text)")
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "precious\n")

        // The state file swapped for a link: the next save replaces the link, not its target.
        try FileManager.default.removeItem(atPath: h.statePath)
        #expect(symlink(target, h.statePath) == 0)
        #expect(h.run("revert").ok)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "precious\n")
        var info = stat()
        #expect(lstat(h.statePath, &info) == 0 && info.st_mode & S_IFMT == S_IFREG, "the state file is a plain file again")
    }

    @Test func aStateFileThatIsASymlinkIsNotRead() throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "{}".write(toFile: directory + "/real.json", atomically: false, encoding: .utf8)
        #expect(symlink(directory + "/real.json", directory + "/state.json") == 0)
        #expect(throws: AdminError("state file \(directory)/state.json is a symlink: refused")) {
            try StateFile.load(path: directory + "/state.json")
        }
        #expect(try StateFile.load(path: directory + "/missing.json") == nil)
    }
}
