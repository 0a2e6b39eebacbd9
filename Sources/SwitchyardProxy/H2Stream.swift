import SwitchyardHTTP
import SwitchyardSystem

/// One HTTP/2 request and its answer. The stream renders the request as HTTP/1.1 into an
/// `exchange` — a `DownstreamConnection` without a socket — so routing, limits, forwarding
/// and logging are the HTTP/1.1 ones, and reads the exchange's HTTP/1.1 answer back into
/// HTTP/2 frames:
///
///     HEADERS/DATA ──▶ request head + body (chunked when no content-length) ──▶ exchange ──▶ upstream pool
///     HEADERS/DATA ◀── response head fields lower-cased, hop-by-hop dropped ◀── exchange ◀── upstream
///
/// Both directions are bounded: request DATA is acknowledged to the client (WINDOW_UPDATE)
/// only as the exchange takes it, and the exchange's answer is taken only as far as
/// `body` has room, which nghttp2 drains as the client's window allows.
final class H2Stream: Indexed {
    let id: Int32
    private unowned let connection: H2Connection
    /// The SNI name of the connection's TLS client, if any.
    var serverName: String? { connection.serverName }
    /// Position in the connection's stream list.
    var listIndex = -1
    private(set) var exchange: DownstreamConnection?
    private var cancelling = false

    // The request head as it arrives (HPACK-decoded fields).
    // Pseudo-fields and Host are kept in `values` (a pooled buffer) as spans; cookie crumbs
    // are joined in `cookies`; other fields are written as HTTP/1.1 lines into `fields`.
    private var values: IOBuffer?
    private var method = ByteSpan(start: 0, count: 0)
    private var path = ByteSpan(start: 0, count: 0)
    private var authority = ByteSpan(start: 0, count: 0)
    private var host = ByteSpan(start: 0, count: 0)
    private var cookies: IOBuffer?
    private var fields: IOBuffer?
    private var headerListBytes = 0
    private var headerFieldCount = 0
    private var headTooLarge = false
    private var hasContentLength = false
    private var requestMethod = HTTPMethod.get

    // The request body.
    private var chunkedBody = false
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
    private var scratch: ExchangeScratch?
    private var headSubmitted = false
    private enum Framing { case none, length(UInt64), chunked, untilClose }
    private var framing = Framing.none
    private var chunks: ChunkedDecoder
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
        chunks = ChunkedDecoder(limits: connection.worker.limits)
        deadline = Clock.monotonicMilliseconds() + connection.worker.settings.headerTimeoutMilliseconds
    }

    private var worker: Worker { connection.worker }

    // MARK: request head

    func header(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        guard !headTooLarge else { return }
        headerFieldCount += 1
        headerListBytes += name.count + value.count + 32
        let limits = connection.limits
        if headerFieldCount > limits.maxHeaderFields || headerListBytes > limits.maxHeaderListBytes {
            headTooLarge = true
            return
        }
        if name.first == UInt8(ascii: ":") {
            if ASCII.equals(name, ":method") { method = keep(value) }
            else if ASCII.equals(name, ":path") { path = keep(value) }
            else if ASCII.equals(name, ":authority") { authority = keep(value) }
            // :scheme is not forwarded: X-Forwarded-Proto says how the client came in.
            return
        }
        if ASCII.equals(name, "host") { host = keep(value); return }
        if ASCII.equals(name, "cookie") {
            // RFC 9113 §8.2.3: cookie crumbs are joined with "; " for HTTP/1.1.
            if cookies == nil { cookies = worker.buffers.take() }
            let jar = cookies!
            guard jar.writableCount >= value.count + 2 else {
                headTooLarge = true
                return
            }
            if !jar.isEmpty { jar.append("; ") }
            jar.append(value)
            return
        }
        // The body arrives in DATA frames as it is; a client's 100-continue wish and TE
        // have no meaning on the HTTP/1.1 side we build.
        if ASCII.equals(name, "expect") || ASCII.equals(name, "te") { return }
        if ASCII.equals(name, "content-length") { hasContentLength = true }
        if fields == nil { fields = worker.buffers.take() }
        let out = fields!
        guard out.writableCount >= name.count + value.count + 4 else {
            headTooLarge = true
            return
        }
        out.append(name)
        out.append(": ")
        out.append(value)
        out.append("\r\n")
    }

    /// The head is complete: answer 431, or start the exchange with its HTTP/1.1 rendering.
    func headComplete(endStream: Bool) {
        headComplete = true
        requestEnded = endStream
        guard !headTooLarge else {
            worker.stats.badRequests += 1
            respondDirectly(status: 431)
            releaseHeadStorage()
            return
        }
        let values = self.values.map { UnsafeRawPointer($0.base) } ?? UnsafeRawPointer(bitPattern: 1)!
        requestMethod = HTTPMethod(bytes: HeadWriter.slice(values, method))
        chunkedBody = !endStream && !hasContentLength
        let head = worker.buffers.take()
        defer { worker.buffers.give(head) }
        head.append(HeadWriter.slice(values, method))
        head.append(byte: UInt8(ascii: " "))
        head.append(HeadWriter.slice(values, path))
        head.append(" HTTP/1.1\r\nHost: ")
        head.append(HeadWriter.slice(values, authority.count == 0 ? host : authority))
        head.append("\r\n")
        if let fields { head.append(fields.readable) }
        if let cookies, !cookies.isEmpty {
            head.append("Cookie: ")
            head.append(cookies.readable)
            head.append("\r\n")
        }
        if chunkedBody { head.append("Transfer-Encoding: chunked\r\n") }
        // One request per exchange: its answer then ends with the stream.
        head.append("Connection: close\r\n\r\n")
        releaseHeadStorage()

        let exchange = DownstreamConnection(stream: self, client: connection.client, worker: worker,
                                            secure: connection.isTLS, tlsVersion: connection.tlsVersion)
        self.exchange = exchange
        exchange.bridgeWrite(head.readable)
        if endStream {
            endDelivered = true
            exchange.bridgeEndOfRequest()
        }
        exchange.bridgeKick()
    }

    /// Copies a field value into `values`; its span there (empty if it does not fit: the
    /// header list limit is far below a buffer, so only a broken limit gets there).
    private func keep(_ value: UnsafeRawBufferPointer) -> ByteSpan {
        if values == nil { values = worker.buffers.take() }
        let buffer = values!
        guard buffer.writableCount >= value.count else {
            headTooLarge = true
            return ByteSpan(start: 0, count: 0)
        }
        let span = ByteSpan(start: buffer.readableCount, count: value.count)
        buffer.append(value)
        return span
    }

    private func releaseHeadStorage() {
        if let fields { worker.buffers.give(fields) }
        if let values { worker.buffers.give(values) }
        if let cookies { worker.buffers.give(cookies) }
        fields = nil
        values = nil
        cookies = nil
    }

    // MARK: request body

    func data(_ bytes: UnsafeRawBufferPointer) {
        guard let exchange, exchange.acceptsRequestBytes else {
            // Answered already (or refused): the rest of the body is read and dropped.
            connection.session?.consume(id, bytes.count)
            connection.needsFlush()
            if responseSent {
                let before = discardedAfterAnswer
                discardedAfterAnswer += bytes.count
                // Reset once, on the frame that crosses the bound.
                if before <= Self.maxDiscardAfterAnswer && discardedAfterAnswer > Self.maxDiscardAfterAnswer {
                    connection.session?.reset(id, code: H2ServerSession.noError)
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
                connection.session?.reset(id, code: H2ServerSession.flowControlError)
                return
            }
        }
        exchange.bridgeKick()
    }

    func requestEnd() {
        requestEnded = true
        if let exchange, exchange.acceptsRequestBytes { exchange.bridgeKick() }
    }

    /// Writes as much of `bytes` as the exchange has room for (chunk-framed when the body
    /// has no length) and acknowledges it to the client; returns the bytes taken.
    private func write(_ bytes: UnsafeRawBufferPointer, to exchange: DownstreamConnection) -> Int {
        let room = exchange.bridgeInputRoom - (chunkedBody ? 32 : 0)
        let n = min(bytes.count, room)
        guard n > 0 else { return 0 }
        let data = UnsafeRawBufferPointer(rebasing: bytes[0..<n])
        if chunkedBody {
            var line: (UInt64, UInt64, UInt64) = (0, 0, 0)
            withUnsafeMutableBytes(of: &line) { raw in
                let k = ChunkedEncoder.writeChunkHeader(count: n, into: raw)
                exchange.bridgeWrite(UnsafeRawBufferPointer(rebasing: raw[0..<k]))
            }
            exchange.bridgeWrite(data)
            exchange.bridgeWrite(Self.bytes(ChunkedEncoder.chunkTrailer))
        } else {
            exchange.bridgeWrite(data)
        }
        connection.session?.consume(id, n)
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
        if pending?.isEmpty ?? false {
            worker.buffers.give(pending!)
            pending = nil
        }
        if requestEnded && !endDelivered && pending == nil {
            if chunkedBody {
                guard exchange.bridgeInputRoom >= 5 || !exchange.acceptsRequestBytes else { return moved }
                if exchange.acceptsRequestBytes { exchange.bridgeWrite(Self.bytes(ChunkedEncoder.lastChunk)) }
            }
            endDelivered = true
            exchange.bridgeEndOfRequest()
            moved = true
        }
        return moved
    }

    // MARK: the answer

    /// The exchange's HTTP/1.1 answer: the head becomes a HEADERS frame, the body is
    /// staged for DATA. Returns the bytes taken, and whether the stream is full.
    func deliver(_ bytes: UnsafeRawBufferPointer) -> (Int, Bool) {
        var used = 0
        if scratch == nil { scratch = worker.takeScratch() }
        let parser = scratch!.response
        while !headSubmitted {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[used...])
            switch parser.parse(rest, requestMethod: requestMethod) {
            case .needMore:
                return (used, false)
            case .error:
                // Our own HTTP/1.1 side wrote it; cannot happen, but never forward junk.
                connection.session?.reset(id, code: H2ServerSession.internalError)
                connection.needsFlush()
                return (bytes.count, false)
            case .complete(let headLength):
                if parser.status < 200 {
                    // Interim answers (103 Early Hints…) are not passed on.
                    used += headLength
                    parser.reset()
                    continue
                }
                submitHead(parser, base: rest.baseAddress!)
                used += headLength
            }
        }
        if !bodyComplete {
            used += stage(UnsafeRawBufferPointer(rebasing: bytes[used...]))
        } else {
            used = bytes.count   // nothing belongs after a complete body
        }
        let blocked = used < bytes.count
        exchangeBlocked = blocked
        return (used, blocked)
    }

    private func submitHead(_ parser: HTTPResponseParser, base: UnsafeRawPointer) {
        let head = connection.responseHead
        head.reset(status: parser.status)
        for i in 0..<parser.headerCount {
            let field = parser.header(i)
            // Connection-specific fields are not allowed in HTTP/2 (RFC 9113 §8.2.2).
            if field.role == .hopByHop { continue }
            guard head.add(name: HeadWriter.slice(base, field.name), value: HeadWriter.slice(base, field.value)) else {
                // Sized from the parser's limits, so this cannot happen; never send half a head.
                connection.session?.reset(id, code: H2ServerSession.internalError)
                headSubmitted = true
                bodyComplete = true
                return
            }
        }
        switch parser.framing {
        case .none: framing = .none
        case .contentLength(let n): framing = n == 0 ? .none : .length(n)
        case .chunked:
            chunks.reset()
            framing = .chunked
        case .untilClose: framing = .untilClose
        }
        if case .none = framing { bodyComplete = true }
        headSubmitted = true
        connection.session?.submitResponse(id, head: head, hasBody: !bodyComplete)
        connection.needsFlush()
    }

    /// Copies body bytes into `body` as far as it has room; returns the bytes taken.
    private func stage(_ input: UnsafeRawBufferPointer) -> Int {
        guard !input.isEmpty else { return 0 }
        if body == nil { body = worker.buffers.take() }
        let out = body!
        out.ensureWritable(16 * 1024)   // compacts only when the tail is short
        var used = 0
        switch framing {
        case .none:
            return input.count
        case .length(let remaining):
            let n = min(Int(clamping: remaining), input.count, out.writableCount)
            out.append(UnsafeRawBufferPointer(rebasing: input[0..<n]))
            used = n
            framing = .length(remaining - UInt64(n))
            if remaining == UInt64(n) { bodyComplete = true }
        case .untilClose:
            used = out.append(input)
        case .chunked:
            while used < input.count, out.writableCount > 0 {
                let step: ChunkedStep
                do {
                    step = try chunks.decode(UnsafeRawBufferPointer(rebasing: input[used...]), maxData: out.writableCount)
                } catch {
                    connection.session?.reset(id, code: H2ServerSession.internalError)
                    return input.count
                }
                if step.data.count > 0 {
                    out.append(UnsafeRawBufferPointer(start: input.baseAddress! + used + step.data.start, count: step.data.count))
                }
                used += step.consumed
                if step.finished {
                    bodyComplete = true
                    break
                }
                if step.consumed == 0 { break }
            }
        }
        if deferred && (!out.isEmpty || bodyComplete) {
            deferred = false
            connection.session?.resume(id)
        }
        connection.needsFlush()
        return used
    }

    /// nghttp2 asks for DATA.
    func responseBody(into buffer: UnsafeMutableRawBufferPointer) -> H2BodyChunk {
        guard let out = body, !out.isEmpty else {
            if bodyComplete { return .bytes(0, end: true) }
            deferred = true
            return .deferred
        }
        let n = min(out.readableCount, buffer.count)
        buffer.baseAddress!.copyMemory(from: out.readable.baseAddress!, byteCount: n)
        out.consume(n)
        if exchangeBlocked {
            exchangeBlocked = false
            connection.resumeLater(self)
        }
        return .bytes(n, end: bodyComplete && out.isEmpty)
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
            deadline = Clock.monotonicMilliseconds() + worker.settings.bodyRateWindowMilliseconds
        }
    }

    /// The exchange is over. A clean end completes a close-delimited body; a cut before
    /// the answer was complete resets the stream.
    func exchangeClosed(aborted: Bool) {
        exchange = nil
        guard !cancelling else { return }
        returnPending()
        deadline = Clock.monotonicMilliseconds() + worker.settings.upstreamTimeoutMilliseconds
        if case .untilClose = framing, headSubmitted, !aborted { bodyComplete = true }
        if !headSubmitted || !bodyComplete {
            connection.session?.reset(id, code: H2ServerSession.internalError)
        } else if deferred {
            deferred = false
            connection.session?.resume(id)
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
        connection.session?.submitResponse(id, head: head, hasBody: false)
        connection.needsFlush()
    }

    /// The stream is gone (closed by nghttp2): ends the exchange and frees everything.
    func close() {
        cancelling = true
        if let exchange {
            self.exchange = nil
            exchange.bridgeCancel()
        }
        releaseHeadStorage()
        releaseScratch()
        returnPending()
        if let body { worker.buffers.give(body); self.body = nil }
    }

    /// Held request DATA that will never be forwarded: its bytes go back to the client's
    /// connection window, or every cancelled upload would shrink it for good.
    private func returnPending() {
        guard let held = pending else { return }
        connection.session?.consume(id, held.readableCount)
        worker.buffers.give(held)
        pending = nil
        connection.needsFlush()
    }

    private func releaseScratch() {
        if let scratch {
            scratch.reset()
            worker.giveScratch(scratch)
            self.scratch = nil
        }
    }

    private static func bytes(_ s: StaticString) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount)
    }
}
