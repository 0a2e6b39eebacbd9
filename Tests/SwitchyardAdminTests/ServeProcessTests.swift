import Foundation
import Glibc
import Synchronization
import Testing
import SwitchyardTestSupport
import SwitchyardOrigin
import SwitchyardSystem

/// `switchyard serve` as a process: state survives kill -9, and the admin socket refuses
/// a real caller of another uid.
@Suite(.serialized) struct ServeProcessTests {
    final class Served: @unchecked Sendable {
        let directory: String
        let process = Process()
        var admin: String { directory + "/admin.sock" }

        init(directory: String, routes: String) throws {
            self.directory = directory
            try routes.write(toFile: directory + "/test.routes", atomically: true, encoding: .utf8)
            // Each start logs afresh, so the port read from the log is this process's.
            try? FileManager.default.removeItem(atPath: directory + "/error.log")
            process.executableURL = URL(fileURLWithPath: try switchyardBinary())
            process.arguments = ["serve", directory + "/test.routes", "--workers", "1", "--error-log", directory + "/error.log"]
            try process.run()
            // A socket file may be left over from a killed run: wait for an answer.
            let admin = admin, process = process
            do {
                try waitFor("the admin socket of `switchyard serve` to answer", seconds: 15) {
                    ServeProcessTests.command(admin, "help") != nil || !process.isRunning
                }
            } catch {
                stop()
                throw error
            }
        }

        /// The HTTP port this process listens on (the routes file says port 0).
        func port() throws -> UInt16 { try listeningPort(errorLog: directory + "/error.log") }

        var errorLog: String { (try? String(contentsOfFile: directory + "/error.log", encoding: .utf8)) ?? "" }

        func kill9() {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        /// SIGTERM; SIGKILL if it has not exited 15 s later.
        func stop() {
            guard process.isRunning else { return }
            process.terminate()
            let deadline = Date().addingTimeInterval(15)
            while process.isRunning && Date() < deadline { usleep(10_000) }
            if process.isRunning { kill9() } else { process.waitUntilExit() }
        }
    }

    /// One command over the admin socket, as `socat` would send it.
    static func command(_ socket: String, _ line: String) -> String? {
        guard let address = SocketAddress(unixPath: socket), let fd = try? Socket.connectBlocking(to: address) else { return nil }
        defer { fd.close() }
        var tv = timeval(tv_sec: 15, tv_usec: 0)
        setsockopt(fd.rawValue, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd.rawValue, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        Array((line + "\n").utf8).withUnsafeBytes { try? fd.writeAll($0) }
        Socket.shutdownWrite(fd)
        var answer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 8192)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd.rawValue, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            answer += chunk[0..<n]
        }
        return String(decoding: answer, as: UTF8.self)
    }

    static func routes(_ directory: String, _ legacy: UInt16, _ cloud: UInt16) -> String {
        """
        listen http 127.0.0.1:0
        admin \(directory)/admin.sock
        state \(directory)/state.json
        backend legacy {
            server 127.0.0.1:\(legacy)
        }
        backend cloud {
            server 127.0.0.1:\(cloud)
        }
        route app {
            split legacy 90% cloud 10%
        }
        """
    }

    func makeDirectory(mode: Int = 0o750) throws -> String {
        let directory = NSTemporaryDirectory() + "switchyard-serve-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: mode])
        return directory
    }

    @Test func stateSurvivesKill9AfterAndDuringChanges() throws {
        let legacy = try OriginServer(name: "legacy"), cloud = try OriginServer(name: "cloud")
        legacy.start(); cloud.start()
        defer { legacy.stop(); cloud.stop() }
        let directory = try makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let routes = Self.routes(directory, legacy.port, cloud.port)

        // Right after an answered change.
        var served = try Served(directory: directory, routes: routes)
        let answer = try #require(Self.command(served.admin, "weight app cloud 20%"))
        #expect(answer.contains("cloud 10.00% → 20.00%"))
        served.kill9()
        served = try Served(directory: directory, routes: routes)
        #expect(Self.command(served.admin, "status")?.contains("cloud 20.00%") == true)

        // During a stream of changes: the state is the last answered one or the one in flight.
        let lastAnswered = Atomic<Int>(20)
        let admin = served.admin
        let stream = Thread {
            for pct in 21...80 {
                if let text = ServeProcessTests.command(admin, "weight app cloud \(pct)%"), text.contains("generation") {
                    lastAnswered.store(pct, ordering: .sequentiallyConsistent)
                } else {
                    return
                }
            }
        }
        stream.start()
        // Killed in the middle of the stream: some changes answered, more on the way.
        #expect(waitUntil(10) { lastAnswered.load(ordering: .sequentiallyConsistent) >= 23 }, "changes are being answered")
        served.kill9()
        let stateText = try String(contentsOfFile: directory + "/state.json", encoding: .utf8)
        #expect(stateText.contains("\"generation\""), "the state file is whole")
        served = try Served(directory: directory, routes: routes)
        defer { served.stop() }
        let status = try #require(Self.command(served.admin, "status"))
        let answered = lastAnswered.load(ordering: .sequentiallyConsistent)
        let restored = (answered...min(80, answered + 1)).contains { status.contains("cloud \($0).00%") }
        #expect(restored, "after kill -9 with \(answered)% answered, status says: \(status)")
        #expect(Self.command(served.admin, "history")?.contains("weight app cloud") == true)
    }

    @Test(.enabled(if: rootOrCI, "needs root, to run the CLI as another uid (under CI=true it fails instead)"))
    func anotherUserIsRefusedOnTheRealSocketAndAudited() throws {
        try requireRoot("setpriv runs the CLI as uid 65534")
        let setpriv = try tool("setpriv")
        let binary = try switchyardBinary()
        let legacy = try OriginServer(name: "legacy"), cloud = try OriginServer(name: "cloud")
        legacy.start(); cloud.start()
        defer { legacy.stop(); cloud.stop() }
        // 0755 so that uid 65534 can reach the socket at all; the socket itself is 0660.
        let directory = try makeDirectory(mode: 0o755)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let served = try Served(directory: directory, routes: Self.routes(directory, legacy.port, cloud.port))
        defer { served.stop() }
        var info = stat()
        stat(served.admin, &info)
        #expect(info.st_mode & 0o777 == 0o660, "the admin socket is not world-writable")

        func asNobody(_ words: [String]) throws -> (Int32, String) {
            try runProcess(setpriv, ["--reuid=65534", "--regid=65534", "--clear-groups", "--", binary]
                           + words + ["--admin", served.admin], timeoutSeconds: 30)
        }
        // With the socket's own mode, another user cannot even connect.
        let (blocked, blockedText) = try asNobody(["status"])
        #expect(blocked != 0)
        #expect(blockedText.contains("cannot reach the proxy"), "\(blockedText)")
        // Opened to everyone, the peer check still refuses changes, and audits that.
        chmod(served.admin, 0o666)
        let (status, text) = try asNobody(["flip", "all"])
        #expect(status == 1)
        #expect(text.contains("may not change routing"), "\(text)")
        let (readStatus, _) = try asNobody(["status"])
        #expect(readStatus == 0)
        let audit = try String(contentsOfFile: directory + "/audit.log", encoding: .utf8)
        #expect(audit.contains("\"outcome\":\"refused\""))
        #expect(audit.contains("\"uid\":65534"))
        #expect(Self.command(served.admin, "status")?.contains("cloud 10.00%") == true, "nothing changed")
    }

    /// The admin routes plus a flip-able route, for restart tests.
    static func restartRoutes(_ directory: String, _ legacy: UInt16, _ cloud: UInt16, withAuth: Bool = true) -> String {
        routes(directory, legacy, cloud) + (withAuth ? """

            route auth {
                path /auth/
                active legacy standby cloud
            }
            """ : "")
    }

    func answeredBy(_ port: UInt16, _ path: String, headers: String = "") throws -> String {
        let response = try #require(try TestClient(port: port).get(path, headers: headers))
        return String(response.text.split(separator: " ").first ?? "")
    }

    @Test func flipsAndRuntimeCohortsSurviveKill9() throws {
        let legacy = try OriginServer(name: "legacy"), cloud = try OriginServer(name: "cloud")
        legacy.start(); cloud.start()
        defer { legacy.stop(); cloud.stop() }
        let directory = try makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let routes = Self.restartRoutes(directory, legacy.port, cloud.port)

        var served = try Served(directory: directory, routes: routes)
        for change in ["weight app legacy 100%", "flip auth", "cohort app add header X-Group pilot -> cloud"] {
            let answer = try #require(Self.command(served.admin, change))
            #expect(answer.contains("generation"), "\(change): \(answer)")
        }
        var port = try served.port()
        #expect(try answeredBy(port, "/auth/x") == "cloud")
        #expect(try answeredBy(port, "/", headers: "X-Group: pilot\r\n") == "cloud")
        #expect(try answeredBy(port, "/") == "legacy")
        served.kill9()

        served = try Served(directory: directory, routes: routes)
        defer { served.stop() }
        port = try served.port()
        #expect(try answeredBy(port, "/auth/x") == "cloud", "the flip came back")
        #expect(try answeredBy(port, "/", headers: "X-Group: pilot\r\n") == "cloud", "the runtime cohort came back")
        for i in 0..<10 {
            #expect(try answeredBy(port, "/u\(i)") == "legacy", "the weight came back (legacy 100%)")
        }
        let status = try #require(Self.command(served.admin, "status"))
        #expect(status.contains("generation 5"), "the generation goes on from the state file: \(status)")
    }

    @Test func aCorruptStateFileStopsTheStartWithAMessage() throws {
        let directory = try makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.routes(directory, 9, 9).write(toFile: directory + "/test.routes", atomically: true, encoding: .utf8)
        try "{\"generation\": 7, \"state\": {\"routes\": [tru".write(toFile: directory + "/state.json", atomically: true, encoding: .utf8)
        // A proxy that started anyway would run until runProcess's deadline kills it.
        let result = try runProcess(try switchyardBinary(), ["serve", directory + "/test.routes", "--error-log", directory + "/error.log"],
                                    timeoutSeconds: 20)
        #expect(result.status == 1, "the start is refused: \(result.output)")
        #expect(result.output.contains(directory + "/state.json"), "the message names the state file: \(result.output)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/admin.sock"), "nothing was started")
        #expect(try String(contentsOfFile: directory + "/state.json", encoding: .utf8).hasSuffix("[tru"), "the file is left for a person to look at")
    }

    /// A second `serve` of the same routes file, typed by hand while the service runs, is
    /// refused before it binds the listener or writes the state file. Before, it joined the
    /// first one's listener (SO_REUSEPORT), so the kernel handed it clients it reset as it
    /// exited, and it wrote the state file with a generation the running one never served.
    @Test func aSecondServeBesideARunningOneStartsNothing() throws {
        let directory = try makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A fixed port: the second process would bind the same one beside the first.
        let probe = try Socket.listen(on: SocketAddress(ip: "127.0.0.1", port: 0)!, reusePort: false)
        let port = try Socket.localAddress(probe).port
        probe.close()
        let routes = Self.routes(directory, 9, 9).replacingOccurrences(of: "127.0.0.1:0", with: "127.0.0.1:\(port)")
        let first = try Served(directory: directory, routes: routes)
        defer { first.stop() }
        #expect(!(Self.command(first.admin, "weight app cloud 20%") ?? "error").hasPrefix("error"))
        let before = try String(contentsOfFile: directory + "/state.json", encoding: .utf8)
        let result = try runProcess(try switchyardBinary(), ["serve", directory + "/test.routes", "--error-log", directory + "/second.log"],
                                    timeoutSeconds: 20)
        #expect(result.status == 1, "the second start is refused: \(result.output)")
        #expect(result.output.contains("another switchyard is already listening on \(first.admin)") && result.output.contains("nothing started"),
                "\(result.output)")
        let secondLog = (try? String(contentsOfFile: directory + "/second.log", encoding: .utf8)) ?? ""
        #expect(!secondLog.contains("listening on http://"), "no listener was bound: \(secondLog)")
        #expect(try String(contentsOfFile: directory + "/state.json", encoding: .utf8) == before, "the state file is as the first one wrote it")
        #expect(first.process.isRunning && (Self.command(first.admin, "status") ?? "").contains("generation"), "the first one serves on")
    }

    @Test func namesRemovedFromTheRoutesFileAreDroppedWithAnAuditWarning() throws {
        let legacy = try OriginServer(name: "legacy"), cloud = try OriginServer(name: "cloud")
        legacy.start(); cloud.start()
        defer { legacy.stop(); cloud.stop() }
        let directory = try makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }

        var served = try Served(directory: directory, routes: Self.restartRoutes(directory, legacy.port, cloud.port))
        #expect(Self.command(served.admin, "flip auth")?.contains("generation") == true)
        #expect(Self.command(served.admin, "weight app cloud 30%")?.contains("generation") == true)
        served.stop()

        // The auth route is gone from the file; the app route's weight must survive.
        served = try Served(directory: directory, routes: Self.restartRoutes(directory, legacy.port, cloud.port, withAuth: false))
        defer { served.stop() }
        let status = try #require(Self.command(served.admin, "status"))
        #expect(status.contains("cloud 30.00%"), "what still exists is restored: \(status)")
        #expect(!status.contains("auth"), "\(status)")
        let audit = try String(contentsOfFile: directory + "/audit.log", encoding: .utf8)
        let warning = audit.split(separator: "\n").first { $0.contains("\"outcome\":\"warning\"") }
        #expect(warning?.contains("route \\\"auth\\\" no longer exists") == true, "an audit warning names the dropped route: \(audit)")
        #expect(served.errorLog.contains("route \"auth\" no longer exists"), "and the error log says it: \(served.errorLog)")
        #expect(try answeredBy(try served.port(), "/auth/x") != "", "the proxy serves")
    }

    @Test func anAdminSocketInAWorldWritableDirectoryStopsTheStart() throws {
        let directory = try makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let open = directory + "/open"
        try FileManager.default.createDirectory(atPath: open, withIntermediateDirectories: false)
        chmod(open, 0o777)   // explicit: the umask would narrow a mode given at creation
        try """
            listen http 127.0.0.1:0
            admin \(open)/admin.sock
            state \(directory)/state.json
            backend legacy {
                server 127.0.0.1:9
            }
            route app {
                backend legacy
            }
            """.write(toFile: directory + "/test.routes", atomically: true, encoding: .utf8)
        let result = try runProcess(try switchyardBinary(), ["serve", directory + "/test.routes", "--error-log", directory + "/error.log"],
                                    timeoutSeconds: 20)
        #expect(result.status == 1, "\(result.output)")
        #expect(result.output.contains("\(open) is world-writable"), "\(result.output)")
        #expect(!FileManager.default.fileExists(atPath: open + "/admin.sock"))
    }

    @Test(.enabled(if: rootOrCI, "needs root, to give the socket a group it is not in (under CI=true it fails instead)"))
    func theAdminSocketBelongsToTheFirstAllowedGroup() throws {
        try requireRoot("chown to a group the test is not in")
        let legacy = try OriginServer(name: "legacy"), cloud = try OriginServer(name: "cloud")
        legacy.start(); cloud.start()
        defer { legacy.stop(); cloud.stop() }
        let nogroup = try #require(getgrnam("nogroup"), "the nogroup group exists on Debian").pointee.gr_gid
        func socketGroup(allowing groups: String) throws -> (gid: gid_t, mode: mode_t) {
            let directory = try makeDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let routes = Self.routes(directory, legacy.port, cloud.port)
                .replacingOccurrences(of: "admin \(directory)/admin.sock", with: "admin \(directory)/admin.sock \(groups)")
            let served = try Served(directory: directory, routes: routes)
            defer { served.stop() }
            var info = stat()
            #expect(stat(served.admin, &info) == 0)
            return (info.st_gid, info.st_mode & 0o777)
        }
        let one = try socketGroup(allowing: "allow group nogroup")
        #expect(one.gid == nogroup, "the socket's group is the `allow group`")
        #expect(one.mode == 0o660)
        let two = try socketGroup(allowing: "allow group nogroup allow group root")
        // The first named group, not the smallest gid (root would win over nogroup).
        #expect(two.gid == nogroup, "the first `allow group` (nogroup), not \(two.gid)")
    }
}
