import Glibc
import SwitchyardHTTP
import SwitchyardRouting
import SwitchyardSystem
import SwitchyardTLS

/// One exchange in flight: the request body forwarded, the response head and body relayed,
/// and its end (upstream back to its pool, the access-log line, the table unpinned).
extension DownstreamConnection {
    // MARK: the exchange

    func pumpExchange() -> Bool {
        var progressed = false
        if isTLS, let tls, !clientEOF, clientBufferHasRoom,
           pullPlaintext(tls) { progressed = true }
        if pullWaitingUpstreamRecords() { progressed = true }
        if pumpRequestBody() { progressed = true }
        if flushToUpstream() { progressed = true }
        if phase != .exchanging { return true }
        if pumpResponse() { progressed = true }
        if phase != .exchanging { return true }
        if flushToClient() { progressed = true }
        // A failed send aborts (the client reset): the connection is closed, and finishing
        // its exchange now would reopen it as `closing` and close its descriptor a second
        // time — by then perhaps another connection's, opened by another thread.
        if phase != .exchanging { return true }
        if responseDone, case .finish(let close) = exchange.responseEnded() {
            if close { closeAfterResponse = true }
            finishExchange()
            return true
        }
        if clientEOF && !requestBody.isDone && !requestBody.endsWithStream && (fromClient?.isEmpty ?? true) {
            perform(exchange.clientGone())
            return true
        }
        return progressed
    }

    /// Moves request body bytes from `fromClient` to `toUpstream`, re-framing chunked bodies
    /// (extensions and trailers are dropped: they are validated and never forwarded).
    func pumpRequestBody() -> Bool {
        if case .streamChunked = requestBody, let out = toUpstream { return pumpStreamBody(out) }
        guard let input = fromClient, let out = toUpstream, !input.isEmpty else { return false }
        switch requestBody {
        case .done, .streamChunked:
            return false
        case .length(let remaining):
            out.ensureWritable(16 * 1024)
            let n = min(Int(clamping: remaining), input.readableCount, out.writableCount)
            guard n > 0 else { return false }
            out.append(UnsafeRawBufferPointer(start: input.readable.baseAddress, count: n))
            input.consume(n)
            bytesIn += UInt64(n)
            if remaining == UInt64(n) {
                requestBodyDone()
            } else {
                requestBody = .length(remaining - UInt64(n))
            }
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
                    perform(exchange.requestBodyRefused(status: error.status))
                    return true
                }
                if step.data.count > 0 {
                    chunkedBodyBytes += UInt64(step.data.count)
                    if chunkedBodyBytes > bodyLimit {
                        // The last chunk is never sent: the backend cannot take the body
                        // for a complete request.
                        perform(exchange.requestBodyRefused(status: 413))
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
                    requestBodyDone()
                    return true
                }
                if step.consumed == 0 || input.isEmpty { return progressed }
            }
        }
    }

    /// An HTTP/2 body without content-length: each run of DATA bytes becomes one chunk for
    /// the upstream; the stream's end writes the last chunk.
    func pumpStreamBody(_ out: IOBuffer) -> Bool {
        if let input = fromClient, !input.isEmpty {
            out.ensureWritable(16 * 1024)
            let n = min(out.writableCount - 32, input.readableCount)   // chunk-size line and CRLF around
            guard n > 0 else { return false }
            chunkedBodyBytes += UInt64(n)
            if chunkedBodyBytes > bodyLimit {
                perform(exchange.requestBodyRefused(status: 413))
                return true
            }
            out.commit(ChunkedEncoder.writeChunkHeader(count: n, into: out.writable))
            out.append(UnsafeRawBufferPointer(start: input.readable.baseAddress, count: n))
            out.append(ChunkedEncoder.chunkTrailer)
            input.consume(n)
            bytesIn += UInt64(n)
            return true
        }
        guard clientEOF else { return false }
        out.ensureWritable(8)
        guard out.writableCount >= 5 else { return false }
        out.append(ChunkedEncoder.lastChunk)
        requestBodyDone()
        return true
    }

    /// The request body's last byte is in `toUpstream`. The exchange has nothing to do then:
    /// a response that ends also ends the exchange, in the pass of `pumpExchange` that
    /// completes it, so no request body is still being sent after that (`requestBodyEnded`
    /// finishes the exchange only for a driver that would have missed it).
    @inline(__always)
    func requestBodyDone() {
        requestBody = .done
        let action = exchange.requestBodyEnded()
        assert(action == .none, "the request body ended after the response: \(action)")
    }

    /// Parses the response head and moves response body bytes to `toClient`.
    func pumpResponse() -> Bool {
        guard fromUpstream != nil, !fromUpstream.unsafelyUnwrapped.isEmpty else {
            if upstreamEOF && !responseDone {
                if responseHeadDone && responseUntilClose && !upstreamReset {
                    responseDone = true
                    closeAfterResponse = true
                    return true
                }
                upstreamFailed(Errno(code: ECONNRESET, call: "upstream closed before the response was complete"))
                return true
            }
            return false
        }
        // Both buffers borrowed, not retained (two atomic pairs every answer): see `fromClientRef`.
        return fromUpstreamRef._withUnsafeGuaranteedRef { pumpResponse(from: $0) }
    }

    private func pumpResponse(from input: IOBuffer) -> Bool {
        if !responseHeadDone {
            let progressed = parseResponseHead(input)
            // Carry on with the body in the same pass, so that head and body leave in one
            // write: two small writes meet Nagle and delayed ACKs (a 40 ms stall).
            guard responseHeadDone, phase == .exchanging, !input.isEmpty else { return progressed }
        }
        if isH2, case .length(let remaining) = responseBody, mirrorPair == nil, toClient?.isEmpty ?? true {
            return deliverBodyToStream(input, remaining: remaining)
        }
        if toClient == nil { toClient = worker.buffers.take() }
        return toClientRef._withUnsafeGuaranteedRef { out in
            if input.readableCount >= Self.smallestBodyAdopted, !isH2, mirrorPair == nil,
               case .length(let remaining) = responseBody, UInt64(input.readableCount) <= remaining,
               out.readableCount <= input.readerIndex {
                return adoptResponseBody(input, remaining: remaining)
            }
            return relayResponseBody(from: input, to: out)
        }
    }

    /// The smallest body read that `adoptResponseBody` takes without a copy; a smaller one
    /// is copied behind the head, which costs less than trading buffers.
    static let smallestBodyAdopted = 4096

    /// Every byte `input` (`fromUpstream`) holds is body of known length, and what waits in
    /// `toClient` (the response head, written after anything still unsent) fits in the
    /// consumed bytes in front of it: those bytes are written there and `input` becomes
    /// `toClient` itself, so the body goes to the client (or to OpenSSL) from the buffer
    /// the upstream read filled, with no copy. The next read takes a fresh buffer; the
    /// old `toClient` goes back to the pool. Mostly the read that brought the head; a later
    /// read of the body is taken the same way whenever `toClient` has drained (nothing to
    /// write in front). Bytes after the answer's last (a server that broke its framing)
    /// rule it out, and stay behind to keep the connection from its pool.
    ///
    /// The upstream's head bytes in front are overwritten: nothing may read the response
    /// parser's field spans after this (only `status` and `keepAlive`, stored values, are
    /// read later today; a log field taken from a response header would need a copy).
    private func adoptResponseBody(_ input: IOBuffer, remaining: UInt64) -> Bool {
        assert(fromUpstream === input, "the response body is adopted from fromUpstream")
        let n = input.readableCount
        let head = toClient.take().unsafelyUnwrapped
        input.prepend(head.readable)
        worker.buffersRef._withUnsafeGuaranteedRef { $0.give(head) }
        // Moved, not copied: `toClient` holds the reference `fromUpstream` held.
        toClient = fromUpstream.take()
        bodyRelayed(n, of: remaining)
        return true
    }

    /// `count` bytes of a body of `remaining` more went on (to `toClient`, or to an HTTP/2
    /// stream): the answer is complete when they were its last.
    @inline(__always)
    func bodyRelayed(_ count: Int, of remaining: UInt64) {
        if remaining == UInt64(count) {
            responseBody = .done
            responseDone = true
        } else {
            responseBody = .length(remaining - UInt64(count))
        }
    }

    /// Moves what `input` holds of the response body to `out` (`toClient`), re-chunked or
    /// de-chunked as the framing asks.
    private func relayResponseBody(from input: IOBuffer, to out: IOBuffer) -> Bool {
        switch responseBody {
        case .streamChunked:
            preconditionFailure("a response body is never stream-delimited")
        case .done:
            if responseUntilClose {
                out.ensureWritable(16 * 1024)
                let n = out.append(input.readable)
                if mirrorPair != nil { mirrorTap(UnsafeRawBufferPointer(start: input.readable.baseAddress, count: n)) }
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
            if mirrorPair != nil { mirrorTap(UnsafeRawBufferPointer(start: input.readable.baseAddress, count: n)) }
            input.consume(n)
            bodyRelayed(n, of: remaining)
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
                    if mirrorPair != nil {
                        mirrorTap(UnsafeRawBufferPointer(start: input.readable.baseAddress! + step.data.start, count: step.data.count))
                    }
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

    func parseResponseHead(_ input: IOBuffer) -> Bool {
        // The parser borrowed from the scratch, not retained (a `let` of a borrowed object).
        withScratch { parseResponseHead(input, $0.response) }
    }

    private func parseResponseHead(_ input: IOBuffer, _ p: HTTPResponseParser) -> Bool {
        input.compact()
        let bytes = input.readable
        switch p.parse(bytes, requestMethod: method) {
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
            observeResponseHead()
            let base = bytes.baseAddress!
            replayLength = 0
            toUpstream?.dropKept()
            let action = exchange.responseHeadReceived(status: p.status, framing: p.framing)
            switch action {
            case .rejectResponse:
                upstreamFailed(Errno(code: EPROTO, call: "101 Switching Protocols without an upgrade request"))
                return true
            case .startTunnel:
                _ = writeResponseHeadToClient(headLength, base, p, upgrade: true)
                input.consume(headLength)
                status = 101
                responseHeadDone = true
                phase = .tunnel
                deadline = worker.nowMilliseconds + worker.settings.tunnelIdleTimeoutMilliseconds
                worker.stats.openTunnels += 1
                handle?.counters[decision.backend].openTunnels += 1
                inTunnel = true
                // The tunnel counts as one request, answered 101, for the counters.
                handle?.counters[decision.backend].record(status: 101, microseconds: (worker.nowNanoseconds &- startNanoseconds) / 1000, nowMilliseconds: worker.nowMilliseconds)
                return true
            case .forwardInterim, .dropInterim:
                // An interim head that does not fit behind the unsent output (a client not
                // reading while the server sends large 103s) is left out whole: a hint, where
                // a head cut short would corrupt the answer.
                if action == .forwardInterim { _ = writeResponseHeadToClient(headLength, base, p, upgrade: false) }
                if awaitingContinue {
                    // Its 100 Continue is out (or dropped): the client's body is due from now.
                    awaitingContinue = false
                    startRateWindow()
                }
                input.consume(headLength)
                p.reset()
                return true
            case .relayResponse(let closeAfter):
                if closeAfter { closeAfterResponse = true }
                answeredBeforeRequestSent = !requestBody.isDone || !(toUpstream?.isEmpty ?? true)
                    || withUpstream { $0.tls?.hasPendingOutput ?? false }
                takeResponseFraming(p)
                if let pair = mirrorPair { pair.primary.head(p, base) }
                if isH2 {
                    relayHeadToStream(p, base, headLength: headLength, input: input)
                    return true
                }
            case let other:
                preconditionFailure("responseHeadReceived answered \(other)")
            }
            guard writeResponseHeadToClient(headLength, base, p, upgrade: false) else {
                exchange.responseHeadNotRelayed()
                upstreamFailed(Errno(code: EMSGSIZE, call: "upstream response head too large"))
                return true
            }
            input.consume(headLength)
            responseHeadDone = true
            return true
        }
    }

    /// Writes the response head (received as `headLength` bytes) to `toClient`, taken when
    /// there is none, with room made for it. Taken only where a head is written to it: an
    /// HTTP/2 stream's answer goes to the stream, its body too (`deliverBodyToStream`), and
    /// needs no such buffer.
    private func writeResponseHeadToClient(_ headLength: Int, _ base: UnsafeRawPointer, _ p: HTTPResponseParser,
                                           upgrade: Bool) -> Bool {
        if toClient == nil { toClient = worker.buffers.take() }
        return toClientRef._withUnsafeGuaranteedRef { out in
            out.ensureWritable(headLength + 512)
            let before = out.readableCount
            guard writeResponseHead(out, base, p, upgrade: upgrade) else {
                // Appends cut at the buffer's end: take back the part written, so what the
                // client gets is whole heads only (then our 502, or the next head).
                out.truncate(toReadable: before)
                return false
            }
            return true
        }
    }

    /// The final response's status and framing: what of its body is still to come, and how
    /// it reaches the client (re-chunked for an HTTP/1.1 client; an HTTP/2 stream takes the
    /// body de-framed, and an HTTP/1.0 client sees its end as the connection's).
    func takeResponseFraming(_ p: HTTPResponseParser) {
        status = p.status
        responseUntilClose = false
        upstreamReset = false
        chunkToClient = false
        switch p.framing {
        case .none:
            responseBody = .done
            responseDone = true
        case .contentLength(let n):
            responseBody = n == 0 ? .done : .length(n)
            responseDone = n == 0
        case .chunked:
            responseChunks.reset()
            responseBody = .chunked
            chunkToClient = !isH2 && !clientIsHTTP10
        case .untilClose:
            responseBody = .done
            responseUntilClose = true
        }
    }

    /// Calls `body` with the sticky cookie's name when this answer issues one, else with
    /// an empty buffer (without touching an array: most answers issue none).
    @inline(__always)
    func withIssuedCookieName<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        guard decision.issueCookie, let handle else { return body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return handle.cookieNames[decision.route].withUnsafeBytes(body)
    }

    /// HTTP/2: the parsed head goes to the stream as a HEADERS frame (no HTTP/1.1 text), and
    /// the body follows de-framed into `toClient` (see `flushToClient`).
    func relayHeadToStream(_ p: HTTPResponseParser, _ base: UnsafeRawPointer, headLength: Int, input: IOBuffer) {
        // The stream borrowed: it is alive while it is bridged, and submitting a head closes
        // no stream (nghttp2 closes streams only in its own callbacks).
        withIssuedCookieName { name in
            Unmanaged.passUnretained(bridge.unsafelyUnwrapped)._withUnsafeGuaranteedRef {
                $0.submitHead(p, base: base, hasBody: !responseDone, cookie: name.isEmpty ? nil
                    : .init(name: name, value: decision.cookieValue, secure: isTLS))
            }
        }
        input.consume(headLength)
        responseHeadDone = true
    }

    /// Writes the response head for the client, with the sticky cookie when one is issued.
    func writeResponseHead(_ out: IOBuffer, _ base: UnsafeRawPointer, _ p: HTTPResponseParser, upgrade: Bool) -> Bool {
        return withIssuedCookieName { name in
            HeadWriter.writeResponseHead(out, base, p, .init(
                clientIsHTTP10: clientIsHTTP10, closeAfter: closeAfterResponse, chunkToClient: chunkToClient,
                upgrade: upgrade, cookieName: name, cookieValue: decision.cookieValue, secureCookie: isTLS))
        }
    }

    // MARK: the end of an exchange

    /// Ends the exchange normally: returns the upstream connection to its pool when it can
    /// carry another request, logs, and goes back to waiting for the next head.
    func finishExchange() {
        // Borrowed while it is judged, then moved out of `upstream` (`take()`) into the
        // pool's list or closed: an `if let` copy, captured by the closure that appends it,
        // cost an atomic retain and release a request (callgrind).
        if upstream != nil {
            Unmanaged.passUnretained(upstream.unsafelyUnwrapped)._withUnsafeGuaranteedRef { returnOrClose($0) }
        }
        endRequest()
        releaseBuffer(&toUpstream)
        releaseBuffer(&fromUpstream)
        // A client that half-closed after pipelining still gets every answer it asked for.
        if closeAfterResponse || (clientEOF && (fromClient?.isEmpty ?? true)) {
            phase = .closing
        } else {
            phase = .awaitingHead
            deadline = nextHeadDeadline
        }
    }

    /// `upstream` (the same object as `self.upstream`, borrowed) goes back to its pool when it
    /// can carry another request, or is closed; either way `self.upstream` is nil after, and
    /// `upstream` is not used again.
    private func returnOrClose(_ upstream: UpstreamConnection) {
        if status < 500 { upstream.pool.succeeded() }
        // Every request byte must have left, or the server would read the next request
        // as the rest of this body and answers would shift between users.
        // A TLS server's socket may have ended while its last records were still being
        // decrypted: ended all the same.
        // Nothing the server sent may be left unread either: bytes after an answer would
        // be read as the next one's. A TLS server's can also wait in the session, where
        // they stay when the answer filled `fromUpstream` to its last byte; no socket event
        // would announce them once the connection is idle.
        let reusable = !upstreamEOF && !upstreamSocketEOF && !upstreamHungUp && !upstreamWriteBroken
            && !answeredBeforeRequestSent && withScratch({ $0.response.keepAlive }) && requestBody.isDone
            && (toUpstream?.isEmpty ?? true) && !(upstream.tls?.hasPendingOutput ?? false)
            && (fromUpstream?.isEmpty ?? true) && !(upstream.tls?.hasUnreadInput ?? false)
            && !responseUntilClose && !worker.draining
            && upstream.pool.idle.count < worker.settings.maxIdlePerServer
            && upstream.tlsEpoch == upstream.pool.tlsEpoch
            // A system call only when the last read left bytes behind it (rare with answers
            // shorter than a buffer): a request waiting in this batch may take the
            // connection before the loop's next turn reads them.
            && (!upstreamReadMayBeOwed || Socket.nothingToRead(upstream.fd))
        if reusable {
            upstream.owner = nil
            upstream.hasServed = true
            upstream.idleSince = worker.nowMilliseconds
            let registration = upstream.registration
            worker.loopRef._withUnsafeGuaranteedRef { $0.setInterest(registration, Epoll.readable) }
            // The pool borrowed (the connection holds it), the connection moved in.
            Unmanaged.passUnretained(upstream.pool)._withUnsafeGuaranteedRef { $0.idle.append(self.upstream.take().unsafelyUnwrapped) }
        } else {
            upstream.close()
            self.upstream = nil
        }
    }

    /// Logs the request and unpins its table.
    func endRequest() {
        guard let pinned else { return }
        let lastPin = pinned._withUnsafeGuaranteedRef { endRequest($0) }
        self.handle = nil
        // A retired table whose last request this was is dropped here, outside the borrow.
        if lastPin { worker.tableReleased(pinned.takeUnretainedValue()) }
    }

    /// `endRequest` with the pinned table borrowed. True when this was its last request.
    private func endRequest(_ handle: TableHandle) -> Bool {
        // Ended while parked (its client left, its stream was reset): the hold's, like its
        // 503s, not the backend's error, and the wait is not the backend's latency.
        if parkedSince != 0 { observed.heldWrite = true }
        if parkedSince != 0 || releasedFromHold { leaveHold() }
        if mirrorPair != nil { mirrorPrimaryEnded() }
        // One time for the log line, the metrics and the backend's counters: the batch's.
        let end = worker.nowNanoseconds
        // The line first: it reads the observation that `observeEnd` resets.
        logRequest(handle, now: end)
        observeInventoryEnd(handle)
        let held = observed.heldWrite, parked = observed.parkedNanoseconds
        observeEnd(handle, now: end)
        worker.stats.requests += 1
        if isH2 { worker.stats.h2Requests += 1 }
        if status >= 500 { worker.stats.serverErrors += 1 }
        if inTunnel {
            inTunnel = false
            handle.counters[decision.backend].openTunnels -= 1
            worker.stats.openTunnels -= 1
        } else if decision.route >= 0 && !held {
            // Borrowed, not retained (an atomic pair every request): `counters` is a `let`
            // of the table, which the request has pinned. `status` as `/metrics` and the
            // guards: the hold's own answers are not the backend's, a released write's wait
            // in the hold is not its latency.
            let microseconds = (end &- startNanoseconds &- parked) / 1000
            let now = worker.nowMilliseconds
            Unmanaged.passUnretained(handle.counters[decision.backend])._withUnsafeGuaranteedRef {
                $0.record(status: status, microseconds: microseconds, nowMilliseconds: now)
            }
        }
        withScratch { $0.request.reset() }
        handle.activeRequests -= 1
        return handle.activeRequests == 0
    }
}
