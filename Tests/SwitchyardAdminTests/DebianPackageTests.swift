import Foundation
import Glibc
import Testing
import SwitchyardTestSupport

/// The package `make deb` built (release binary with the Swift runtime linked in, so it
/// runs without a toolchain): lintian finds no error, `dpkg -i` installs what the issue
/// lists and makes the user and group, the installed routes file passes `switchyard check`,
/// and a purge leaves only the state. The package must come from the commit these tests
/// were built from (`make test` runs `make deb` first).
@Suite(.serialized) struct DebianPackageTests {
    static let root = repositoryRoot()

    /// `.build/deb/switchyard_<release>-1_amd64.deb`, checked to hold this commit's binary.
    static func build() throws -> String {
        let version = try runProcess(try switchyardBinary(), ["version"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        let release = version.split(separator: " ")[1]
        let deb = root.appendingPathComponent(".build/deb/switchyard_\(release)-1_amd64.deb").path
        guard FileManager.default.fileExists(atPath: deb) else { throw TestPrecondition("no \(deb): run `make deb` (make test does)") }
        let unpacked = NSTemporaryDirectory() + "switchyard-deb-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: unpacked) }
        _ = try runProcess(try tool("dpkg-deb"), ["-x", deb, unpacked])
        let packaged = try runProcess(unpacked + "/usr/bin/switchyard", ["version"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard packaged == version else { throw TestPrecondition("\(deb) holds \(packaged), these tests are \(version): run `make deb`") }
        return deb
    }

    @Test func lintianFindsNoError() throws {
        try requireTools("dpkg-deb", "lintian")
        let deb = try Self.build()
        let lintian = try runProcess(try tool("lintian"), ["--no-tag-display-limit", deb], timeoutSeconds: 300)
        let errors = lintian.output.split(separator: "\n").filter { $0.hasPrefix("E:") }
        #expect(errors.isEmpty, "\(lintian.output)")
        #expect(!lintian.output.contains("lintian: fatal"), "\(lintian.output)")
        let contents = try runProcess(try tool("dpkg-deb"), ["--contents", deb]).output
        for path in ["./usr/bin/switchyard", "./lib/systemd/system/switchyard.service", "./etc/switchyard/switchyard.routes",
                     "./etc/logrotate.d/switchyard", "./usr/lib/sysusers.d/switchyard.conf", "./usr/share/man/man1/switchyard.1.gz",
                     "./usr/share/bash-completion/completions/switchyard", "./usr/share/zsh/vendor-completions/_switchyard",
                     "./usr/share/fish/vendor_completions.d/switchyard.fish"] {
            #expect(contents.contains(" \(path)\n") || contents.hasSuffix(" \(path)"), "the package lacks \(path)")
        }
    }

    @Test func installedWithDpkgThenPurgedLeavesOnlyTheState() throws {
        try requireRoot("dpkg -i installs into /usr, /etc and /lib, and makes a user")
        try requireTools("dpkg-deb", "man", "logrotate", "systemd-analyze", "bash")
        let dpkg = try tool("dpkg")
        if try runProcess(dpkg, ["-s", "switchyard"], standardError: .discarded).status == 0 {
            throw TestPrecondition("a switchyard package is installed on this machine already: this test would replace and purge it")
        }
        let deb = try Self.build()
        defer { _ = try? runProcess(dpkg, ["--purge", "switchyard"]) }

        let install = try runProcess(dpkg, ["-i", deb], timeoutSeconds: 300)
        #expect(install.status == 0, "\(install.output)")
        let fm = FileManager.default
        for path in ["/usr/bin/switchyard", "/lib/systemd/system/switchyard.service", "/etc/switchyard/switchyard.routes",
                     "/etc/logrotate.d/switchyard", "/usr/share/man/man1/switchyard.1.gz",
                     "/usr/share/bash-completion/completions/switchyard", "/usr/share/zsh/vendor-completions/_switchyard",
                     "/usr/share/fish/vendor_completions.d/switchyard.fish"] {
            #expect(fm.fileExists(atPath: path), "\(path) was not installed")
        }
        let conffiles = try runProcess(try tool("dpkg-query"), ["-W", "-f=${Conffiles}", "switchyard"]).output
        #expect(conffiles.contains("/etc/switchyard/switchyard.routes"), "\(conffiles)")
        // The user and the group, the user in the group.
        let getent = try tool("getent")
        #expect(try runProcess(getent, ["passwd", "switchyard"]).status == 0)
        let group = try runProcess(getent, ["group", "ops"])
        #expect(group.status == 0 && group.output.contains("switchyard"), "\(group.output)")
        #expect(fm.fileExists(atPath: "/var/lib/switchyard"))

        let check = try runProcess("/usr/bin/switchyard", ["check", "/etc/switchyard/switchyard.routes"])
        #expect(check.status == 0, "\(check.output)")
        let manual = try runProcess(try tool("man"), ["-l", "/usr/share/man/man1/switchyard.1.gz"], standardError: .discarded)
        #expect(manual.output.contains("EXIT STATUS") && manual.output.contains("64  usage") && manual.output.contains("audit"), "\(manual.output)")
        let completion = try runProcess(try tool("bash"), ["-c", "source /usr/share/bash-completion/completions/switchyard && complete -p switchyard"])
        #expect(completion.status == 0 && completion.output.contains("switchyard"), "\(completion.output)")
        let rotate = try runProcess(try tool("logrotate"), ["-d", "/etc/logrotate.d/switchyard"])
        #expect(rotate.status == 0 && !rotate.output.contains("error"), "\(rotate.output)")
        // Installed for real, with its man page: nothing to say.
        let verify = try runProcess(try tool("systemd-analyze"), ["verify", "/lib/systemd/system/switchyard.service"])
        #expect(verify.status == 0 && verify.output.isEmpty, "\(verify.output)")

        try "kept".write(toFile: "/var/lib/switchyard/marker", atomically: false, encoding: .utf8)
        let purge = try runProcess(dpkg, ["--purge", "switchyard"])
        #expect(purge.status == 0, "\(purge.output)")
        for path in ["/usr/bin/switchyard", "/lib/systemd/system/switchyard.service", "/etc/switchyard/switchyard.routes",
                     "/etc/switchyard", "/etc/logrotate.d/switchyard", "/usr/share/man/man1/switchyard.1.gz", "/var/log/switchyard",
                     "/usr/lib/sysusers.d/switchyard.conf"] {
            #expect(!fm.fileExists(atPath: path), "\(path) is left after the purge")
        }
        #expect(fm.fileExists(atPath: "/var/lib/switchyard/marker"), "the state directory must survive a purge")
        try? fm.removeItem(atPath: "/var/lib/switchyard")
    }
}
