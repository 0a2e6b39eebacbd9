import SwitchyardHTTP
import SwitchyardSystem
import SwitchyardTLS

/// The exchange's observation hooks: each is one call at one point of the request's life,
/// so that the protocol code stays as it was. They write plain per-worker counters (see
/// `MetricsCell`) and allocate nothing.
extension DownstreamConnection {
    /// The request was routed: it is in flight for its route and the backend chosen.
    @inline(__always)
    func observeRouted(_ handle: TableHandle) {
        guard decision.route >= 0 else { return }
        let index = decision.route * handle.servers.count + decision.backend
        observed = ExchangeObservation()
        observed.inFlightCell = index
        handle.metrics[index].enter()
    }

    /// A response head (interim ones included) was parsed: the first one's time is the
    /// time to first byte, the last one's status is the upstream's.
    @inline(__always)
    func observeResponseHead() {
        if observed.headNanoseconds == 0 { observed.headNanoseconds = worker.nowNanoseconds }
        observed.upstreamStatus = responseParser.status
    }

    /// The exchange looks for an upstream connection (the first time: `connect_us` counts
    /// from here, across retries and failover).
    @inline(__always)
    func observeConnectStart() {
        if observed.connectStartNanoseconds == 0 { observed.connectStartNanoseconds = worker.nowNanoseconds }
    }

    /// An upstream connection is ready for the request (pooled, or a connect completed).
    /// From the loop's batch clock, as every timing of a request (a pooled connection is
    /// ready in the batch its search began in).
    @inline(__always)
    func observeConnected() {
        observed.connectedNanoseconds = worker.nowNanoseconds
    }

    /// The exchange answered on its own (`status`): why, for the access log's flags.
    @inline(__always)
    func observeOwnAnswer(_ status: Int) {
        // The hold's 503 is not a server missing: read as `UH`, ops went looking for a
        // backend that was down.
        if observed.heldWrite && status == 503 {
            observed.flags.formUnion(.writeHold)
            return
        }
        observed.flags.formUnion(.ownAnswer(status, connectFailures: observed.connectFailures,
                                            upstreamError: observed.upstreamError))
    }

    /// The exchange was cut: why, for the access log's flags.
    @inline(__always)
    func observeCut(_ reason: Exchange.CutReason) {
        observed.flags.formUnion(.cut(reason, upstreamError: observed.upstreamError))
    }

    /// A connect to one of the backend's servers failed (the request may go on elsewhere).
    @inline(__always)
    func observeConnectFailure() {
        observed.connectFailures += 1
        guard let handle, decision.route >= 0 else { return }
        let cell = handle.metrics[decision.route * handle.servers.count + decision.backend]
        cell.recordProxyError(.connect)
        cell.recordTransportFailure()
    }

    /// The upstream broke the exchange for good (no replay): why, for the error counters.
    func observeUpstreamFailure(_ error: Error) {
        if error is TLSError {
            observed.upstreamError = .tls
        } else if error is HTTPParseError {
            observed.upstreamError = .protocolError
        } else if let errno = error as? Errno, errno.code == EPROTO || errno.code == EMSGSIZE {
            observed.upstreamError = .protocolError
        } else {
            observed.upstreamError = .reset
        }
    }

    /// The request ended (answered, refused, or cut): counted under the backend that
    /// answered it (after a failover, the other side), and no longer in flight.
    @inline(__always)
    func observeEnd(_ handle: TableHandle, now: UInt64) {
        // The access log has read it (see `endRequest`): the next request starts afresh.
        defer { observed = ExchangeObservation() }
        if observed.inFlightCell >= 0 {
            handle.metrics[observed.inFlightCell].leave()
            observed.inFlightCell = -1
        }
        guard decision.route >= 0 else { return }
        let cell = handle.metrics[decision.route * handle.servers.count + decision.backend]
        let start = startNanoseconds &+ observed.parkedNanoseconds
        // The hold's 503 is the cutover's, not the backend's: counted as a backend error or a
        // transport failure, a write-heavy route refused during the database freeze would
        // trip a revert guard on the side it was just moved to; as a request, it diluted the
        // error ratio, and a write parked until its max-wait put the freeze into the p95.
        if _slowPath(observed.heldWrite) {
            cell.recordHeldAnswer(status: status, microseconds: (now &- start) / 1000)
            return
        }
        let header = observed.headNanoseconds == 0 ? nil : (observed.headNanoseconds &- start) / 1000
        // A tunnel (WebSocket) lasts as long as the page does: its request took until the
        // 101, as the backend's counters say. Its whole life in the histograms made a route's
        // p95 a tab's lifetime (a latency guard tripped on users closing tabs, and `flip
        // --drain` saved minutes as the old side's baseline).
        var end = now
        if inTunnel { end = observed.headNanoseconds == 0 ? start : observed.headNanoseconds }
        cell.recordRequest(status: status, microseconds: (end &- start) / 1000, headerMicroseconds: header)
        let upstreamCut = aborted && observed.upstreamError != nil
        let ownError = status >= 500 && !responseHeadDone
        cell.recordGuardOutcome(status: status, failed: status >= 500 || upstreamCut,
                                upstreamAnswered: observed.upstreamStatus != 0 && !upstreamCut)
        // Connect failures were counted as they happened; our own answer after none (no
        // server up, a timeout, a reset) and a cut by the upstream are one each.
        if (ownError && observed.connectFailures == 0) || upstreamCut { cell.recordTransportFailure() }
        // Our own answers and cuts, not the backend's: a 503 the backend sent is its own.
        if ownError {
            switch status {
            case 503: cell.recordProxyError(.noServer)
            case 504: cell.recordProxyError(.timeout)
            default: cell.recordProxyError(observed.upstreamError ?? .protocolError)
            }
        } else if aborted, let reason = observed.upstreamError {
            cell.recordProxyError(reason)
        }
    }
}

import Glibc
