import Foundation
import Glibc
import Testing
import SwitchyardOrigin
import SwitchyardTestSupport

/// SIGUSR1, as logrotate's `postrotate` sends it: the access and error logs are reopened at
/// their paths, and the process lives on.
@Suite struct LogReopeningTests {
    @Test func sigusr1ReopensTheLogsAfterTheyWereRotated() throws {
        try requireTools("curl")
        let legacy = try OriginServer(name: "legacy"), cloud = try OriginServer(name: "cloud")
        legacy.start(); cloud.start()
        defer { legacy.stop(); cloud.stop() }
        let directory = NSTemporaryDirectory() + "switchyard-rotate-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let routes = ServeProcessTests.routes(directory, legacy.port, cloud.port) + "\naccess-log \(directory)/access.log\n"
        try routes.write(toFile: directory + "/test.routes", atomically: true, encoding: .utf8)
        let served = try SwitchyardProcess(routesPath: directory + "/test.routes", errorLogPath: directory + "/error.log",
                                           arguments: ["--workers", "2"])
        defer { served.stop() }
        let port = try listeningPort(errorLog: directory + "/error.log")
        let curl = try tool("curl")
        func get(_ path: String) throws {
            let result = try runProcess(curl, ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)\(path)"])
            #expect(result.output == "200", "\(result.output)")
        }
        func read(_ name: String) -> String { (try? String(contentsOfFile: "\(directory)/\(name)", encoding: .utf8)) ?? "" }

        try get("/before-rotation")
        try waitFor("the first access-log line", seconds: 5) { read("access.log").contains("/before-rotation") }
        #expect(rename("\(directory)/access.log", "\(directory)/access.log.1") == 0)
        #expect(rename("\(directory)/error.log", "\(directory)/error.log.1") == 0)
        served.signal(SIGUSR1)
        try waitFor("the reopened error log", seconds: 5) { read("error.log").contains("log files reopened") }
        try get("/after-rotation")
        try waitFor("the access-log line in the new file", seconds: 5) { read("access.log").contains("/after-rotation") }
        #expect(!read("access.log.1").contains("/after-rotation"))
        #expect(!read("access.log").contains("/before-rotation"))
        #expect(served.process.isRunning)
    }
}
