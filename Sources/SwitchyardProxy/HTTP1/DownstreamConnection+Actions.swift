import SwitchyardHTTP
import SwitchyardSystem

/// Carrying out what the exchange's state machine decided.
extension DownstreamConnection {
    /// Does what `action` says. The actions about the response head (interim, tunnel,
    /// relay, reject) need the head's bytes, so `parseResponseHead` carries them out itself;
    /// `failOver` is carried out by the connect loop that asked.
    func perform(_ action: Exchange.Action) {
        switch action {
        case .none, .consultDecisionPoint:
            break
        case .park:
            park()
        case .holdBody:
            bodyValidator = ChunkedDecoder(limits: worker.limits)
            validatedOffset = 0
            phase = .holdingBody
            deadline = worker.nowMilliseconds + worker.settings.upstreamTimeoutMilliseconds
            startRateWindow()
            awaitingContinue = false
        case .connect(let reuse):
            connectUpstream(allowReuse: reuse)
        case .replay:
            toUpstream?.restore(count: replayLength)
            connectUpstream(allowReuse: false)
        case .answer(let status, let close):
            observeOwnAnswer(status)
            finishWithError(status, close: close)
        case .cut(let reason):
            observeCut(reason)
            if !isH2 && (reason == .upstreamFailedMidResponse || reason == .upstreamTimeoutMidResponse) {
                if cutShowsInFraming {
                    endCutAnswer()
                } else {
                    // Ended by the close: an orderly end would read as the whole answer. A
                    // TLS client tells by the missing close_notify; a plain one by a reset.
                    if !isTLS { Socket.resetOnClose(fd) }
                    abort(reason: reason.rawValue)
                }
            } else {
                abort(reason: reason.rawValue)
            }
        case .finish:
            finishExchange()
        case .forwardInterim, .dropInterim, .startTunnel, .relayResponse, .rejectResponse:
            preconditionFailure("response-head action \(action) outside parseResponseHead")
        case .failOver:
            // Only `noServerLeft` answers it, inside `connectUpstream`, which goes on with the
            // other side under the same reuse rule.
            preconditionFailure("failOver outside connectUpstream")
        }
    }
}
