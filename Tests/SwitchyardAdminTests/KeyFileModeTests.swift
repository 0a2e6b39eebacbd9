import Foundation
import Glibc
import Testing
import SwitchyardTestSupport

/// `check` and `serve` warn about a private key that group or others can read.
@Suite(.serialized) struct KeyFileModeTests {
    @Test func aKeyReadableByOthersIsNamedWithItsMode() throws {
        let binary = try switchyardBinary()
        let directory = NSTemporaryDirectory() + "switchyard-keys-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let made = try runProcess(try tool("openssl"), ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                                        "-nodes", "-days", "1", "-subj", "/CN=localhost",
                                                        "-keyout", directory + "/key.pem", "-out", directory + "/cert.pem"])
        try #require(made.status == 0, "openssl: \(made.output)")
        let key = directory + "/key.pem"
        let routes = ServeProcessTests.routes(directory, 9, 9).replacingOccurrences(
            of: "listen http 127.0.0.1:0", with: "listen http 127.0.0.1:0\nlisten https 127.0.0.1:0 cert \(directory)/cert.pem key \(key)")
        let routesPath = directory + "/test.routes"
        try routes.write(toFile: routesPath, atomically: true, encoding: .utf8)

        chmod(key, 0o644)
        let (status, output) = try runProcess(binary, ["check", routesPath])
        #expect(status == 0, "a warning, not an error: \(output)")
        #expect(output.contains("\(routesPath):2:1: warning: listen https 127.0.0.1:0: private key \(key) is open to group or others (mode 0644)"), "\(output)")

        chmod(key, 0o600)
        let (quiet, quietOutput) = try runProcess(binary, ["check", routesPath])
        #expect(quiet == 0)
        #expect(!quietOutput.contains("warning"), "\(quietOutput)")

        // serve says it in its error log.
        chmod(key, 0o640)
        let served = try ServeProcessTests.Served(directory: directory, routes: routes)
        defer { served.stop() }
        let log = (try? String(contentsOfFile: directory + "/error.log", encoding: .utf8)) ?? ""
        #expect(log.contains("private key \(key) is open to group or others (mode 0640)"), "\(log)")
    }

    @Test func reloadSaysItToo() throws {
        let directory = NSTemporaryDirectory() + "switchyard-keys-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let made = try runProcess(try tool("openssl"), ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                                         "-nodes", "-days", "1", "-subj", "/CN=localhost",
                                                         "-keyout", directory + "/key.pem", "-out", directory + "/cert.pem"])
        try #require(made.status == 0, "openssl: \(made.output)")
        chmod(directory + "/key.pem", 0o600)
        let routes = AdminHarness.routes.replacingOccurrences(
            of: "listen http 127.0.0.1:0", with: "listen http 127.0.0.1:0\nlisten https 127.0.0.1:0 cert \(directory)/cert.pem key \(directory)/key.pem")
        let h = try AdminHarness(routes: routes)
        defer { h.stop() }
        chmod(directory + "/key.pem", 0o604)
        let answer = h.run("reload")
        #expect(answer.ok, "\(answer.text)")
        #expect(answer.text.contains("warning: listen https 127.0.0.1:0: private key \(directory)/key.pem is open to group or others (mode 0604)"),
                "\(answer.text)")
    }
}
