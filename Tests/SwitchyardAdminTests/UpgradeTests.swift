import Foundation
import Glibc
import Testing
import SwitchyardOrigin
import SwitchyardSystem
import SwitchyardTestSupport

/// `switchyard upgrade` between real processes: the new process takes every listening
/// socket over through the admin socket (SCM_RIGHTS), serves the same generation, and the
/// old one drains — under wrk's load, without a failed request or a refused connection.
@Suite(.serialized) struct UpgradeTests {
    final class Setup: @unchecked Sendable {
        let legacy: OriginServer
        let cloud: OriginServer
        let directory: String
        var admin: String { directory + "/admin.sock" }
        var routesPath: String { directory + "/test.routes" }
        var errorLog: String { directory + "/error.log" }
        /// Processes to kill at the end (the ones upgrades started are not our children).
        var pids: Set<Int32> = []

        init(listen: String = "127.0.0.1:0") throws {
            legacy = try OriginServer(name: "legacy")
            cloud = try OriginServer(name: "cloud")
            legacy.start(); cloud.start()
            directory = NSTemporaryDirectory() + "switchyard-upgrade-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
            try ServeProcessTests.routes(directory, legacy.port, cloud.port)
                .replacingOccurrences(of: "listen http 127.0.0.1:0", with: "listen http \(listen)")
                .write(toFile: routesPath, atomically: true, encoding: .utf8)
        }

        /// Starts `serve` detached from the test process (through `sh … &`): the process an
        /// upgrade replaces exits while its successor, its own child, lives on, and a test
        /// process must not be left waiting to reap either. Its pid and port.
        /// `activation`: a listening socket passed as systemd does (fd 3, `LISTEN_FDS=1`,
        /// `LISTEN_PID` the process's own pid, `LISTEN_FDNAMES=web`).
        func serve(environment: [String: String] = [:], activation: Int32? = nil) throws -> (pid: Int32, port: UInt16) {
            let variables = environment.map { "\($0.key)='\($0.value)'" }.joined(separator: " ")
            let command = "\(variables) exec '\(try switchyardBinary())' serve '\(routesPath)' --workers 2 --error-log '\(errorLog)' "
                + "</dev/null >>'\(directory)/console.log' 2>&1"
            if let activation { return try serveActivated(activation) }
            // No pipe to the test: the background job would hold it open for good.
            let launcher = Process()
            launcher.executableURL = URL(fileURLWithPath: try tool("sh"))
            launcher.arguments = ["-c", "(\(command)) & echo $! > '\(directory)/serve.pid'"]
            launcher.standardInput = FileHandle.nullDevice
            launcher.standardOutput = FileHandle.nullDevice
            launcher.standardError = FileHandle.nullDevice
            try? FileManager.default.removeItem(atPath: directory + "/serve.pid")
            try launcher.run()
            var started: Int32?
            try waitFor("the pid of the started serve", seconds: 15) {
                started = (try? String(contentsOfFile: directory + "/serve.pid", encoding: .utf8))
                    .flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
                return started != nil
            }
            let pid = started!
            pids.insert(pid)
            let port = try listeningPort(errorLog: errorLog)
            try waitFor("the admin socket", seconds: 15) { ServeProcessTests.command(admin, "help") != nil }
            return (pid, port)
        }

        /// `switchyard upgrade ARGS…` through the CLI: its status and answer; the new pid.
        func upgrade(_ arguments: [String] = []) throws -> (status: Int32, output: String, newPID: Int32?) {
            let result = try runProcess(try switchyardBinary(), ["--admin", admin, "upgrade"] + arguments, timeoutSeconds: 60)
            var newPID: Int32?
            if let range = result.output.range(of: #"→ [0-9]+"#, options: .regularExpression) {
                newPID = Int32(result.output[range].dropFirst(2))
                pids.insert(newPID!)
            }
            return (result.status, result.output, newPID)
        }

        /// posix_spawn, so that the socket lands on fd 3 (Foundation's Process closes what it
        /// does not know); sh's `$$` is the pid the exec keeps, as systemd's LISTEN_PID is.
        private func serveActivated(_ socket: Int32) throws -> (pid: Int32, port: UInt16) {
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_adddup2(&actions, socket, 3)
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, directory + "/console.log", O_WRONLY | O_CREAT | O_APPEND, 0o644)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
            let argv = [try tool("sh"), "-c", #"LISTEN_PID=$$ exec "$0" "$@""#, try switchyardBinary(), "serve", routesPath,
                        "--workers", "2", "--error-log", errorLog]
            var environment = ProcessInfo.processInfo.environment
            environment["LISTEN_FDS"] = "1"
            environment["LISTEN_FDNAMES"] = "web"
            let envp = environment.map { "\($0.key)=\($0.value)" }
            var pid: Int32 = 0
            let cArgv = argv.map { strdup($0) } + [nil], cEnvp = envp.map { strdup($0) } + [nil]
            defer { (cArgv + cEnvp).forEach { free($0) } }
            let result = posix_spawn(&pid, argv[0], &actions, nil, cArgv, cEnvp)
            guard result == 0 else { throw TestPrecondition("posix_spawn: \(String(cString: strerror(result)))") }
            pids.insert(pid)
            let port = try listeningPort(errorLog: errorLog)
            try waitFor("the admin socket", seconds: 15) { ServeProcessTests.command(admin, "help") != nil }
            return (pid, port)
        }

        var errorLogText: String { (try? String(contentsOfFile: errorLog, encoding: .utf8)) ?? "" }

        func generation() -> String? {
            ServeProcessTests.command(admin, "status")?.split(separator: "\n").first { $0.contains("generation") }.map(String.init)
        }

        deinit {
            // Killed and reaped: posix_spawn's child is ours to wait for (Foundation's
            // Process never saw it). Left a zombie, it made Swift Testing's exit-test monitor
            // (waitid(P_ALL, WNOWAIT) in a loop) spin on it for good, and an exit test running
            // after it never learnt its own child's status: the whole run hung (a CI run did).
            // A pid that is not our child (an upgrade's new process) answers ECHILD at once.
            for pid in pids {
                kill(pid, SIGKILL)
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            }
            legacy.stop(); cloud.stop()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    static func alive(_ pid: Int32) -> Bool {
        // Our own child (socket activation): reap it if it exited.
        var exitStatus: Int32 = 0
        _ = waitpid(pid, &exitStatus, WNOHANG)
        // A zombie (exited, not yet reaped by its parent) counts as gone.
        guard kill(pid, 0) == 0 else { return false }
        let status = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        return !status.contains(") Z ")
    }

    /// wrk's counts: requests, socket errors (connect, read, write, timeout), non-2xx.
    static func wrkCounts(_ output: String) -> (requests: Int, errors: [Int], non2xx: Int) {
        func number(after label: String) -> Int? {
            guard let range = output.range(of: label) else { return nil }
            return Int(output[range.upperBound...].prefix { $0.isNumber })
        }
        let requests = output.range(of: #"[0-9]+ requests in"#, options: .regularExpression)
            .flatMap { Int(output[$0].prefix { $0.isNumber }) } ?? 0
        let errors = ["connect ", "read ", "write ", "timeout "].map { number(after: $0) ?? 0 }
        return (requests, errors, number(after: "Non-2xx or 3xx responses: ") ?? 0)
    }

    @Test func tenUpgradesUnderLoadFailNoRequestAndKeepTheGeneration() throws {
        try requireTools("wrk")
        let setup = try Setup()
        let (first, port) = try setup.serve()
        let change = ServeProcessTests.command(setup.admin, "weight app cloud 30%") ?? ""
        #expect(change.contains("generation 2"), "\(change)")
        let generation = try #require(setup.generation())

        // 64 connections for the whole run; ten upgrades in its middle. A request is failed
        // when it gets an error or no answer, not when it is slow: wrk's own 2 s limit counted
        // 27 answers that took longer on a loaded CI machine (parallel suites, etcd clusters,
        // debug builds starting) as errors, while alone the slowest took 48 ms.
        let wrk = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var wrkOutput = ""
        Thread {
            wrkOutput = (try? runProcess(toolPath("wrk"), ["-t2", "-c64", "-d20s", "--timeout", "15s", "--latency", "http://127.0.0.1:\(port)/"],
                                         timeoutSeconds: 60).output) ?? "wrk did not run"
            wrk.signal()
        }.start()
        usleep(1_500_000)
        var previous = first
        var transcript: [String] = []
        for round in 1...10 {
            let result = try setup.upgrade()
            transcript.append(result.output.trimmingCharacters(in: .whitespacesAndNewlines))
            #expect(result.status == 0, "upgrade \(round): \(result.output)")
            let new = try #require(result.newPID, "upgrade \(round): \(result.output)")
            #expect(setup.generation() == generation, "upgrade \(round): the new process serves the same generation")
            try waitFor("pid \(previous) to drain and exit after upgrade \(round)", seconds: 15) { !Self.alive(previous) }
            previous = new
            usleep(300_000)
        }
        try wrk.wait(seconds: 60, for: "wrk")
        let counts = Self.wrkCounts(wrkOutput)
        print("upgrade transcript:\n" + transcript.joined(separator: "\n") + "\nwrk:\n" + wrkOutput)
        #expect(counts.requests > 1000, "\(wrkOutput)")
        #expect(counts.errors == [0, 0, 0, 0], "socket errors (connect, read, write, timeout): \(counts.errors)\n\(wrkOutput)")
        #expect(counts.non2xx == 0, "\(wrkOutput)")
        #expect(Self.alive(previous))
        // The audit log records each upgrade, and the chain holds across the processes.
        let verify = try runProcess(try switchyardBinary(), ["audit", "verify", setup.directory + "/audit.log"])
        #expect(verify.status == 0 && verify.output.contains("ok — 11 record(s)"), "\(verify.output)")
        kill(previous, SIGTERM)
        try waitFor("the last process to stop", seconds: 15) { !Self.alive(previous) }
        // Its socket file (renamed into place at its upgrade) goes with it.
        #expect(!FileManager.default.fileExists(atPath: setup.admin), "the admin socket file is removed at stop")
    }

    @Test func upgradeAnswersOnlyOnceTheNewAdminSocketHasThePath() throws {
        // The new process is slow to move its socket into place: the old one must not answer
        // (and stop accepting on its own socket) before, or the next command finds no one.
        let setup = try Setup()
        let (first, _) = try setup.serve(environment: ["SWITCHYARD_SLOW_MOVE_IN_FOR_TESTING": "1500"])
        let generation = try #require(setup.generation())
        let started = Date()
        let result = try setup.upgrade()
        #expect(result.status == 0, "\(result.output)")
        let new = try #require(result.newPID, "\(result.output)")
        #expect(Date().timeIntervalSince(started) >= 1.5, "answered before the new socket took the path")
        #expect(setup.generation() == generation, "the next command is answered at once")
        try waitFor("pid \(first) to exit", seconds: 15) { !Self.alive(first) }
        #expect(setup.generation() == generation, "the old process's exit left the new socket file in place")
        kill(new, SIGTERM)
        try waitFor("the new process to stop", seconds: 15) { !Self.alive(new) }
    }

    /// The routes file's `state` line edited before an upgrade: the new process would read
    /// another state file and serve the file's defaults at generation 1 — every flip and
    /// weight since lost — while the trail said "upgrade". It is refused and the old process
    /// serves on. Another edit, not reloaded, takes effect with the upgrade (the way to
    /// change listeners), and the upgrade's audit record says the file had changed.
    @Test func aNewProcessThatWouldServeAnotherGenerationIsRefusedAndAnEditIsAudited() throws {
        let setup = try Setup()
        let (served, _) = try setup.serve()
        #expect(ServeProcessTests.command(setup.admin, "weight app cloud 20%")?.contains("generation 2") == true)
        let original = try String(contentsOfFile: setup.routesPath, encoding: .utf8)
        try original.replacingOccurrences(of: "/state.json", with: "/elsewhere.json").write(toFile: setup.routesPath, atomically: true, encoding: .utf8)
        let refused = try setup.upgrade()
        #expect(refused.status == 1, "\(refused.output)")
        let console = (try? String(contentsOfFile: setup.directory + "/console.log", encoding: .utf8)) ?? ""
        #expect(console.contains("upgrade refused: this process would serve generation 1") && console.contains("serves generation 2"), "\(console)")
        #expect(Self.alive(served))
        #expect(ServeProcessTests.command(setup.admin, "status")?.contains("cloud 20.00%") == true, "still the weight of generation 2")

        try original.replacingOccurrences(of: "split legacy 90% cloud 10%", with: "split legacy 70% cloud 30%")
            .write(toFile: setup.routesPath, atomically: true, encoding: .utf8)
        let upgraded = try setup.upgrade()
        #expect(upgraded.status == 0, "\(upgraded.output)")
        let audit = (try? String(contentsOfFile: setup.directory + "/audit.log", encoding: .utf8)) ?? ""
        let record = audit.split(separator: "\n").last { $0.contains("\"upgrade") } ?? ""
        #expect(record.contains("changed since it was last loaded"), "\(record)")
        if let new = upgraded.newPID {
            kill(new, SIGTERM)
            try waitFor("the new process to stop", seconds: 15) { !Self.alive(new) }
        }
    }

    /// The read-only HTTP listener (`metrics ADDRESS`) is handed over with the others: the
    /// old process holds its port until it stops, so the new one, binding it afresh, exited
    /// with "Address already in use" and every upgrade of such a file failed.
    @Test func anUpgradeHandsTheCutoverPagesListenerOver() throws {
        let probe = try Socket.listen(on: try SocketAddress.resolve(host: "127.0.0.1", port: 0), reusePort: false, backlog: 1)
        let port = try Socket.localAddress(probe).port
        probe.close()
        let setup = try Setup()
        let text = try String(contentsOfFile: setup.routesPath, encoding: .utf8)
        try (text + "\nmetrics 127.0.0.1:\(port)\n").write(toFile: setup.routesPath, atomically: true, encoding: .utf8)
        let (first, _) = try setup.serve()
        func scrape() throws -> String {
            try runProcess(try tool("curl"), ["-s", "--max-time", "5", "http://127.0.0.1:\(port)/metrics"]).output
        }
        #expect(try scrape().contains("switchyard_"))
        let result = try setup.upgrade()
        #expect(result.status == 0, "\(result.output)")
        let new = try #require(result.newPID, "\(result.output)")
        try waitFor("pid \(first) to exit", seconds: 15) { !Self.alive(first) }
        #expect(try scrape().contains("switchyard_"), "the new process serves the page on the same port")
        kill(new, SIGTERM)
        try waitFor("the new process to stop", seconds: 15) { !Self.alive(new) }
    }

    /// What the old process counted for the inventory (and the comparison) up to the hand-
    /// over is the new process's baseline. Before, the new process read the files at its
    /// start — the old one's last periodic save, up to a minute behind — and its next save
    /// wrote over the old one's final save: that minute was gone from `inventory` and
    /// `simulate` for good (a once-a-day caller among it).
    @Test func theInventoryCountedUpToTheUpgradeIsKeptByTheNewProcess() throws {
        let setup = try Setup()
        let (first, port) = try setup.serve()
        for _ in 0..<5 { #expect(try TestClient(port: port).get("/upgrade-probe")?.status == 200) }
        let result = try setup.upgrade()
        #expect(result.status == 0, "\(result.output)")
        let new = try #require(result.newPID, "\(result.output)")
        try waitFor("pid \(first) to exit", seconds: 15) { !Self.alive(first) }
        let answer = try #require(ServeProcessTests.command(setup.admin, "inventory"))
        let row = answer.split(separator: "\n").first { $0.contains("GET /upgrade-probe") }.map(String.init) ?? ""
        // "GET /upgrade-probe   legacy 4/0  cloud 1/0": requests per side, whichever side each went to.
        let words = row.split(separator: " ")
        let requests = zip(words, words.dropFirst()).filter { ["legacy", "cloud"].contains($0.0) }
            .compactMap { Int($0.1.split(separator: "/").first ?? "") }.reduce(0, +)
        #expect(requests == 5, "the new process's inventory: \(answer)")
        kill(new, SIGTERM)
        try waitFor("the new process to stop", seconds: 15) { !Self.alive(new) }
    }

    @Test func aNewProcessWhoseSocketCannotTakeThePathServesOnAndSaysWhere() throws {
        try requireTools("curl")
        let setup = try Setup()
        let (first, port) = try setup.serve(environment: ["SWITCHYARD_FAIL_MOVE_IN_FOR_TESTING": "1"])
        let generation = try #require(setup.generation())
        let result = try setup.upgrade()
        #expect(result.status == 0, "the hand-over stands: \(result.output)")
        let new = try #require(result.newPID, "\(result.output)")
        try waitFor("pid \(first) to drain and exit", seconds: 15) { !Self.alive(first) }
        // Stopping would have left nobody serving: the new process answers requests, and
        // its admin socket where it was bound.
        #expect(Self.alive(new))
        let curl = try runProcess(try tool("curl"), ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/"])
        #expect(curl.output == "200")
        let beside = setup.admin + ".upgrade"
        #expect(ServeProcessTests.command(beside, "status")?.contains(generation) == true)
        #expect(setup.errorLogText.contains("the admin socket answers at \(beside) until a restart"), "\(setup.errorLogText)")
        // The operator who typed `upgrade` is told too, not only the error log.
        #expect(result.output.contains("could not move its admin socket into place: it answers at \(beside)"), "\(result.output)")
        kill(new, SIGTERM)
        try waitFor("the new process to stop", seconds: 15) { !Self.alive(new) }
    }

    @Test func aMissingOrBrokenBinaryOrASecondUpgradeLeavesTheOldProcessServing() throws {
        try requireTools("curl")
        let setup = try Setup()
        let (served, port) = try setup.serve()
        let generation = try #require(setup.generation())
        let missing = try setup.upgrade(["--binary", setup.directory + "/nothing"])
        #expect(missing.status == 1 && missing.output.contains("is not an executable file; still serving (pid \(served)"), "\(missing.output)")
        let script = setup.directory + "/broken.sh"
        try "#!/bin/sh\necho broken on purpose >&2\nexit 3\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let broken = try setup.upgrade(["--binary", script])
        #expect(broken.status == 1 && broken.output.contains("exited with status 3 before taking over"), "\(broken.output)")
        let garbage = setup.directory + "/garbage"
        try "not a program".write(toFile: garbage, atomically: true, encoding: .utf8)
        chmod(garbage, 0o755)
        let notProgram = try setup.upgrade(["--binary", garbage])
        #expect(notProgram.status == 1 && notProgram.output.contains("Exec format error"), "\(notProgram.output)")

        // A second upgrade while one runs: the first waits on a binary that sleeps.
        let slow = setup.directory + "/slow.sh"
        try "#!/bin/sh\nsleep 2\nexit 1\n".write(toFile: slow, atomically: true, encoding: .utf8)
        chmod(slow, 0o755)
        let firstDone = DispatchSemaphore(value: 0)
        Thread { _ = try? setup.upgrade(["--binary", slow]); firstDone.signal() }.start()
        usleep(500_000)
        let second = try setup.upgrade()
        #expect(second.status == 1 && second.output.contains("an upgrade is already under way"), "\(second.output)")
        try firstDone.wait(seconds: 30, for: "the slow upgrade to fail")

        // Still the same process, generation and answers; changes allowed again.
        #expect(Self.alive(served))
        #expect(setup.generation() == generation)
        let curl = try runProcess(try tool("curl"), ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/"])
        #expect(curl.output == "200")
        #expect(ServeProcessTests.command(setup.admin, "weight app cloud 20%")?.contains("generation") == true)
    }

    @Test func systemdHearsTheNewMainPIDThenItsReadyAndNoStopFromTheOld() throws {
        let setup = try Setup()
        let systemd = try NotifyReceiver(directory: setup.directory, abstract: true)
        let (served, _) = try setup.serve(environment: ["NOTIFY_SOCKET": systemd.name])
        #expect(try systemd.expectNext("READY=1") == "READY=1\nMAINPID=\(served)\nSTATUS=serving, generation 1")
        let result = try setup.upgrade()
        let new = try #require(result.newPID, "\(result.output)")
        #expect(try systemd.expectNext("MAINPID=") == "MAINPID=\(new)\nSTATUS=handed over to pid \(new)")
        #expect(try systemd.expectNext("the new READY=1") == "READY=1\nMAINPID=\(new)\nSTATUS=serving, generation 1")
        try waitFor("the old process to exit", seconds: 15) { !Self.alive(served) }
        #expect(systemd.collect(seconds: 0.5).isEmpty, "the old process says nothing after handing over")
        kill(new, SIGTERM)
        #expect(try systemd.expectNext("the new process's STOPPING=1").hasPrefix("STOPPING=1"))
    }

    @Test func socketActivationServesSystemdsSocketSoARestartRefusesNothing() throws {
        try requireTools("curl")
        // The test plays systemd: it owns the listening socket across restarts.
        let socket = try Socket.listen(on: SocketAddress(ip: "127.0.0.1", port: 0)!, reusePort: false)
        defer { socket.close() }
        #expect(fcntl(socket.rawValue, F_SETFD, 0) == 0, "inherited by the processes the test starts")
        let port = try Socket.localAddress(socket).port
        let setup = try Setup(listen: "127.0.0.1:\(port)")
        let (first, served) = try setup.serve(activation: socket.rawValue)
        // Binding 127.0.0.1:port itself would have failed: the test's socket has no SO_REUSEPORT.
        #expect(served == port)
        let curl = try tool("curl")
        #expect(try runProcess(curl, ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/"]).output == "200")

        // A restart: between the two processes nobody accepts, and a client's connection
        // waits in the socket's queue instead of being refused.
        kill(first, SIGTERM)
        try waitFor("the first process to stop", seconds: 15) { !Self.alive(first) }
        let waiting = try TestClient(port: port, timeoutSeconds: 20)
        #expect(waiting.send("GET /during-the-restart HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
        // Let the first process's error-log lines not stand for the second's.
        try? FileManager.default.removeItem(atPath: setup.errorLog)
        let (second, _) = try setup.serve(activation: socket.rawValue)
        let answer = String(decoding: waiting.readToEnd(), as: UTF8.self)
        #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")

        // And an upgrade of a socket-activated process hands systemd's socket on.
        let upgraded = try setup.upgrade()
        #expect(upgraded.status == 0, "\(upgraded.output)")
        try waitFor("the activated process to hand over and exit", seconds: 15) { !Self.alive(second) }
        #expect(try runProcess(curl, ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/"]).output == "200")
        #expect(!setup.errorLogText.contains("matches no listen line"), "\(setup.errorLogText)")
    }
}
