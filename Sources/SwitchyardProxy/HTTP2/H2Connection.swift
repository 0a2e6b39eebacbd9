import Glibc
import SwitchyardHTTP
import SwitchyardSystem
import SwitchyardTLS

/// A client connection speaking HTTP/2 (ALPN "h2" on TLS, or the h2c preface on a plain
/// listener that allows it). Bytes move between the socket (through TLS when there is one)
/// and an `H2ServerSession`; each request stream becomes an `H2Stream`, whose exchange
/// goes through the same routing and upstream pools as an HTTP/1.1 request.
///
/// Output is produced in one place, `pump`, which runs at the end of this connection's own
/// events and — when a stream's exchange produced something on an upstream event — once
/// after the loop's batch of events (`DeferredWork`), never from inside nghttp2's calls.
final class H2Connection: EventHandler, H2SessionDelegate, DeferredWork, Indexed {
    let fd: FileDescriptor
    /// Strong, as `DownstreamConnection.worker` (read without retain or release); `close()`
    /// takes the connection off the worker's list, which breaks the cycle.
    let worker: Worker
    var registration = RegistrationID.none
    /// Position in the worker's HTTP/2 connection list.
    var listIndex = -1
    let client: ClientIdentity
    private let tls: TLSTransport?
    /// `tls`, unretained: the transport is a `let` that lives as long as the connection,
    /// and binding the optional property (`if let tls`) is an atomic retain and release.
    private let tlsRef: Unmanaged<TLSTransport>?
    /// The SNI name the TLS client sent, if any; read once (it cannot change).
    private(set) lazy var serverName: String? = tls?.session.serverName
    var isTLS: Bool { tls != nil }
    let tlsVersion: StaticString
    let limits: H2Limits
    private(set) var session: H2ServerSession? {
        didSet { sessionRef = session.map { Unmanaged.passUnretained($0) } }
    }
    /// `session`, unretained: reading the optional property is an atomic retain and
    /// release, about ten times a request from the stream code.
    private var sessionRef: Unmanaged<H2ServerSession>?

    /// Runs `body` on the session without retaining it; nil once the session is gone.
    /// Only for calls that run no delegate callback (submit, resume, consume, reset,
    /// stream objects): a callback may end the connection and drop the session while
    /// `body` still uses it. `receive` and `produce` hold their own strong reference.
    @inline(__always) @discardableResult
    func withSession<R>(_ body: (H2ServerSession) -> R) -> R? {
        guard let sessionRef else { return nil }
        return sessionRef._withUnsafeGuaranteedRef(body)
    }
    /// The worker's response head under construction (nghttp2 copies it on submit, so
    /// one per worker serves every connection; an idle connection carries none).
    var responseHead: H2ResponseHead { worker.h2ResponseHead }
    /// `responseHead`, unretained, read once (the worker holds it for its whole life).
    private(set) lazy var responseHeadRef = worker.h2ResponseHeadRef

    private(set) var streams: [H2Stream] = []
    /// Streams of this connection parked by a write hold (the per-connection bound).
    var parkedStreams = 0
    /// Exchange drivers whose stream ended, kept for the next streams of this connection
    /// (same client, TLS and SNI): a stream then costs no driver object.
    private let spareDrivers = ObjectStack<DownstreamConnection>(capacity: 16)
    /// Closed streams kept for the next ones (as many as spare drivers): a stream object is
    /// allocated per concurrent stream, not per request.
    private let spareStreams = ObjectStack<H2Stream>(capacity: 16)
    /// Streams whose exchange waits for room that nghttp2 just made (see `H2Stream`).
    private var resumable: [H2Stream] = []
    private var out: IOBuffer?
    private var writeBlocked = false
    private var clientEOF = false
    private var failed = false
    /// The connection broke a protocol rule or a flood limit, or left a header block open
    /// (`failed` is set by a read error or a client's reset too): the ended-connections
    /// metric's `protocol_error`.
    private(set) var protocolFailed = false
    private var goingAway = false
    private var closed = false
    private var pumping = false
    private var pumpQueued = false
    private var deadline: UInt64
    /// When bytes last left for the client: a client that stops reading is cut off after
    /// the upstream timeout, as on HTTP/1.1.
    private var lastWriteProgress: UInt64
    /// After the last frames: our side is shut down and what the client still sends is
    /// read and dropped until it closes or `deadline`, so it gets our GOAWAY and last
    /// answer rather than a reset.
    private var lingering = false

    init(fd: FileDescriptor, client: ClientIdentity, worker: Worker, tls: TLSTransport?, tlsVersion: StaticString) {
        self.fd = fd
        self.client = client
        self.worker = worker
        self.tls = tls
        tlsRef = tls.map { Unmanaged.passUnretained($0) }
        self.tlsVersion = tlsVersion
        limits = worker.settings.http2
        deadline = worker.nowMilliseconds + worker.settings.keepAliveTimeoutMilliseconds
        lastWriteProgress = worker.nowMilliseconds
        worker.liveHTTP2.connections += 1
    }

    deinit { worker.liveHTTP2.connections -= 1 }

    /// Creates the session and processes what the HTTP/1.1 side had already read.
    func start(initial: UnsafeRawBufferPointer) {
        do {
            let created = try H2ServerSession(limits: limits, delegate: self, memory: worker.h2Memory)
            // Over TLS a large DATA frame is encrypted where its body is staged
            // (`h2SendResponseBodyInPlace`); h2c sends `out`, so its frames are copied there.
            created.sendsDataInPlace = isTLS
            session = created
        } catch {
            worker.errorLog.error("HTTP/2 session: \(error)")
            close()
            return
        }
        receive(initial)
        pump()
    }

    // MARK: events

    override func eventsReceived(_ events: UInt32) {
        guard !closed else { return }
        if lingering {
            if !Lingering.discard(fd, scratch: worker.cipherScratch) { close() }
            return
        }
        if events & Epoll.writable != 0 { writeBlocked = false }
        if events & (Epoll.readable | Epoll.hangUp | Epoll.error) != 0 { read() }
        if events & (Epoll.hangUp | Epoll.error) != 0 && clientEOF {
            close()
            return
        }
        pump()
    }

    func runDeferred() {
        pumpQueued = false
        if !closed { pump() }
    }

    /// A stream has something to send: write it out after the current events.
    func needsFlush() {
        guard !pumpQueued, !pumping, !closed else { return }
        pumpQueued = true
        worker.loop.runAfterEvents(self)
    }

    func resumeLater(_ stream: H2Stream) {
        resumable.append(stream)
        needsFlush()
    }

    // MARK: reading

    private func read() {
        guard !clientEOF, !failed else { return }
        // Not `cipherScratch`: the callbacks `receive` runs may read an upstream through it.
        let scratch = worker.h2InputScratch
        if let tlsRef {
            tlsRef._withUnsafeGuaranteedRef { readTLS($0, scratch: scratch) }
            return
        }
        do {
            switch try fd.receive(into: scratch) {
            case .processed(0): clientEOF = true
            case .processed(let n): receive(UnsafeRawBufferPointer(rebasing: scratch[0..<n]))
            case .wouldBlock: break
            }
        } catch {
            clientEOF = true
            failed = true
        }
    }

    private func readTLS(_ tls: TLSTransport, scratch: UnsafeMutableRawBufferPointer) {
        do {
            // The ciphertext is copied into the session before any callback runs.
            if try tls.readSocket(fd, scratch: worker.cipherScratch) == .endOfStream { clientEOF = true }
            reading: while !failed {
                switch try tls.decrypt(into: scratch) {
                case .bytes(let n): receive(UnsafeRawBufferPointer(rebasing: scratch[0..<n]))
                case .needMore: break reading
                case .closed:
                    clientEOF = true
                    break reading
                }
            }
        } catch {
            clientEOF = true
            failed = true
        }
    }

    private func receive(_ bytes: UnsafeRawBufferPointer) {
        guard let session, !bytes.isEmpty, !failed else { return }
        // Frames alone (PING, SETTINGS, WINDOW_UPDATE) do not keep a connection without
        // streams open: the keep-alive clock runs from when its last stream ended.
        do {
            try session.receive(bytes)
        } catch {
            // A protocol error or a broken flood limit: nghttp2 queued GOAWAY; it is sent,
            // then the connection closes. Other connections never notice.
            failed = true
            protocolFailed = true
            worker.stats.h2ProtocolErrors += 1
            worker.clientErrorLog("HTTP/2 client \(client.ip.string): \(error); closing the connection")
            // Some limits (CONTINUATION) fail without a GOAWAY of nghttp2's own; the
            // client still learns why (a no-op when one is queued already).
            session.terminate(code: error.isFlood ? H2ServerSession.enhanceYourCalm : H2ServerSession.protocolError)
        }
    }

    // MARK: writing

    /// Writes what the session has, runs exchanges that waited for room, and repeats until
    /// nothing moves; then decides whether the connection is over.
    private func pump() {
        guard !closed, !lingering else { return }
        pumping = true
        var progressed = true
        while progressed && !closed {
            progressed = false
            if flush() { progressed = true }
            while let stream = resumable.popLast() {
                stream.resumeExchange()
                progressed = true
            }
        }
        pumping = false
        guard !closed else { return }
        let outputDrained = (out?.isEmpty ?? true) && !(tlsRef?._withUnsafeGuaranteedRef { $0.hasPendingOutput } ?? false)
            && !(withSession { $0.wantsWrite } ?? false)
        if outputDrained {
            if let out = out.take() { worker.buffers.give(out) }
            let sessionOver = withSession { !$0.wantsRead && !$0.wantsWrite } ?? true
            if failed || sessionOver || (clientEOF && streams.isEmpty) || (goingAway && streams.isEmpty) {
                startLingering()
                return
            }
        }
        if pumpQueued { return }
        updateInterests()
    }

    /// Moves frames from the session to the socket until it would block. True on progress.
    private func flush() -> Bool {
        // Strong: `produce` runs callbacks that may end the connection and drop the session.
        guard let session, !writeBlocked else { return false }
        // The buffer moved out of `out` for the loop and back after it (copying it out of
        // the property was an atomic retain and release a turn); a connection that closed
        // meanwhile gives it back to the pool, as `close` would have.
        let buffer = out.take() ?? worker.buffers.take()
        let progressed = if let tlsRef {
            tlsRef._withUnsafeGuaranteedRef { flushTLS(session, buffer, $0) }
        } else {
            flushPlain(session, buffer)
        }
        if closed { worker.buffers.give(buffer) } else { out = consume buffer }
        return progressed
    }

    /// `flush` over TLS: frames into `buffer`, encrypted, sent. The transport is passed
    /// non-optional: an optional parameter bound with `if let` was retained around each use.
    private func flushTLS(_ session: H2ServerSession, _ buffer: IOBuffer, _ tls: TLSTransport) -> Bool {
        var progressed = false
        do {
            while true {
                if tls.hasPendingOutput {
                    guard try tls.flush(fd) else { writeBlocked = true; return progressed }
                }
                if buffer.isEmpty {
                    let n = try session.produce(into: buffer.writable)
                    if n == 0 {
                        // Frames encrypted in place left nothing in `buffer`: the loop's
                        // top sends them.
                        guard session.sentInPlace else { return progressed }
                        progressed = true
                        lastWriteProgress = worker.nowMilliseconds
                        continue
                    }
                    buffer.commit(n)
                }
                let n = try tls.encrypt(buffer.readable, sendingTo: fd)
                buffer.consume(n)
                if n > 0 {
                    progressed = true
                    lastWriteProgress = worker.nowMilliseconds
                }
                guard try tls.flush(fd) else { writeBlocked = true; return progressed }
                if n == 0 { return progressed }
            }
        } catch {
            // The client is gone (or the session failed): nothing more can be delivered.
            close()
            return true
        }
    }

    /// `flush` over plain TCP (h2c): frames into `buffer`, sent.
    private func flushPlain(_ session: H2ServerSession, _ buffer: IOBuffer) -> Bool {
        var progressed = false
        do {
            while true {
                if buffer.isEmpty {
                    let n = try session.produce(into: buffer.writable)
                    if n == 0 { return progressed }
                    buffer.commit(n)
                }
                switch try fd.send(buffer.readable) {
                case .processed(let n):
                    buffer.consume(n)
                    progressed = true
                    lastWriteProgress = worker.nowMilliseconds
                case .wouldBlock:
                    writeBlocked = true
                    return progressed
                }
            }
        } catch {
            close()
            return true
        }
    }

    private func updateInterests() {
        var events: UInt32 = 0
        // While our writes are blocked the client is not reading: stop reading its frames
        // too, so a client that only sends cannot make us queue answers without bound.
        if !clientEOF && !writeBlocked && (tls?.session.ciphertextRoom ?? 1) > 0 { events |= Epoll.readable }
        if writeBlocked { events |= Epoll.writable }
        worker.loop.setInterest(registration, events)
    }

    // MARK: exchange drivers

    /// A driver for `stream`'s exchange: a spare one rebound, or a new one.
    func takeDriver(for stream: H2Stream) -> DownstreamConnection {
        if let spare = spareDrivers.pop() {
            spare.rebind(to: stream)
            return spare
        }
        return DownstreamConnection(stream: stream, client: client, worker: worker, secure: isTLS, tlsVersion: tlsVersion)
    }

    /// A driver whose exchange closed (called from inside its `close`, which returns at once).
    func recycle(_ driver: consuming DownstreamConnection) {
        precondition(driver.phase == .closed, "a driver is recycled only once closed")
        // Not freed here even when not kept: its `close` (maybe in its own upstream event,
        // reached without a retain, see `UpstreamConnection.owner`) is still running.
        if spareDrivers.count < Self.maxSpareDrivers { spareDrivers.push(driver) } else { worker.loop.retire(driver) }
    }

    /// More than the usual concurrent streams are not worth keeping.
    static let maxSpareDrivers = 128

    // MARK: session events

    /// Runs `body` on the open stream `id`, unretained (an atomic pair saved on each of a
    /// request's callbacks); nil when there is none. Only for a callback that cannot free
    /// the stream: nghttp2 closes a stream in a callback of its own (`h2StreamClosed`, which
    /// keeps a strong reference), never inside another one, and this connection's `close`
    /// runs from its own event handling, never from a stream's call.
    @inline(__always)
    private func withStream<R>(_ id: Int32, _ body: (H2Stream) -> R) -> R? {
        guard let pointer = withSession({ $0.object(of: id) }) ?? nil else { return nil }
        return Unmanaged<H2Stream>.fromOpaque(pointer)._withUnsafeGuaranteedRef(body)
    }

    func h2StreamOpened(_ id: Int32) {
        let stream: H2Stream
        if let spare = spareStreams.pop() {
            spare.reuse(id: id)
            stream = spare
        } else {
            stream = H2Stream(id: id, connection: self)
        }
        let object = Unmanaged.passUnretained(stream).toOpaque()
        streams.appendIndexed(consume stream)   // moved into the list, not retained
        withSession { $0.setObject(object, for: id) }
    }

    func h2Header(_ id: Int32, object: UnsafeMutableRawPointer?, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        // Called once per header field: the stream is used without a retain/release pair
        // (the session holds it for as long as the stream is open, see `h2StreamOpened`).
        guard let pointer = object else { return }
        Unmanaged<H2Stream>.fromOpaque(pointer)._withUnsafeGuaranteedRef { $0.header(name: name, value: value) }
    }

    func h2HeadComplete(_ id: Int32, endStream: Bool) {
        if goingAway {
            withSession { $0.reset(id, code: H2ServerSession.refusedStream) }
            // Done with: its RST may wait behind a slow reader's answers, and its header
            // deadline must not then read as a header block left open, which ends the
            // whole connection (PROTOCOL_ERROR) and cuts the answers still leaving.
            withStream(id) { $0.expired = true }
            return
        }
        withStream(id) { $0.headComplete(endStream: endStream) }
    }

    func h2Data(_ id: Int32, _ bytes: UnsafeRawBufferPointer) {
        guard withStream(id, { $0.data(bytes) }) != nil else {
            withSession { $0.consume(id, bytes.count) }
            return
        }
    }

    func h2RequestEnded(_ id: Int32) {
        withStream(id) { $0.requestEnd() }
    }

    func h2ResponseBodyReady(_ id: Int32, max: Int, inPlaceMax: Int, preceding: Int) -> H2BodyChunk {
        withStream(id) { $0.responseBodyReady(max: max, inPlaceMax: inPlaceMax, preceding: preceding) } ?? .bytes(0, end: true)
    }

    func h2SendResponseBodyInPlace(_ id: Int32, header: UnsafeRawBufferPointer, count: Int, preceding: UnsafeRawBufferPointer) -> H2InPlaceSend {
        guard let tlsRef else { return .copy }
        return withStream(id) { stream in
            tlsRef._withUnsafeGuaranteedRef { stream.sendResponseBodyInPlace(header: header, count: count, preceding: preceding, tls: $0, fd: fd) }
        } ?? .gone
    }

    func h2CopyResponseBody(_ id: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Bool {
        withStream(id) { $0.copyResponseBody(into: buffer) } ?? false
    }

    func h2ResponseSent(_ id: Int32) {
        withStream(id) { $0.responseFinished() }
    }

    func h2GoAwaySent(errorCode: UInt32, reason: String) {
        guard errorCode != H2ServerSession.noError, !failed else { return }
        failed = true
        protocolFailed = true
        worker.stats.h2ProtocolErrors += 1
        // nghttp2's reason is its own text, never the client's bytes; control bytes are
        // dropped all the same, so a log line stays one line.
        let why = reason.isEmpty ? "protocol error or flood" : String(reason.unicodeScalars.filter { $0.value >= 0x20 && $0.value < 0x7F }.map(Character.init))
        worker.clientErrorLog("HTTP/2 client \(client.ip.string): \(why) (GOAWAY code \(errorCode)); closing the connection")
    }

    func h2StreamClosed(_ id: Int32, errorCode: UInt32) {
        guard let pointer = withSession({ $0.object(of: id) }) ?? nil else { return }
        withSession { $0.setObject(nil, for: id) }
        // The list's reference, moved out (`takeIndexed`), is the strong one the stream is
        // closed with and moved on into the spares: no retain and release of its own.
        let unretained = Unmanaged<H2Stream>.fromOpaque(pointer)
        let stream = unretained._withUnsafeGuaranteedRef { take($0) } ?? unretained.takeUnretainedValue()
        stream.close()
        if spareStreams.count < Self.maxSpareDrivers { spareStreams.push(consume stream) }
    }

    /// Takes `stream` off the list; nil when it was not on it.
    private func take(_ stream: H2Stream) -> H2Stream? {
        guard let taken = streams.takeIndexed(stream) else { return nil }
        if let i = resumable.firstIndex(where: { $0 === stream }) { resumable.remove(at: i) }
        if streams.isEmpty && !lingering {
            deadline = worker.nowMilliseconds + worker.settings.keepAliveTimeoutMilliseconds
        }
        return taken
    }

    // MARK: timers and shutdown

    /// Loop tick: the streams' exchanges keep their own timeouts; an idle connection closes.
    func tick(now: UInt64) {
        guard !closed else { return }
        if lingering {
            if now >= deadline { close() }
            return
        }
        if writeBlocked && now >= lastWriteProgress + worker.settings.upstreamTimeoutMilliseconds {
            worker.stats.timeouts += 1
            close()   // the client stopped reading: nothing more can be delivered
            return
        }
        var i = streams.count - 1
        while i >= 0 {
            // Unretained (an atomic pair per stream and tick): nghttp2 closes streams only in
            // its own callbacks, and a driver whose exchange ends in its tick is kept as a
            // spare or retired to the loop (`recycle`), so both outlive the call.
            if i < streams.count { Unmanaged.passUnretained(streams[i])._withUnsafeGuaranteedRef { tick($0, now: now) } }
            i -= 1
        }
        if streams.isEmpty && now >= deadline && !goingAway {
            goingAway = true
            withSession { $0.goAway() }
            pump()
        }
    }

    /// One stream's part of the tick: its exchange's timeouts, or its own deadline.
    private func tick(_ stream: H2Stream, now: UInt64) {
        if stream.exchange != nil {
            Unmanaged.passUnretained(stream.exchange.unsafelyUnwrapped)._withUnsafeGuaranteedRef { $0.tick(now: now) }
        } else if !stream.expired, stream.responseSent, !stream.requestEnded, now >= stream.deadline {
            // Answered, and the client's unread body did not end in time: stop it.
            stream.expired = true
            withSession { $0.reset(stream.id, code: H2ServerSession.noError) }
            needsFlush()
        } else if !stream.expired, !stream.responseSent, now >= stream.deadline {
            stream.expired = true
            worker.stats.timeouts += 1
            if stream.headComplete {
                withSession { $0.reset(stream.id, code: H2ServerSession.cancel) }
            } else {
                // A header block left open blocks the whole connection (only its
                // CONTINUATION frames may follow): the connection ends.
                failed = true
                protocolFailed = true
                withSession { $0.terminate(code: H2ServerSession.protocolError) }
            }
            needsFlush()
        }
    }

    /// Graceful shutdown: GOAWAY; the streams already taken finish, then the connection
    /// closes.
    func drain() {
        guard !closed, !goingAway, !lingering else { return }
        goingAway = true
        withSession { $0.goAway() }
        pump()
    }

    private func startLingering() {
        guard !lingering, !closed else { return }
        lingering = true
        endStreams()
        Lingering.shutdownWrite(fd, tls: tls)
        if clientEOF {
            close()
            return
        }
        deadline = Clock.monotonicMilliseconds() + worker.settings.lingerMilliseconds
        worker.loop.setInterest(registration, Epoll.readable)
    }

    func close() {
        guard !closed else { return }
        closed = true
        endStreams()
        // Spare streams hold this connection strongly (and it holds them): let go of them,
        // or a closed connection would never be freed.
        spareStreams.removeLast(spareStreams.count)
        spareDrivers.removeLast(spareDrivers.count)
        session = nil
        worker.loop.deregister(registration)
        fd.close()
        if let out = out.take() { worker.buffers.give(out) }
        worker.http2Closed(self)
    }

    /// Ends every stream; their exchanges give back upstream connections and tables. The
    /// session may live on (lingering) and holds each stream's address unretained: cleared
    /// first, so no later callback can reach a freed stream.
    private func endStreams() {
        let open = streams
        streams.removeAll()
        resumable.removeAll()
        for stream in open {
            let id = stream.id
            withSession { $0.setObject(nil, for: id) }
            stream.close()
        }
    }
}
