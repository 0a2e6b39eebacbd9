import Glibc
import Testing
import SwitchyardTLS

/// A second upstream connection resumes the first one's session.
@Suite struct ResumptionTests {
    @Test(arguments: [TLSVersion.v1_3, .v1_2])
    func savedSessionIsResumed(version: TLSVersion) throws {
        let certificates = try TestCertificates.get()
        let serverContext = try TLSServerContext(defaultCertificate: certificates.server)
        let clientContext = try TLSClientContext(caFile: certificates.caFile, maximumVersion: version)

        let first = try TLSPipe(clientContext, serverContext)
        try first.handshake()
        #expect(!first.client.sessionReused)
        // TLS 1.3's ticket travels with the server's first answer to a client that spoke.
        _ = try first.send(Array("hi".utf8), from: .client)
        _ = try first.send(Array("hello".utf8), from: .server)
        let saved = try #require(first.client.resumableSession)

        let second = try TLSPipe(clientContext, serverContext, resuming: saved)
        try second.handshake()
        #expect(second.client.sessionReused)
        #expect(second.server.sessionReused)
        #expect(try second.send(Array("again".utf8), from: .client) == Array("again".utf8))
    }

    @Test(arguments: [TLSVersion.v1_3, .v1_2])
    func sessionWithNamedCertificateIsResumed(version: TLSVersion) throws {
        let certificates = try TestCertificates.get()
        let serverContext = try TLSServerContext(defaultCertificate: certificates.server,
                                                 names: ["b.test": certificates.bTest])
        let clientContext = try TLSClientContext(caFile: certificates.caFile, maximumVersion: version)
        let first = try TLSPipe(clientContext, serverContext, serverName: "b.test")
        try first.handshake()
        _ = try first.send(Array("hi".utf8), from: .client)
        _ = try first.send(Array("hello".utf8), from: .server)
        let saved = try #require(first.client.resumableSession)

        let second = try TLSPipe(clientContext, serverContext, serverName: "b.test", resuming: saved)
        try second.handshake()
        #expect(second.client.sessionReused)
        #expect(second.client.peerCertificateSubject == "CN=b.test")
    }

    /// An upstream that closes after its answer: the first connection is freed without a
    /// close_notify before the second one starts, which makes OpenSSL mark its session not
    /// resumable — the saved copy must not be affected.
    @Test(arguments: [TLSVersion.v1_3, .v1_2])
    func sessionSavedBeforeAnUncleanCloseIsResumed(version: TLSVersion) throws {
        let certificates = try TestCertificates.get()
        let serverContext = try TLSServerContext(defaultCertificate: certificates.server)
        let clientContext = try TLSClientContext(caFile: certificates.caFile, maximumVersion: version)
        var first: TLSPipe? = try TLSPipe(clientContext, serverContext)
        try first!.handshake()
        _ = try first!.send(Array("hi".utf8), from: .client)
        _ = try first!.send(Array("hello".utf8), from: .server)
        let saved = try #require(first!.client.resumableSession)
        first = nil

        let second = try TLSPipe(clientContext, serverContext, resuming: saved)
        try second.handshake()
        #expect(second.client.sessionReused)
    }

    @Test func sessionIsNotResumedByAnotherServerContext() throws {
        let certificates = try TestCertificates.get()
        let clientContext = try TLSClientContext(caFile: certificates.caFile)
        let first = try TLSPipe(clientContext, try TLSServerContext(defaultCertificate: certificates.server))
        try first.handshake()
        _ = try first.send(Array("hi".utf8), from: .client)
        _ = try first.send(Array("hello".utf8), from: .server)
        let saved = try #require(first.client.resumableSession)

        let other = try TLSPipe(clientContext, try TLSServerContext(defaultCertificate: certificates.server), resuming: saved)
        try other.handshake()
        #expect(!other.client.sessionReused)
    }

    /// OpenSSL's own clearing of the server's session cache is off (it walked the whole cache
    /// every 255th handshake); `flushExpiredSessions` drops the sessions whose lifetime
    /// (OpenSSL's two hours) has ended, and only those, and a dropped one is not resumed.
    @Test(arguments: [TLSVersion.v1_3, .v1_2])
    func expiredSessionsLeaveTheCacheWhenFlushed(version: TLSVersion) throws {
        let certificates = try TestCertificates.get()
        let serverContext = try TLSServerContext(defaultCertificate: certificates.server)
        let clientContext = try TLSClientContext(caFile: certificates.caFile, maximumVersion: version)
        var saved: TLSSavedSession?
        for _ in 0..<3 {
            let pipe = try TLSPipe(clientContext, serverContext)
            try pipe.handshake()
            _ = try pipe.send(Array("hi".utf8), from: .client)
            _ = try pipe.send(Array("hello".utf8), from: .server)
            saved = pipe.client.resumableSession
        }
        #expect(serverContext.cachedSessions == 3)
        let now = Int(time(nil))
        serverContext.flushExpiredSessions(now: now)
        #expect(serverContext.cachedSessions == 3)
        serverContext.flushExpiredSessions(now: now + 3 * 3600)
        #expect(serverContext.cachedSessions == 0)
        // On its own line: inside the call, `resuming:`'s optional type made `#require`
        // wrap `saved` once more and check nothing (the compiler warned of it).
        let session = try #require(saved)
        let again = try TLSPipe(clientContext, serverContext, resuming: session)
        try again.handshake()
        #expect(!again.client.sessionReused)
    }

    /// A TLS 1.3 client that has sent nothing gets no ticket and leaves no session in the
    /// cache, even when the server writes to it; once it has spoken, the server's next write
    /// carries exactly one ticket ahead of the data, and reading makes none.
    @Test func theTicketWaitsForTheClientsFirstBytes() throws {
        let certificates = try TestCertificates.get()
        let serverContext = try TLSServerContext(defaultCertificate: certificates.server)
        let clientContext = try TLSClientContext(caFile: certificates.caFile, maximumVersion: .v1_3)
        let pipe = try TLSPipe(clientContext, serverContext)
        try pipe.handshake()
        #expect(pipe.server.protocolVersion == "TLSv1.3")
        #expect(try pipe.send(Array("unasked".utf8), from: .server) == Array("unasked".utf8))
        #expect(pipe.client.resumableSession == nil, "a client that said nothing holds no ticket")
        #expect(serverContext.cachedSessions == 0)

        #expect(try pipe.send(Array("hi".utf8), from: .client) == Array("hi".utf8))
        #expect(serverContext.cachedSessions == 0, "reading the client's bytes makes no ticket by itself")
        _ = try pipe.send(Array("answer".utf8), from: .server)
        #expect(pipe.client.resumableSession != nil)
        #expect(serverContext.cachedSessions == 1)
        _ = try pipe.send(Array("more".utf8), from: .client)
        _ = try pipe.send(Array("more".utf8), from: .server)
        #expect(serverContext.cachedSessions == 1, "one ticket a connection, not one an answer")
    }
}
