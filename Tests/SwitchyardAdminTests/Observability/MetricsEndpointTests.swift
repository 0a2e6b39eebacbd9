import Foundation
import Testing
import SwitchyardAdmin
import SwitchyardTestSupport

/// `/metrics` read by the tools that will read it in production: `promtool check metrics`
/// on a scrape taken under load, and exact counts once the load is over.
@Suite struct MetricsEndpointTests {
    static let routes = """
        listen http 127.0.0.1:0
        backend legacy {
            server 127.0.0.1:LEGACY
        }
        backend cloud {
            server 127.0.0.1:CLOUD
        }
        route app {
            active legacy standby cloud
        }
        route auth {
            path /auth/
            active cloud standby legacy
        }
        """

    @Test func promtoolAcceptsAScrapeTakenUnderLoadAndCountsAreExact() throws {
        let promtool = try tool("promtool")
        let h = try MetricsHarness(routes: Self.routes)
        defer { h.stop() }
        // Load from other threads while this one scrapes.
        let load = DispatchGroup()
        let appAnswered = OKCounter(), authAnswered = OKCounter()
        load.enter()
        Thread {
            for _ in 0..<sendRequests(port: h.proxyPort, path: "/chart/1?patient=123", count: 600) { appAnswered.add() }
            load.leave()
        }.start()
        load.enter()
        Thread {
            for _ in 0..<sendRequests(port: h.proxyPort, path: "/auth/login", count: 400) { authAnswered.add() }
            load.leave()
        }.start()
        try waitFor("traffic to start", seconds: 10) { (parseSamples((try? h.scrape()) ?? "")[#"switchyard_requests_total{route="app",backend="legacy",code="2xx"}"#] ?? 0) > 0 }
        let duringLoad = try h.scrape()
        let file = NSTemporaryDirectory() + "switchyard-scrape-\(UUID().uuidString).txt"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try duringLoad.write(toFile: file, atomically: true, encoding: .utf8)
        let check = try runProcess("/bin/sh", ["-c", "\(promtool) check metrics < \(file)"])
        #expect(check.status == 0, "promtool: \(check.output)")
        #expect(check.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "promtool found problems: \(check.output)")
        try load.wait(seconds: 60, for: "the load")
        #expect(appAnswered.value == 600 && authAnswered.value == 400)

        let samples = parseSamples(try h.scrape())
        #expect(samples[#"switchyard_requests_total{route="app",backend="legacy",code="2xx"}"#] == 600)
        #expect(samples[#"switchyard_requests_total{route="auth",backend="cloud",code="2xx"}"#] == 400)
        #expect(samples[#"switchyard_requests_total{route="app",backend="cloud",code="2xx"}"#] == 0)
        #expect(samples[#"switchyard_requests_total{route="auth",backend="legacy",code="2xx"}"#] == 0)
        #expect(samples[#"switchyard_request_duration_seconds_count{route="app",backend="legacy"}"#] == 600)
        #expect(samples[#"switchyard_request_duration_seconds_bucket{route="app",backend="legacy",le="+Inf"}"#] == 600)
        #expect(samples[#"switchyard_upstream_header_seconds_count{route="auth",backend="cloud"}"#] == 400)
        #expect(samples[#"switchyard_requests_in_flight{route="app",backend="legacy"}"#] == 0)
        #expect(samples[#"switchyard_route_share_ratio{route="app",backend="legacy"}"#] == 1)
        #expect(samples[#"switchyard_route_share_ratio{route="app",backend="cloud"}"#] == 0)
        #expect(samples[#"switchyard_generation"#] == 1)
        #expect(samples["process_open_fds"].map { $0 > 0 } == true)
        #expect(!(try h.scrape()).contains("patient"), "no query string reaches a label")
    }

    @Test func proxyErrorsAreCountedByReason() throws {
        let h = try MetricsHarness(routes: """
            listen http 127.0.0.1:0
            backend legacy {
                server 127.0.0.1:LEGACY
            }
            backend dead {
                server 127.0.0.1:\(deadPort())
            }
            route app {
                active legacy standby dead
            }
            route gone {
                path /gone/
                active dead standby legacy
            }
            """)
        defer { h.stop() }
        #expect(sendRequests(port: h.proxyPort, path: "/gone/x", count: 3, connections: 1) == 0)
        let samples = parseSamples(try h.scrape())
        #expect(samples[#"switchyard_requests_total{route="gone",backend="dead",code="5xx"}"#] == 3)
        #expect((samples[#"switchyard_proxy_errors_total{route="gone",backend="dead",reason="connect"}"#] ?? 0) >= 1)
        #expect(samples[#"switchyard_proxy_errors_total{route="gone",backend="dead",reason="no_server"}"#] == 3)
        #expect(samples[#"switchyard_proxy_errors_total{route="app",backend="legacy",reason="no_server"}"#] == 0)
    }

    @Test func impliedSeriesStartAtZeroAndRemovedOnesDisappearOnReload() throws {
        let h = try MetricsHarness()
        defer { h.stop() }
        let fresh = parseSamples(try h.scrape())
        for pair in [("app", "legacy"), ("app", "cloud"), ("auth", "legacy"), ("auth", "cloud")] {
            #expect(fresh[#"switchyard_requests_total{route="\#(pair.0)",backend="\#(pair.1)",code="5xx"}"#] == 0)
            #expect(fresh[#"switchyard_request_duration_seconds_count{route="\#(pair.0)",backend="\#(pair.1)"}"#] == 0)
        }
        #expect(fresh[#"switchyard_config_reloads_total{result="ok"}"#] == 0)
        #expect(fresh[#"switchyard_admin_changes_total{command="weight"}"#] == 0)
        #expect(sendRequests(port: h.proxyPort, path: "/auth/x", count: 5, connections: 1) == 5)
        // The routes file loses route auth.
        let text = try String(contentsOfFile: h.admin.routesPath, encoding: .utf8)
        let cut = String(text[..<text.range(of: "route auth")!.lowerBound])
        try cut.write(toFile: h.admin.routesPath, atomically: true, encoding: .utf8)
        #expect(h.admin.run("reload").ok)
        #expect(h.admin.run("weight app cloud 20%").ok)
        let after = try h.scrape()
        #expect(!after.contains(#"route="auth""#), "series of a removed route are gone")
        let samples = parseSamples(after)
        #expect(samples[#"switchyard_config_reloads_total{result="ok"}"#] == 1)
        #expect(samples[#"switchyard_admin_changes_total{command="reload"}"#] == 1)
        #expect(samples[#"switchyard_admin_changes_total{command="weight"}"#] == 1)
        #expect(samples[#"switchyard_generation"#] == 3)
        #expect(samples[#"switchyard_route_share_ratio{route="app",backend="cloud"}"#] == 0.2)
    }

    /// A reload refused at its commit (here the state file cannot be replaced) counts as a
    /// failed reload, as one refused while reading the file does. Before, the page kept
    /// "last reload ok" and the failed count stayed 0 — a renewed certificate that could not
    /// be read went unseen.
    @Test func aReloadRefusedAtItsCommitCountsAsFailed() throws {
        let h = try MetricsHarness()
        defer { h.stop() }
        let text = try String(contentsOfFile: h.admin.routesPath, encoding: .utf8)
        try String(text[..<text.range(of: "route auth")!.lowerBound]).write(toFile: h.admin.routesPath, atomically: true, encoding: .utf8)
        try? FileManager.default.removeItem(atPath: h.admin.statePath)
        try FileManager.default.createDirectory(atPath: h.admin.statePath, withIntermediateDirectories: false)
        let refused = h.admin.run("reload")
        #expect(!refused.ok, "\(refused.text)")
        let samples = parseSamples(try h.scrape())
        #expect(samples[#"switchyard_config_reloads_total{result="failed"}"#] == 1)
        #expect(samples[#"switchyard_config_reloads_total{result="ok"}"#] == 0)
    }

    @Test func onlyGETOnKnownPathsWithItsOwnHostIsAnswered() throws {
        let h = try MetricsHarness()
        defer { h.stop() }
        for method in ["POST", "PUT", "DELETE"] {
            let response = try h.request("/metrics", method: method, extra: "Content-Length: 0\r\n")
            #expect(response.status == 405, "\(method)")
            #expect(response.header("Allow") == "GET")
        }
        #expect(try h.request("/metrics", host: "attacker.example").status == 421)
        #expect(try h.request("/", host: "attacker.example:\(h.port)").status == 421)
        #expect(try h.request("/metrics", host: "localhost:\(h.port)").status == 200)
        #expect(try h.request("/nope").status == 404)
        #expect(try h.request("/metrics/../admin").status == 404)
        let page = try h.request("/", extra: "Origin: http://attacker.example\r\n")
        #expect(page.status == 200)
        #expect(!page.head.lowercased().contains("access-control"), "no CORS")
        let json = try h.request("/status.json")
        #expect(json.header("Content-Type") == "application/json")
        #expect(try h.request("/metrics").header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
    }

    /// A loopback port where connects are refused (bound, never listening, kept bound).
    func deadPort() -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in(sin_family: sa_family_t(AF_INET), sin_port: 0, sin_addr: in_addr(s_addr: inet_addr("127.0.0.1")), sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return UInt16(bigEndian: address.sin_port)
    }
}

import Glibc
