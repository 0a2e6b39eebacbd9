import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
import SwitchyardProxy

/// "client connections per worker (beyond that the worker stops accepting until below)",
/// set by `limit connections N` in the routes file.
@Suite struct ConnectionLimitTests {
    @Test func aWorkerAtItsConnectionLimitStopsAcceptingUntilBelow() throws {
        let h = try ProxyHarness(routes: """
            limit connections 5
            backend legacy {
                server 127.0.0.1:LEGACY
            }
            route app {
                backend legacy
            }
            """)
        defer { h.stop() }
        var open: [TestClient] = []
        for i in 0..<5 {
            let client = try h.client()
            #expect(client.get("/c\(i)")?.status == 200)
            open.append(client)
        }
        // The kernel completes the sixth handshake, but the worker does not take it.
        let sixth = try h.client(timeoutSeconds: 1)
        sixth.send("GET /sixth HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(sixth.readResponse() == nil, "no answer while the worker holds 5 connections")
        #expect(h.legacy.requestCount == 5, "the sixth request did not reach the backend")
        #expect(h.proxy.stats().openConnections == 5)
        #expect(h.proxy.stats().acceptPauses >= 1)
        // One closes: the sixth is taken and answered.
        open.removeFirst()
        var answer: TestClient.Response?
        #expect(waitUntil(10) {
            answer = sixth.readResponse()
            return answer != nil
        }, "the sixth connection is served once below the limit")
        #expect(answer?.text == "legacy answered GET /sixth\n")
    }

    /// Out of descriptors (a low `ulimit -n`, many clients): the upstream socket cannot even be
    /// made. That is this process's shortage, not the server's: 503, no ejection, no
    /// failover to the other side. Before, three such requests ejected a healthy server and
    /// a `failover` route moved its users to the other side.
    @Test func runningOutOfDescriptorsBlamesNoServer() throws {
        try requireTools("prlimit")
        let setup = try ServeSignalTests.Setup()
        try """
            listen http 127.0.0.1:0
            backend legacy {
                server 127.0.0.1:\(setup.legacy.port)
            }
            backend cloud {
                server 127.0.0.1:\(setup.cloud.port)
            }
            route app {
                active legacy standby cloud
                failover
            }
            """.write(toFile: setup.routesPath, atomically: true, encoding: .utf8)
        let (served, port) = try setup.serve()
        defer { served.stop() }
        // No request before: a pooled upstream connection would need no new descriptor.
        // The limit bounds new descriptor numbers (those open above it stay): the lowest limit
        // that leaves three numbers free, taken by three clients (more wait in the backlog).
        let fds = Set(try FileManager.default.contentsOfDirectory(atPath: "/proc/\(served.pid)/fd").compactMap { Int($0) })
        var limit = 0, free = 0
        while free < 3 { if !fds.contains(limit) { free += 1 }; limit += 1 }
        let limited = try runProcess(try tool("prlimit"), ["--pid", "\(served.pid)", "--nofile=\(limit):\(limit)"])
        try #require(limited.status == 0, "\(limited.output)")
        // Listeners defer accepting until data arrives: each client starts a head.
        var clients: [TestClient] = []
        for _ in 0..<6 {
            let client = try TestClient(port: port, timeoutSeconds: 3)
            #expect(client.send("GET /short HTTP/1.1\r\n"))
            clients.append(client)
        }
        usleep(300_000)
        #expect(clients[0].send("Host: a\r\n\r\n"))
        #expect(clients[0].readResponse()?.status == 503)
        for i in 1..<3 {
            #expect(clients[0].get("/short\(i)")?.status == 503)
        }
        let log = (try? String(contentsOfFile: served.errorLogPath, encoding: .utf8)) ?? ""
        #expect(!log.contains("ejected"), "a server was ejected for our own shortage: \(log)")
        #expect(log.contains("out of local resources"), "\(log)")
        #expect(setup.cloud.requestCount == 0, "no failover to the other side")
        // With descriptors back, legacy serves at once (it was never ejected).
        _ = try runProcess(try tool("prlimit"), ["--pid", "\(served.pid)", "--nofile=4096:4096"])
        clients.removeAll()
        #expect(try TestClient(port: port).get("/after")?.header("X-Origin") == "legacy")
    }

    /// `serve` raises its soft descriptor limit to the hard one: started from a shell (1,024
    /// soft) it would run out long before its connection limit.
    @Test func serveRaisesItsSoftDescriptorLimitToTheHardOne() throws {
        try requireTools("prlimit")
        let setup = try ServeSignalTests.Setup()
        let directory = setup.directory
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try tool("prlimit"))
        process.arguments = ["--nofile=1024:4096", try switchyardBinary(), "serve", setup.routesPath, "--workers", "1",
                             "--error-log", directory + "/error.log"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { process.terminate(); process.waitUntilExit() }
        _ = try listeningPort(errorLog: directory + "/error.log")
        let limits = try String(contentsOfFile: "/proc/\(process.processIdentifier)/limits", encoding: .utf8)
        let line = limits.split(separator: "\n").first { $0.hasPrefix("Max open files") }.map(String.init) ?? ""
        #expect(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst(3).prefix(2) == ["4096", "4096"], "\(line)")
    }
}
