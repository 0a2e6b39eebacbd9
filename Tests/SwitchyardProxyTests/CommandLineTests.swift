import Foundation
import Testing
import SwitchyardTestSupport

/// The `switchyard` executable as a user runs it (built by `make test` before the tests).
@Suite struct CommandLineTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try runProcess(try switchyardBinary(), arguments, currentDirectory: Self.root, timeoutSeconds: 30)
    }

    @Test func checkAcceptsEveryExampleRoutesFile() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("routes").path)
            .filter { $0.hasSuffix(".routes") }
        #expect(files.count >= 2)
        for file in files {
            let text = try String(contentsOfFile: Self.root.appendingPathComponent("routes/\(file)").path, encoding: .utf8)
            let result = try run(["check", "routes/\(file)"])
            if text.contains("/etc/switchyard/") {
                // An example for a production host: its certificate files are not on this
                // machine, and check must say so, naming the file.
                #expect(result.status == 1, "\(file): \(result.output)")
                #expect(result.output.contains("/etc/switchyard/"), "\(file): \(result.output)")
            } else {
                #expect(result.status == 0, "\(file): \(result.output)")
                #expect(result.output.contains("ok"))
            }
        }
    }

    @Test func checkRejectsABrokenFileWithLineAndColumn() throws {
        let path = NSTemporaryDirectory() + "broken-\(UUID().uuidString).routes"
        try """
            listen http 127.0.0.1:8080
            backend legacy {
                server 127.0.0.1:9101
            }
            route app {
                backend clowd
            }
            """.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try run(["check", path])
        #expect(result.status == 1)
        #expect(result.output.contains("\(path):6:13:"), "got: \(result.output)")
        #expect(result.output.contains("clowd"))
    }

    /// The admin line's user and group names are resolved by `check` as `serve` resolves
    /// them at start (before, `check` said ok and the start failed: "no such group").
    @Test func checkResolvesTheAdminLinesNames() throws {
        let path = NSTemporaryDirectory() + "names-\(UUID().uuidString).routes"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = { (allow: String) in """
            listen http 127.0.0.1:8080
            admin /tmp/switchyard-check.sock \(allow)
            backend legacy {
                server 127.0.0.1:9101
            }
            route app {
                backend legacy
            }
            """ }
        try file("allow group nosuchgroup-sy").write(toFile: path, atomically: true, encoding: .utf8)
        let refused = try run(["check", path])
        #expect(refused.status == 1 && refused.output.contains("\(path): admin: allow group nosuchgroup-sy: no such group"), "\(refused.output)")
        try file("allow user root allow group root").write(toFile: path, atomically: true, encoding: .utf8)
        let passed = try run(["check", path])
        #expect(passed.status == 0 && passed.output.contains("ok"), "\(passed.output)")
    }

    /// Names are resolved as the start resolves them. `localhost:18080` beside
    /// `127.0.0.1:18080` passed the parser (it compares the text) and both bound through
    /// SO_REUSEPORT, the kernel sharing connections between two listeners at random; a server
    /// name that does not resolve passed `check` and stopped the start.
    @Test func checkAndServeRefuseTwoListenersOnOneResolvedAddress() throws {
        let path = NSTemporaryDirectory() + "shared-\(UUID().uuidString).routes"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = { (second: String, server: String) in """
            listen http 127.0.0.1:18080
            \(second)
            backend legacy {
                server \(server)
            }
            route app {
                backend legacy
            }
            """ }
        try file("listen http localhost:18080 h2c", "127.0.0.1:9101").write(toFile: path, atomically: true, encoding: .utf8)
        let refused = try run(["check", path])
        #expect(refused.status == 1, "\(refused.output)")
        #expect(refused.output.contains("\(path):2:1: listen http localhost:18080 is 127.0.0.1:18080, the address of the listener on line 1"),
                "\(refused.output)")
        let serve = try run(["serve", path])
        #expect(serve.status != 0 && serve.output.contains("line 2: listen http localhost:18080 is 127.0.0.1:18080"), "\(serve.output)")

        try file("listen http 127.0.0.2:18080", "no-such-server.invalid:80").write(toFile: path, atomically: true, encoding: .utf8)
        let unresolved = try run(["check", path])
        #expect(unresolved.status == 1 && unresolved.output.contains("\(path):4:1: backend legacy server no-such-server.invalid:80"),
                "\(unresolved.output)")
        try file("listen http 127.0.0.2:18080", "localhost:9101").write(toFile: path, atomically: true, encoding: .utf8)
        let passed = try run(["check", path])
        #expect(passed.status == 0 && passed.output.contains("ok"), "\(passed.output)")
    }

    @Test func serveRefusesABadFileAndStartsNothing() throws {
        let result = try run(["serve", "/nonexistent/file.routes"])
        #expect(result.status == 1)
        #expect(result.output.contains("/nonexistent/file.routes"))
    }
}
