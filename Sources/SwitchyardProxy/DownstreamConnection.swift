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
/// The same state machine carries each HTTP/2 stream (`bridge`): the stream writes an
/// HTTP/1.1 rendering of its request into `fromClient` and takes the answer from
/// `toClient`, so a stream is routed, limited, forwarded and logged exactly like an
/// HTTP/1.1 request. Such a connection has no socket of its own.
///
/// All of it is confined to the worker's event-loop thread.
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

    private(set) var phase = Phase.awaitingHead
    let fd: FileDescriptor
    private unowned let worker: Worker
    var registration = RegistrationID.none
    /// Position in the worker's connection list (for O(1) removal).
    var listIndex = -1

    /// Who the client is (address, forwarding texts, trust), shared with an HTTP/2 hand-over.
    /// Replaced once if a PROXY protocol header names the client behind a balancer.
    private var client: ClientIdentity
    /// `listen … proxy-protocol`: the header's bytes read so far, until it is complete
    /// (then nil). Nothing else is read from the socket before.
    private var proxyHeader: [UInt8]?
    /// TLS termination for `listen https` connections; nil for plain ones (and for
    /// HTTP/2 streams: their connection holds the TLS session).
    private let tls: TLSTransport?
    /// The client reached us over TLS (X-Forwarded-Proto, Secure cookies).
    private let isTLS: Bool
    /// The HTTP/2 stream this connection carries, or nil for a client socket.
    private unowned(unsafe) let bridge: H2Stream?
    /// A plain listener with `h2c`: a first request that is the HTTP/2 preface hands the
    /// socket to an `H2Connection`.
    private let h2cAllowed: Bool
    private var servedRequests = 0
    /// For the access log: "h1" or "h2", and the TLS version ("" for plain).
    private let protocolName: StaticString
    private var tlsVersion: StaticString
    private var handshakeNoted = false

    private var fromClient: IOBuffer?
    private var toUpstream: IOBuffer?
    private var fromUpstream: IOBuffer?
    private var toClient: IOBuffer?

    /// Parsers and log scratch, taken from the worker's pool while a request is in progress
    /// (or its head is arriving) and given back between requests: their field tables are
    /// most of a connection's memory, and an idle keep-alive connection needs none of it.
    private var scratch: ExchangeScratch?
    private var requestParser: HTTPRequestParser { scratch.unsafelyUnwrapped.request }
    private var responseParser: HTTPResponseParser { scratch.unsafelyUnwrapped.response }
    private var logLine: UnsafeMutableRawPointer { scratch.unsafelyUnwrapped.logLine }
    private var requestChunks = ChunkedDecoder()
    private var bodyValidator = ChunkedDecoder()
    private var validatedOffset = 0
    /// The route's `max-body` (UInt64.max: none) and the chunked body bytes seen so far.
    private var bodyLimit = UInt64.max
    private var chunkedBodyBytes: UInt64 = 0
    private var responseChunks = ChunkedDecoder()

    // Client side of the socket.
    private var clientEOF = false
    private var clientWriteBlocked = false
    private var clientShutDown = false

    // The exchange in progress (valid from `connecting` to the end of the exchange).
    private var upstream: UpstreamConnection?
    private unowned(unsafe) var handle: TableHandle?
    private var decision = DownstreamConnection.unrouted
    /// The decision of a request that has not been (or could not be) routed: route and
    /// backend -1, so nothing is attributed to a route it never reached.
    private static let unrouted = RouteDecision(route: -1, backend: -1, bucket: -1, reason: .active, issueCookie: false, cookieValue: 0)
    private var method = HTTPMethod.get
    private var clientIsHTTP10 = false
    private var requestKeepAlive = true
    private var requestIsUpgrade = false
    fileprivate enum Body { case done, length(UInt64), chunked }
    private var requestBody = Body.done
    private var responseBody = Body.done
    private var responseUntilClose = false
    private var responseHeadDone = false
    private var chunkToClient = false
    private var responseDone = false
    private var closeAfterResponse = false
    private var upstreamEOF = false
    private var upstreamWriteBlocked = false
    /// Writing to the upstream failed (EPIPE, reset): the server may have answered in full
    /// and closed without reading the rest of the body. What it sent is still read and
    /// delivered; request bytes from now on are dropped. Judged at upstream EOF.
    private var upstreamWriteBroken = false
    /// Bytes of `toUpstream` that replay the request on a fresh connection (bodiless
    /// requests only; 0 = not replayable).
    private var replayLength = 0
    private var replayed = false
    /// Servers tried for this request (index into the backend's servers), as a bit set.
    private var triedServers: UInt64 = 0
    private var failedOver = false
    private var responseStarted = false   // a byte of the response was sent to the client
    private var status = 0
    private var bytesIn: UInt64 = 0
    private var bytesOut: UInt64 = 0
    private var startNanoseconds: UInt64 = 0
    /// Method and path of the current request for the access log (the head itself is
    /// consumed from the read buffer once forwarded). Allocated once per connection.
    private var logMethodCount = 0
    private var logPathCount = 0
    private static let logLineCapacity = ExchangeScratch.logLineCapacity
    private static let drainIdleMilliseconds: UInt64 = 1_000
    /// The exchange became a tunnel (counted in the tunnel gauges until it ends).
    private var inTunnel = false
    /// The exchange ended by `abort` (a cut, not an answer).
    private var aborted = false
    private var tunnelShutUpstream = false
    private var tunnelShutClient = false

    // Timing (monotonic ms).
    private var deadline: UInt64 = 0
    /// The body-rate window: when it started, body bytes read in it, and whether the proxy
    /// stopped reading the client during it (back-pressure is not the client's slowness).
    private var rateWindowStart: UInt64 = 0
    private var rateWindowBytes: UInt64 = 0
    private var rateWindowHeldBack = false

    /// A client socket of an `http` (`h2c`: may switch to HTTP/2) or `https` listener.
    convenience init(fd: FileDescriptor, client: ClientIdentity, worker: Worker, tls session: TLSSession? = nil, h2c: Bool = false,
                     proxyProtocol: Bool = false) {
        self.init(fd: fd, client: client, worker: worker,
                  tls: session.map { TLSTransport(session: $0, pool: worker.buffers) },
                  secure: session != nil, bridge: nil, h2c: h2c, protocolName: "h1", tlsVersion: "")
        if proxyProtocol {
            proxyHeader = []
            deadline = Clock.monotonicMilliseconds() + worker.settings.headerTimeoutMilliseconds
        }
    }

    /// The exchange of one HTTP/2 stream (see `H2Stream`).
    convenience init(stream: H2Stream, client: ClientIdentity, worker: Worker, secure: Bool, tlsVersion: StaticString) {
        self.init(fd: FileDescriptor(rawValue: -1), client: client, worker: worker, tls: nil, secure: secure,
                  bridge: stream, h2c: false, protocolName: "h2", tlsVersion: tlsVersion)
    }

    private init(fd: FileDescriptor, client: ClientIdentity, worker: Worker, tls: TLSTransport?, secure: Bool,
                 bridge: H2Stream?, h2c: Bool, protocolName: StaticString, tlsVersion: StaticString) {
        self.fd = fd
        self.worker = worker
        self.tls = tls
        self.isTLS = secure
        self.bridge = bridge
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

    func eventsReceived(_ events: UInt32) {
        if proxyHeader != nil {
            // The balancer's header comes first, even before a TLS ClientHello. Once it is
            // read, the level-triggered loop reports whatever followed it.
            if events & (Epoll.readable | Epoll.hangUp | Epoll.error) != 0 { readProxyHeader() }
            return
        }
        if events & (Epoll.readable | Epoll.hangUp | Epoll.error) != 0 {
            readFromClient()
        }
        if events & (Epoll.hangUp | Epoll.error) != 0, clientEOF, phase != .closed {
            // The client is gone both ways (or its socket failed): nothing more can be read
            // or delivered. A tunnel whose client side already ended just stops listening.
            if phase == .tunnel && tunnelShutClient && events & Epoll.error == 0 {
                worker.loop.mute(registration)
            } else if phase == .awaitingHead || phase == .closing || phase == .lingering {
                close()
                return
            } else {
                abort(reason: "client hung up")
                return
            }
        }
        if events & Epoll.writable != 0 { clientWriteBlocked = false }
        advance()
    }

    func upstreamEventsReceived(_ events: UInt32) {
        guard let upstream else { return }
        if upstream.connecting {
            guard events & (Epoll.writable | Epoll.error | Epoll.hangUp) != 0 else { return }
            let err = Socket.takeError(upstream.fd)
            if err != 0 {
                connectFailed(Errno(code: err, call: "connect(\(upstream.pool.address))"))
                return
            }
            upstream.connecting = false
            phase = .exchanging
            deadline = Clock.monotonicMilliseconds() + worker.settings.upstreamTimeoutMilliseconds
        }
        if events & (Epoll.readable | Epoll.hangUp | Epoll.error) != 0 {
            readFromUpstream()
        }
        if events & (Epoll.hangUp | Epoll.error) != 0, upstreamEOF, let upstream = self.upstream {
            // Its end is known; what it sent is still processed from `fromUpstream`. Stop
            // listening, or level-triggered epoll reports the hang-up again and again.
            worker.loop.mute(upstream.registration)
        }
        if events & Epoll.writable != 0 { upstreamWriteBlocked = false }
        advance()
    }

    // MARK: reading

    /// One read per readiness event: level-triggered epoll reports the fd again if more is
    /// waiting, and a second read that would only return EAGAIN is a wasted system call.
    private func readFromClient() {
        guard !clientEOF, phase != .closed else { return }
        if phase == .lingering {
            if !Lingering.discard(fd, scratch: worker.cipherScratch) { close() }
            return
        }
        if let tls {
            readCiphertext(tls)
            return
        }
        if fromClient == nil { fromClient = worker.buffers.take() }
        let buffer = fromClient!
        buffer.ensureWritable(4096)
        guard buffer.writableCount > 0 else { return }
        do {
            switch try fd.read(into: buffer.writable) {
            case .processed(0):
                clientEOF = true
            case .processed(let n):
                buffer.commit(n)
                clientBytesReceived(n, into: buffer)
            case .wouldBlock:
                break
            }
        } catch {
            clientEOF = true
            clientWriteBlocked = false
            if phase == .awaitingHead || phase == .closing { close() }
            else { abort(reason: "client: \(error)") }
        }
    }

    /// Bookkeeping for `n` new client bytes in `buffer` (plain or decrypted): the body-rate
    /// window, and the deadline — a head's first bytes start the head timeout, traffic in
    /// an exchange or tunnel pushes its idle timeout.
    private func clientBytesReceived(_ n: Int, into buffer: IOBuffer) {
        rateWindowBytes += UInt64(n)
        if phase == .awaitingHead && buffer.readableCount == n {
            deadline = Clock.monotonicMilliseconds() + worker.settings.headerTimeoutMilliseconds
        } else if phase == .tunnel || phase == .exchanging {
            deadline = Clock.monotonicMilliseconds() + idleLimit
        }
    }

    /// TLS: one socket read into the session, then as much plaintext as fits.
    private func readCiphertext(_ tls: TLSTransport) {
        do {
            switch try tls.readSocket(fd, scratch: worker.cipherScratch) {
            case .endOfStream: clientEOF = true
            case .fed, .wouldBlock, .full: break
            }
        } catch {
            clientEOF = true
            if phase == .awaitingHead || phase == .closing { close() } else { abort(reason: "client: \(error)") }
            return
        }
        _ = pullPlaintext(tls)
    }

    /// Decrypts what the session holds into `fromClient` (records can stay buffered in
    /// the session after a socket read, so this also runs when buffer space frees up), and
    /// sends what the handshake produced.
    private func pullPlaintext(_ tls: TLSTransport) -> Bool {
        guard phase != .closed, phase != .lingering else { return false }
        if fromClient == nil { fromClient = worker.buffers.take() }
        let buffer = fromClient!
        var progressed = false
        do {
            reading: while true {
                buffer.ensureWritable(4096)
                guard buffer.writableCount > 0 else { break }
                switch try tls.decrypt(into: buffer.writable) {
                case .bytes(let n):
                    buffer.commit(n)
                    clientBytesReceived(n, into: buffer)
                    progressed = true
                case .needMore:
                    break reading
                case .closed:
                    clientEOF = true
                    break reading
                }
            }
            if !clientShutDown, try !tls.flush(fd) { clientWriteBlocked = true }
            if !handshakeNoted, tls.session.isHandshakeComplete {
                handshakeNoted = true
                tlsVersion = TLSVersionName.of(tls.session)
                worker.stats.noteHandshake(tlsVersion)
                if tls.session.negotiatedALPN == "h2" {
                    handOverToHTTP2()
                    return true
                }
            }
        } catch let error as TLSError {
            // A failed handshake (not TLS, no common cipher…) or a broken record: send
            // the alert if any, then close. Nothing to log per client beyond a counter.
            worker.stats.tlsFailures += 1
            _ = try? tls.flush(fd)
            if phase == .awaitingHead || phase == .closing { close() } else { abort(reason: "TLS: \(error)") }
            return true
        } catch {
            clientEOF = true
            close()
            return true
        }
        return progressed
    }

    private func readFromUpstream() {
        guard let upstream, !upstreamEOF else { return }
        if let tls = upstream.tls {
            do {
                if try tls.readSocket(upstream.fd, scratch: worker.cipherScratch) == .endOfStream { upstreamEOF = true }
            } catch {
                upstreamEOF = true
            }
            pullUpstreamPlaintext(upstream, tls)
            return
        }
        if fromUpstream == nil { fromUpstream = worker.buffers.take() }
        let buffer = fromUpstream!
        buffer.ensureWritable(4096)
        guard buffer.writableCount > 0 else { return }
        do {
            switch try upstream.fd.read(into: buffer.writable) {
            case .processed(0):
                upstreamEOF = true
            case .processed(let n):
                buffer.commit(n)
                deadline = Clock.monotonicMilliseconds() + idleLimit
            case .wouldBlock:
                break
            }
        } catch {
            // A reset is not a clean end: an until-close body must not look complete.
            upstreamEOF = true
            responseUntilClose = false
        }
    }

    /// TLS upstream: decrypts what the session holds into `fromUpstream` and sends what the
    /// handshake produced. A failed handshake (verification!) fails the exchange: 502.
    @discardableResult
    private func pullUpstreamPlaintext(_ upstream: UpstreamConnection, _ tls: TLSTransport) -> Bool {
        if fromUpstream == nil { fromUpstream = worker.buffers.take() }
        let buffer = fromUpstream!
        var progressed = false
        do {
            reading: while !upstreamEOF {
                buffer.ensureWritable(4096)
                guard buffer.writableCount > 0 else { break }
                switch try tls.decrypt(into: buffer.writable) {
                case .bytes(let n):
                    buffer.commit(n)
                    progressed = true
                    deadline = Clock.monotonicMilliseconds() + idleLimit
                case .needMore:
                    break reading
                case .closed:
                    upstreamEOF = true
                }
            }
            if try !tls.flush(upstream.fd) { upstreamWriteBlocked = true }
        } catch {
            upstreamFailed(error)
            return true
        }
        return progressed
    }

    private var idleLimit: UInt64 {
        phase == .tunnel ? worker.settings.tunnelIdleTimeoutMilliseconds : worker.settings.upstreamTimeoutMilliseconds
    }

    // MARK: the pump

    /// Moves the connection forward as far as it can go without waiting, then sets the epoll
    /// interests to what it now waits for.
    private func advance() {
        var progressed = true
        while progressed {
            progressed = false
            if let bridge, bridge.refill(self) { progressed = true }
            switch phase {
            case .awaitingHead:
                if let tls, !clientEOF, pullPlaintext(tls) { progressed = true }
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
            case .exchanging:
                progressed = pumpExchange()
            case .tunnel:
                progressed = pumpTunnel()
            case .closing:
                _ = flushToClient()
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

    private func updateInterests() {
        guard phase != .closed else { return }
        if bridge == nil {
            var client: UInt32 = 0
            if !clientEOF, (fromClient?.writableCount ?? 1) > 0 || (fromClient?.readerIndex ?? 0) > 0,
               (tls?.session.ciphertextRoom ?? 1) > 0 {
                client |= Epoll.readable
            }
            if phase == .lingering { client = clientEOF ? 0 : Epoll.readable }
            if clientWriteBlocked { client |= Epoll.writable }
            worker.loop.setInterest(registration, client)
        }
        if let upstream, !upstream.closed {
            var events: UInt32 = 0
            if upstream.connecting {
                events = Epoll.writable
            } else {
                if !upstreamEOF, (fromUpstream?.writableCount ?? 1) > 0 || (fromUpstream?.readerIndex ?? 0) > 0,
                   (upstream.tls?.session.ciphertextRoom ?? 1) > 0 {
                    events |= Epoll.readable
                }
                if upstreamWriteBlocked { events |= Epoll.writable }
            }
            worker.loop.setInterest(upstream.registration, events)
        }
    }

    // MARK: PROXY protocol

    /// Reads the PROXY header without reading a byte past it: it peeks, and consumes only
    /// bytes the parser says belong to the header.
    private func readProxyHeader() {
        guard var held = proxyHeader else { return }
        let scratch = worker.cipherScratch
        let room = min(ProxyProtocolHeader.maxBytes - held.count, scratch.count)
        let peeked: Int
        do {
            switch try syscall("recv", { Glibc.recv(fd.rawValue, scratch.baseAddress, room, Int32(MSG_PEEK)) }) {
            case .processed(0):
                close()
                return
            case .processed(let n): peeked = n
            case .wouldBlock: return
            }
        } catch {
            close()
            return
        }
        let already = held.count
        held.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[0..<peeked]))
        let verdict = held.withUnsafeBytes { ProxyProtocolHeader.parse($0) }
        let take: Int
        switch verdict {
        case .needMore:
            take = peeked
        case .complete(let length, _):
            take = length - already
        case .invalid(let reason):
            worker.stats.badRequests += 1
            worker.clientErrorLog("PROXY protocol from \(String(decoding: client.ip, as: UTF8.self)): \(reason); closing")
            close()
            return
        }
        // Consume exactly the header's bytes (they are in the socket: we just peeked them).
        let consumed = (try? fd.read(into: UnsafeMutableRawBufferPointer(rebasing: scratch[0..<take]))) ?? .processed(0)
        guard case .processed(take) = consumed else {
            close()
            return
        }
        if case .complete(_, let source) = verdict {
            proxyHeader = nil
            if let source { client = client.behindBalancer(source) }
            if tls == nil { deadline = Clock.monotonicMilliseconds() + worker.settings.keepAliveTimeoutMilliseconds }
            return
        }
        held.removeLast(held.count - already - take)
        proxyHeader = held
    }

    // MARK: request head

    private func parseHead() -> Bool {
        guard let buffer = fromClient, !buffer.isEmpty else {
            if clientEOF { phase = .closing }   // flushes what is queued, then closes
            return clientEOF
        }
        buffer.compact()   // the parser works on offsets from the message's first byte
        let bytes = buffer.readable
        if h2cAllowed && servedRequests == 0, let prefix = H2Preface.match(bytes) {
            // HTTP/2 with prior knowledge: this socket speaks HTTP/2 from its first byte.
            if prefix == .complete { handOverToHTTP2() ; return true }
            if clientEOF { phase = .closing ; return true }
            return false
        }
        if scratch == nil { scratch = worker.takeScratch() }
        switch requestParser.parse(bytes) {
        case .needMore:
            if clientEOF {
                fromClient?.clear()
                phase = .closing
                return true
            }
            return false
        case .error(let error):
            worker.stats.badRequests += 1
            respondAndClose(status: error.status)
            logRefusal(status: error.status, reason: error.reason)
            return true
        case .complete(let headLength):
            startExchange(base: bytes.baseAddress!, headLength: headLength)
            return true
        }
    }

    private func startExchange(base: UnsafeRawPointer, headLength: Int) {
        startNanoseconds = Clock.monotonicNanoseconds()
        servedRequests += 1
        let p = requestParser
        method = p.method
        clientIsHTTP10 = p.version == .http10
        requestKeepAlive = p.keepAlive
        requestIsUpgrade = p.upgrade
        bytesIn = UInt64(headLength)
        bytesOut = 0
        status = 0
        responseStarted = false
        rememberForLog(base)
        closeAfterResponse = !requestKeepAlive || worker.draining
        requestBody = .done
        let handle = worker.current
        self.handle = handle
        handle.activeRequests += 1
        lastServerLabel = []
        decision = Self.unrouted

        // Early answers consume the head first: the next head starts after it.
        if method == .connect {
            fromClient!.consume(headLength)
            finishWithError(501, close: true)
            return
        }
        let view = RequestView(base: base, parser: p, clientAddress: client.address,
                               path: scratch.unsafelyUnwrapped.routingPath(base: base), listener: client.listener)
        guard let decision = handle.table.route(view, random: worker.nextRandom()) else {
            fromClient!.consume(headLength)
            finishWithError(404, close: p.framing != .none)
            return
        }
        self.decision = decision
        // A route with its own certificate answers only where that certificate was presented:
        // a client that checked another name's certificate is misdirected (421).
        if isTLS, handle.table.routes[decision.route].config.certificate != nil,
           !handle.table.certificateCovers(routeIndex: decision.route, serverName: tlsServerName) {
            fromClient!.consume(headLength)
            finishWithError(421, close: p.framing != .none)
            return
        }
        bodyLimit = handle.table.routes[decision.route].maxBodyBytes ?? .max
        chunkedBodyBytes = 0
        switch p.framing {
        case .contentLength(let n):
            if let limit = handle.table.routes[decision.route].maxBodyBytes, n > limit {
                fromClient!.consume(headLength)
                finishWithError(413, close: true)
                return
            }
            requestBody = n == 0 ? .done : .length(n)
        case .chunked:
            requestChunks.reset()
            requestBody = .chunked
        case .none, .untilClose:
            requestBody = .done
        }

        let out = worker.buffers.take()
        toUpstream = out
        let written: Bool = client.ip.withUnsafeBytes { ip in
            client.forwardedFor.withUnsafeBytes { fwd in
                worker.generationHeader.withUnsafeBytes { gen in
                    HeadWriter.writeRequestHead(out, base, p, .init(
                        clientIP: ip, forwardedFor: fwd, scheme: isTLS ? "https" : "http",
                        generationHeader: gen, generation: handle.table.generation,
                        trustedPeer: client.trustedForwarder))
                }
            }
        }
        fromClient!.consume(headLength)
        guard written else {
            finishWithError(431, close: true)
            return
        }
        replayLength = requestBody.isDone ? out.readableCount : 0
        replayed = false
        responseParser.reset()
        responseHeadDone = false
        responseDone = false
        upstreamEOF = false
        triedServers = 0
        failedOver = false
        // A chunked body can be malformed after a valid head. Holding it until it is whole
        // and valid means a bad one reaches the backend not at all — not even its head.
        // A client waiting for 100 Continue sends nothing until the backend answers, so it
        // streams.
        if case .chunked = requestBody, !requestParser.expectContinue {
            bodyValidator = ChunkedDecoder(limits: worker.limits)
            validatedOffset = 0
            phase = .holdingBody
            deadline = Clock.monotonicMilliseconds() + worker.settings.upstreamTimeoutMilliseconds
            startRateWindow()
            return
        }
        if !requestBody.isDone { startRateWindow() }
        connectUpstream(allowReuse: true)
    }

    /// Validates the held chunked body as it arrives; see `Phase.holdingBody`.
    private func validateHeldBody() -> Bool {
        guard let input = fromClient else {
            if clientEOF { abort(reason: "client closed during the request body") ; return true }
            return false
        }
        while validatedOffset < input.readableCount {
            let rest = UnsafeRawBufferPointer(rebasing: input.readable[validatedOffset...])
            let step: ChunkedStep
            do {
                step = try bodyValidator.decode(rest, maxData: Int(Int32.max))
            } catch {
                worker.stats.badRequests += 1
                failRequest(status: error.status)
                return true
            }
            validatedOffset += step.consumed
            chunkedBodyBytes += UInt64(step.data.count)
            if chunkedBodyBytes > bodyLimit {
                failRequest(status: 413)
                return true
            }
            if step.finished {
                chunkedBodyBytes = 0   // counted again while forwarding
                connectUpstream(allowReuse: true)
                return true
            }
            if step.consumed == 0 { break }
        }
        if clientEOF {
            abort(reason: "client closed during the request body")
            return true
        }
        // Larger than a buffer can hold: stream it; bad framing later cuts the upstream
        // connection before the last chunk, so the backend never sees a complete request.
        if input.readableCount + 4096 > input.capacity {
            chunkedBodyBytes = 0   // counted again while streaming
            connectUpstream(allowReuse: true)
            return true
        }
        return false
    }

    private func rememberForLog(_ base: UnsafeRawPointer) {
        let m = requestParser.methodSpan
        logMethodCount = min(m.count, 16)
        logLine.copyMemory(from: base + m.start, byteCount: logMethodCount)
        let path = requestParser.pathSpan
        logPathCount = min(path.count, Self.logLineCapacity - 16)
        (logLine + 16).copyMemory(from: base + path.start, byteCount: logPathCount)
    }

    // MARK: upstream selection

    /// Takes an idle pooled connection or starts a connect, trying the backend's servers in
    /// the order `TableHandle.nextServer` gives. With no server left: failover or 503.
    private func connectUpstream(allowReuse: Bool) {
        guard let handle else { preconditionFailure("no table pinned") }
        let now = Clock.monotonicMilliseconds()
        while let pool = handle.nextServer(of: decision.backend, tried: &triedServers, now: now) {
            if allowReuse, let idle = pool.idle.popLast() {
                attach(idle)
                phase = .exchanging
                deadline = now + worker.settings.upstreamTimeoutMilliseconds
                return
            }
            do {
                let (upstreamFD, connected) = try Socket.connect(to: pool.address)
                let connection = UpstreamConnection(fd: upstreamFD, pool: pool, loop: worker.loop, connecting: !connected)
                if let tls = pool.tls {
                    do {
                        connection.tls = TLSTransport(session: try TLSSession(client: tls.context, serverName: tls.serverName),
                                                      pool: worker.buffers)
                    } catch {
                        connection.close()
                        throw error
                    }
                }
                do {
                    connection.registration = try worker.loop.register(upstreamFD, connection, events: connected ? Epoll.readable : Epoll.writable)
                } catch {
                    connection.close()
                    throw error
                }
                attach(connection)
                if connected {
                    phase = .exchanging
                    deadline = now + worker.settings.upstreamTimeoutMilliseconds
                } else {
                    phase = .connecting
                    deadline = now + worker.settings.connectTimeoutMilliseconds
                }
                return
            } catch {
                noteConnectFailure(pool, error)
            }
        }
        // No server of this backend can take it. A route that says `failover` tries its
        // other side once; the access log then shows the backend that answered.
        if !failedOver, let other = failoverBackend(handle) {
            failedOver = true
            decision.backend = other
            triedServers = 0
            connectUpstream(allowReuse: allowReuse)
            return
        }
        worker.stats.noServer += 1
        finishWithError(503, close: !requestBody.isDone)
    }

    /// The route's other side for `failover`: the standby (or active, if the standby was
    /// chosen), or the other backend of a two-way split.
    private func failoverBackend(_ handle: TableHandle) -> Int? {
        let route = handle.table.routes[decision.route]
        guard route.config.failover else { return nil }
        let current = handle.table.config.backends[decision.backend].name
        let candidates = route.split.isEmpty ? [route.active, route.standby].compactMap { $0 } : route.split.map(\.backend)
        guard let other = candidates.first(where: { $0 != current }) else { return nil }
        return handle.table.backendIndex(named: other)
    }

    private func attach(_ connection: UpstreamConnection) {
        connection.owner = self
        lastServerLabel = connection.pool.labelBytes
        upstream = connection
        upstreamEOF = false
        upstreamWriteBlocked = false
        upstreamWriteBroken = false
    }

    private func noteConnectFailure(_ pool: ServerPool, _ error: Error) {
        pool.connectFailures += 1
        notePassiveFailure(pool)
        if let handle { handle.counters[decision.backend].connectFailures += 1; handle.counters[decision.backend].errors += 1 }
        pool.skipUntil = Clock.monotonicMilliseconds() + 1_000
        worker.stats.connectFailures += 1
        worker.errorLog.error("upstream \(pool.label): \(error)")
    }

    /// A non-blocking connect failed or timed out: nothing of the request was sent, so the
    /// next server of the same backend is tried.
    private func connectFailed(_ error: Error) {
        guard let upstream else { return }
        let pool = upstream.pool
        upstream.close()
        self.upstream = nil
        noteConnectFailure(pool, error)
        connectUpstream(allowReuse: true)
        advance()
    }

    // MARK: the exchange

    private func pumpExchange() -> Bool {
        var progressed = false
        if let tls, !clientEOF, (fromClient?.writableCount ?? 1) > 0 || (fromClient?.readerIndex ?? 0) > 0,
           pullPlaintext(tls) { progressed = true }
        if let upstream, let upstreamTLS = upstream.tls, !upstream.connecting, !upstreamEOF,
           (fromUpstream?.writableCount ?? 1) > 0, pullUpstreamPlaintext(upstream, upstreamTLS) { progressed = true }
        if pumpRequestBody() { progressed = true }
        if flushToUpstream() { progressed = true }
        if phase != .exchanging { return true }
        if pumpResponse() { progressed = true }
        if phase != .exchanging { return true }
        if flushToClient() { progressed = true }
        if responseDone {
            if requestBody.isDone || closeAfterResponse {
                finishExchange()
                return true
            }
        }
        if clientEOF && !requestBody.isDone && (fromClient?.isEmpty ?? true) {
            abort(reason: "client closed during the request body")
            return true
        }
        return progressed
    }

    /// Moves request body bytes from `fromClient` to `toUpstream`, re-framing chunked bodies
    /// (extensions and trailers are dropped: they are validated and never forwarded).
    private func pumpRequestBody() -> Bool {
        guard let input = fromClient, let out = toUpstream, !input.isEmpty else { return false }
        switch requestBody {
        case .done:
            return false
        case .length(let remaining):
            out.ensureWritable(16 * 1024)
            let n = min(Int(clamping: remaining), input.readableCount, out.writableCount)
            guard n > 0 else { return false }
            out.append(UnsafeRawBufferPointer(start: input.readable.baseAddress, count: n))
            input.consume(n)
            bytesIn += UInt64(n)
            requestBody = remaining == UInt64(n) ? .done : .length(remaining - UInt64(n))
            return true
        case .chunked:
            var progressed = false
            while true {
                out.ensureWritable(16 * 1024)
                let room = out.writableCount - 32   // chunk-size line and CRLF around the data
                guard room > 0 else { return progressed }
                let step: ChunkedStep
                do {
                    step = try requestChunks.decode(input.readable, maxData: room)
                } catch {
                    worker.stats.badRequests += 1
                    if responseStarted { abort(reason: "bad chunked request body") } else { failRequest(status: error.status) }
                    return true
                }
                if step.data.count > 0 {
                    chunkedBodyBytes += UInt64(step.data.count)
                    if chunkedBodyBytes > bodyLimit {
                        // The last chunk is never sent: the backend cannot take the body
                        // for a complete request.
                        if responseStarted { abort(reason: "request body over max-body") } else { failRequest(status: 413) }
                        return true
                    }
                    let header = ChunkedEncoder.writeChunkHeader(count: step.data.count, into: out.writable)
                    out.commit(header)
                    out.append(UnsafeRawBufferPointer(start: input.readable.baseAddress! + step.data.start, count: step.data.count))
                    out.append(ChunkedEncoder.chunkTrailer)
                }
                if step.consumed > 0 {
                    input.consume(step.consumed)
                    bytesIn += UInt64(step.consumed)
                    progressed = true
                }
                if step.finished {
                    out.append(ChunkedEncoder.lastChunk)
                    requestBody = .done
                    return true
                }
                if step.consumed == 0 || input.isEmpty { return progressed }
            }
        }
    }

    private func flushToUpstream() -> Bool {
        if upstreamWriteBroken {
            // Nothing more can reach the server; its answer (if any) is read regardless.
            if let out = toUpstream, !out.isEmpty, replayLength == 0 { out.clear() }
            return false
        }
        if let upstream, let tls = upstream.tls, !upstream.connecting { return flushToUpstreamTLS(upstream, tls) }
        guard let upstream, !upstream.connecting, let out = toUpstream, !out.isEmpty, !upstreamWriteBlocked else { return false }
        do {
            switch try upstream.fd.write(out.readable) {
            case .processed(let n):
                if replayLength > 0 {
                    // Keep the bytes for a replay: only move the read index.
                    out.consumeKeeping(n)
                } else {
                    out.consume(n)
                }
                return n > 0
            case .wouldBlock:
                upstreamWriteBlocked = true
                return false
            }
        } catch {
            upstreamWriteFailed(error)
            return true
        }
    }

    /// A write to the upstream failed. A server that answered before reading the whole body
    /// (a 401, a redirect to the login page) and closed makes the write fail with EPIPE or a
    /// reset while its complete answer waits to be read: so the answer is read first, and
    /// the exchange fails (502, or a replay of a stale keep-alive connection) only if none
    /// arrives before the upstream's end.
    private func upstreamWriteFailed(_ error: Errno) {
        guard upstream != nil else { return }
        guard error.code == EPIPE || error.code == ECONNRESET else {
            upstreamFailed(error)
            return
        }
        upstreamWriteBroken = true
        upstreamWriteBlocked = false
        closeAfterResponse = true
        readFromUpstream()
    }

    /// TLS upstream: drives the handshake (the ClientHello goes first), then encrypts.
    /// A replayable request keeps its bytes as with plain connections.
    private func flushToUpstreamTLS(_ upstream: UpstreamConnection, _ tls: TLSTransport) -> Bool {
        guard !upstreamWriteBlocked else { return false }
        var progressed = false
        do {
            if !tls.session.isHandshakeComplete {
                _ = try tls.session.handshake()
            }
            guard try tls.flush(upstream.fd) else {
                upstreamWriteBlocked = true
                return false
            }
            while let out = toUpstream, !out.isEmpty {
                let n = try tls.encrypt(out.readable)
                if n == 0 { break }
                if replayLength > 0 { out.consumeKeeping(n) } else { out.consume(n) }
                progressed = true
                guard try tls.flush(upstream.fd) else {
                    upstreamWriteBlocked = true
                    break
                }
            }
        } catch {
            upstreamFailed(error)
            return true
        }
        return progressed
    }

    private func flushToClient() -> Bool {
        if let tls { return flushEncrypted(tls) }
        if let bridge {
            guard phase != .closed, let out = toClient, !out.isEmpty, !clientWriteBlocked else { return false }
            let (n, blocked) = bridge.deliver(out.readable)
            out.consume(n)
            bytesOut += UInt64(n)
            if blocked { clientWriteBlocked = true }
            return n > 0
        }
        guard phase != .closed, let out = toClient, !out.isEmpty, !clientWriteBlocked, !clientShutDown else { return false }
        do {
            switch try fd.write(out.readable) {
            case .processed(let n):
                out.consume(n)
                bytesOut += UInt64(n)
                return n > 0
            case .wouldBlock:
                clientWriteBlocked = true
                return false
            }
        } catch {
            clientEOF = true
            abort(reason: "client: \(error)")
            return true
        }
    }

    /// TLS: encrypts `toClient` and writes the ciphertext; pending ciphertext goes first.
    private func flushEncrypted(_ tls: TLSTransport) -> Bool {
        guard phase != .closed, !clientWriteBlocked, !clientShutDown else { return false }
        var progressed = false
        do {
            guard try tls.flush(fd) else {
                clientWriteBlocked = true
                return false
            }
            while let out = toClient, !out.isEmpty {
                let n = try tls.encrypt(out.readable)
                if n == 0 { break }
                out.consume(n)
                bytesOut += UInt64(n)
                progressed = true
                guard try tls.flush(fd) else {
                    clientWriteBlocked = true
                    break
                }
            }
        } catch {
            clientEOF = true
            abort(reason: "client: \(error)")
            return true
        }
        return progressed
    }

    /// Everything for the client was handed to the kernel.
    private var clientOutputDrained: Bool {
        (toClient?.isEmpty ?? true) && !(tls?.hasPendingOutput ?? false)
    }

    /// Parses the response head and moves response body bytes to `toClient`.
    private func pumpResponse() -> Bool {
        guard let input = fromUpstream, !input.isEmpty else {
            if upstreamEOF && !responseDone {
                if responseHeadDone && responseUntilClose {
                    responseDone = true
                    closeAfterResponse = true
                    return true
                }
                upstreamFailed(Errno(code: ECONNRESET, call: "upstream closed before the response was complete"))
                return true
            }
            return false
        }
        if !responseHeadDone {
            let progressed = parseResponseHead(input)
            // Carry on with the body in the same pass, so that head and body leave in one
            // write: two small writes meet Nagle and delayed ACKs (a 40 ms stall).
            guard responseHeadDone, phase == .exchanging, !input.isEmpty else { return progressed }
        }
        if toClient == nil { toClient = worker.buffers.take() }
        let out = toClient!
        switch responseBody {
        case .done:
            if responseUntilClose {
                out.ensureWritable(16 * 1024)
                let n = out.append(input.readable)
                input.consume(n)
                return n > 0
            }
            // Bytes after a complete response: the server broke HTTP/1.1 framing, so the
            // connection cannot be reused (it is closed when the exchange ends).
            return false
        case .length(let remaining):
            out.ensureWritable(16 * 1024)
            let n = min(Int(clamping: remaining), input.readableCount, out.writableCount)
            guard n > 0 else { return false }
            out.append(UnsafeRawBufferPointer(start: input.readable.baseAddress, count: n))
            input.consume(n)
            if remaining == UInt64(n) {
                responseBody = .done
                responseDone = true
            } else {
                responseBody = .length(remaining - UInt64(n))
            }
            return true
        case .chunked:
            var progressed = false
            while true {
                out.ensureWritable(16 * 1024)
                let room = out.writableCount - 32
                guard room > 0 else { return progressed }
                let step: ChunkedStep
                do {
                    step = try responseChunks.decode(input.readable, maxData: room)
                } catch {
                    upstreamFailed(error)
                    return true
                }
                if step.data.count > 0 {
                    if chunkToClient {
                        out.commit(ChunkedEncoder.writeChunkHeader(count: step.data.count, into: out.writable))
                    }
                    out.append(UnsafeRawBufferPointer(start: input.readable.baseAddress! + step.data.start, count: step.data.count))
                    if chunkToClient { out.append(ChunkedEncoder.chunkTrailer) }
                }
                if step.consumed > 0 {
                    input.consume(step.consumed)
                    progressed = true
                }
                if step.finished {
                    if chunkToClient { out.append(ChunkedEncoder.lastChunk) }
                    responseBody = .done
                    responseDone = true
                    return true
                }
                if step.consumed == 0 || input.isEmpty { return progressed }
            }
        }
    }

    private func parseResponseHead(_ input: IOBuffer) -> Bool {
        input.compact()
        let bytes = input.readable
        switch responseParser.parse(bytes, requestMethod: method) {
        case .needMore:
            if upstreamEOF {
                upstreamFailed(Errno(code: ECONNRESET, call: "upstream closed before a complete response head"))
                return true
            }
            if input.writableCount == 0 {
                upstreamFailed(Errno(code: EMSGSIZE, call: "upstream response head too large"))
                return true
            }
            return false
        case .error(let error):
            upstreamFailed(error)
            return true
        case .complete(let headLength):
            let base = bytes.baseAddress!
            let p = responseParser
            replayLength = 0
            toUpstream?.dropKept()
            if toClient == nil { toClient = worker.buffers.take() }
            let out = toClient!
            out.ensureWritable(headLength + 512)
            if p.status < 200 {
                if p.status == 101 {
                    guard requestIsUpgrade else {
                        upstreamFailed(Errno(code: EPROTO, call: "101 Switching Protocols without an upgrade request"))
                        return true
                    }
                    _ = writeResponseHead(out, base, upgrade: true)
                    input.consume(headLength)
                    status = 101
                    responseStarted = true
                    responseHeadDone = true
                    phase = .tunnel
                    deadline = Clock.monotonicMilliseconds() + worker.settings.tunnelIdleTimeoutMilliseconds
                    worker.stats.openTunnels += 1
                    handle?.counters[decision.backend].openTunnels += 1
                    inTunnel = true
                    // The tunnel counts as one request, answered 101, for the counters.
                    handle?.counters[decision.backend].record(status: 101, microseconds: (Clock.monotonicNanoseconds() &- startNanoseconds) / 1000, nowMilliseconds: Clock.monotonicMilliseconds())
                    return true
                }
                // 1xx interim answers (100 Continue, 103 Early Hints) go to HTTP/1.1 clients;
                // HTTP/1.0 clients do not know them.
                if !clientIsHTTP10 {
                    _ = writeResponseHead(out, base, upgrade: false)
                }
                input.consume(headLength)
                responseParser.reset()
                return true
            }
            status = p.status
            switch p.framing {
            case .none:
                responseBody = .done
                responseUntilClose = false
                responseDone = true
                chunkToClient = false
            case .contentLength(let n):
                responseBody = n == 0 ? .done : .length(n)
                responseUntilClose = false
                responseDone = n == 0
                chunkToClient = false
            case .chunked:
                responseChunks.reset()
                responseBody = .chunked
                responseUntilClose = false
                chunkToClient = !clientIsHTTP10
                if clientIsHTTP10 { closeAfterResponse = true }
            case .untilClose:
                responseBody = .done
                responseUntilClose = true
                chunkToClient = false
                closeAfterResponse = true
            }
            if !requestBody.isDone { closeAfterResponse = true }
            guard writeResponseHead(out, base, upgrade: false) else {
                upstreamFailed(Errno(code: EMSGSIZE, call: "upstream response head too large"))
                return true
            }
            input.consume(headLength)
            responseHeadDone = true
            responseStarted = true
            return true
        }
    }

    /// Writes the response head for the client, with the sticky cookie when one is issued.
    private func writeResponseHead(_ out: IOBuffer, _ base: UnsafeRawPointer, upgrade: Bool) -> Bool {
        let cookieName = decision.issueCookie ? (handle?.cookieNames[decision.route] ?? []) : []
        return cookieName.withUnsafeBytes { name in
            HeadWriter.writeResponseHead(out, base, responseParser, .init(
                clientIsHTTP10: clientIsHTTP10, closeAfter: closeAfterResponse, chunkToClient: chunkToClient,
                upgrade: upgrade, cookieName: name, cookieValue: decision.cookieValue, secureCookie: isTLS))
        }
    }

    /// The upstream broke the exchange. A bodiless request on a reused keep-alive connection
    /// that saw no response byte is replayed once on a fresh connection (the server may have
    /// closed the idle connection as we sent); otherwise 502, or a cut connection if the
    /// response had started.
    private func upstreamFailed(_ error: Error) {
        guard let upstream else { return }
        let reusedConnection = upstream.hasServed
        let pool = upstream.pool
        upstream.close()
        self.upstream = nil
        let nothingReceived = !responseHeadDone && (fromUpstream?.isEmpty ?? true)
        if reusedConnection && nothingReceived && replayLength > 0 && !replayed && method.isIdempotent {
            replayed = true
            toUpstream?.restore(count: replayLength)
            triedServers = 0
            connectUpstream(allowReuse: false)
            return
        }
        worker.errorLog.error("upstream \(pool.label): \(error)")
        worker.stats.upstreamErrors += 1
        notePassiveFailure(pool)
        if responseStarted {
            abort(reason: "upstream failed mid-response")
        } else {
            failRequest(status: 502)
        }
    }

    private func notePassiveFailure(_ pool: ServerPool) {
        if pool.failed(now: Clock.monotonicMilliseconds()) {
            worker.errorLog.error("server \(pool.label) ejected for \(ServerPool.ejectionMilliseconds / 1000) s after \(ServerPool.ejectAfterFailures) failures in a row")
        }
    }

    /// Ends the exchange normally: returns the upstream connection to its pool when it can
    /// carry another request, logs, and goes back to waiting for the next head.
    private func finishExchange() {
        if let upstream {
            if status < 500 { upstream.pool.succeeded() }
            // Every request byte must have left, or the server would read the next request
            // as the rest of this body and answers would shift between users.
            let reusable = !upstreamEOF && responseParser.keepAlive && requestBody.isDone
                && (toUpstream?.isEmpty ?? true) && !(upstream.tls?.hasPendingOutput ?? false)
                && (fromUpstream?.isEmpty ?? true) && !responseUntilClose && !worker.draining
                && upstream.pool.idle.count < worker.settings.maxIdlePerServer
            self.upstream = nil
            if reusable {
                upstream.owner = nil
                upstream.hasServed = true
                worker.loop.setInterest(upstream.registration, Epoll.readable)
                upstream.pool.idle.append(upstream)
            } else {
                upstream.close()
            }
        }
        endRequest()
        releaseBuffer(&toUpstream)
        releaseBuffer(&fromUpstream)
        // A client that half-closed after pipelining still gets every answer it asked for.
        if closeAfterResponse || (clientEOF && (fromClient?.isEmpty ?? true)) {
            phase = .closing
        } else {
            phase = .awaitingHead
            deadline = Clock.monotonicMilliseconds() + worker.settings.keepAliveTimeoutMilliseconds
        }
    }

    /// A request refused before it was routed (malformed head): one access-log line with
    /// route and backend "-", the status and the parser's reason. No method or path: the
    /// head did not parse, so nothing of it is trustworthy enough to log.
    private func logRefusal(status: Int, reason: String) {
        guard let log = worker.accessLog else { return }
        let dash = Self.dash
        dash.withUnsafeBytes { d in client.ip.withUnsafeBytes { c in
            log.append(.init(
                client: c, method: d, path: d, route: d, backend: d, server: d,
                status: status, bytesIn: 0, bytesOut: 0, durationMicroseconds: 0,
                generation: worker.current.table.generation, protocolName: protocolName,
                tlsVersion: tlsVersion, reason: reason))
        } }
    }

    private static let dash: [UInt8] = [UInt8(ascii: "-")]

    /// Logs the request and unpins its table.
    private func endRequest() {
        guard let handle else { return }
        if let log = worker.accessLog {
            // A request that matched no route (404, CONNECT's 501) has no route or backend:
            // never the previous request's.
            let routed = decision.route >= 0
            let route = routed ? handle.routeNames[decision.route] : Self.dash
            let backend = routed ? handle.backendNames[decision.backend] : Self.dash
            let serverLabel = upstreamLabel
            route.withUnsafeBytes { r in backend.withUnsafeBytes { b in client.ip.withUnsafeBytes { c in serverLabel.withUnsafeBytes { s in
                log.append(.init(
                    client: c,
                    method: UnsafeRawBufferPointer(start: logLine, count: logMethodCount),
                    path: UnsafeRawBufferPointer(start: logLine + 16, count: logPathCount),
                    route: r, backend: b, server: s,
                    status: status, bytesIn: bytesIn, bytesOut: bytesOut,
                    durationMicroseconds: (Clock.monotonicNanoseconds() &- startNanoseconds) / 1000,
                    generation: handle.table.generation, protocolName: protocolName, tlsVersion: tlsVersion))
            } } } }
        }
        worker.stats.requests += 1
        if bridge != nil { worker.stats.h2Requests += 1 }
        if status >= 500 { worker.stats.serverErrors += 1 }
        if inTunnel {
            inTunnel = false
            handle.counters[decision.backend].openTunnels -= 1
            worker.stats.openTunnels -= 1
        } else if decision.route >= 0 {
            handle.counters[decision.backend].record(
                status: status, microseconds: (Clock.monotonicNanoseconds() &- startNanoseconds) / 1000,
                nowMilliseconds: Clock.monotonicMilliseconds())
        }
        requestParser.reset()
        handle.activeRequests -= 1
        if handle.activeRequests == 0 { worker.tableReleased(handle) }
        self.handle = nil
    }

    private var upstreamLabel: [UInt8] { lastServerLabel }
    private var lastServerLabel: [UInt8] = []

    // MARK: errors and closing

    /// Answers with an error of our own before any response byte was sent, and ends the
    /// exchange. `close`: the stream cannot continue (framing in doubt, unread body).
    private func finishWithError(_ status: Int, close: Bool) {
        self.status = status
        if toClient == nil { toClient = worker.buffers.take() }
        HeadWriter.writeError(toClient!, status: status, close: close || closeAfterResponse || worker.draining)
        if let upstream {
            upstream.close()
            self.upstream = nil
        }
        if handle != nil { endRequest() }
        releaseBuffer(&toUpstream)
        releaseBuffer(&fromUpstream)
        if close || closeAfterResponse || worker.draining || clientEOF {
            closeAfterResponse = true
            phase = .closing
        } else {
            phase = .awaitingHead
            deadline = Clock.monotonicMilliseconds() + worker.settings.keepAliveTimeoutMilliseconds
        }
    }

    private func failRequest(status: Int) {
        finishWithError(status, close: true)
    }

    /// A malformed head: answer and close (framing is in doubt, nothing is forwarded).
    private func respondAndClose(status: Int) {
        if toClient == nil { toClient = worker.buffers.take() }
        self.status = status
        HeadWriter.writeError(toClient!, status: status, close: true)
        fromClient?.clear()
        phase = .closing
    }

    /// Something broke after the response started: the client sees a cut connection, which
    /// is the only honest signal left.
    private func abort(reason: String) {
        aborted = true
        if let upstream {
            upstream.close()
            self.upstream = nil
        }
        if handle != nil { endRequest() }
        close()
    }

    private func startLingering() {
        if bridge != nil {
            close()   // the stream ends with the answer; there is no socket to linger on
            return
        }
        Lingering.shutdownWrite(fd, tls: tls)
        clientShutDown = true
        if clientEOF {
            close()
            return
        }
        fromClient?.clear()
        phase = .lingering
        deadline = Clock.monotonicMilliseconds() + worker.settings.lingerMilliseconds
    }

    func close() {
        guard phase != .closed else { return }
        phase = .closed
        if let upstream {
            upstream.close()
            self.upstream = nil
        }
        if handle != nil { endRequest() }
        releaseBuffer(&fromClient)
        releaseBuffer(&toClient)
        releaseBuffer(&toUpstream)
        releaseBuffer(&fromUpstream)
        releaseScratch()
        if let bridge {
            bridge.exchangeClosed(aborted: aborted)
            return
        }
        worker.loop.deregister(registration)
        fd.close()
        tls?.release()
        worker.connectionClosed(self)
    }

    // MARK: HTTP/2

    /// The socket speaks HTTP/2 (ALPN "h2", or the h2c preface): an `H2Connection` takes
    /// it over with the bytes already read; this object leaves the worker's list.
    private func handOverToHTTP2() {
        let input = fromClient
        fromClient = nil
        phase = .closed
        worker.loop.deregister(registration)
        releaseBuffer(&toClient)
        releaseScratch()
        worker.connectionClosed(self)
        worker.startHTTP2(fd: fd, client: client, tls: tls, tlsVersion: tlsVersion, initial: input)
    }

    /// The exchange can still use request bytes (after an early answer it cannot: the
    /// stream then discards what the client sends).
    var acceptsRequestBytes: Bool {
        phase == .awaitingHead || phase == .connecting || phase == .holdingBody || phase == .exchanging
    }

    /// Room in the request buffer for bytes an HTTP/2 stream writes.
    var bridgeInputRoom: Int {
        guard acceptsRequestBytes else { return 0 }
        guard let buffer = fromClient else { return worker.buffers.bufferSize }
        return buffer.capacity - buffer.readableCount
    }

    /// Request bytes from the HTTP/2 stream (at most `bridgeInputRoom`).
    func bridgeWrite(_ bytes: UnsafeRawBufferPointer) {
        if fromClient == nil { fromClient = worker.buffers.take() }
        let buffer = fromClient!
        buffer.ensureWritable(bytes.count)
        let n = buffer.append(bytes)
        precondition(n == bytes.count, "HTTP/2 stream wrote past bridgeInputRoom")
        clientBytesReceived(n, into: buffer)
    }

    /// The HTTP/2 request is complete (END_STREAM): like a client half-close.
    func bridgeEndOfRequest() { clientEOF = true }

    /// Runs the state machine after the stream wrote or ended the request.
    func bridgeKick() { advance() }

    /// The stream can take more of the answer again.
    func bridgeResume() {
        clientWriteBlocked = false
        advance()
    }

    /// The client reset the stream or the HTTP/2 connection ended.
    func bridgeCancel() {
        guard phase != .closed else { return }
        abort(reason: "HTTP/2 stream closed by the client")
    }

    private func releaseScratch() {
        if let taken = scratch {
            scratch = nil
            worker.giveScratch(taken)
        }
    }

    @inline(__always)
    private func releaseBuffer(_ buffer: inout IOBuffer?) {
        if let b = buffer {
            worker.buffers.give(b)
            buffer = nil
        }
    }

    // MARK: tunnel

    private func pumpTunnel() -> Bool {
        var progressed = false
        if let tls, !clientEOF, pullPlaintext(tls) { progressed = true }
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
        if clientEOF && !tunnelShutUpstream && (fromClient?.isEmpty ?? true) && (toUpstream?.isEmpty ?? true), let upstream {
            Socket.shutdownWrite(upstream.fd)
            tunnelShutUpstream = true
        }
        if upstreamEOF && !tunnelShutClient && (fromUpstream?.isEmpty ?? true) && clientOutputDrained {
            Lingering.shutdownWrite(fd, tls: tls)
            tunnelShutClient = true
        }
        if tunnelShutUpstream && tunnelShutClient {
            close()
            return true
        }
        return progressed
    }

    // MARK: timers

    private func startRateWindow() {
        rateWindowStart = Clock.monotonicMilliseconds()
        rateWindowBytes = 0
        rateWindowHeldBack = false
    }

    /// The body-rate check (see `ProxySettings.minBodyBytesPerSecond`).
    private func checkBodyRate(now: UInt64) {
        guard phase == .holdingBody || (phase == .exchanging && !requestBody.isDone) else { return }
        if upstreamWriteBlocked || (fromClient?.writableCount ?? 1) == 0 { rateWindowHeldBack = true }
        let window = worker.settings.bodyRateWindowMilliseconds
        guard now >= rateWindowStart + window else { return }
        let needed = worker.settings.minBodyBytesPerSecond * window / 1000
        if !rateWindowHeldBack && rateWindowBytes < needed {
            worker.stats.timeouts += 1
            if responseStarted {
                abort(reason: "request body too slow")
            } else {
                finishWithError(408, close: true)
                advance()
            }
            return
        }
        startRateWindow()
    }

    /// Called on every loop tick.
    func tick(now: UInt64) {
        checkBodyRate(now: now)
        guard phase != .closed, now >= deadline else { return }
        switch phase {
        case .awaitingHead:
            if let buffer = fromClient, !buffer.isEmpty {
                worker.stats.timeouts += 1
                respondAndClose(status: 408)
                advance()
            } else if clientOutputDrained {
                close()
            } else {
                // The last answer is still leaving: give a slow reader the send time.
                phase = .closing
                deadline = now + worker.settings.upstreamTimeoutMilliseconds
            }
        case .holdingBody:
            worker.stats.timeouts += 1
            finishWithError(408, close: true)
            advance()
        case .connecting:
            connectFailed(Errno(code: ETIMEDOUT, call: "connect"))
        case .exchanging:
            worker.stats.timeouts += 1
            if responseStarted {
                abort(reason: "upstream timeout mid-response")
            } else {
                if let upstream { worker.errorLog.error("upstream \(upstream.pool.label): no response within \(worker.settings.upstreamTimeoutMilliseconds) ms") }
                finishWithError(504, close: true)
                advance()
            }
        case .tunnel, .lingering, .closing:
            close()
        case .closed:
            break
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
        case .awaitingHead, .connecting, .holdingBody, .exchanging:
            closeAfterResponse = true
        default:
            break
        }
    }

    /// The SNI name the TLS client sent (on this socket, or on the HTTP/2 connection this
    /// stream belongs to); nil without TLS or without SNI.
    private var tlsServerName: String? {
        if let tls { return tls.session.serverName }
        return bridge?.serverName
    }

    /// The route and backend this connection tunnels to (after 101), for drain orders.
    var tunnelTarget: (route: String, backend: String)? {
        guard phase == .tunnel, let handle else { return nil }
        return (handle.table.config.routes[decision.route].name, handle.table.config.backends[decision.backend].name)
    }

    var isIdle: Bool { phase == .awaitingHead && (fromClient?.isEmpty ?? true) }
}

private extension DownstreamConnection.Body {
    var isDone: Bool { if case .done = self { return true } else { return false } }
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
