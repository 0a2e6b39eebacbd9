import Foundation
import Testing
import SwitchyardAdmin
import SwitchyardProxy
import SwitchyardRouting
import SwitchyardTestSupport

/// An `AdminHarness` with the metrics listener on 127.0.0.1 port 0, sampling history fast
/// (points every second) so that tests see charts without waiting ten seconds a point.
final class MetricsHarness: @unchecked Sendable {
    let admin: AdminHarness
    let server: MetricsServer
    var port: UInt16 { server.address.port }
    var proxyPort: UInt16 { admin.port }

    init(routes: String = AdminHarness.routes, workers: Int = 2, tickMilliseconds: Int = 200,
         settings: ((inout ProxySettings) -> Void)? = nil) throws {
        admin = try AdminHarness(routes: routes, workers: workers, settings: settings)
        let history = StatusHistory(proxy: admin.proxy, tickMilliseconds: tickMilliseconds, pointSpanSeconds: 1)
        server = try MetricsServer(endpoint: Endpoint(host: "127.0.0.1", port: 0), proxy: admin.proxy,
                                   service: admin.service, history: history)
        server.start()
    }

    func stop() {
        server.stop()
        admin.stop()
    }

    /// One request to the metrics listener on a fresh connection.
    func request(_ path: String, method: String = "GET", host: String? = nil, extra: String = "") throws -> TestClient.Response {
        let client = try TestClient(port: port)
        _ = client.send("\(method) \(path) HTTP/1.1\r\nHost: \(host ?? "127.0.0.1:\(port)")\r\n\(extra)\r\n")
        return try #require(client.readResponse(), "no answer from the metrics listener to \(method) \(path)")
    }

    func scrape() throws -> String {
        let response = try request("/metrics")
        #expect(response.status == 200)
        return response.text
    }
}

/// Samples of a scrape by series (`name{labels}` exactly as written), for exact asserts.
func parseSamples(_ text: String) -> [String: Double] {
    var samples: [String: Double] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        guard let space = line.lastIndex(of: " ") else { continue }
        samples[String(line[..<space])] = Double(line[line.index(after: space)...])
    }
    return samples
}

/// Sends `count` GETs of `path` through the proxy over `connections` keep-alive
/// connections in parallel; returns how many were answered 200.
func sendRequests(port: UInt16, path: String, count: Int, connections: Int = 4) -> Int {
    let answered = OKCounter()
    let group = DispatchGroup()
    for c in 0..<connections {
        group.enter()
        Thread {
            defer { group.leave() }
            let share = count / connections + (c < count % connections ? 1 : 0)
            guard let client = try? TestClient(port: port) else { return }
            for _ in 0..<share where client.get(path)?.status == 200 { answered.add() }
        }.start()
    }
    group.wait()
    return answered.value
}

final class OKCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}
