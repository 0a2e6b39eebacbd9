import Foundation
import Glibc
import Testing
import SwitchyardTestSupport

/// `make demo` as a newcomer uses it: `switchyard demo` prints what to try, and in a second
/// terminal `switchyard status`, `flip all`, `revert` and `audit verify` work with no flags.
/// It runs on the demo's fixed ports (8080, 9101, 9102, 9180), so only when they are free,
/// and only where the commands cannot reach another proxy: with no flags they would take
/// `$SWITCHYARD_ADMIN` or the packaged socket first (and `audit verify` the packaged log).
@Suite(.serialized) struct DemoTests {
    static var demoCanRunHere: Bool {
        ProcessInfo.processInfo.environment["SWITCHYARD_ADMIN"] == nil
            && access("/run/switchyard/admin.sock", F_OK) != 0 && access("/var/lib/switchyard/audit.log", F_OK) != 0
            && [8080, 9101, 9102, 9180].allSatisfy { port in (try? TestClient(port: UInt16(port), timeoutSeconds: 1)) == nil }
    }

    /// Output collected from the demo on a reader thread.
    final class Output: @unchecked Sendable {
        private let lock = NSLock()
        private var data = Data()
        func append(_ more: Data) { lock.lock(); data.append(more); lock.unlock() }
        var text: String { lock.lock(); defer { lock.unlock() }; return String(decoding: data, as: UTF8.self) }
    }

    @Test(.enabled(if: DemoTests.demoCanRunHere, "a demo or a packaged proxy runs here (ports, socket, audit log)"))
    func theDemoSaysWhatToTryAndTheCommandsWorkWithNoFlags() throws {
        let binary = try switchyardBinary()
        // A demo's saved state (a weight, a hold) from an earlier run would change what it
        // routes: it starts as the file says.
        try? FileManager.default.removeItem(atPath: "/tmp/switchyard-demo/state.json")
        let demo = Process()
        demo.executableURL = URL(fileURLWithPath: binary)
        demo.arguments = ["demo"]
        demo.currentDirectoryURL = repositoryRoot()
        let pipe = Pipe()
        demo.standardOutput = pipe
        demo.standardError = pipe
        demo.standardInput = FileHandle.nullDevice
        let output = Output()
        let reader = pipe.fileHandleForReading
        try demo.run()
        Thread {
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                output.append(chunk)
            }
        }.start()
        defer { if demo.isRunning { kill(demo.processIdentifier, SIGKILL); demo.waitUntilExit() } }
        try waitFor("the demo's banner", seconds: 60) { output.text.contains("Stop with Ctrl-C") || !demo.isRunning }
        let banner = output.text
        for line in ["switchyard status", "switchyard flip all", "switchyard revert", "switchyard hold app",
                     "Cutover page (legacy and cloud side by side): http://127.0.0.1:9180/", "/tmp/switchyard-demo/audit.log"] {
            #expect(banner.contains(line), "the banner says \(line): \(banner)")
        }
        func side(_ path: String) throws -> String {
            let answer = try #require(try TestClient(port: 8080).get(path))
            return String(answer.text.split(separator: " ").first ?? "")
        }
        func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
            try runProcess(binary, arguments, timeoutSeconds: 60)
        }
        #expect(try side("/auth/login") == "cloud")
        let status = try run(["status"])
        #expect(status.status == 0 && status.output.contains("auth (http): active cloud standby legacy"), "\(status.output)")
        let flip = try run(["flip", "all"])
        #expect(flip.status == 0, "\(flip.output)")
        #expect(try side("/auth/login") == "legacy", "flip all moved auth to its standby")
        let revert = try run(["revert"])
        #expect(revert.status == 0, "\(revert.output)")
        #expect(try side("/auth/login") == "cloud", "revert brought it back")
        let verify = try run(["audit", "verify"])
        #expect(verify.status == 0 && verify.output.hasPrefix("/tmp/switchyard-demo/audit.log: ok"), "\(verify.output)")
        // Ctrl-C's signal ends it, at once: nothing is in flight.
        kill(demo.processIdentifier, SIGINT)
        try waitFor("the demo to stop", seconds: 20) { !demo.isRunning }
        #expect(demo.terminationStatus == 0, "\(output.text.suffix(500))")
    }
}
