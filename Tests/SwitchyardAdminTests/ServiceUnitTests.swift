import Foundation
import Glibc
import Testing
import SwitchyardTestSupport

/// `dist/switchyard.service` (Type=notify-reload) and its Type=notify variant for systemd
/// < 253, checked by Debian's `systemd-analyze verify` in a private root that holds the
/// built binary at /usr/bin/switchyard and the system's own units.
@Suite struct ServiceUnitTests {
    static let dist = repositoryRoot().appendingPathComponent("dist")

    static func unit(_ name: String) throws -> String {
        try String(contentsOf: dist.appendingPathComponent(name), encoding: .utf8)
    }

    /// The major version `systemd-analyze --version` reports ("systemd 252 (…)").
    static func systemdVersion() throws -> Int {
        let (_, output) = try runProcess(try tool("systemd-analyze"), ["--version"])
        return Int(output.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    /// A root for `systemd-analyze verify --root`: the units, the system's units (the
    /// targets ours names), and the executables the units run.
    static func verificationRoot() throws -> String {
        let root = NSTemporaryDirectory() + "switchyard-unit-\(UUID().uuidString)"
        let fm = FileManager.default
        for directory in ["etc/systemd/system", "usr/bin", "bin", "usr/lib/systemd"] {
            try fm.createDirectory(atPath: "\(root)/\(directory)", withIntermediateDirectories: true)
        }
        let systemUnits = ["/usr/lib/systemd/system", "/lib/systemd/system"].first { fm.fileExists(atPath: $0 + "/sysinit.target") }
        guard let systemUnits else { throw TestPrecondition("no sysinit.target: install systemd") }
        try fm.copyItem(atPath: systemUnits, toPath: "\(root)/usr/lib/systemd/system")
        try fm.copyItem(atPath: try switchyardBinary(), toPath: "\(root)/usr/bin/switchyard")
        try fm.copyItem(atPath: "/bin/kill", toPath: "\(root)/bin/kill")
        for name in ["switchyard.service", "switchyard-notify.service"] {
            try fm.copyItem(atPath: dist.appendingPathComponent(name).path, toPath: "\(root)/etc/systemd/system/\(name)")
        }
        return root
    }

    @Test func bothUnitsPassSystemdAnalyzeVerify() throws {
        try requireTools("systemd-analyze")
        let root = try Self.verificationRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let analyze = try tool("systemd-analyze")
        // --man=no: the man page is checked by the package test, where it is installed.
        let notify = try runProcess(analyze, ["verify", "--man=no", "--root=\(root)", "switchyard-notify.service"])
        #expect(notify.status == 0 && notify.output.isEmpty, "\(notify.output)")
        let reload = try runProcess(analyze, ["verify", "--man=no", "--root=\(root)", "switchyard.service"])
        #expect(reload.status == 0, "\(reload.output)")
        if try Self.systemdVersion() >= 253 {
            #expect(reload.output.isEmpty, "\(reload.output)")
        } else {
            // The one thing an older systemd may say: it does not know notify-reload yet.
            let lines = reload.output.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].hasSuffix("Failed to parse service type, ignoring: notify-reload"), "\(reload.output)")
        }
    }

    @Test func theVariantDiffersOnlyInHowItReloads() throws {
        let main = try Self.unit("switchyard.service").split(separator: "\n", omittingEmptySubsequences: false)
        let variant = try Self.unit("switchyard-notify.service").split(separator: "\n", omittingEmptySubsequences: false)
        let mainSettings = main.filter { !$0.hasPrefix("#") && $0 != "Type=notify-reload" }
        let variantSettings = variant.filter { !$0.hasPrefix("#") && $0 != "Type=notify" && $0 != "ExecReload=/bin/kill -HUP $MAINPID" }
        #expect(mainSettings == variantSettings)
        #expect(main.contains("Type=notify-reload") && !main.contains { $0.hasPrefix("ExecReload=") })
        #expect(variant.contains("Type=notify") && variant.contains("ExecReload=/bin/kill -HUP $MAINPID"))
    }

    @Test func theUnitRunsAsTheServiceUserWithStateThatOutlivesAStop() throws {
        let lines = Set(try Self.unit("switchyard.service").split(separator: "\n").map(String.init))
        for required in ["WatchdogSec=30s", "User=switchyard", "Group=ops", "RuntimeDirectory=switchyard",
                         "StateDirectory=switchyard", "LogsDirectory=switchyard", "AmbientCapabilities=CAP_NET_BIND_SERVICE",
                         "ProtectSystem=strict", "NoNewPrivileges=yes", "NotifyAccess=main",
                         "ExecStartPre=/usr/bin/switchyard check /etc/switchyard/switchyard.routes"] {
            #expect(lines.contains(required), "missing \(required)")
        }
        #expect(lines.contains { $0.hasPrefix("LimitNOFILE=") })
        let start = try #require(lines.first { $0.hasPrefix("ExecStart=") })
        // systemd removes /run/switchyard at stop: the state must not live there.
        #expect(start.contains("--state /var/lib/switchyard/state.json"), "\(start)")
        #expect(start.contains("--admin /run/switchyard/admin.sock"), "\(start)")
    }
}
