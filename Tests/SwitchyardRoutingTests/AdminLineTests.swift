import Testing
@testable import SwitchyardRouting

/// The admin line's options beyond `allow`, and where the parser points when they are wrong.
@Suite struct AdminLineTests {
    static func file(_ adminLine: String) -> String {
        """
        listen http 127.0.0.1:80
        \(adminLine)
        backend b {
            server 127.0.0.1:1
        }
        route r {
            backend b
        }
        """
    }

    static func errors(_ adminLine: String) -> [String] {
        do {
            _ = try RoutesConfig.parse(file(adminLine), file: "admin.routes")
            return []
        } catch {
            return error.errors.map(\.description)
        }
    }

    @Test func requireReasonIsReadAfterTheAllowList() throws {
        let config = try RoutesConfig.parse(Self.file("admin /run/sy/admin.sock allow group ops require-reason allow uid 990"), file: "a.routes")
        let admin = try #require(config.admin)
        #expect(admin.requireReason)
        #expect(admin.allowGroups == ["ops"] && admin.allowUIDs == [990])
        let plain = try RoutesConfig.parse(Self.file("admin /run/sy/admin.sock"), file: "a.routes")
        #expect(plain.admin?.requireReason == false)
    }

    @Test func connectionLimitsAndIdleTimeout() throws {
        let config = try RoutesConfig.parse(Self.file("admin /a.sock max-connections 4 max-connections-per-uid 2 idle-timeout 250ms"), file: "a.routes")
        let admin = try #require(config.admin)
        #expect(admin.maxConnections == 4 && admin.maxConnectionsPerUID == 2 && admin.idleTimeoutMilliseconds == 250)
        let defaults = try #require(try RoutesConfig.parse(Self.file("admin /a.sock"), file: "a.routes").admin)
        #expect(defaults.maxConnections == 32 && defaults.maxConnectionsPerUID == 8 && defaults.idleTimeoutMilliseconds == 30_000)
    }

    @Test func badAdminOptionsAreReportedAtTheirToken() {
        #expect(Self.errors("admin /a.sock max-connections 0")
                == ["admin.routes:2:31: bad max-connections \"0\" (expected 1…10000)"])
        #expect(Self.errors("admin /a.sock max-connections-per-uid")
                == ["admin.routes:2:15: missing value after max-connections-per-uid"])
        #expect(Self.errors("admin /a.sock idle-timeout 30")
                == ["admin.routes:2:28: bad duration \"30\" (expected e.g. 500ms, 2s or 1m)"])
        #expect(Self.errors("admin /a.sock idle-timeout 1s idle-timeout 2s")
                == ["admin.routes:2:31: duplicate idle-timeout (first on line 2)"])
        #expect(Self.errors("admin /a.sock require-reason require-reason")
                == ["admin.routes:2:30: duplicate require-reason"])
        #expect(Self.errors("admin /a.sock requires-reason")
                == ["admin.routes:2:15: unexpected \"requires-reason\" (usage: \(RoutesParser.adminUsage))"])
    }

    @Test func theUserLine() throws {
        let config = try RoutesConfig.parse(Self.file("user switchyard"), file: "a.routes")
        #expect(config.serviceUser == "switchyard")
        #expect(try RoutesConfig.parse(Self.file("# no user line"), file: "a.routes").serviceUser == nil)
        #expect(Self.errors("user") == ["admin.routes:2:1: missing argument for user (usage: user NAME)"])
        #expect(Self.errors("user -x") == ["admin.routes:2:6: bad user name \"-x\" (use letters, digits, '-', '_', '.')"])
        #expect(Self.errors("user a b") == ["admin.routes:2:8: unexpected argument \"b\" (usage: user NAME)"])
        let twice = (try? RoutesConfig.parse(Self.file("user a\nuser b"), file: "a.routes")) == nil
        #expect(twice, "a second user line is refused")
    }

    @Test func theClinicExampleUsesThem() throws {
        let directory = try #require(routesDirectory())
        let config = try RoutesConfig.load(path: directory.appendingPathComponent("clinic.routes").path)
        #expect(config.admin?.requireReason == true)
        #expect(config.serviceUser == "switchyard")
    }
}
