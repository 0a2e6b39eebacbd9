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

    @Test func badAdminOptionsAreReportedAtTheirToken() {
        #expect(Self.errors("admin /a.sock require-reason require-reason")
                == ["admin.routes:2:30: duplicate require-reason"])
        #expect(Self.errors("admin /a.sock requires-reason")
                == ["admin.routes:2:15: unexpected \"requires-reason\" (usage: \(RoutesParser.adminUsage))"])
    }
}
