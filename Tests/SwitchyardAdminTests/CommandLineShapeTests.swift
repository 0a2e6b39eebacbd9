import Foundation
import Glibc
import Testing
import SwitchyardOrigin
import SwitchyardTestSupport

/// What people expect of the command line itself: global options before the command word,
/// `version` with the commit, and exit statuses that are written down and kept.
@Suite(.serialized) struct CommandLineShapeTests {
    @Test func adminOptionsWorkBeforeTheCommandWordAsWellAsAfter() throws {
        let legacy = try OriginServer(name: "legacy"), cloud = try OriginServer(name: "cloud")
        legacy.start(); cloud.start()
        defer { legacy.stop(); cloud.stop() }
        let directory = NSTemporaryDirectory() + "switchyard-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let served = try ServeProcessTests.Served(directory: directory, routes: ServeProcessTests.routes(directory, legacy.port, cloud.port))
        defer { served.stop() }
        let binary = try switchyardBinary()
        let before = try runProcess(binary, ["--admin", served.admin, "status"])
        let after = try runProcess(binary, ["status", "--admin", served.admin])
        let equals = try runProcess(binary, ["--admin=\(served.admin)", "status", "--json"])
        #expect(before.status == 0 && before.output.contains("generation"), "\(before.output)")
        #expect(after.status == 0 && after.output == before.output, "\(after.output)")
        #expect(equals.status == 0 && equals.output.hasPrefix("{"), "\(equals.output)")
        let change = try runProcess(binary, ["--admin", served.admin, "--expect-owner", "root", "weight", "app", "cloud", "20%"])
        #expect(change.status == 0 && change.output.contains("cloud 10.00% → 20.00%"), "\(change.output)")
        // The statuses the help promises.
        let refused = try runProcess(binary, ["--admin", served.admin, "weight", "nosuchroute", "cloud", "20%"])
        #expect(refused.status == 1 && refused.output.hasPrefix("error:"), "\(refused.output)")
        let unreachable = try runProcess(binary, ["--admin", directory + "/nothing.sock", "status"])
        #expect(unreachable.status == 2, "\(unreachable.output)")
        let usage = try runProcess(binary, ["--admin", served.admin, "no-such-command"])
        #expect(usage.status == 64, "\(usage.output)")
        let badRoutes = directory + "/bad.routes"
        try "listen nonsense\n".write(toFile: badRoutes, atomically: true, encoding: .utf8)
        #expect(try runProcess(binary, ["check", badRoutes]).status == 1)
    }

    @Test func versionNamesTheCommitItWasBuiltFrom() throws {
        try requireTools("git")
        let binary = try switchyardBinary()
        let version = try runProcess(binary, ["version"])
        let flag = try runProcess(binary, ["--version"])
        #expect(version.status == 0 && version.output == flag.output, "\(version.output) / \(flag.output)")
        let head = try runProcess(try tool("git"), ["-C", repositoryRoot().path, "rev-parse", "--short=12", "HEAD"], standardError: .discarded)
        let commit = head.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(commit.count == 12)
        #expect(version.output.hasPrefix("switchyard ") && version.output.contains("(commit \(commit)"), "\(version.output) vs HEAD \(commit)")
    }

    @Test func helpDocumentsTheExitStatusesAndTheGlobalOptions() throws {
        let help = try runProcess(try switchyardBinary(), ["--help"])
        #expect(help.status == 0)
        for line in ["EXIT STATUS", "  0   done", "  1   refused", "  2   not done", "  3   unknown", "  64  usage", "--admin PATH", "--expect-owner USER|UID",
                     "audit", "version"] {
            #expect(help.output.contains(line), "--help lacks \(line)")
        }
    }
}
