import Testing
import SwitchyardRouting
import SwitchyardSystem
@testable import SwitchyardProxy

/// An idle connection keeps its client's address in short form and makes the texts again
/// on waking: they must be exactly the texts the socket address gave (inet_ntop's forms,
/// IPv4-mapped IPv6 included), or X-Forwarded-For and the logs would change on a wake.
@Suite struct ClientIdentityTests {
    @Test(arguments: ["127.0.0.1", "10.20.30.40", "255.255.255.255", "0.0.0.0", "::1", "2001:db8::1",
                      "fe80::1:2:3:4", "::ffff:192.0.2.7", "2001:db8:0:1:1:1:1:1", "::",
                      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::ffff:255.255.255.255"])
    func theShortFormGivesTheSameTexts(ip: String) throws {
        let peer = try #require(SocketAddress(ip: ip, port: 4321))
        let original = ClientIdentity(peer: peer, trusted: [], listener: 2)
        let again = ClientIdentity(address: original.address, trustedForwarder: original.trustedForwarder, listener: original.listener)
        #expect(again.ip == original.ip, "\(ip)")
        #expect(again.forwardedFor == original.forwardedFor, "\(ip)")
        #expect(again.address == original.address)
        #expect(again.listener == 2)
        #expect(again.ip.string == ip)
    }

    @Test func aUnixClientStaysUnix() throws {
        let peer = try #require(SocketAddress(unixPath: "/run/test.sock"))
        let original = ClientIdentity(peer: peer, trusted: [], listener: 0)
        let again = ClientIdentity(address: original.address, trustedForwarder: true, listener: 0)
        #expect(again.ip == original.ip && again.forwardedFor == original.forwardedFor)
        #expect(again.trustedForwarder)
    }
}
