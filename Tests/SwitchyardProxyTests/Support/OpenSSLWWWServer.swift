import Foundation
import Glibc
import SwitchyardTestSupport
import SwitchyardSystem

/// `openssl s_server -www` on 127.0.0.1 with a PKI's "origin" certificate: a 200 status page
/// for any GET (saying whether the session was "New" or "Reused"), each connection closed
/// after its answer. Started when made; `stop` kills it.
final class OpenSSLWWWServer {
    let port: UInt16
    private let process = Process()

    init(_ pki: TLSConfigurationTests.PKI) throws {
        try pki.selfSigned("origin", name: "localhost")
        port = try UpstreamTLSResumptionTests.freePort()
        process.executableURL = URL(fileURLWithPath: toolPath("openssl"))
        process.arguments = ["s_server", "-accept", "127.0.0.1:\(port)", "-cert", pki.path("origin.pem"),
                             "-key", pki.path("origin.key"), "-www", "-quiet"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let port = port
        do {
            try waitFor("s_server listening", seconds: 10) {
                (try? Socket.connectBlocking(to: SocketAddress(ip: "127.0.0.1", port: port)!))?.close() != nil
            }
        } catch {
            stop()
            throw error
        }
    }

    /// SIGKILL: the test process may block SIGTERM (the proxy's signal handling), and a
    /// child started from such a thread inherits the mask and would never exit.
    func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
