import SwitchyardRouting
import SwitchyardSystem

/// When a waiting connection may give up its exchange state (see `IdleTable`).
extension DownstreamConnection {
    /// A connection woken from its idle-table entry: the same socket, client and TLS
    /// session, waiting for its next head with the deadline it had.
    convenience init(waking idle: IdleTable.Entry, worker: Worker) {
        let client = ClientIdentity(address: idle.address, trustedForwarder: idle.trustedForwarder, listener: Int(idle.listener))
        let tlsVersion: StaticString = if let tls = idle.tls, idle.handshakeNoted { TLSVersionName.of(tls.session) } else { "" }
        self.init(fd: idle.fd, client: client, worker: worker, tls: idle.tls, secure: idle.tls != nil,
                  bridge: nil, h2c: idle.h2cAllowed, protocolName: "h1", tlsVersion: tlsVersion)
        registration = idle.registration
        servedRequests = idle.servedRequests
        handshakeNoted = idle.handshakeNoted
        deadline = idle.deadline
    }

    /// Asked on every tick: true when every tick for `idleReductionMilliseconds` found the
    /// connection quiescent and it served no request meanwhile, so a keep-alive client in
    /// the middle of its requests keeps its state (and allocates nothing per request).
    func readyToHibernate(now: UInt64) -> Bool {
        guard isQuiescent else {
            quietMark = -1
            return false
        }
        if quietMark == servedRequests { return now &- quietSince >= worker.settings.idleReductionMilliseconds }
        quietMark = servedRequests
        quietSince = now
        return false
    }

    /// Between requests with nothing held and nothing owed: no bytes buffered either way,
    /// no parser, upstream or table, no half-close, no drain, no PROXY header or TLS
    /// handshake still under way, nothing the TLS session still has to send.
    private var isQuiescent: Bool {
        guard phase == .awaitingHead, !isH2, proxyHeader == nil,
              fromClient == nil, toClient == nil, toUpstream == nil, fromUpstream == nil, scratch == nil,
              upstream == nil, handle == nil, parkedH2Head == nil, mirrorPair == nil,
              !clientEOF, !clientWriteBlocked, !clientShutDown, !closeAfterResponse, !worker.draining else { return false }
        if let tls { return handshakeNoted && !tls.hasPendingOutput }
        return true
    }
}
