import SwitchyardTLS

/// A client and a server session joined by an in-memory network, for tests. `chunkSize`
/// limits how many bytes each move delivers, to feed byte by byte.
final class TLSPipe {
    enum Side: Equatable { case client, server }

    struct Failure: Error, CustomStringConvertible {
        var side: Side
        var error: TLSError
        var description: String { "\(side): \(error.message)" }
    }

    let client: TLSSession
    let server: TLSSession
    var chunkSize: Int

    /// Ciphertext taken from one side that the other has not accepted yet.
    private var toServer: [UInt8] = []
    private var toClient: [UInt8] = []

    init(client: TLSSession, server: TLSSession, chunkSize: Int = .max) {
        self.client = client
        self.server = server
        self.chunkSize = chunkSize
    }

    convenience init(_ clientContext: TLSClientContext, _ serverContext: TLSServerContext,
                     serverName: String = "localhost", resuming session: TLSSavedSession? = nil,
                     chunkSize: Int = .max) throws {
        self.init(client: try TLSSession(client: clientContext, serverName: serverName, resuming: session),
                  server: try TLSSession(server: serverContext),
                  chunkSize: chunkSize)
    }

    /// Runs both handshakes to completion; throws the first side's error.
    func handshake(maxSteps: Int = 200_000) throws(Failure) {
        for _ in 0..<maxSteps {
            let clientState: TLSHandshakeState
            do { clientState = try client.handshake() } catch { throw Failure(side: .client, error: error) }
            move(.client)
            let serverState: TLSHandshakeState
            do { serverState = try server.handshake() } catch { throw Failure(side: .server, error: error) }
            move(.server)
            if clientState == .complete && serverState == .complete && toServer.isEmpty && toClient.isEmpty {
                return
            }
        }
        throw Failure(side: .client, error: TLSError(message: "handshake made no progress in \(maxSteps) steps"))
    }

    /// Moves pending ciphertext from `side` to its peer (at most `chunkSize` bytes).
    /// Returns how many bytes the peer accepted.
    @discardableResult
    func move(_ side: Side) -> Int {
        let (from, to) = side == .client ? (client, server) : (server, client)
        var queue = side == .client ? toServer : toClient
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { from.takeCiphertext(into: $0) }
            if count == 0 { break }
            queue.append(contentsOf: buffer[0..<count])
        }
        let offered = min(queue.count, chunkSize)
        let accepted = queue.withUnsafeBytes { to.feedCiphertext(UnsafeRawBufferPointer(rebasing: $0[0..<offered])) }
        queue.removeFirst(accepted)
        if side == .client { toServer = queue } else { toClient = queue }
        return accepted
    }

    /// Sends `bytes` from `side` and returns what the peer read, pumping until it all arrived.
    func send(_ bytes: [UInt8], from side: Side) throws -> [UInt8] {
        let (writer, reader) = side == .client ? (client, server) : (server, client)
        var offset = 0
        var received: [UInt8] = []
        var idleRounds = 0
        while received.count < bytes.count {
            var progressed = false
            if offset < bytes.count {
                let written = try bytes.withUnsafeBytes { try writer.writePlaintext(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
                offset += written
                progressed = written > 0
            }
            progressed = move(side) > 0 || progressed
            let before = received.count
            guard try reader.drainPlaintext(into: &received) else { throw TLSError(message: "peer closed while sending") }
            if received.count > before { progressed = true }
            // Whatever the reader produced (tickets acknowledged, key updates) goes back.
            move(side == .client ? .server : .client)
            idleRounds = progressed ? 0 : idleRounds + 1
            if idleRounds > 3 { throw TLSError(message: "transfer stalled at \(received.count) of \(bytes.count) bytes") }
        }
        return received
    }
}

extension TLSSession {
    /// Appends every plaintext byte the session can give now to `received`; false when the
    /// peer closed.
    func drainPlaintext(into received: inout [UInt8]) throws -> Bool {
        var buffer = [UInt8](repeating: 0, count: 32 * 1024)
        while true {
            switch try buffer.withUnsafeMutableBytes({ try readPlaintext(into: $0) }) {
            case .bytes(let count): received += buffer[0..<count]
            case .needMore: return true
            case .closed: return false
            }
        }
    }
}
