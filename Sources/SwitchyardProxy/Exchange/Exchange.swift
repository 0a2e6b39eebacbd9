import SwitchyardHTTP

/// One request and its answer, as a state machine without I/O.
///
/// The protocol driver (an HTTP/1.1 client connection, or an HTTP/2 stream carried by one)
/// reports what happened — the head was routed, a connect failed, the response head arrived,
/// a deadline passed — and carries out the `Action` it gets back: connect, replay, answer,
/// cut, finish. Bytes never pass through here: the driver moves them between pooled buffers
/// and reports only the events that change what happens next. The machine never touches a
/// socket, a clock or a buffer pool, so every transition is tested with plain asserts
/// (`ExchangeTests`).
///
///     idle ─routed─▶ decisionPoint ─forward─▶ holdingBody ─valid─▶ connecting ─connected─▶ sending
///       │                 │                        │                   │  ▲                  │
///       │ 404/421/501/413 │                        │ 400/408/413       │  └─next server /    │ response head
///       ▼                 ▼                        ▼                   ▼    failover / replay ▼
///     answered ◀──────────┴────────────────────────┴──── 502/503/504 ──┴──────────── receiving ─▶ finished
///                                                                                     │   │
///                                                                              101 ───┘   └─ failure after the
///                                                                              tunnel         first byte: cut
///
/// Impossible transitions (an event the driver cannot send in that state) are our bugs:
/// `preconditionFailure` with the state. Races that really happen — a deadline and a
/// connect result in the same loop tick, the upstream closing while the request body is
/// still going out — are handled where they arrive and say so.
struct Exchange {
    /// Where the exchange is. Each state's invariant:
    enum State: Equatable {
        /// No request yet (or the last one ended).
        case idle
        /// Routed: table pinned, side chosen, nothing sent upstream. The one place a feature
        /// may act on the exchange before it leaves (see `decisionPointPassed`).
        case decisionPoint
        /// A chunked body is validated whole before anything goes upstream.
        case holdingBody
        /// Choosing a server and connecting to it; nothing of the request has reached a server.
        case connecting
        /// Connected: the request is going out; no final response head yet.
        case sending
        /// The final response head was passed to the client; its body is being relayed.
        case receiving
        /// After 101 Switching Protocols: bytes copied both ways until both sides end.
        case tunnel
        /// An answer of our own was queued; the exchange is over.
        case answered
        /// Cut: something broke after the response started (or the client left).
        case cut
        /// The response was relayed in full and the request was read in full.
        case finished
    }

    /// What the driver must do.
    enum Action: Equatable {
        /// Nothing to do now.
        case none
        /// Ask the features at the decision point, then report `decisionPointPassed`.
        case consultDecisionPoint
        /// Park the exchange in the worker's hold queue (write hold): nothing goes upstream
        /// until `parkReleased`, a deadline (503) or the client leaving.
        case park
        /// Validate the chunked body before connecting (report `heldBodyValidated`).
        case holdBody
        /// Take an idle pooled connection (when `reuse`) or connect to the next untried
        /// server of the chosen backend; report `connected`, `connectFailed` or `noServerLeft`.
        case connect(reuse: Bool)
        /// Switch to the route's other side (`backend`), forget the servers tried, connect.
        case failOver(backend: Int)
        /// Put the request bytes back and send them again on a fresh connection.
        case replay
        /// The response cannot be passed on (a 101 nobody asked for): treat it as an upstream
        /// failure and report `upstreamFailed`.
        case rejectResponse
        /// Pass a 1xx interim answer to the client.
        case forwardInterim
        /// Drop a 1xx interim answer (HTTP/1.0 clients, HTTP/2 streams).
        case dropInterim
        /// Pass the 101 head on and copy bytes both ways.
        case startTunnel
        /// Pass the final response head on; `closeAfter`: the client connection ends after it.
        case relayResponse(closeAfter: Bool)
        /// Our own answer; the exchange is over. `close`: the client connection must end
        /// after it (framing in doubt, or an unread body).
        case answer(status: Int, close: Bool)
        /// Cut the client connection (or reset the stream): the only honest signal left.
        case cut(reason: CutReason)
        /// The exchange ended normally; `close`: the client connection ends after it.
        case finish(close: Bool)
    }

    /// Why an exchange was cut (for the error log and, later, the access log's flags).
    enum CutReason: String, Equatable {
        case clientGone = "client closed during the exchange"
        case upstreamFailedMidResponse = "upstream failed mid-response"
        case upstreamTimeoutMidResponse = "upstream timeout mid-response"
        case badRequestBody = "bad chunked request body"
        case requestBodyOverLimit = "request body over max-body"
        case requestBodyTooSlow = "request body too slow"
        case tunnelEnded = "tunnel ended"
    }

    /// How the request's body is delimited, as the machine needs it.
    enum RequestBody: Equatable {
        case none
        case length(UInt64)
        /// Chunked on HTTP/1.1 (validated first unless the client waits for 100 Continue).
        case chunked
        /// Delimited by the end of its HTTP/2 stream (no content-length): streamed, never held.
        case untilStreamEnd
    }

    /// The facts about a parsed request head that decide its path.
    struct Request: Equatable {
        var method: HTTPMethod
        var body: RequestBody
        var expectContinue = false
        var upgrade = false
        var clientIsHTTP10 = false
        /// The client may send another request on this connection after this one.
        var keepAlive = true
        /// The exchange runs on an HTTP/2 stream: no 1xx, no upgrade, no connection reuse.
        var http2 = false
    }

    /// Where routing got to.
    enum Routing: Equatable {
        /// Routed to `backend`; `maxBody` is the route's limit (nil: none).
        case routed(backend: Int, maxBody: UInt64?)
        case noRoute
        /// The route's certificate was not the one the TLS client checked (421).
        case misdirected
        /// CONNECT: no route carries it (501).
        case connectMethod
    }

    private(set) var state = State.idle
    private(set) var request = Request(method: .get, body: .none)
    /// The backend in use (it changes on failover); -1 before routing.
    private(set) var backend = -1
    private var maxBody: UInt64?
    private(set) var failedOver = false
    /// The request was replayed once on a fresh connection.
    private(set) var replayed = false
    /// Servers tried for this request (index into the backend's servers), as a bit set —
    /// owned here so a failover or a replay starts the backend's list afresh.
    var triedServers: UInt64 = 0
    /// The request body was read in full (or there was none).
    private(set) var requestComplete = true
    /// A byte of the response reached the client side (a failure now can only cut).
    private(set) var responseStarted = false
    /// The response was relayed in full.
    private(set) var responseComplete = false
    /// The client connection ends after this exchange.
    private(set) var closeAfter = false
    /// The final status, ours or the server's (0 until known).
    private(set) var status = 0

    init() {}

    // MARK: the request

    /// A head was parsed; `routing` says where it goes. Starts the exchange.
    mutating func headRouted(_ request: Request, _ routing: Routing, draining: Bool) -> Action {
        precondition(state == .idle || state == .finished || state == .answered, "headRouted in \(state)")
        self = Exchange()
        self.request = request
        requestComplete = request.body == .none
        closeAfter = !request.keepAlive || draining
        // Early answers: the body (if any) was not read, so its framing decides whether the
        // connection can go on.
        switch routing {
        case .connectMethod: return answer(501, close: true)
        case .noRoute: return answer(404, close: !requestComplete)
        case .misdirected: return answer(421, close: !requestComplete)
        case .routed(let backend, let maxBody):
            self.backend = backend
            self.maxBody = maxBody
            if case .length(let n) = request.body, let maxBody, n > maxBody {
                return answer(413, close: true)
            }
            state = .decisionPoint
            return .consultDecisionPoint
        }
    }

    /// The head, rewritten for the upstream, does not fit a buffer (431). Checked before the
    /// decision point, so no feature ever sees a head that cannot be sent.
    mutating func headRewriteFailed() -> Action {
        precondition(state == .decisionPoint, "headRewriteFailed in \(state)")
        return answer(431, close: true)
    }

    /// What a feature at the decision point decided.
    enum Verdict: Equatable {
        /// Send the exchange on.
        case forward
        /// Write hold: keep it at the decision point until released.
        case park
        /// Write hold, over a bound (or the hold is too old): 503, the change was not saved.
        case refuse
    }

    /// The decision point was passed.
    ///
    /// A hook there may: read the request head and the routing decision, count, keep a copy
    /// of the head for a shadow exchange of its own (mirror), or hold the exchange back
    /// (write hold) by not reporting this event until it releases it. It may not: change
    /// the head or the chosen side, send a byte upstream or to the client, allocate per
    /// request outside its own pools, or block the loop. Whatever it does, the exchange
    /// still owns its table pin and its deadline while it waits.
    mutating func decisionPointPassed(_ verdict: Verdict) -> Action {
        precondition(state == .decisionPoint, "decisionPointPassed in \(state)")
        switch verdict {
        case .park:
            // Stays at the decision point: its invariant (routed, nothing sent) holds.
            return .park
        case .refuse:
            return answer(503, close: !requestComplete)
        case .forward:
            // A chunked body can be malformed after a valid head: holding it until it is
            // whole and valid means a bad one reaches the backend not at all. A client
            // waiting for 100 Continue sends nothing until the backend answers, so it streams.
            if request.body == .chunked && !request.expectContinue {
                state = .holdingBody
                return .holdBody
            }
            state = .connecting
            return .connect(reuse: true)
        }
    }

    /// A parked exchange is released: it starts again from its head, routed by the table
    /// current at the release (the usual sequence is hold, switch the database, flip, release).
    mutating func parkReleased() {
        precondition(state == .decisionPoint, "parkReleased in \(state)")
        state = .idle
    }

    /// The held chunked body was read and is valid, or grew past what a buffer holds (then
    /// it streams, and bad framing later cuts the upstream before the last chunk, so the
    /// backend never sees a complete request): either way, connect.
    mutating func heldBodyValidated() -> Action {
        precondition(state == .holdingBody, "heldBodyValidated in \(state)")
        state = .connecting
        return .connect(reuse: true)
    }

    /// The request body's framing is broken (`status`: 400, or 413 past `max-body`).
    mutating func requestBodyRefused(status: Int) -> Action {
        switch state {
        case .holdingBody, .decisionPoint, .connecting, .sending:
            // Nothing of the response was sent: an honest answer is still possible. The
            // last chunk was never sent upstream, so the server cannot take the body for a
            // complete request.
            return answer(status, close: true)
        case .receiving, .tunnel:
            return cut(status == 413 ? .requestBodyOverLimit : .badRequestBody)
        default:
            preconditionFailure("requestBodyRefused in \(state)")
        }
    }

    /// The request's max-body limit (nil: none), for the driver's running count.
    var bodyLimit: UInt64 { maxBody ?? .max }

    /// The last byte of the request body was read.
    mutating func requestBodyEnded() -> Action {
        requestComplete = true
        if state == .receiving && responseComplete { return finish() }
        return .none
    }

    /// The client left (or reset the stream) while the exchange ran.
    mutating func clientGone() -> Action {
        switch state {
        case .idle, .answered, .cut, .finished: return .none
        default: return cut(.clientGone)
        }
    }

    // MARK: the upstream

    /// The driver's connect loop ran out of servers of the current backend.
    /// `otherSide`: the route's other backend when it says `failover` (nil: none), looked up
    /// by the driver only now, off the common path.
    mutating func noServerLeft(otherSide: Int?) -> Action {
        precondition(state == .connecting, "noServerLeft in \(state)")
        // A route that says `failover` tries its other side once; the access log then shows
        // the backend that answered.
        if !failedOver, let other = otherSide, other != backend {
            failedOver = true
            backend = other
            triedServers = 0
            return .failOver(backend: other)
        }
        return answer(503, close: !requestComplete)
    }

    /// An upstream connection is ready (an idle pooled one, or a connect that completed).
    mutating func connected() {
        precondition(state == .connecting, "connected in \(state)")
        state = .sending
    }

    /// A non-blocking connect failed or timed out: nothing was sent, so the next server of
    /// the same backend is tried.
    mutating func connectFailed() -> Action {
        precondition(state == .connecting || state == .sending, "connectFailed in \(state)")
        state = .connecting
        return .connect(reuse: true)
    }

    /// The upstream broke the exchange (reset, closed early, bad response, TLS failure).
    /// `reusedConnection`: it was a kept-alive connection that had served before;
    /// `nothingReceived`: no byte of a response arrived; `replayable`: the request's bytes
    /// are still held (bodiless requests only).
    mutating func upstreamFailed(reusedConnection: Bool, nothingReceived: Bool, replayable: Bool) -> Action {
        switch state {
        case .connecting, .sending, .receiving:
            break
        case .tunnel:
            // The server's side of a tunnel failed (a reset, a bad TLS record): it ends.
            return cut(.tunnelEnded)
        default:
            preconditionFailure("upstreamFailed in \(state)")
        }
        // The server may have closed the idle connection just as we sent: a safe request
        // that saw no answer is sent once more, on a fresh connection.
        if state == .sending && reusedConnection && nothingReceived && replayable && !replayed
            && request.method.isIdempotent {
            replayed = true
            triedServers = 0
            state = .connecting
            return .replay
        }
        if responseStarted { return cut(.upstreamFailedMidResponse) }
        return answer(502, close: true)
    }

    /// A response head arrived. `status` is its code; `framing` how its body is delimited.
    mutating func responseHeadReceived(status: Int, framing: BodyFraming) -> Action {
        precondition(state == .sending, "responseHeadReceived in \(state)")
        if status == 101 {
            // Only an upgrade request may be answered by a switch; anything else is a
            // server that broke HTTP, and the client must not be handed its bytes.
            guard request.upgrade && !request.http2 else { return .rejectResponse }
            self.status = 101
            responseStarted = true
            state = .tunnel
            return .startTunnel
        }
        if status < 200 {
            // 1xx interim answers (100 Continue, 103 Early Hints) go to HTTP/1.1 clients;
            // HTTP/1.0 clients do not know them, and HTTP/2 streams drop them by design.
            return request.clientIsHTTP10 || request.http2 ? .dropInterim : .forwardInterim
        }
        self.status = status
        switch framing {
        case .chunked where request.clientIsHTTP10, .untilClose:
            // The client can only see the end of such a body as the end of the connection.
            if !request.http2 { closeAfter = true }
        default:
            break
        }
        // An unread request body leaves the connection's framing in doubt.
        if !requestComplete { closeAfter = true }
        responseStarted = true
        state = .receiving
        if framing == .none || framing == .contentLength(0) { responseComplete = true }
        return .relayResponse(closeAfter: closeAfter)
    }

    /// The final head could not be written for the client (too large once rewritten):
    /// nothing reached the client, so the failure that follows is still answered (502).
    mutating func responseHeadNotRelayed() {
        precondition(state == .receiving, "responseHeadNotRelayed in \(state)")
        responseStarted = false
        responseComplete = false
        status = 0
        state = .sending
    }

    /// The response body ended (its framing said so, or the server closed an until-close body).
    mutating func responseEnded() -> Action {
        precondition(state == .receiving, "responseEnded in \(state)")
        responseComplete = true
        return requestComplete || closeAfter ? finish() : .none
    }

    /// A deadline passed: the head-to-body time, the connect timeout, the upstream's
    /// response time, or the tunnel's idle time, whichever the state keeps.
    mutating func deadlinePassed() -> Action {
        switch state {
        case .holdingBody:
            return answer(408, close: true)
        case .connecting:
            // Race: the connect may have completed in this very tick; the driver reports
            // `connected` first when it saw that, so here it really timed out.
            return connectFailed()
        case .sending:
            return answer(504, close: true)
        case .receiving:
            return cut(.upstreamTimeoutMidResponse)
        case .tunnel:
            return cut(.tunnelEnded)
        case .decisionPoint:
            // Held at the decision point past its wait (write hold): not saved, say so.
            return answer(503, close: !requestComplete)
        default:
            preconditionFailure("deadlinePassed in \(state)")
        }
    }

    /// The client of a parked write stopped sending (write hold): not saved, say so, and
    /// close (no request can follow).
    mutating func parkedClientClosed() -> Action {
        precondition(state == .decisionPoint, "parkedClientClosed in \(state)")
        return answer(503, close: true)
    }

    /// The client sent its body too slowly (the body-rate rule).
    mutating func requestBodyTooSlow() -> Action {
        responseStarted ? cut(.requestBodyTooSlow) : answer(408, close: true)
    }

    /// The tunnel ended (both sides closed, or one failed).
    mutating func tunnelEnded() -> Action {
        precondition(state == .tunnel, "tunnelEnded in \(state)")
        state = .finished
        return .finish(close: true)
    }

    // MARK: endings

    private mutating func answer(_ status: Int, close: Bool) -> Action {
        self.status = status
        state = .answered
        if close { closeAfter = true }
        return .answer(status: status, close: closeAfter)
    }

    private mutating func cut(_ reason: CutReason) -> Action {
        state = .cut
        closeAfter = true
        return .cut(reason: reason)
    }

    private mutating func finish() -> Action {
        state = .finished
        return .finish(close: closeAfter)
    }
}

extension HTTPMethod {
    /// RFC 9110 §9.2.2: a request that may be repeated without changing the result.
    var isIdempotent: Bool {
        switch self {
        case .get, .head, .options, .trace, .put, .delete: return true
        default: return false
        }
    }
}
