import Testing
import SwitchyardTLS

/// Certificates and keys that cannot be served are refused with the file's name.
@Suite struct CertificateLoadingTests {
    let certificates: TestCertificates

    init() throws {
        certificates = try TestCertificates.get()
    }

    private func expectRefusal(_ files: TLSCertificateFiles, naming path: String, _ detail: String? = nil,
                               sourceLocation: SourceLocation = #_sourceLocation) {
        let initError = #expect(throws: TLSError.self, sourceLocation: sourceLocation) {
            try TLSServerContext(defaultCertificate: files)
        }
        let validateError = #expect(throws: TLSError.self, sourceLocation: sourceLocation) {
            try TLSServerContext.validate(files)
        }
        for error in [initError, validateError] {
            #expect(error?.message.contains(path) == true, "\(String(describing: error))", sourceLocation: sourceLocation)
            if let detail {
                #expect(error?.message.contains(detail) == true, "\(String(describing: error))", sourceLocation: sourceLocation)
            }
        }
    }

    @Test func goodCertificateValidates() throws {
        try TLSServerContext.validate(certificates.server)
        try TLSServerContext.validate(TLSCertificateFiles(certificatePath: certificates.server.certificatePath,
                                                          keyPath: certificates.server.keyPath,
                                                          chainPath: certificates.caFile))
    }

    @Test func missingCertificateIsNamed() {
        let files = TLSCertificateFiles(certificatePath: "/nonexistent/cert.pem", keyPath: certificates.server.keyPath)
        expectRefusal(files, naming: "/nonexistent/cert.pem", "No such file or directory")
    }

    @Test func missingKeyIsNamed() {
        let files = TLSCertificateFiles(certificatePath: certificates.server.certificatePath, keyPath: "/nonexistent/key.pem")
        expectRefusal(files, naming: "/nonexistent/key.pem")
    }

    @Test func garbageCertificateIsNamed() {
        let files = TLSCertificateFiles(certificatePath: certificates.garbageFile, keyPath: certificates.server.keyPath)
        expectRefusal(files, naming: certificates.garbageFile, "cannot load certificate")
    }

    @Test func garbageKeyIsNamed() {
        let files = TLSCertificateFiles(certificatePath: certificates.server.certificatePath, keyPath: certificates.garbageFile)
        expectRefusal(files, naming: certificates.garbageFile, "cannot load private key")
    }

    @Test func keyNotMatchingCertificateIsNamed() {
        let files = TLSCertificateFiles(certificatePath: certificates.server.certificatePath, keyPath: certificates.strayKeyFile)
        expectRefusal(files, naming: certificates.strayKeyFile, "does not match")
    }

    @Test func garbageChainIsNamed() {
        let files = TLSCertificateFiles(certificatePath: certificates.server.certificatePath,
                                        keyPath: certificates.server.keyPath, chainPath: certificates.garbageFile)
        expectRefusal(files, naming: certificates.garbageFile)
    }

    @Test func badNamedCertificateIsNamed() {
        let bad = TLSCertificateFiles(certificatePath: certificates.bTest.certificatePath, keyPath: certificates.strayKeyFile)
        let error = #expect(throws: TLSError.self) {
            try TLSServerContext(defaultCertificate: certificates.server, names: ["b.test": bad])
        }
        #expect(error?.message.contains(certificates.strayKeyFile) == true)
    }

    @Test func badClientCertificateIsNamed() {
        let bad = TLSCertificateFiles(certificatePath: certificates.client.certificatePath, keyPath: certificates.strayKeyFile)
        let error = #expect(throws: TLSError.self) { try TLSClientContext(clientCertificate: bad) }
        #expect(error?.message.contains(certificates.strayKeyFile) == true)
    }

    @Test func missingClientCAFileIsNamed() {
        let error = #expect(throws: TLSError.self) {
            try TLSServerContext(defaultCertificate: certificates.server, clientCertificateCA: "/nonexistent/clients.pem")
        }
        #expect(error?.message.contains("/nonexistent/clients.pem") == true)
    }
}
