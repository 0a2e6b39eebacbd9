import SwitchyardHTTP
import SwitchyardSystem

/// One HTTP/2 request and its answer. The stream loads its decoded head into the request
/// parser (`H2RequestHead`) and hands it to an `exchange` — a `DownstreamConnection`
/// without a socket, reused across the connection's streams — so routing, limits,
/// forwarding and logging are the HTTP/1.1 ones; the exchange hands back the parsed
/// response head and the de-framed body, which become HTTP/2 frames:
///
///     HEADERS/DATA ──▶ parser field table + raw DATA ──▶ exchange (chunk-frames a body without content-length) ──▶ upstream pool
///     HEADERS/DATA ◀── parsed response head (names lower-cased, hop-by-hop dropped) + body ◀── exchange ◀── upstream
///
/// Both directions are bounded: request DATA is acknowledged to the client (WINDOW_UPDATE)
/// only as the exchange takes it, and the exchange's answer is taken only as far as
/// `body` has room, which nghttp2 drains as the client's window allows.
final class H2Stream: Indexed {
    /// Set again when a closed stream is reused for the next one (`reuse(id:)`).
    private(set) var id: Int32
    /// Strong on purpose: a strong `let` is read without retain or release (an
    /// `unowned(unsafe)` read costs both at every use, a dozen a request). The cycle — the
    /// connection's list holds its streams — is broken when the stream closes and leaves
    /// that list; `H2Connection.close` closes every stream it still has.
    let connection: H2Connection
    /// The SNI name of the connection's TLS client, if any.
    var serverName: String? { connection.serverName }
    /// Position in the connection's stream list.
    var listIndex = -1
    private(set) var exchange: DownstreamConnection?
    private var cancelling = false

    /// The request head as it arrives, loaded into `scratch`'s request parser.
    private var head = H2RequestHead()

    // The request body.
    /// END_STREAM arrived from the client.
    private(set) var requestEnded = false
    /// Request DATA read and dropped after the answer went out (see `responseFinished`).
    private var discardedAfterAnswer = 0
    /// How much of an unread body is taken (and its window returned) after the answer before
    /// the stream is reset: a browser's form post finishes well within it.
    static let maxDiscardAfterAnswer = 8 << 20
    private var endDelivered = false
    /// DATA the exchange had no room for yet (bounded by the stream window).
    private var pending: IOBuffer?

    // The answer.
    /// The request parser (the decoded head), lent to the exchange once the head is complete.
    private var scratch: ExchangeScratch?
    private var headSubmitted = false
    /// Response body bytes waiting for nghttp2 to ask for DATA.
    private var body: IOBuffer?
    private var bodyComplete = false
    private var deferred = false
    private var exchangeBlocked = false
    private(set) var responseSent = false
    /// While no exchange runs the stream's timers: the head must be complete by then, and
    /// afterwards the staged answer must have left (a client that never opens its window
    /// cannot hold a stream and its buffer forever).
    private(set) var deadline: UInt64
    private(set) var headComplete = false
    /// Reset by the connection for passing `deadline` (done once).
    var expired = false

    init(id: Int32, connection: H2Connection) {
        self.id = id
        self.connection = connection
        deadline = connection.worker.nowMilliseconds + connection.worker.settings.headerTimeoutMilliseconds
        connection.worker.liveHTTP2.streams += 1
    }

    deinit { connection.worker.liveHTTP2.streams -= 1 }

    private var worker: Worker { connection.worker }

    /// Makes this closed stream the connection's next stream `id` (see
    /// `H2Connection.spareStreams`): every per-stream field back to its initial value, so a
    /// stream object is not allocated and freed per request. Nothing refers to a closed
    /// stream: nghttp2's stream data was cleared at close and its exchange was recycled.
    func reuse(id: Int32) {
        precondition(exchange == nil && scratch == nil && pending == nil && body == nil && head.bytes == nil,
                     "only a closed stream is reused")
        self.id = id
        listIndex = -1
        cancelling = false
        head = H2RequestHead()
        requestEnded = false
        discardedAfterAnswer = 0
        endDelivered = false
        headSubmitted = false
        bodyComplete = false
        deferred = false
        exchangeBlocked = false
        responseSent = false
        deadline = connection.worker.nowMilliseconds + connection.worker.settings.headerTimeoutMilliseconds
        headComplete = false
        expired = false
    }

    // MARK: request head

    func header(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        if scratch == nil { scratch = worker.takeScratch() }
        // Borrowed, not retained: the stream holds the scratch and the worker its pool.
        let parser = Unmanaged.passUnretained(scratch.unsafelyUnwrapped.request)
        let pool = Unmanaged.passUnretained(worker.buffers)
        parser._withUnsafeGuaranteedRef { parser in
            pool._withUnsafeGuaranteedRef { pool in
                head.add(name: name, value: value, parser: parser, pool: pool, limits: connection.limits)
            }
        }
    }

    /// The head is complete: answer 431, or start the exchange with the decoded head.
    func headComplete(endStream: Bool) {
        headComplete = true
        requestEnded = endStream
        guard !head.tooLarge else {
            worker.stats.badRequests += 1
            respondDirectly(status: 431)
            worker.buffersRef._withUnsafeGuaranteedRef { head.release($0) }
            releaseScratch()
            return
        }
        // A head of pseudo-fields only took no parser yet.
        // Moved out (`take()`) and on into the exchange: no retain and release on the way.
        if scratch == nil { scratch = worker.takeScratch() }
        // Parser and pool borrowed, not retained: `scratch` holds the one, the worker the other.
        let verdict = Unmanaged.passUnretained(scratch.unsafelyUnwrapped.request)._withUnsafeGuaranteedRef { parser in
            worker.buffersRef._withUnsafeGuaranteedRef { head.complete(parser: parser, pool: $0, endStream: endStream) }
        }
        // The driver moved into `exchange` and used from there unretained, the scratch moved
        // on into it (`take()` in the call): a local copy of either cost an atomic retain and
        // release a stream (callgrind). A driver whose exchange ends inside `startDecoded`
        // is kept as a spare or retired to the loop (`H2Connection.recycle`), so it outlives
        // the call.
        exchange = connection.takeDriver(for: self)
        if endStream { endDelivered = true }
        Unmanaged.passUnretained(exchange.unsafelyUnwrapped)._withUnsafeGuaranteedRef { exchange in
            exchange.startDecoded(scratch: scratch.take().unsafelyUnwrapped,
                                  head: head.bytes?.readable ?? UnsafeRawBufferPointer(start: nil, count: 0),
                                  size: head.size, verdict: verdict, endStream: endStream)
            // The exchange copied what it needs (the upstream head, the log's method and
            // path); a parked one (write hold) keeps the head to route it again at release.
            if exchange.phase == .parked { exchange.parkedH2Head = head.takeBytes() }
        }
        worker.buffersRef._withUnsafeGuaranteedRef { head.release($0) }
    }

    // MARK: request body

    func data(_ bytes: UnsafeRawBufferPointer) {
        guard let exchange, exchange.acceptsRequestBytes else {
            // Answered already (or refused): the rest of the body is read and dropped.
            connection.withSession { $0.consume(id, bytes.count) }
            connection.needsFlush()
            if responseSent {
                let before = discardedAfterAnswer
                discardedAfterAnswer += bytes.count
                // Reset once, on the frame that crosses the bound.
                if before <= Self.maxDiscardAfterAnswer && discardedAfterAnswer > Self.maxDiscardAfterAnswer {
                    connection.withSession { $0.reset(id, code: H2ServerSession.noError) }
                }
            }
            return
        }
        var rest = bytes
        if pending?.isEmpty ?? true {
            let n = write(rest, to: exchange)
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
        }
        if !rest.isEmpty {
            if pending == nil { pending = worker.buffers.take() }
            pending!.ensureWritable(rest.count)
            // The stream window is below a buffer, so what the client may send fits.
            guard pending!.append(rest) == rest.count else {
                connection.withSession { $0.reset(id, code: H2ServerSession.flowControlError) }
                return
            }
        }
        exchange.bridgeKick()
    }

    func requestEnd() {
        requestEnded = true
        if let exchange, exchange.acceptsRequestBytes { exchange.bridgeKick() }
    }

    /// Writes as much of `bytes` as the exchange has room for and acknowledges it to the
    /// client; returns the bytes taken. (A body without content-length is chunk-framed by
    /// the exchange on its way upstream.)
    private func write(_ bytes: UnsafeRawBufferPointer, to exchange: DownstreamConnection) -> Int {
        let n = min(bytes.count, exchange.bridgeInputRoom)
        guard n > 0 else { return 0 }
        exchange.bridgeWrite(UnsafeRawBufferPointer(rebasing: bytes[0..<n]))
        connection.withSession { $0.consume(id, n) }
        connection.needsFlush()
        return n
    }

    /// Called by the exchange as it runs: moves held DATA in as room frees up, then the
    /// end of the request. True when something moved.
    func refill(_ exchange: DownstreamConnection) -> Bool {
        var moved = false
        if let held = pending, !held.isEmpty {
            guard exchange.acceptsRequestBytes else {
                returnPending()
                return false
            }
            let n = write(held.readable, to: exchange)
            held.consume(n)
            moved = n > 0
        }
        if pending?.isEmpty ?? false { worker.buffers.give(pending.take()!) }
        if requestEnded && !endDelivered && pending == nil {
            endDelivered = true
            exchange.bridgeEndOfRequest()
            moved = true
        }
        return moved
    }

    // MARK: the answer

    /// The response head, from the exchange's parsed upstream head (no text in between):
    /// fields lower-cased, connection-specific ones dropped (RFC 9113 §8.2.2), the sticky
    /// cookie added when one is issued. `hasBody`: DATA follows.
    func submitHead(_ parser: HTTPResponseParser, base: UnsafeRawPointer, hasBody: Bool, cookie: Cookie?) {
        // The worker's head borrowed, not retained (see `Worker.h2ResponseHeadRef`).
        connection.responseHeadRef._withUnsafeGuaranteedRef { submitHead(parser, base: base, hasBody: hasBody, cookie: cookie, into: $0) }
    }

    private func submitHead(_ parser: HTTPResponseParser, base: UnsafeRawPointer, hasBody: Bool, cookie: Cookie?,
                            into head: H2ResponseHead) {
        head.reset(status: parser.status)
        var fits = true
        // One content-length at most, none on a 204: HTTP/1.1 lets a server repeat an equal
        // one (the parser checked they agree), and HTTP/2 clients (nghttp2's, for one) reset
        // a stream that carries two, or a 204 that carries one, losing the answer.
        var lengthSent = parser.status == 204
        for i in 0..<parser.headerCount where fits {
            let field = parser.header(i)
            if field.role == .hopByHop { continue }
            if field.role == .contentLength {
                if lengthSent { continue }
                lengthSent = true
            }
            fits = head.add(name: HeadWriter.slice(base, field.name), value: HeadWriter.slice(base, field.value))
        }
        // Sized from the parser's limits, so a full head cannot happen; never send half a head.
        guard fits else {
            connection.withSession { $0.reset(id, code: H2ServerSession.internalError) }
            headSubmitted = true
            bodyComplete = true
            return
        }
        headSubmitted = true
        bodyComplete = !hasBody
        guard let cookie else {
            connection.withSession { $0.submitResponse(id, head: head, hasBody: hasBody) }
            connection.needsFlush()
            return
        }
        // The cookie's value lives in a pooled buffer until nghttp2 copied the head.
        let value = worker.buffers.take()
        HeadWriter.appendCookie(value, name: cookie.name, value: cookie.value, secure: cookie.secure)
        head.add(name: Self.bytes("set-cookie"), value: value.readable)
        // Over TLS the fallback cookie too (`HeadWriter.appendLegacyCookie`).
        let legacy = cookie.secure ? worker.buffers.take() : nil
        if let legacy {
            HeadWriter.appendLegacyCookie(legacy, name: cookie.name, value: cookie.value)
            head.add(name: Self.bytes("set-cookie"), value: legacy.readable)
        }
        connection.withSession { $0.submitResponse(id, head: head, hasBody: hasBody) }
        if let legacy { worker.buffers.give(legacy) }
        worker.buffers.give(value)
        connection.needsFlush()
    }

    /// The sticky cookie an answer issues.
    struct Cookie {
        var name: UnsafeRawBufferPointer
        var value: UInt64
        var secure: Bool
    }

    /// An answer of our own (an error the exchange decided), with its short text body.
    /// `heldWrite`: the write hold's 503 (Retry-After, "not saved").
    func answer(status: Int, heldWrite: Bool = false, headOnly: Bool = false) {
        let text = heldWrite ? (line: HeadWriter.errorText(503).line, body: HoldAnswer.body) : HeadWriter.errorText(status)
        let head = connection.responseHead
        head.reset(status: status)
        head.add(name: Self.bytes("content-type"), value: Self.bytes("text/plain; charset=utf-8"))
        if heldWrite { head.add(name: Self.bytes("retry-after"), value: Self.bytes(HoldAnswer.retryAfterSeconds)) }
        // The length's digits live in a pooled buffer until nghttp2 copied the head.
        let length = worker.buffers.take()
        length.append(decimal: UInt64(text.body.utf8CodeUnitCount))
        head.add(name: Self.bytes("content-length"), value: length.readable)
        // A HEAD request's answer has no DATA (RFC 9113 §8.1), only its length said.
        if !headOnly {
            if body == nil { body = worker.buffers.take() }
            body!.append(Self.bytes(text.body))
        }
        headSubmitted = true
        bodyComplete = true
        connection.withSession { $0.submitResponse(id, head: head, hasBody: !headOnly) }
        worker.buffers.give(length)
        connection.needsFlush()
    }

    /// Response body bytes (already de-framed by the exchange), staged as far as `body`
    /// has room; `complete`: these are the last. Returns the bytes taken, and whether the
    /// stream is full.
    /// The same staging as a read straight into the stream (`bodyReceiveWindow`, then
    /// `bodyReceived`), with a copy between. `input` is never empty (both callers check).
    func deliverBody(_ input: UnsafeRawBufferPointer, complete: Bool) -> (Int, Bool) {
        switch bodyReceiveWindow(max: input.count) {
        case .complete:
            return (input.count, false)   // nothing belongs after it
        case .full:
            connection.needsFlush()
            return (0, true)   // `bodyReceiveWindow` marked the exchange blocked
        case .room(let window):
            let used = window.count
            window.copyMemory(from: UnsafeRawBufferPointer(rebasing: input[0..<used]))
            bodyReceived(used, complete: complete && used == input.count)
            let blocked = used < input.count
            exchangeBlocked = blocked
            return (used, blocked)
        }
    }

    /// Room at the end of the staged body for bytes received straight from the upstream
    /// socket (`DownstreamConnection.receiveIntoStream`), at most `max`; follow with
    /// `bodyReceived`. `.full` until frames leave (the exchange is then resumed, as after a
    /// `deliverBody` that could not take everything); `.complete` when the answer is.
    func bodyReceiveWindow(max: Int) -> H2BodyWindow {
        guard !bodyComplete else { return .complete }
        if body == nil { body = worker.buffers.take() }
        let window = Unmanaged.passUnretained(body.unsafelyUnwrapped)._withUnsafeGuaranteedRef { out in
            // Room in front for the frames written before the body's first bytes.
            if out.isEmpty && out.readerIndex < Self.bodyHeadroom { out.reserveFront(Self.bodyHeadroom) }
            // Compacts only when the tail is short and the move is cheap; a full buffer
            // waits for its frames to leave (`.full`).
            out.ensureWritableCheaply(16 * 1024, keepingFront: Self.bodyHeadroom)
            return UnsafeMutableRawBufferPointer(rebasing: out.writable[0..<min(out.writableCount, max)])
        }
        guard !window.isEmpty else {
            exchangeBlocked = true
            return .full
        }
        return .room(window)
    }

    /// `count` bytes were received into the window `bodyReceiveWindow` gave; `complete`:
    /// they are the answer's last.
    func bodyReceived(_ count: Int, complete: Bool) {
        Unmanaged.passUnretained(body.unsafelyUnwrapped)._withUnsafeGuaranteedRef { $0.commit(count) }
        bodyGrew(by: count, complete: complete)
    }

    /// Whether `adoptBody` may take a buffer: nothing is staged (staged bytes leave first)
    /// and the answer is not complete.
    var canAdoptBody: Bool {
        !bodyComplete && (body == nil || body.unsafelyUnwrapped.isEmpty)
    }

    /// Takes `buffer`, every readable byte of it body, as the staged body itself, when
    /// `canAdoptBody`: the bytes an upstream read brought along with the response head
    /// are not copied out of it (up to 64 KiB an answer). The empty buffer it replaces
    /// goes back to the pool. `complete`: they are the answer's last.
    func adoptBody(_ buffer: consuming IOBuffer, complete: Bool) {
        precondition(canAdoptBody, "a body is adopted only while nothing is staged")
        let count = buffer.readableCount
        releaseBody()   // empty, or nil
        body = consume buffer
        bodyGrew(by: count, complete: complete)
    }

    /// `count` bytes joined the staged body (`complete`: the answer's last): a deferred
    /// DATA source is resumed and the connection flushes.
    @inline(__always)
    private func bodyGrew(by count: Int, complete: Bool) {
        if complete { bodyComplete = true }
        if deferred && (count > 0 || bodyComplete) {
            deferred = false
            connection.withSession { $0.resume(id) }
        }
        connection.needsFlush()
        exchangeBlocked = false
    }

    /// How many staged body bytes the next DATA frame carries: at most `inPlaceMax` when
    /// it can be encrypted where it is staged (`sendResponseBodyInPlace`), else at most
    /// `max`. They stay in `body` until the frame is written. `.deferred` while nothing is
    /// staged and more will come.
    func responseBodyReady(max: Int, inPlaceMax: Int, preceding: Int) -> H2BodyChunk {
        guard body != nil, !body.unsafelyUnwrapped.isEmpty else {
            if bodyComplete { return .bytes(0, end: true) }
            deferred = true
            return .deferred
        }
        let staged = body.unsafelyUnwrapped.readableCount
        var n = min(staged, max)
        let front = body.unsafelyUnwrapped.readerIndex
        if inPlaceMax >= H2ServerSession.smallestFrameInPlace && staged >= H2ServerSession.smallestFrameInPlace
            && front >= H2ServerSession.frameHeaderBytes {
            // The frames before it share its record when they fit in front of it and leave
            // a frame worth sending in place; else they are encrypted first, on their own.
            let shared = min(inPlaceMax, H2ServerSession.recordPlaintext - H2ServerSession.frameHeaderBytes - preceding)
            let joins = front >= H2ServerSession.frameHeaderBytes + preceding && shared >= H2ServerSession.smallestFrameInPlace
            n = min(staged, joins ? shared : inPlaceMax)
        }
        return .bytes(n, end: bodyComplete && n == staged)
    }

    /// Bytes left free in front of a body staged in a fresh buffer (`bodyReceiveWindow`):
    /// a DATA frame's header, and the frames before it (the answer's HEADERS), are written
    /// there, to be encrypted with its first bytes as one record.
    static let bodyHeadroom = 256
    /// Ciphertext room kept beyond the plaintext of a frame sent in place: each record's
    /// header and tag, and a session ticket's record that may go first.
    private static let recordSlack = 4096

    /// Encrypts `preceding` (frames `produce` wrote before this one), then a DATA frame —
    /// `header` and the first `count` staged bytes — straight from `body`: the header is
    /// written into the consumed bytes in front of them (and `preceding` in front of it,
    /// when it fits, so that all of it makes one record), with no copy of the payload.
    /// All or nothing (see `H2InPlaceSend`).
    func sendResponseBodyInPlace(header: UnsafeRawBufferPointer, count: Int, preceding: UnsafeRawBufferPointer,
                                 tls: TLSTransport, fd: FileDescriptor) -> H2InPlaceSend {
        guard body != nil else { return .gone }
        // Borrowed, as in `copyResponseBody`.
        let result = Unmanaged.passUnretained(body.unsafelyUnwrapped)._withUnsafeGuaranteedRef { staged -> H2InPlaceSend in
            guard staged.readableCount >= count else { return .gone }
            let front = staged.readerIndex
            guard front >= header.count, tls.session.isHandshakeComplete else { return .copy }
            guard tls.session.ciphertextOutRoom >= preceding.count + header.count + count + Self.recordSlack else { return .wouldBlock }
            // As `responseBodyReady` sized it: in front when all of it fits one record.
            let joined = front >= header.count + preceding.count
                && preceding.count + header.count + count <= H2ServerSession.recordPlaintext
            var start = staged.base + front - header.count
            start.copyMemory(from: header.baseAddress!, byteCount: header.count)
            if joined && !preceding.isEmpty {
                start -= preceding.count
                start.copyMemory(from: preceding.baseAddress!, byteCount: preceding.count)
            }
            let frame = UnsafeRawBufferPointer(start: start, count: staged.base + front + count - start)
            do {
                // The room was checked: OpenSSL takes all of it, or the connection failed.
                if !joined && !preceding.isEmpty {
                    guard try tls.encrypt(preceding, sendingTo: fd) == preceding.count else { return .failed }
                }
                guard try tls.encrypt(frame, sendingTo: fd) == frame.count else { return .failed }
            } catch {
                return .failed
            }
            staged.consume(count)
            return .sent
        }
        if case .sent = result, exchangeBlocked {
            exchangeBlocked = false
            connection.resumeLater(self)
        }
        return result
    }

    /// Copies the first `buffer.count` staged bytes into a DATA frame being written and
    /// lets them go; an exchange that waited for room runs again. False if they are not
    /// there (cannot happen: only this copy and `sendResponseBodyInPlace` take bytes out of
    /// `body`, both for the frame they write, and `body` is given back only when the stream
    /// closes, after which nghttp2 sends nothing for it).
    func copyResponseBody(into buffer: UnsafeMutableRawBufferPointer) -> Bool {
        guard body != nil else { return false }
        // Borrowed, not retained (an atomic pair every answer): `body` holds it, and a
        // buffer is never freed while an event is handled (`BufferPool`'s lifetime rule).
        let copied = Unmanaged.passUnretained(body.unsafelyUnwrapped)._withUnsafeGuaranteedRef { out in
            guard out.readableCount >= buffer.count else { return false }
            if buffer.count > 0 { buffer.baseAddress!.copyMemory(from: out.readable.baseAddress!, byteCount: buffer.count) }
            out.consume(buffer.count)
            return true
        }
        if copied && exchangeBlocked {
            exchangeBlocked = false
            connection.resumeLater(self)
        }
        return copied
    }

    /// Runs the exchange again after `body` made room (from the connection, outside
    /// nghttp2's calls).
    func resumeExchange() {
        exchange?.bridgeResume()
    }

    /// The last frame of the answer left.
    ///
    /// An answer can be complete before the request body is (a login redirect or a 401 that
    /// never reads the form). RFC 9113 §8.1 allows RST_STREAM(NO_ERROR) then, but clients
    /// take it badly (curl 7.88 fails such POSTs with "Stream error in the HTTP/2 framing
    /// layer"), so the rest of the body is read and dropped — its window returned — until
    /// END_STREAM, within `maxDiscardAfterAnswer` bytes and the body timeout; only past those
    /// is the stream reset. The stream stays open meanwhile, so nghttp2 still checks what
    /// arrives on it (padding, content-length).
    func responseFinished() {
        responseSent = true
        if !requestEnded {
            deadline = worker.nowMilliseconds + worker.settings.bodyRateWindowMilliseconds
        }
    }

    /// The exchange is over. A clean end completes a close-delimited body; a cut before
    /// the answer was complete resets the stream.
    func exchangeClosed(aborted: Bool) {
        if let exchange = exchange.take() { connection.recycle(exchange) }
        guard !cancelling else { return }
        returnPending()
        deadline = worker.nowMilliseconds + worker.settings.upstreamTimeoutMilliseconds
        // A clean end completes the body (a close-delimited one ends only here).
        if headSubmitted, !aborted { bodyComplete = true }
        if !headSubmitted || !bodyComplete {
            connection.withSession { $0.reset(id, code: H2ServerSession.internalError) }
        } else if deferred {
            deferred = false
            connection.withSession { $0.resume(id) }
        }
        releaseScratch()
        connection.needsFlush()
    }

    // MARK: ending

    /// An answer of our own, before any exchange (431 for an oversized header list).
    private func respondDirectly(status: Int) {
        let head = connection.responseHead
        head.reset(status: status)
        headSubmitted = true
        bodyComplete = true
        connection.withSession { $0.submitResponse(id, head: head, hasBody: false) }
        connection.needsFlush()
    }

    /// The stream is gone (closed by nghttp2): ends the exchange and frees everything.
    func close() {
        cancelling = true
        if let exchange = exchange.take() {
            exchange.bridgeCancel()
            connection.recycle(exchange)
        }
        worker.buffersRef._withUnsafeGuaranteedRef { head.release($0) }
        releaseScratch()
        returnPending()
        releaseBody()
    }

    /// The staged body's buffer, if any, back to the pool.
    private func releaseBody() {
        if body != nil { worker.buffersRef._withUnsafeGuaranteedRef { $0.give(body.take().unsafelyUnwrapped) } }
    }

    /// Held request DATA that will never be forwarded: its bytes go back to the client's
    /// connection window, or every cancelled upload would shrink it for good.
    private func returnPending() {
        guard let held = pending.take() else { return }
        connection.withSession { $0.consume(id, held.readableCount) }
        worker.buffers.give(held)
        connection.needsFlush()
    }

    private func releaseScratch() {
        if let scratch {
            worker.giveScratch(scratch)
            self.scratch = nil
        }
    }

    private static func bytes(_ s: StaticString) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount)
    }
}
