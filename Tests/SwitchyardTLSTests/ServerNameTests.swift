import Testing
@testable import SwitchyardTLS

/// SNI picks the certificate; unknown names and clients without SNI get the default.
@Suite struct ServerNameTests {
    let certificates: TestCertificates
    let serverContext: TLSServerContext
    /// Verification off: these tests read the certificate the server chose.
    let lookingClient: TLSClientContext

    init() throws {
        certificates = try TestCertificates.get()
        serverContext = try TLSServerContext(
            defaultCertificate: certificates.server,
            names: ["b.test": certificates.bTest, "*.wild.test": certificates.bTest, "A.Test": certificates.server])
        lookingClient = try TLSClientContext(verify: false)
    }

    @Test(arguments: [
        ("b.test", "CN=b.test"),
        ("B.TEST", "CN=b.test"),
        ("x.wild.test", "CN=b.test"),
        ("wild.test", "CN=localhost"),
        ("x.y.wild.test", "CN=localhost"),
        ("a.test", "CN=localhost"),
        ("unknown.test", "CN=localhost"),
    ])
    func serverNameSelectsCertificate(name: String, subject: String) throws {
        let pipe = try TLSPipe(lookingClient, serverContext, serverName: name)
        try pipe.handshake()
        #expect(pipe.client.peerCertificateSubject == subject)
        #expect(pipe.server.serverName?.lowercased() == name.lowercased())
    }

    @Test func namedCertificateVerifiesForItsName() throws {
        let verifying = try TLSClientContext(caFile: certificates.caFile)
        let pipe = try TLSPipe(verifying, serverContext, serverName: "b.test")
        try pipe.handshake()
        #expect(pipe.client.peerCertificateSubject == "CN=b.test")
        let message = Array("hello b".utf8)
        #expect(try pipe.send(message, from: .client) == message)
    }

    @Test func clientWithoutServerNameGetsDefault() throws {
        // An IP address is never sent as SNI.
        let pipe = try TLSPipe(lookingClient, serverContext, serverName: "127.0.0.1")
        try pipe.handshake()
        #expect(pipe.server.serverName == nil)
        #expect(pipe.client.peerCertificateSubject == "CN=localhost")
    }

    @Test func tableMatchesExactBeforeWildcard() throws {
        let exact = try SSLContextHandle(server: true)
        let wild = try SSLContextHandle(server: true)
        let table = try ServerNameTable(["*.example.com": wild, "api.example.com": exact])
        #expect(table.context(for: "api.example.com") === exact)
        #expect(table.context(for: "API.Example.COM.") === exact)
        #expect(table.context(for: "www.example.com") === wild)
        #expect(table.context(for: "example.com") == nil)
        #expect(table.context(for: "a.www.example.com") == nil)
    }

    @Test(arguments: ["a.*.com", "*foo.com", "*.", "", "bad name", "a..b"])
    func malformedNamesAreRefused(name: String) throws {
        let certificates = try TestCertificates.get()
        #expect(throws: TLSError.self) {
            try TLSServerContext(defaultCertificate: certificates.server, names: [name: certificates.bTest])
        }
    }
}
