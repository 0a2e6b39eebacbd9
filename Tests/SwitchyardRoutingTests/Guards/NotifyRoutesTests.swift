import Testing
@testable import SwitchyardRouting

/// `notify` lines: read into `RoutesConfig.notify`; bad ones at file:line:col.
@Suite struct NotifyRoutesTests {
    @Test func readsNotifyTargets() throws {
        let config = try RoutesConfig.parse("notify exec /usr/local/bin/page-oncall\nnotify post http://127.0.0.1:9000/hooks/switchyard\n"
                                            + "notify post https://oncall.example:8443/hooks ca /etc/ssl/oncall-ca.pem\nnotify post https://oncall.example:443/x\n"
                                            + twoBackends + "route app {\n    backend legacy\n}\n", file: "n.routes")
        #expect(config.notify == [.exec(path: "/usr/local/bin/page-oncall"), .post(host: "127.0.0.1", port: 9000, path: "/hooks/switchyard"),
                                  .postTLS(host: "oncall.example", port: 8443, path: "/hooks", ca: "/etc/ssl/oncall-ca.pem"),
                                  .postTLS(host: "oncall.example", port: 443, path: "/x", ca: nil)])
    }

    @Test(arguments: [
        ("notify exec page-oncall\n", 1, 13, "absolute path"),
        ("notify post http://127.0.0.1/x\n", 1, 13, "with a port"),
        ("notify post https://127.0.0.1/x\n", 1, 13, "with a port"),
        ("notify post http://127.0.0.1:80/x ca /etc/ca.pem\n", 1, 35, "ca is for notify post https:// only"),
        ("notify post https://127.0.0.1:443/x cert /etc/ca.pem\n", 1, 37, "expected ca FILE"),
        ("notify post https://127.0.0.1:443/x ca\n", 1, 37, "expected ca FILE"),
        ("notify mail ops@example.org\n", 1, 8, "unknown notify kind"),
        ("notify exec\n", 1, 1, "missing argument"),
    ])
    func badNotifyLines(_ line: String, _ row: Int, _ column: Int, _ fragment: String) {
        var found: [RoutesError] = []
        do { _ = try RoutesConfig.parse(line + twoBackends + "route app {\n    backend legacy\n}\n", file: "bad.routes") } catch { found = error.errors }
        #expect(found.contains { $0.line == row && $0.column == column && $0.message.contains(fragment) }, "\(found.map(\.description))")
    }
}
