import Foundation
import Testing
import SwitchyardTestSupport
import SwitchyardAdmin

/// Long-lived tunnels after a flip: they stay unless a drain deadline is given, and
/// `status` counts them per backend so ops can watch a drain finish.
@Suite struct DrainTests {
    func tunnels(_ h: AdminHarness, _ backend: String) throws -> Int {
        let (answer, _) = h.service.execute("json status", caller: AdminHarness.root)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(answer.json.utf8)) as? [String: Any])
        let backends = try #require(object["backends"] as? [[String: Any]])
        return backends.first { $0["name"] as? String == backend }?["open_tunnels"] as? Int ?? -1
    }

    @Test func flipKeepsTunnelsWithoutDrainAndClosesThemAfterTheDeadline() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        // /auth/ is active legacy, standby cloud.
        #expect(try tunnels(h, "legacy") == 0)
        let tunnel = try openTunnelOn(h, path: "/auth/ws")
        #expect(try tunnels(h, "legacy") == 1)
        #expect(h.run("flip auth").ok)
        // Holding for a while proves nothing closes it later: give a close time to happen.
        usleep(300_000)
        #expect(stillOpen(tunnel), "without --drain the tunnel stays")
        #expect(h.run("revert").ok)
        let answer = h.run("flip auth --drain 500ms")
        #expect(answer.ok)
        #expect(answer.text.contains("auth → legacy close in 0.5s"), "\(answer.text)")
        let flipped = Date()
        #expect(stillOpen(tunnel), "not before the deadline")
        #expect(Date().timeIntervalSince(flipped) < 0.4, "(the probe itself was quick)")
        #expect(waitUntil(5) { (try? tunnels(h, "legacy")) == 0 }, "closed after the deadline, and status counts what is left")
        #expect(Date().timeIntervalSince(flipped) >= 0.45, "not before 500 ms")
        #expect(!stillOpen(tunnel), "the tunnel is closed")
    }

    /// `flip --drain`, then `revert` before the deadline: the drain was about the side the
    /// route left, and it is that route's side again. Its order used to stand, and at the
    /// deadline cut every tunnel to it, those opened after the revert too.
    @Test func aRevertBeforeTheDeadlineKeepsTheTunnelsOfTheSideThatIsBack() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        let old = try openTunnelOn(h, path: "/auth/ws")
        #expect(h.run("flip auth --drain 500ms").ok)
        #expect(h.run("revert").ok)
        let opened = try openTunnelOn(h, path: "/auth/ws")
        #expect(try tunnels(h, "legacy") == 2)
        usleep(1_000_000)   // past the deadline
        #expect(stillOpen(opened), "a tunnel opened after the revert stays")
        #expect(stillOpen(old), "so does the one the revert brought back to its active side")
        #expect(try tunnels(h, "legacy") == 2)
        // `drain` names a backend for every route: always carried out.
        #expect(h.run("drain legacy").ok)
        #expect(waitUntil(5) { (try? tunnels(h, "legacy")) == 0 })
    }

    /// `drain` closes what cannot be reopened: it is audited first, and an audit that cannot
    /// be written refuses it with nothing closed (it used to close, then answer "refused").
    @Test func aDrainThatCannotBeAuditedClosesNothing() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        let tunnel = try openTunnelOn(h, path: "/auth/ws")
        try? FileManager.default.removeItem(atPath: h.auditPath)
        try FileManager.default.createDirectory(atPath: h.auditPath, withIntermediateDirectories: false)
        let answer = h.run("drain legacy")
        #expect(!answer.ok, "\(answer.text)")
        usleep(300_000)
        #expect(stillOpen(tunnel), "the refused drain closed nothing")
        try FileManager.default.removeItem(atPath: h.auditPath)
        #expect(h.run("drain legacy").ok)
        #expect(waitUntil(5) { (try? tunnels(h, "legacy")) == 0 })
    }

    func openTunnelOn(_ h: AdminHarness, path: String) throws -> TestClient {
        let client = try TestClient(port: h.port)
        let request = "GET \(path) HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        _ = Array(request.utf8).withUnsafeBytes { write(client.fd, $0.baseAddress, $0.count) }
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = buffer.withUnsafeMutableBytes { read(client.fd, $0.baseAddress, $0.count) }
        #expect(n > 0 && String(decoding: buffer[0..<max(0, n)], as: UTF8.self).hasPrefix("HTTP/1.1 101"))
        return client
    }

    /// The tunnel still echoes.
    func stillOpen(_ client: TestClient) -> Bool {
        let probe = Array("ping".utf8)
        guard probe.withUnsafeBytes({ write(client.fd, $0.baseAddress, $0.count) }) == 4 else { return false }
        var buffer = [UInt8](repeating: 0, count: 16)
        let n = buffer.withUnsafeMutableBytes { read(client.fd, $0.baseAddress, $0.count) }
        return n == 4
    }
}
