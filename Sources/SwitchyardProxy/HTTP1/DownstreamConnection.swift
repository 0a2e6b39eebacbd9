import Glibc
import SwitchyardHTTP
import SwitchyardRouting
import SwitchyardSystem
import SwitchyardTLS

/// One client connection speaking HTTP/1.1, and the exchange it is carrying.
///
/// Requests on a connection are handled one at a time, in order: the next (pipelined)
/// request is parsed only when the previous response is complete, so answers can never be
/// reordered. Bytes flow through four pooled buffers, each direction with back-pressure:
/// a side is read only while the buffer it reads into has room, and a buffer drains only as
/// fast as the other side accepts writes.
///
///     client ──read──▶ fromClient ──(head rewrite / body framing)──▶ toUpstream ──write──▶ server
///     client ◀─write── toClient ◀──(head rewrite / body framing)── fromUpstream ◀──read── server
///
/// The same driver carries each HTTP/2 stream's exchange (`bridge`): the stream loads its
/// decoded head into the request parser (no HTTP/1.1 text in between), writes its DATA
/// into `fromClient`, and is handed the parsed response head and the de-framed body, so a
/// stream is routed, limited, forwarded and logged exactly like an HTTP/1.1 request. Such
/// a connection has no socket of its own. A body of known length from a plain upstream
/// skips `fromUpstream` when it can: it is read straight into the stream's staged body
/// (`receiveIntoStream`), never past the answer's last byte, and waits in the socket while
/// that body is full; the body bytes read with the head stay where they were read, the
/// buffer itself becoming the stream's staged body.
///
/// All of it is confined to the worker's event-loop thread.
///
/// This file holds the state, the events and the pump; the rest is in extensions beside it,
/// one concern each: `+Reading`, `+RequestHead`, `+Upstream`, `+Exchange`, `+ClientOutput`,
/// `+HTTP2Bridge`, `+Tunnel`, `+Timers`, `+Hibernation` (an idle connection gives its
/// state up for an `IdleTable` entry). The state is internal rather than private so they
/// can share it; nothing outside this folder should touch it.
final class DownstreamConnection: EventHandler, Indexed {
    /// Where the connection is. Each phase's invariant:
    enum Phase {
        /// Between requests. No upstream, no table pinned; `fromClient` may hold the start
        /// of the next head (pipelined or still arriving).
        case awaitingHead
        /// A head was parsed and routed; `toUpstream` holds the rewritten head; an upstream
        /// connect is in progress (`upstream.connecting`). The table is pinned.
        case connecting
        /// A chunked body is validated before anything is sent upstream: `toUpstream` holds
        /// the rewritten head, `fromClient` the body so far (unconsumed), `bodyValidator`
        /// has checked its first `validatedOffset` bytes. Left when the body is complete and
        /// valid (connect), invalid (400, nothing was sent), or too large to hold (stream).
        case holdingBody
        /// Write hold: routed, the table pinned, `toUpstream` holds the rewritten head,
        /// `fromClient` the head itself (unconsumed, `parkedHeadLength`) and the body so far;
        /// queued in `worker.hold`. Nothing was sent upstream. Left by a release (routed
        /// again from the head), the max-wait deadline (503) or the client leaving (dropped).
        case parked
        /// Request and response in flight on `upstream`. The table is pinned.
        case exchanging
        /// After 101 Switching Protocols: bytes copied both ways until both sides end.
        case tunnel
        /// A final answer is queued in `toClient`; once written, the connection closes.
        case closing
        /// The answer was written and our side shut down; reading and discarding until the
        /// client closes or `deadline` passes, so that it sees the answer and not a reset.
        case lingering
        case closed
    }

    /// Written only by this connection (its extensions in HTTP1/); others read it.
    var phase = Phase.awaitingHead
    let fd: FileDescriptor
    /// The worker that owns this connection. Strong on purpose: a strong `let` is read
    /// without retain or release, while an `unowned(unsafe)` read is made strong (a retain
    /// and a release) at every use — callgrind counted ~50 such pairs a request across the
    /// exchange driver. The cycle (the worker's list holds the connection) is broken by
    /// `close()`, which takes the connection off that list; `Worker.closeAll` closes every one.
    let worker: Worker
    var registration = RegistrationID.none
    /// Position in the worker's connection list (for O(1) removal).
    var listIndex = -1

    /// Who the client is (address, forwarding texts, trust), shared with an HTTP/2 hand-over.
    /// Replaced once if a PROXY protocol header names the client behind a balancer.
    var client: ClientIdentity
    /// The SNI name the TLS client sent (on this socket, or on the HTTP/2 connection this
    /// stream belongs to); nil without TLS or without SNI. Read once, when a route first
    /// needs it: it is fixed for the connection (renegotiation is refused).
    lazy var tlsServerName: String? = tls?.session.serverName ?? bridge?.serverName
    /// `listen … proxy-protocol`: the header's bytes read so far, until it is complete
    /// (then nil). Nothing else is read from the socket before.
    var proxyHeader: [UInt8]?
    /// TLS termination for `listen https` connections; nil for plain ones (and for
    /// HTTP/2 streams: their connection holds the TLS session).
    let tls: TLSTransport?
    /// The client reached us over TLS (X-Forwarded-Proto, Secure cookies).
    let isTLS: Bool
    /// The HTTP/2 stream this connection carries, or nil for a client socket.
    unowned(unsafe) var bridge: H2Stream? { willSet { isH2 = newValue != nil } }
    /// `bridge != nil`, kept as a flag: testing the unowned(unsafe) reference itself costs a
    /// retain and release, and the exchange asks on every request (set from `newValue` in
    /// `willSet` for the same reason: a `didSet` reading `bridge` paid it on every stream).
    private(set) var isH2 = false
    /// A plain listener with `h2c`: a first request that is the HTTP/2 preface hands the
    /// socket to an `H2Connection`.
    let h2cAllowed: Bool
    var servedRequests = 0
    /// `servedRequests` when a tick first found the connection quiescent (−1: the last tick
    /// did not), and that tick's time; see `readyToHibernate`.
    var quietMark = -1
    var quietSince: UInt64 = 0
    /// For the access log: "h1" or "h2", and the TLS version ("" for plain).
    let protocolName: StaticString
    var tlsVersion: StaticString
    var handshakeNoted = false

    var fromClient: IOBuffer?
    var toUpstream: IOBuffer?
    var fromUpstream: IOBuffer?
    var toClient: IOBuffer?

    /// Parsers and log scratch, taken from the worker's pool while a request is in progress
    /// (or its head is arriving) and given back between requests: their field tables are
    /// most of a connection's memory, and an idle keep-alive connection needs none of it.
    var scratch: ExchangeScratch?
    var requestParser: HTTPRequestParser { scratch.unsafelyUnwrapped.request }
    var responseParser: HTTPResponseParser { scratch.unsafelyUnwrapped.response }
    var logLine: UnsafeMutableRawPointer { scratch.unsafelyUnwrapped.logLine }
    /// Runs `body` on the scratch without an atomic retain and release around it (the
    /// property holds it throughout: `body` must not give it back).
    @inline(__always)
    func withScratch<R>(_ body: (ExchangeScratch) -> R) -> R {
        Unmanaged.passUnretained(scratch.unsafelyUnwrapped)._withUnsafeGuaranteedRef(body)
    }
    /// `fromClient`, `fromUpstream` and `toClient` (each must not be nil) unretained, to use
    /// through `_withUnsafeGuaranteedRef` without the atomic retain and release a local
    /// copy costs. Sound for the rest of the call even if the field is given back meanwhile:
    /// a buffer is never freed while an event is handled (`BufferPool`'s lifetime rule).
    var fromClientRef: Unmanaged<IOBuffer> { Unmanaged.passUnretained(fromClient.unsafelyUnwrapped) }
    var fromUpstreamRef: Unmanaged<IOBuffer> { Unmanaged.passUnretained(fromUpstream.unsafelyUnwrapped) }
    var toClientRef: Unmanaged<IOBuffer> { Unmanaged.passUnretained(toClient.unsafelyUnwrapped) }
    var requestChunks = ChunkedDecoder()
    var bodyValidator = ChunkedDecoder()
    var validatedOffset = 0
    /// The route's `max-body` (UInt64.max: none) and the chunked body bytes seen so far.
    var bodyLimit = UInt64.max
    var chunkedBodyBytes: UInt64 = 0
    var responseChunks = ChunkedDecoder()

    // Client side of the socket.
    /// No more request bytes will come: the socket ended (plain), or the TLS session ended
    /// or has nothing left to decrypt after its socket ended.
    var clientEOF = false
    /// A TLS client's socket reached end of stream, while the session may still hold
    /// records there was no room to decrypt (pipelined requests, a body's tail): they are
    /// taken as room comes — by the pump, since no socket event will come for them — and
    /// `clientEOF` follows once the session has nothing left.
    var clientSocketEOF = false
    var clientWriteBlocked = false
    var clientShutDown = false

    // The exchange in progress (valid from `connecting` to the end of the exchange).
    var upstream: UpstreamConnection?
    /// Runs `body` on the upstream connection (non-nil) without an atomic retain and release
    /// around it, as `withScratch` does for the scratch: the property holds it throughout, so
    /// `body` must not end it (no failure handling inside; TLS paths keep a strong reference).
    @inline(__always)
    func withUpstream<R>(_ body: (UpstreamConnection) -> R) -> R {
        Unmanaged.passUnretained(upstream.unsafelyUnwrapped)._withUnsafeGuaranteedRef(body)
    }
    /// The table the request pinned (`TableHandle.activeRequests`), held unretained: the
    /// worker keeps it alive until the last pin is gone. Binding this optional to a name
    /// retains and releases it (atomics); the per-request paths borrow `pinned` instead
    /// (`_withUnsafeGuaranteedRef`, the borrow ending before anything may drop the table) or take
    /// the table as an argument.
    var handle: TableHandle? {
        get { pinned?.takeUnretainedValue() }
        set { pinned = newValue.map { Unmanaged.passUnretained($0) } }
    }
    var pinned: Unmanaged<TableHandle>?
    var decision = DownstreamConnection.unrouted
    /// The decision of a request that has not been (or could not be) routed: route and
    /// backend -1, so nothing is attributed to a route it never reached.
    static let unrouted = RouteDecision(route: -1, backend: -1, bucket: -1, reason: .active, issueCookie: false, cookieValue: 0)
    var method = HTTPMethod.get
    var clientIsHTTP10 = false
    var requestKeepAlive = true
    var requestIsUpgrade = false
    /// The request body still to come: a length, chunked (HTTP/1.1, decoded and re-framed),
    /// or `streamChunked` — an HTTP/2 body without content-length, chunk-framed for the
    /// upstream as it arrives and ended by the stream's END_STREAM.
    enum Body { case done, length(UInt64), chunked, streamChunked }
    var requestBody = Body.done
    var responseBody = Body.done
    var responseUntilClose = false
    /// The upstream's read failed (a reset): its end is not the answer's clean end, even
    /// for a body delimited by the close. What it sent before is still relayed.
    var upstreamReset = false
    var responseHeadDone = false
    var chunkToClient = false
    var responseDone = false
    var closeAfterResponse = false
    var upstreamEOF = false
    /// A TLS upstream's socket reached end of stream, while the session may still hold
    /// records it had no room to decrypt yet (the client reads slower than the server
    /// sends). `upstreamEOF` follows once those are out: until then the answer goes on.
    var upstreamSocketEOF = false
    var upstreamWriteBlocked = false
    /// Writing to the upstream failed (EPIPE, reset): the server may have answered in full
    /// and closed without reading the rest of the body. What it sent is still read and
    /// delivered; request bytes from now on are dropped. Judged at upstream EOF.
    var upstreamWriteBroken = false
    /// The TLS upstream's handshake has not finished: `deadline` is the connect timeout's,
    /// moved to the response timeout's once it finishes (`pullUpstreamPlaintext`).
    var upstreamHandshakePending = false
    /// The deadline's length once the upstream socket is connected: the response timeout,
    /// or the connect timeout while a TLS handshake is still to finish.
    var connectedTimeout: UInt64 {
        upstreamHandshakePending ? worker.settings.connectTimeoutMilliseconds : worker.settings.upstreamTimeoutMilliseconds
    }
    /// The upstream hung up (or failed) before its end could be read — no room in
    /// `fromUpstream` — so its registration is muted (level-triggered epoll would report
    /// the hang-up at every wait) and the pumps read it as room comes, to its end.
    var upstreamHungUp = false
    /// HTTP/2: an upstream read was left for later because the stream's staged body is full
    /// (`receiveIntoStream`); `bridgeResume` asks for it again once frames made room.
    var upstreamReadParked = false
    /// The last read from the upstream socket filled all it asked for: more may be queued
    /// there, which the loop reads on its next turn (`readAgain`), or, for a connection put
    /// back in the pool meanwhile, closes it for. A request taking that connection before
    /// then would read those bytes as its answer: `returnOrClose` looks first.
    var upstreamReadMayBeOwed = false
    /// The final answer's head came before the last request byte left for the server: it
    /// answered without reading the whole body, and whether it reads (and drops) the rest
    /// is unknown. Unread, that rest would be taken for the next request on the connection
    /// (a body can hold a whole request, and its answer would go to the next user), so the
    /// connection is not reused.
    var answeredBeforeRequestSent = false
    /// The same for the client in a tunnel whose client side we already shut.
    var clientHungUp = false
    /// Bytes of `toUpstream` that replay the request on a fresh connection (bodiless
    /// requests only; 0 = not replayable).
    var replayLength = 0
    /// The request and its answer: what happens next is decided there; this class moves
    /// the bytes and carries out its actions (`perform`). Unchecked exclusivity: it is
    /// touched only on the worker's thread, never re-entered, and measured, the dynamic
    /// checks on every event cost more than the transitions.
    @exclusivity(unchecked) var exchange = Exchange()
    /// Our own or the server's status, for the access log (also set for refused heads,
    /// which never become an exchange).
    var status = 0
    var bytesIn: UInt64 = 0
    var bytesOut: UInt64 = 0
    var startNanoseconds: UInt64 = 0
    /// Metrics and access-log notes of the current exchange (see `+Observe`).
    var observed = ExchangeObservation()
    /// The inventory rows this connection's requests on one route share (see the type).
    var shortcut = InventoryShortcut()
    /// Method and path of the current request for the access log (the head itself is
    /// consumed from the read buffer once forwarded). Allocated once per connection.
    /// The server that served the last request; its label ("backend/host:port") goes into
    /// the access-log line. Unretained: set on every request, and a strong reference or a
    /// copied label would cost an atomic retain and release each time (so would testing an
    /// `unowned(unsafe)` one for nil). It is read only while the request's table is pinned
    /// (`handle`), and the table's `servers` hold the pool; `startExchange` clears it.
    var lastServer: Unmanaged<ServerPool>?
    var lastServerLabel: [UInt8] { lastServer.map { $0.takeUnretainedValue().labelBytes } ?? [] }
    /// Runs `body` on the last server's label (empty: none) without copying it.
    @inline(__always)
    func withLastServerLabel<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        guard let lastServer else { return body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return lastServer._withUnsafeGuaranteedRef { $0.labelBytes.withUnsafeBytes(body) }
    }
    var logMethodCount = 0
    var logPathCount = 0
    static let logLineCapacity = ExchangeScratch.logLineCapacity
    static let drainIdleMilliseconds: UInt64 = 1_000
    /// The exchange became a tunnel (counted in the tunnel gauges until it ends).
    var inTunnel = false
    /// The exchange was cut, not answered: by `abort` (closed at once) or by `endCutAnswer`
    /// (closed after what came is sent, without TLS close_notify, which would tell the
    /// client the answer ended cleanly).
    var aborted = false
    var tunnelShutUpstream = false
    var tunnelShutClient = false
    /// Write hold (see `+Hold`): when this exchange was parked (monotonic ms; 0: not parked),
    /// the head's length left in `fromClient`, the body bytes it counts against the
    /// worker's bound, and whether the exchange in progress was released from a hold.
    var parkedSince: UInt64 = 0
    var parkedHeadLength = 0
    var parkedBytes = 0
    var parkedMaxWait: UInt64 = 0
    /// When it parked, to the nanosecond: the release's order across workers (two writes
    /// a millisecond apart on two workers must not tie).
    var parkedAtNanoseconds: UInt64 = 0
    /// An HTTP/2 stream's decoded head, kept while parked (its parser's spans point here).
    var parkedH2Head: IOBuffer?
    var parkedHeadBytes = 0
    var releasedFromHold = false
    /// The name of the route a released write was parked on (`landedElsewhere`).
    var releasedRoute: String?
    /// Parked behind a released route's queue (`DrainGate`), not by a hold; counted in
    /// `HoldQueue.joinedOutstanding` until the exchange ends.
    var joinedDrain = false
    /// Whose parked write this is (`holdClientKey`): a release sends a client's writes one
    /// at a time, in the order they parked.
    var holdKey: UInt64 = 0
    /// Its place in the worker's hold queue (`HoldQueue.append`): what a release step
    /// takes it by.
    var parkSequence: UInt64 = 0
    /// Our next own answer is the hold's 503 (Retry-After, "not saved").
    var holdRefusal = false
    /// Mirror (see `Mirror/`): the pair this exchange's answer is recorded for; nil when the
    /// exchange is not mirrored (then the recording costs one nil check per body step).
    var mirrorPair: MirrorPair?

    // Timing (monotonic ms).
    var deadline: UInt64 = 0
    /// The body-rate window: when it started, body bytes read in it, and whether the proxy
    /// stopped reading the client during it (back-pressure is not the client's slowness).
    var rateWindowStart: UInt64 = 0
    var rateWindowBytes: UInt64 = 0
    var rateWindowHeldBack = false
    /// The client asked for 100 Continue and has sent no body byte since, nor seen an interim
    /// answer: it waits for the server (RFC 9110 §10.1.1), so its silence is not slowness.
    var awaitingContinue = false

    /// A client socket of an `http` (`h2c`: may switch to HTTP/2) or `https` listener.
    convenience init(fd: FileDescriptor, client: ClientIdentity, worker: Worker, tls session: TLSSession? = nil, h2c: Bool = false,
                     proxyProtocol: Bool = false) {
        self.init(fd: fd, client: client, worker: worker,
                  tls: session.map { TLSTransport(session: $0) },
                  secure: session != nil, bridge: nil, h2c: h2c, protocolName: "h1", tlsVersion: "")
        if proxyProtocol {
            proxyHeader = []
            deadline = worker.nowMilliseconds + worker.settings.headerTimeoutMilliseconds
        }
    }

    /// The exchange of one HTTP/2 stream (see `H2Stream`).
    convenience init(stream: H2Stream, client: ClientIdentity, worker: Worker, secure: Bool, tlsVersion: StaticString) {
        self.init(fd: FileDescriptor(rawValue: -1), client: client, worker: worker, tls: nil, secure: secure,
                  bridge: stream, h2c: false, protocolName: "h2", tlsVersion: tlsVersion)
    }

    init(fd: FileDescriptor, client: ClientIdentity, worker: Worker, tls: TLSTransport?, secure: Bool,
                 bridge: H2Stream?, h2c: Bool, protocolName: StaticString, tlsVersion: StaticString) {
        self.fd = fd
        self.worker = worker
        precondition(tls == nil || secure, "a TLS connection not marked secure")
        self.tls = tls
        self.isTLS = secure
        self.bridge = bridge
        self.isH2 = bridge != nil  // willSet does not run in init
        self.h2cAllowed = h2c
        self.protocolName = protocolName
        self.tlsVersion = tlsVersion
        self.client = client
        requestChunks = ChunkedDecoder(limits: worker.limits)
        responseChunks = ChunkedDecoder(limits: worker.limits)
        // A TLS client must finish its handshake and send a head within the head timeout.
        deadline = Clock.monotonicMilliseconds()
            + (tls == nil ? worker.settings.keepAliveTimeoutMilliseconds : worker.settings.headerTimeoutMilliseconds)
    }



    // MARK: events

    override func eventsReceived(_ events: UInt32) {
        if proxyHeader != nil {
            // The balancer's header comes first, even before a TLS ClientHello. Once it is
            // read, the level-triggered loop reports whatever followed it.
            if events & (Epoll.readable | Epoll.hangUp | Epoll.error) != 0 { readProxyHeader() }
            return
        }
        if events & (Epoll.readable | Epoll.hangUp | Epoll.error) != 0 {
            readFromClient()
        }
        if events & (Epoll.hangUp | Epoll.error) != 0, phase != .closed {
            let failed = events & Epoll.error != 0
            if phase == .tunnel, tunnelShutClient, !failed, !clientEOF, !clientSocketEOF {
                // Gone both ways with bytes still unread (no room for them): muted, and
                // `pumpTunnel` reads them as room comes.
                if !clientHungUp {
                    worker.loop.mute(registration)
                    clientHungUp = true
                }
            } else if clientEOF || clientSocketEOF || failed {
                // The client is gone both ways (or its socket failed): nothing more can be
                // read or delivered. An error counts even when nothing could be read: with the
                // buffer full the read above did not happen, and level-triggered epoll would
                // report it again and again — a worker spinning until a deadline (a parked
                // write's max-wait). A tunnel whose client side already ended just stops
                // listening.
                if phase == .tunnel && tunnelShutClient && !failed {
                    worker.loop.mute(registration)
                } else if phase == .awaitingHead || phase == .closing || phase == .lingering {
                    close()
                    return
                } else {
                    abort(reason: "client hung up")
                    return
                }
            }
        }
        if events & Epoll.writable != 0 { clientWriteBlocked = false }
        advance()
    }

    func upstreamEventsReceived(_ events: UInt32) {
        guard upstream != nil else { return }
        // A strong reference only while connecting (a failed connect ends the upstream):
        // taken for every event, it cost a retain and release each.
        if withUpstream({ $0.connecting }) {
            guard let upstream else { return }
            guard events & (Epoll.writable | Epoll.error | Epoll.hangUp) != 0 else { return }
            let err = Socket.takeError(upstream.fd)
            if err != 0 {
                connectFailed(Errno(code: err, call: "connect(\(upstream.pool.address))"))
                return
            }
            upstream.connecting = false
            exchange.connected()
            observeConnected()
            phase = .exchanging
            deadline = worker.nowMilliseconds + connectedTimeout
        }
        if events & (Epoll.hangUp | Epoll.error) != 0 {
            // The connection the event is for: a failed read may replay the request on a
            // new one, which must not be muted.
            let hungUp = withUpstream { $0.registration }
            readFromUpstream()
            if let upstream = self.upstream, upstream.registration == hungUp {
                // Its end is known, or (no room to read it) will be read by the pumps;
                // either way stop listening, or epoll reports the hang-up again and again.
                // Nothing more can be written to it either: a write finds that out.
                worker.loop.mute(upstream.registration)
                upstreamWriteBlocked = false   // no writable event will come now
                if !upstreamEOF && !upstreamSocketEOF { upstreamHungUp = true }
            }
        } else if events & Epoll.readable != 0 {
            readFromUpstream(peerEnded: events & Epoll.readHangUp != 0)
        }
        if events & Epoll.writable != 0 { upstreamWriteBlocked = false }
        advance()
    }

    // MARK: the pump

    /// Moves the connection forward as far as it can go without waiting, then sets the epoll
    /// interests to what it now waits for.
    func advance() {
        var progressed = true
        while progressed {
            progressed = false
            // A TLS client whose socket ended: its last records leave the session here, in
            // every phase that would have read them on a socket event (none will come).
            if clientSocketEOF, !clientEOF, let tls, clientBufferHasRoom, pullPlaintext(tls) { progressed = true }
            // The flags first: binding a nil optional still calls into the runtime.
            // The stream borrowed, not retained (a pair each pass, two passes or more a
            // request): it is alive while it is bridged, and `refill` only moves bytes and
            // flags — it closes nothing.
            if isH2, Unmanaged.passUnretained(bridge.unsafelyUnwrapped)._withUnsafeGuaranteedRef({ $0.refill(self) }) {
                progressed = true
            }
            switch phase {
            case .awaitingHead:
                if isTLS, let tls, !clientEOF, pullPlaintext(tls) { progressed = true }
                guard phase == .awaitingHead else { break }
                // Answers of our own (404, 503) may still be queued from the last request.
                if flushToClient() { progressed = true }
                // The next (pipelined) head waits until the last answer has left, so a new
                // answer always has the whole buffer.
                if phase == .awaitingHead, clientOutputDrained, parseHead() { progressed = true }
            case .connecting:
                break
            case .holdingBody:
                progressed = validateHeldBody()
            case .parked:
                progressed = parkedClientCheck()
            case .exchanging:
                progressed = pumpExchange()
            case .tunnel:
                progressed = pumpTunnel()
            case .closing:
                // Sent in part: go round again, until all of it is out or the socket says
                // EAGAIN (which sets the writable interest). Ignoring a partial send left the
                // rest with no event to wake it, until the closing deadline cut it off.
                if flushToClient() { progressed = true }
                if clientOutputDrained, phase == .closing { startLingering() }
            case .lingering, .closed:
                break
            }
        }
        if phase == .awaitingHead {
            // Between requests a connection keeps no buffer it does not need: idle
            // keep-alive connections cost only their object.
            if toClient?.isEmpty ?? false { releaseBuffer(&toClient) }
            if fromClient?.isEmpty ?? false {
                releaseBuffer(&fromClient)
                releaseScratch()
            }
        }
        updateInterests()
    }

    func updateInterests() {
        guard phase != .closed else { return }
        if !isH2 {
            var client: UInt32 = 0
            if !clientEOF, !clientSocketEOF, clientBufferHasRoom,
               (tls?.session.ciphertextRoom ?? 1) > 0 {
                client |= Epoll.readable
            }
            if phase == .lingering { client = clientEOF || clientSocketEOF ? 0 : Epoll.readable }
            if clientWriteBlocked { client |= Epoll.writable }
            worker.loop.setInterest(registration, client)
        }
        guard upstream != nil else { return }
        // Borrowed, not retained (a pair every call): `upstream` holds it, and setting
        // interests closes nothing.
        withUpstream { upstream in
            guard !upstream.closed else { return }
            var events: UInt32 = 0
            if upstream.connecting {
                events = Epoll.writable
            } else {
                if !upstreamEOF, !upstreamSocketEOF, upstreamBufferHasRoom,
                   (upstream.tls?.session.ciphertextRoom ?? 1) > 0 {
                    events |= Epoll.readable
                }
                if upstreamWriteBlocked { events |= Epoll.writable }
            }
            worker.loop.setInterest(upstream.registration, events)
        }
    }


    /// Graceful shutdown: a busy connection closes after its response; an idle keep-alive
    /// connection within a second — not at once, because its client may be sending the
    /// next request right now, and closing under it would lose that request. Whatever
    /// arrives meanwhile is answered with `Connection: close`.
    func drain() {
        switch phase {
        case .awaitingHead where (fromClient?.isEmpty ?? true) && clientOutputDrained:
            closeAfterResponse = true
            deadline = min(deadline, Clock.monotonicMilliseconds() + Self.drainIdleMilliseconds)
        case .awaitingHead where fromClient?.isEmpty ?? true:
            // An answer is still being written: close once it has left.
            closeAfterResponse = true
            phase = .closing
            advance()
        case .awaitingHead, .connecting, .holdingBody, .parked, .exchanging:
            closeAfterResponse = true
        default:
            break
        }
    }

    /// The route and backend this connection tunnels to (after 101), for drain orders.
    var tunnelTarget: (route: String, backend: String)? {
        guard phase == .tunnel, let handle else { return nil }
        return (handle.table.config.routes[decision.route].name, handle.table.config.backends[decision.backend].name)
    }

    var isIdle: Bool { phase == .awaitingHead && (fromClient?.isEmpty ?? true) }
}

extension DownstreamConnection.Body {
    var isDone: Bool { if case .done = self { return true } else { return false } }
}

extension DownstreamConnection.Body {
    /// Ended by the HTTP/2 stream's END_STREAM, not by a length or a last chunk.
    var endsWithStream: Bool { if case .streamChunked = self { return true } else { return false } }

    /// The same body as the exchange's state machine sees it (what is still to come decides
    /// its path; the byte counts stay with the driver).
    var exchangeBody: Exchange.RequestBody {
        switch self {
        case .done: return .none
        case .length(let n): return .length(n)
        case .chunked: return .chunked
        case .streamChunked: return .untilStreamEnd
        }
    }
}
