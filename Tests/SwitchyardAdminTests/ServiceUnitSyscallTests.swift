import Foundation
import Glibc
import Testing
import SwitchyardOrigin
import SwitchyardTestSupport

/// The units' `SystemCallFilter=` against what a serving proxy really calls: a real
/// `switchyard serve` runs under strace with what the packaged routes file turns on (an
/// admin socket for a group) and a mirror (whose comparer lowers its own priority), takes
/// traffic and a change, and stops; every system call it made must be in the set the unit
/// allows, built as systemd builds it from `systemd-analyze syscall-filter`. A call outside
/// it kills the process (without `SystemCallErrorNumber=`): before, `chown` of the admin
/// socket (`@chown`, inside the denied `@privileged`) killed the packaged service at every
/// start, and the comparer's `setpriority` (`@resources`) at the first mirrored answer.
@Suite(.serialized) struct ServiceUnitSyscallTests {
    /// Names in a `@group`, nested groups expanded.
    static func expand(_ token: String, analyze: String, seen: inout Set<String>) throws -> Set<String> {
        guard token.hasPrefix("@") else { return [token] }
        guard seen.insert(token).inserted else { return [] }
        let (status, output) = try runProcess(analyze, ["syscall-filter", token], standardError: .discarded)
        guard status == 0 else { throw TestPrecondition("systemd-analyze syscall-filter \(token) failed") }
        var names = Set<String>()
        for line in output.split(separator: "\n") {
            let word = line.trimmingCharacters(in: .whitespaces)
            if word.isEmpty || word.hasPrefix("#") || word == token { continue }
            names.formUnion(try expand(word, analyze: analyze, seen: &seen))
        }
        return names
    }

    /// The allow-list a unit's `SystemCallFilter=` lines make, in order: the first line
    /// (not `~`) starts it; later plain lines add, `~` lines remove.
    static func allowed(unit: String, analyze: String) throws -> (Set<String>, errorNumber: String?) {
        var allowed: Set<String>?
        var errorNumber: String?
        for line in unit.split(separator: "\n") {
            if line.hasPrefix("SystemCallErrorNumber=") { errorNumber = String(line.dropFirst("SystemCallErrorNumber=".count)) }
            guard line.hasPrefix("SystemCallFilter=") else { continue }
            var value = Substring(line.dropFirst("SystemCallFilter=".count))
            let deny = value.hasPrefix("~")
            if deny { value = value.dropFirst() }
            var names = Set<String>()
            for token in value.split(separator: " ") {
                var seen = Set<String>()
                names.formUnion(try expand(String(token), analyze: analyze, seen: &seen))
            }
            if allowed == nil {
                #expect(!deny, "the unit's first SystemCallFilter= line is an allow-list")
                allowed = names
            } else if deny {
                allowed!.subtract(names)
            } else {
                allowed!.formUnion(names)
            }
        }
        return (allowed ?? [], errorNumber)
    }

    /// The system calls named in an `strace -f` output.
    static func calls(inTrace trace: String) -> Set<String> {
        var names = Set<String>()
        for line in trace.split(separator: "\n") {
            // "1234 name(args…" — skipping "<... name resumed>", signals and exits.
            guard let space = line.firstIndex(of: " ") else { continue }
            let rest = line[line.index(after: space)...].drop { $0 == " " }
            let name = rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
            if !name.isEmpty, rest.dropFirst(name.count).first == "(" { names.insert(String(name)) }
        }
        return names
    }

    @Test(arguments: ["switchyard.service", "switchyard-notify.service"])
    func everySystemCallOfAServingProxyIsAllowedByTheUnitsFilter(unitName: String) throws {
        try requireTools("strace", "systemd-analyze")
        let analyze = try tool("systemd-analyze")
        let unit = try String(contentsOf: ServiceUnitTests.dist.appendingPathComponent(unitName), encoding: .utf8)
        let (allowed, errorNumber) = try Self.allowed(unit: unit, analyze: analyze)
        #expect(allowed.contains("epoll_wait") && allowed.contains("sendmsg"), "the filter was read: \(allowed.count) calls")
        #expect(errorNumber == "EPERM", "a call outside the filter fails instead of killing the proxy")

        let legacy = try OriginServer(name: "legacy"), cloud = try OriginServer(name: "cloud")
        legacy.start(); cloud.start()
        defer { legacy.stop(); cloud.stop() }
        let directory = NSTemporaryDirectory() + "switchyard-seccomp-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let group = String(cString: getgrgid(getegid()).pointee.gr_name)
        try """
            listen http 127.0.0.1:0
            admin \(directory)/admin.sock allow group \(group)
            state \(directory)/state.json
            backend legacy {
                server 127.0.0.1:\(legacy.port)
            }
            backend cloud {
                server 127.0.0.1:\(cloud.port)
            }
            route app {
                split legacy 100% cloud 0%
                mirror cloud 100%
            }
            """.write(toFile: directory + "/test.routes", atomically: true, encoding: .utf8)
        let trace = directory + "/trace.txt"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try tool("strace"))
        process.arguments = ["-f", "-qq", "-o", trace, try switchyardBinary(), "serve", directory + "/test.routes",
                             "--workers", "1", "--error-log", directory + "/error.log"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() } }
        let admin = directory + "/admin.sock"
        try waitFor("the admin socket to answer", seconds: 30) { ServeProcessTests.command(admin, "help") != nil }
        let port = try listeningPort(errorLog: directory + "/error.log")
        for i in 0..<20 {
            #expect(try TestClient(port: port).get("/notes/\(i)")?.status == 200)
        }
        #expect(waitUntil(10) { cloud.requestHeads.count >= 20 }, "the reads were mirrored")
        usleep(2_500_000)   // the guard tick feeds the comparer, whose thread starts
        #expect(ServeProcessTests.command(admin, "weight app cloud 5%")?.contains("generation 2") == true)
        #expect(ServeProcessTests.command(admin, "status")?.contains("cloud") == true)
        // SIGTERM to the proxy (strace's child), then strace ends with it.
        let pid = try #require(Self.childPID(of: process.processIdentifier))
        kill(pid, SIGTERM)
        try waitFor("switchyard to stop", seconds: 30) { !process.isRunning }

        let made = Self.calls(inTrace: try String(contentsOfFile: trace, encoding: .utf8))
        #expect(made.contains("fchownat") || made.contains("chown") || made.contains("fchown"), "the admin socket's group was set: \(made.sorted())")
        #expect(made.contains("setpriority"), "the comparer lowered its priority: \(made.sorted())")
        let refused = made.subtracting(allowed).subtracting(["execve"])   // strace's own exec of the binary
        #expect(refused.isEmpty, "\(unitName) would refuse: \(refused.sorted())")
    }

    /// The process strace started (its only child).
    static func childPID(of parent: Int32) -> Int32? {
        guard let text = try? String(contentsOfFile: "/proc/\(parent)/task/\(parent)/children", encoding: .utf8) else { return nil }
        return text.split(separator: " ").first.flatMap { Int32($0) }
    }
}
