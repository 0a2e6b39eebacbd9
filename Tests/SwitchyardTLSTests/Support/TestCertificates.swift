import Foundation
import SwitchyardTLS
import SwitchyardTestSupport

/// A throwaway PKI, made once per test run with the `openssl` command-line tool in a fresh
/// temporary directory: no private key is ever committed. EC P-256 keys, valid two days.
struct TestCertificates: Sendable {
    /// The CA that issued everything below except `foreignServer`.
    let caFile: String
    /// A CA nobody trusts, and a server certificate for "localhost" it issued.
    let otherCAFile: String
    let foreignServer: TLSCertificateFiles
    /// CN=localhost, SAN DNS:localhost, DNS:a.test, IP:127.0.0.1.
    let server: TLSCertificateFiles
    /// CN=b.test, SAN DNS:b.test.
    let bTest: TLSCertificateFiles
    /// CN=switchyard-client, for client authentication.
    let client: TLSCertificateFiles
    /// A key that belongs to none of the certificates.
    let strayKeyFile: String
    /// A file of text that is not PEM.
    let garbageFile: String
    let directory: String

    /// Made on first use, shared by every test (key generation is the slow part).
    static let shared: Result<TestCertificates, TestCertificateError> = {
        do throws(TestCertificateError) { return .success(try make()) } catch { return .failure(error) }
    }()

    static func get() throws -> TestCertificates {
        try shared.get()
    }

    private static func make() throws(TestCertificateError) -> TestCertificates {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("switchyard-tls-tests-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)").path
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw TestCertificateError(message: "cannot create \(directory): \(error)")
        }
        func path(_ name: String) -> String { directory + "/" + name }

        try makeCA(name: "Switchyard Test CA", key: path("ca.key"), certificate: path("ca.pem"))
        try makeCA(name: "Untrusted Test CA", key: path("other-ca.key"), certificate: path("other-ca.pem"))
        try makeLeaf(subject: "/CN=localhost", san: "DNS:localhost,DNS:a.test,IP:127.0.0.1", usage: "serverAuth",
                     ca: "ca", key: path("server.key"), certificate: path("server.pem"), in: directory)
        try makeLeaf(subject: "/CN=b.test", san: "DNS:b.test", usage: "serverAuth",
                     ca: "ca", key: path("b.key"), certificate: path("b.pem"), in: directory)
        try makeLeaf(subject: "/CN=switchyard-client", san: "DNS:switchyard-client", usage: "clientAuth",
                     ca: "ca", key: path("client.key"), certificate: path("client.pem"), in: directory)
        try makeLeaf(subject: "/CN=localhost", san: "DNS:localhost", usage: "serverAuth",
                     ca: "other-ca", key: path("foreign.key"), certificate: path("foreign.pem"), in: directory)
        try run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", path("stray.key")])
        do {
            try "this is not a certificate\n".write(toFile: path("garbage.pem"), atomically: true, encoding: .utf8)
        } catch {
            throw TestCertificateError(message: "cannot write garbage.pem: \(error)")
        }

        return TestCertificates(
            caFile: path("ca.pem"),
            otherCAFile: path("other-ca.pem"),
            foreignServer: TLSCertificateFiles(certificatePath: path("foreign.pem"), keyPath: path("foreign.key")),
            server: TLSCertificateFiles(certificatePath: path("server.pem"), keyPath: path("server.key")),
            bTest: TLSCertificateFiles(certificatePath: path("b.pem"), keyPath: path("b.key")),
            client: TLSCertificateFiles(certificatePath: path("client.pem"), keyPath: path("client.key")),
            strayKeyFile: path("stray.key"),
            garbageFile: path("garbage.pem"),
            directory: directory)
    }

    private static func makeCA(name: String, key: String, certificate: String) throws(TestCertificateError) {
        try run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", key, "-out", certificate, "-days", "2", "-subj", "/CN=\(name)",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    }

    /// `openssl req -x509 -CA` (OpenSSL 3.0+) makes and signs a leaf in one step.
    private static func makeLeaf(subject: String, san: String, usage: String, ca: String,
                                 key: String, certificate: String, in directory: String) throws(TestCertificateError) {
        try run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", key, "-out", certificate, "-days", "2", "-subj", subject,
                 "-CA", "\(directory)/\(ca).pem", "-CAkey", "\(directory)/\(ca).key",
                 "-addext", "subjectAltName=\(san)",
                 "-addext", "basicConstraints=critical,CA:FALSE",
                 "-addext", "extendedKeyUsage=\(usage)"])
    }

    /// Runs openssl (found on PATH) with a deadline.
    private static func run(_ arguments: [String]) throws(TestCertificateError) {
        let result: (status: Int32, output: String)
        do {
            result = try runProcess(try tool("openssl"), arguments, timeoutSeconds: 60)
        } catch {
            throw TestCertificateError(message: "\(error)")
        }
        guard result.status == 0 else {
            throw TestCertificateError(message: "openssl \(arguments.joined(separator: " ")) failed: \(result.output)")
        }
    }
}

struct TestCertificateError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
