import Glibc
import SwitchyardTestSupport
import SwitchyardTLS

/// The server side of one TLS connection on a blocking socket, built on the proxy's own
/// `TLSSession`: for the tests' TLS servers that must control what goes on the wire (when a
/// record is sent, whether the stream ends with a close_notify), which `openssl s_server`
/// cannot.
final class BlockingTLSConnection {
    let fd: Int32
    let session: TLSSession
    private var scratch = [UInt8](repeating: 0, count: 64 << 10)

    /// Completes the handshake; nil when it fails or the peer leaves.
    init?(fd: Int32, context: TLSServerContext) {
        guard let session = try? TLSSession(server: context) else { return nil }
        self.fd = fd
        self.session = session
        while true {
            guard let state = try? session.handshake(), flush() else { return nil }
            if state == .complete { break }
            guard feed() else { return nil }
        }
    }

    /// Sends every byte of ciphertext the session holds; false if the peer is gone.
    func flush() -> Bool {
        while session.hasCiphertextToSend {
            let n = scratch.withUnsafeMutableBytes { session.takeCiphertext(into: $0) }
            if n == 0 { break }
            guard writeAll(fd, Array(scratch[0..<n])) else { return false }
        }
        return true
    }

    /// One blocking read of ciphertext into the session; false at the end of the stream.
    func feed() -> Bool {
        let n = scratch.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return false }
        return scratch.withUnsafeBytes { session.feedCiphertext(UnsafeRawBufferPointer(rebasing: $0[0..<n])) } == n
    }

    /// Plaintext until a request head's blank line (a request without a body); nil when the
    /// stream ends first.
    func readHead() -> [UInt8]? {
        var request: [UInt8] = []
        while !Self.containsHeadEnd(request) {
            switch try? scratch.withUnsafeMutableBytes({ try session.readPlaintext(into: $0) }) {
            case .bytes(let n)?: request += scratch[0..<n]
            case .needMore?: guard flush(), feed() else { return nil }
            default: return nil
            }
        }
        return request
    }

    private static func containsHeadEnd(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 4 && (0...(bytes.count - 4)).contains {
            bytes[$0] == 13 && bytes[$0 + 1] == 10 && bytes[$0 + 2] == 13 && bytes[$0 + 3] == 10
        }
    }
}
