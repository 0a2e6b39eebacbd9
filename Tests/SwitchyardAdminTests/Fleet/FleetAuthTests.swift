import Foundation
import Testing
import SwitchyardTestSupport

/// etcd with authentication on: the instances log in with a password file, a token that
/// expired (401) is renewed once without the operator noticing, and a wrong password leaves
/// the instance detached with etcd's reason.
extension FleetTests {
    @Suite struct FleetAuthTests {
        @Test func anExpiredTokenIsRenewedAndAWrongPasswordDetachesWithTheReason() throws {
            let fixture = try FleetFixture(instanceNames: ["a", "b"], authentication: true)
            defer { fixture.shutdown() }
            let start = try #require(fixture.a.generation())
            #expect(fixture.a.command("flip app").contains("every live instance serves generation \(start + 1)"))
            // Tokens live 1 s here: the admin thread's has expired; the change still commits.
            usleep(2_500_000)
            let answer = fixture.a.command("flip app")
            #expect(answer.contains("every live instance serves generation \(start + 2)"), "\(answer)")
            #expect(fixture.b.generation() == start + 2)
            // Without a token etcd refuses to read the state: the login is what lets us in.
            let key = Data((fixture.keys + "state").utf8).base64EncodedString()
            let (_, refused) = try runProcess(try tool("curl"), ["-s", "-X", "POST", fixture.cluster.clientURLs[0] + "/v3/kv/range",
                                                                 "-d", "{\"key\":\"\(key)\"}"])
            #expect(refused.contains("user name is empty"), "\(refused)")

            let wrong = try FleetInstance(name: "w", parent: fixture.directory, fleet: fixture.fleet, endpoints: fixture.cluster.clientURLs,
                                          legacy: fixture.legacy.port, cloud: fixture.cloud.port, credentials: ("switchyard", "nope"))
            try wrong.start()
            defer { wrong.stop() }
            try waitFor("w to say DETACHED", seconds: 6) { wrong.command("status").contains("DETACHED since") }
            let status = wrong.command("status")
            #expect(status.contains("authentication failed"), "\(status)")
            #expect(wrong.generation() == 1, "it serves the routes file's state, not the fleet's")
        }
    }
}
