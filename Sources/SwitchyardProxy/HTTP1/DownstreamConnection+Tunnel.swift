import Glibc
import SwitchyardHTTP
import SwitchyardRouting
import SwitchyardSystem
import SwitchyardTLS

/// After 101 Switching Protocols: bytes copied both ways.
extension DownstreamConnection {
    // MARK: tunnel

    func pumpTunnel() -> Bool {
        var progressed = false
        if clientHungUp, !clientEOF, !clientSocketEOF, clientBufferHasRoom {
            // The muted client's last bytes (see `clientHungUp`), as room comes.
            let before = fromClient?.readableCount ?? 0
            readFromClient()
            if phase != .tunnel { return true }
            if clientEOF || clientSocketEOF || (fromClient?.readableCount ?? 0) != before { progressed = true }
        }
        if let tls, !clientEOF, pullPlaintext(tls) { progressed = true }
        if pullWaitingUpstreamRecords() { progressed = true }
        if phase != .tunnel { return true }   // the server's side failed: the tunnel is cut
        if let input = fromClient, !input.isEmpty {
            if toUpstream == nil { toUpstream = worker.buffers.take() }
            toUpstream!.ensureWritable(16 * 1024)
            let n = toUpstream!.append(input.readable)
            input.consume(n)
            bytesIn += UInt64(n)
            if n > 0 { progressed = true }
        }
        if let input = fromUpstream, !input.isEmpty {
            if toClient == nil { toClient = worker.buffers.take() }
            toClient!.ensureWritable(16 * 1024)
            let n = toClient!.append(input.readable)
            input.consume(n)
            if n > 0 { progressed = true }
        }
        if flushToUpstream() { progressed = true }
        if phase != .tunnel { return true }
        if flushToClient() { progressed = true }
        if phase != .tunnel { return true }
        // Half-closes travel through: end of stream from one side, once everything it sent
        // was delivered, becomes a shutdown of our write side towards the other.
        // A TLS server's ciphertext must all have left first (shut with records still in the
        // session, the next flush meets EPIPE and the tunnel is cut); then its close_notify.
        if clientEOF && !tunnelShutUpstream && (fromClient?.isEmpty ?? true) && (toUpstream?.isEmpty ?? true), let upstream,
           !(upstream.tls?.hasPendingOutput ?? false) {
            Lingering.shutdownWrite(upstream.fd, tls: upstream.tls)
            tunnelShutUpstream = true
        }
        if upstreamEOF && !tunnelShutClient && (fromUpstream?.isEmpty ?? true) && clientOutputDrained {
            Lingering.shutdownWrite(fd, tls: tls)
            tunnelShutClient = true
        }
        if tunnelShutUpstream && tunnelShutClient {
            // Both directions ended cleanly: the exchange is finished, the connection closes.
            _ = exchange.tunnelEnded()   // always `.finish(close: true)`: closing is what follows
            close()
            return true
        }
        return progressed
    }
}
