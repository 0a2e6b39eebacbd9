import CSwitchyardMallocCounter
import Glibc
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

    /// IPv4 texts are written by hand (IPv6 ones still by inet_ntop): for the edges of every
    /// part's width (0, 9, 10, 99, 100, 255) and random addresses, the text is glibc's.
    @Test func aDottedQuadIsTheTextInetNtopGives() {
        var values: [UInt32] = [0, 0xFFFF_FFFF, 0x7F00_0001, 0x0009_0A63, 0x6364_FF00, 0x0A63_6409, 0xFF00_0900]
        for _ in 0..<5_000 { values.append(UInt32.random(in: .min ... .max)) }
        for value in values {
            var addr = in_addr(s_addr: value.bigEndian)
            var buffer = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            #expect(inet_ntop(AF_INET, &addr, &buffer, socklen_t(buffer.count)) != nil)
            let expected = String(cString: buffer)
            #expect(SocketAddress(ipv4: value).ipString == expected, "\(value)")
            let identity = ClientIdentity(peer: SocketAddress(ipv4: value), trusted: [], listener: 0)
            #expect(identity.ip.string == expected && identity.forwardedFor.string == "for=\(expected)", "\(value)")
        }
    }

    @Test func forwardedElementsKeepTheirForms() throws {
        let six = ClientIdentity(peer: try #require(SocketAddress(ip: "2001:db8::1", port: 1)), trusted: [], listener: 0)
        #expect(six.ip.string == "2001:db8::1")
        #expect(six.forwardedFor.string == "for=\"[2001:db8::1]\"")
        let mapped = ClientIdentity(peer: try #require(SocketAddress(ip: "::ffff:192.0.2.7", port: 1)), trusted: [], listener: 0)
        #expect(mapped.forwardedFor.string == "for=\"[::ffff:192.0.2.7]\"")
        let unix = ClientIdentity(peer: try #require(SocketAddress(unixPath: "/run/x.sock")), trusted: [], listener: 0)
        #expect(unix.ip.string == "unix" && unix.forwardedFor.string == "for=unix")
    }

    /// A client's texts are made on the stack: an IPv4 or IPv6 client's identity (made once a
    /// connection, again when an idle one wakes) takes no heap block. Counted on this thread.
    @Test(.enabled(if: sy_malloc_counter_active() == 1, "sanitizer builds own the allocator"))
    func makingAnIdentityTakesNoHeapBlock() throws {
        let four = SocketAddress(ipv4: 0xC000_020A)
        let six = try #require(SocketAddress(ip: "2001:db8:0:1:1:1:1:1", port: 443))
        _ = ClientIdentity(peer: four, trusted: [], listener: 0)   // first use: type metadata
        _ = ClientIdentity(peer: six, trusted: [], listener: 0)
        sy_malloc_counter_enable(1)
        let before = sy_malloc_counter_read()
        let a = ClientIdentity(peer: four, trusted: [], listener: 0)
        let b = ClientIdentity(peer: six, trusted: [], listener: 0)
        let made = sy_malloc_counter_read() - before
        sy_malloc_counter_enable(0)
        #expect(made == 0)
        #expect(a.ip.string == "192.0.2.10" && b.ip.string == "2001:db8:0:1:1:1:1:1")
    }
}
