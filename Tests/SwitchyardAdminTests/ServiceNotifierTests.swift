import Foundation
import Glibc
import Testing
import SwitchyardOrigin
import SwitchyardTestSupport

/// The systemd notify protocol as a real `switchyard serve` speaks it: a datagram socket
/// plays systemd (at a path and at an abstract `@name`), and the messages are checked
/// exactly, in order.
@Suite(.serialized) struct ServiceNotifierTests {
    struct Setup {
        let directory: String
        let routes: String
        let legacy: OriginServer
        let cloud: OriginServer
        var admin: String { directory + "/admin.sock" }
    }

    static func setUp() throws -> Setup {
        let legacy = try OriginServer(name: "legacy"), cloud = try OriginServer(name: "cloud")
        legacy.start(); cloud.start()
        let directory = NSTemporaryDirectory() + "switchyard-notify-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o750])
        let routes = ServeProcessTests.routes(directory, legacy.port, cloud.port)
        try routes.write(toFile: directory + "/test.routes", atomically: true, encoding: .utf8)
        return Setup(directory: directory, routes: routes, legacy: legacy, cloud: cloud)
    }

    static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
    }

    /// RELOADING=1 with a MONOTONIC_USEC between `before` and now (what systemd compares
    /// with the time it sent SIGHUP).
    static func expectReloading(_ message: String, after before: UInt64) {
        let lines = message.split(separator: "\n").map(String.init)
        #expect(lines.count == 3 && lines[0] == "RELOADING=1" && lines[2] == "STATUS=reloading", "\(message)")
        let usec = lines.count > 1 ? UInt64(lines[1].dropFirst("MONOTONIC_USEC=".count)) : nil
        #expect(lines.count > 1 && lines[1].hasPrefix("MONOTONIC_USEC="), "\(message)")
        #expect(usec.map { $0 >= before && $0 <= monotonicMicroseconds() } == true, "\(message)")
    }

    @Test(arguments: [false, true])
    func startChangeReloadRefusedReloadAndStopAreAnnouncedInOrder(abstract: Bool) throws {
        let setup = try Self.setUp()
        defer { setup.legacy.stop(); setup.cloud.stop(); try? FileManager.default.removeItem(atPath: setup.directory) }
        let systemd = try NotifyReceiver(directory: setup.directory, abstract: abstract)
        let served = try SwitchyardProcess(routesPath: setup.directory + "/test.routes", errorLogPath: setup.directory + "/error.log",
                                           arguments: ["--workers", "2"], environment: ["NOTIFY_SOCKET": systemd.name])
        defer { served.stop() }

        #expect(try systemd.expectNext("READY=1") == "READY=1\nMAINPID=\(served.pid)\nSTATUS=serving, generation 1")

        let answer = try #require(ServeProcessTests.command(setup.admin, "weight app cloud 20%"))
        #expect(answer.contains("generation 2"), "\(answer)")
        #expect(try systemd.expectNext("a change's STATUS") == "STATUS=serving, generation 2")

        var before = Self.monotonicMicroseconds()
        served.signal(SIGHUP)
        Self.expectReloading(try systemd.expectNext("RELOADING=1"), after: before)
        #expect(try systemd.expectNext("READY=1 after the reload") == "READY=1\nSTATUS=serving, generation 3")

        try (setup.routes + "\nroute broken {\n    nonsense here\n}\n").write(toFile: setup.directory + "/test.routes", atomically: true, encoding: .utf8)
        before = Self.monotonicMicroseconds()
        served.signal(SIGHUP)
        Self.expectReloading(try systemd.expectNext("RELOADING=1 of the refused reload"), after: before)
        let refused = try systemd.expectNext("READY=1 after the refused reload")
        #expect(refused.hasPrefix("READY=1\nSTATUS=reload refused, still generation 3: "), "\(refused)")
        #expect(refused.contains("test.routes:"), "the STATUS names the file and line: \(refused)")
        #expect(!refused.dropFirst("READY=1\n".count).contains("\n"), "one STATUS line: \(refused)")

        served.signal(SIGTERM)
        #expect(try systemd.expectNext("STOPPING=1") == "STOPPING=1\nSTATUS=stopping: finishing requests in flight")
        #expect(try served.waitForExit(seconds: 15) == 0)
        #expect(systemd.collect(seconds: 0.3).isEmpty, "nothing after STOPPING=1")
    }

    @Test func watchdogPingsOnlyWhileEveryWorkerLoopTurns() throws {
        let setup = try Self.setUp()
        defer { setup.legacy.stop(); setup.cloud.stop(); try? FileManager.default.removeItem(atPath: setup.directory) }
        let systemd = try NotifyReceiver(directory: setup.directory, abstract: true)
        // 400 ms: a ping every 200 ms; worker 0 of 2 hangs 2 s after the start.
        let served = try SwitchyardProcess(routesPath: setup.directory + "/test.routes", errorLogPath: setup.directory + "/error.log",
                                           arguments: ["--workers", "2"],
                                           environment: ["NOTIFY_SOCKET": systemd.name, "WATCHDOG_USEC": "400000",
                                                         "SWITCHYARD_HANG_WORKER_FOR_TESTING": "2000"])
        defer { served.kill9() }
        // The first ping goes with READY=1 (a process that took over from an upgrade must
        // not wait half an interval after the old one fell silent).
        let ready = try systemd.expectNext("READY=1")
        #expect(ready.hasPrefix("READY=1\n") && ready.hasSuffix("\nWATCHDOG=1"), "\(ready)")
        let healthy = systemd.collect(seconds: 1.5)
        #expect(healthy.count >= 4 && healthy.allSatisfy { $0 == "WATCHDOG=1" }, "\(healthy)")
        // The hang starts at 2 s; pings may still be on their way until about 2.4 s.
        _ = systemd.collect(seconds: 1.2)
        let hung = systemd.collect(seconds: 1.5)
        #expect(hung.isEmpty, "no WATCHDOG=1 while a worker hangs: \(hung)")
        #expect(served.errorLog.contains("watchdog: a worker loop has not turned"), "\(served.errorLog)")
    }

    @Test func aWatchdogMeantForAnotherProcessIsNotFed() throws {
        let setup = try Self.setUp()
        defer { setup.legacy.stop(); setup.cloud.stop(); try? FileManager.default.removeItem(atPath: setup.directory) }
        let systemd = try NotifyReceiver(directory: setup.directory, abstract: false)
        let served = try SwitchyardProcess(routesPath: setup.directory + "/test.routes", errorLogPath: setup.directory + "/error.log",
                                           arguments: ["--workers", "1"],
                                           environment: ["NOTIFY_SOCKET": systemd.name, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"])
        defer { served.stop() }
        #expect(try systemd.expectNext("READY=1").hasPrefix("READY=1\n"))
        #expect(systemd.collect(seconds: 0.8).isEmpty)
    }
}
