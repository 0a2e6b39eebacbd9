import Foundation
import Glibc
import Testing
import SwitchyardTestSupport

/// A real Prometheus scrapes the listener every second; its query API must add up to the
/// requests sent.
@Suite struct PrometheusScrapeTests {
    @Test func aRealPrometheusSumsTheRequestsSent() throws {
        let prometheus = try tool("prometheus")
        let h = try MetricsHarness(routes: MetricsEndpointTests.routes)
        defer { h.stop() }
        let directory = NSTemporaryDirectory() + "switchyard-prometheus-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: switchyard
                static_configs:
                  - targets: ['127.0.0.1:\(h.port)']
            """.write(toFile: directory + "/prometheus.yml", atomically: true, encoding: .utf8)
        let webPort = freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: prometheus)
        process.arguments = ["--config.file=\(directory)/prometheus.yml", "--storage.tsdb.path=\(directory)/data",
                             "--web.listen-address=127.0.0.1:\(webPort)"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        let sent = 700
        #expect(sendRequests(port: h.proxyPort, path: "/", count: 500) + sendRequests(port: h.proxyPort, path: "/auth/x", count: 200) == sent)
        var last = "nothing"
        let matched = waitUntil(60) {
            guard let answer = query(port: webPort, "sum(switchyard_requests_total)") else { return false }
            last = answer
            return answer == "\(sent)"
        }
        #expect(matched, "Prometheus says sum(switchyard_requests_total) = \(last), expected \(sent)")
        // The targets page agrees that the scrape itself is healthy.
        #expect(query(port: webPort, "up{job=\"switchyard\"}") == "1")
    }

    /// The value of an instant query's first sample, as Prometheus writes it; nil until it
    /// has one.
    func query(port: UInt16, _ expression: String) -> String? {
        let encoded = expression.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? expression
        guard let client = try? TestClient(port: port, timeoutSeconds: 5) else { return nil }
        _ = client.send("GET /api/v1/query?query=\(encoded) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n")
        guard let response = client.readResponse(), response.status == 200,
              let json = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
              let data = json["data"] as? [String: Any], let result = data["result"] as? [[String: Any]],
              let value = result.first?["value"] as? [Any], value.count == 2 else { return nil }
        return value[1] as? String
    }

    /// A loopback port nobody listens on right now.
    func freePort() -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in(sin_family: sa_family_t(AF_INET), sin_port: 0, sin_addr: in_addr(s_addr: inet_addr("127.0.0.1")), sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return UInt16(bigEndian: address.sin_port)
    }
}
