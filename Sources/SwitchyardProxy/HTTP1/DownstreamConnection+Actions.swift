import SwitchyardHTTP
import SwitchyardSystem

/// Carrying out what the exchange's state machine decided.
extension DownstreamConnection {
    /// Does what `action` says. The actions about the response head (interim, tunnel,
    /// relay, reject) need the head's bytes, so `parseResponseHead` carries them out itself.
    func perform(_ action: Exchange.Action) {
        switch action {
        case .none, .consultDecisionPoint:
            break
        case .holdBody:
            bodyValidator = ChunkedDecoder(limits: worker.limits)
            validatedOffset = 0
            phase = .holdingBody
            deadline = Clock.monotonicMilliseconds() + worker.settings.upstreamTimeoutMilliseconds
            startRateWindow()
        case .connect(let reuse):
            connectUpstream(allowReuse: reuse)
        case .failOver(let backend):
            decision.backend = backend
            connectUpstream(allowReuse: true)
        case .replay:
            toUpstream?.restore(count: replayLength)
            connectUpstream(allowReuse: false)
        case .answer(let status, let close):
            observeOwnAnswer(status)
            finishWithError(status, close: close)
        case .cut(let reason):
            observeCut(reason)
            abort(reason: reason.rawValue)
        case .finish:
            finishExchange()
        case .forwardInterim, .dropInterim, .startTunnel, .relayResponse, .rejectResponse:
            preconditionFailure("response-head action \(action) outside parseResponseHead")
        }
    }
}
