import Glibc
import SwitchyardHTTP
import SwitchyardRouting
import SwitchyardSystem
import SwitchyardTLS

/// The request head: parsed, routed, rewritten for the upstream; a chunked body held and
/// validated before anything is sent.
extension DownstreamConnection {
    // MARK: request head

    func parseHead() -> Bool {
        guard fromClient != nil, !fromClient.unsafelyUnwrapped.isEmpty else {
            if clientEOF { phase = .closing }   // flushes what is queued, then closes
            return clientEOF
        }
        // Borrowed, not retained (an atomic pair every request): see `fromClientRef`.
        return fromClientRef._withUnsafeGuaranteedRef { parseHead(in: $0) }
    }

    private func parseHead(in buffer: IOBuffer) -> Bool {
        buffer.compact()   // the parser works on offsets from the message's first byte
        let bytes = buffer.readable
        if h2cAllowed && servedRequests == 0, let prefix = H2Preface.match(bytes) {
            // HTTP/2 with prior knowledge: this socket speaks HTTP/2 from its first byte.
            if prefix == .complete { handOverToHTTP2() ; return true }
            if clientEOF { phase = .closing ; return true }
            return false
        }
        if scratch == nil { scratch = worker.takeScratch() }
        switch withScratch({ $0.request.parse(bytes) }) {
        case .needMore:
            if clientEOF {
                fromClient?.clear()
                phase = .closing
                return true
            }
            // A head that is still arriving keeps only its bytes, not the parsers: the
            // scratch goes back to the pool and the next read parses the head again from
            // its first byte (it is all still in `fromClient`). A head that comes in one
            // read never gets here; one trickled a line a second (slowloris) costs its
            // buffer page instead of a parser set each, and is re-read at most ~8 KiB.
            releaseScratch()
            return false
        case .error(let error):
            worker.stats.badRequests += 1
            respondAndClose(status: error.status)
            logRefusal(status: error.status, reason: error.reason)
            return true
        case .complete(let headLength):
            // Body bytes and a tunnel's bytes follow their head into a full buffer (a small
            // one's bytes move now; a full one stays as it is). A head with neither — most
            // requests — keeps the small buffer it came in: the head is consumed at once (or
            // kept while parked, and found again through `fromClient`), and a pipelined
            // request that fills it moves to a full buffer then (`prepareClientReadBuffer`).
            // It saves a full buffer's take, the copy and three reference-count pairs.
            let bodyless = withScratch { s -> Bool in
                guard case .none = s.request.framing else { return false }
                return !s.request.upgrade
            }
            if !bodyless { ensureFullClientBuffer() }
            startExchange(base: fromClientRef._withUnsafeGuaranteedRef { $0.readable.baseAddress! }, headLength: headLength)
            return true
        }
    }

    /// `headLength`: the head's bytes at the start of `fromClient` (0 for an HTTP/2 head,
    /// which lives in the stream's buffer); `headBytes`: its size for the access log.
    func startExchange(base: UnsafeRawPointer, headLength: Int, headBytes: Int? = nil) {
        // The parser borrowed from the scratch, not retained (a `let` of a borrowed object;
        // the scratch, like a buffer, is never freed while an event is handled).
        withScratch { startExchange(base: base, headLength: headLength, headBytes: headBytes, $0.request) }
    }

    private func startExchange(base: UnsafeRawPointer, headLength: Int, headBytes: Int?, _ p: HTTPRequestParser) {
        startNanoseconds = worker.nowNanoseconds
        servedRequests += 1
        method = p.method
        clientIsHTTP10 = p.version == .http10
        requestKeepAlive = p.keepAlive
        requestIsUpgrade = p.upgrade
        bytesIn = UInt64(headBytes ?? headLength)
        bytesOut = 0
        status = 0
        rememberForLog(base)
        assignRequestID(base)
        closeAfterResponse = !requestKeepAlive || worker.draining
        // The worker's current table, pinned and borrowed without a retain: the worker holds
        // it, and it stays current for this call (a new one is installed between events).
        let current = worker.currentRef
        pinned = current
        current._withUnsafeGuaranteedRef { startExchange(base: base, headLength: headLength, headBytes: headBytes, p, $0) }
    }

    /// `startExchange` with the table pinned: routes the head, writes it for the upstream,
    /// passes the decision point and carries out the exchange's first action.
    private func startExchange(base: UnsafeRawPointer, headLength: Int, headBytes: Int?, _ p: HTTPRequestParser, _ handle: TableHandle) {
        handle.activeRequests += 1
        lastServer = nil
        decision = Self.unrouted
        switch p.framing {
        case .contentLength(let n): requestBody = n == 0 ? .done : .length(n)
        case .chunked: requestBody = !isH2 ? .chunked : .streamChunked
        case .none, .untilClose: requestBody = .done
        }
        let request = Exchange.Request(
            method: method, body: requestBody.exchangeBody, expectContinue: p.expectContinue,
            upgrade: requestIsUpgrade, clientIsHTTP10: clientIsHTTP10, keepAlive: requestKeepAlive, http2: isH2)
        var action = exchange.headRouted(request, route(base, p, handle), draining: worker.draining)
        if case .consultDecisionPoint = action {
            bodyLimit = exchange.bodyLimit
            chunkedBodyBytes = 0
            if case .chunked = requestBody { requestChunks.reset() }
            if writeUpstreamHead(base, p, handle) {
                let verdict = passDecisionPoint(base, headLength: headLength, handle)
                // Counted when it goes on: a parked request is counted at its release (it
                // starts again from its head), a refused one never reached a backend.
                if verdict == .forward { observeInventory(base, p, handle) }
                action = exchange.decisionPointPassed(verdict)
            } else {
                action = exchange.headRewriteFailed()
            }
        }
        // The head is consumed whatever the outcome (the next head starts after it), except
        // by a parked exchange: it is routed again from these bytes when released.
        if case .park = action {
            parkedHeadLength = headLength
            parkedHeadBytes = headBytes ?? headLength
        } else if headLength > 0 {
            fromClient!.consume(headLength)
        }
        if case .connect = action, !requestBody.isDone {
            startRateWindow()
            awaitingContinue = p.expectContinue
        }
        perform(action)
    }

    /// Routes the head; sets `decision` when a route matched.
    func route(_ base: UnsafeRawPointer, _ p: HTTPRequestParser, _ handle: TableHandle) -> Exchange.Routing {
        if method == .connect { return .connectMethod }
        let view = RequestView(base: base, parser: p, clientAddress: client.address,
                               path: withScratch { $0.routingPath(base: base) }, listener: client.listener)
        guard let decision = handle.table.route(view, random: worker.nextRandom()) else { return .noRoute }
        self.decision = decision
        observeRouted(handle)
        let admission = handle.table.admission(of: decision.route)
        // A route with its own certificate answers only where that certificate was presented:
        // a client that checked another name's certificate is misdirected (421).
        if isTLS, admission.ownCertificate,
           !handle.table.certificateCovers(routeIndex: decision.route, serverName: tlsServerName) {
            return .misdirected
        }
        return .routed(backend: decision.backend, maxBody: admission.maxBodyBytes)
    }

    /// The exchange's decision point (see `Exchange.decisionPointPassed` for what a hook
    /// there may and may not do). The write hold is plugged in here (`+Hold`), then the
    /// mirror's fork (`Mirror/`); a route with neither costs one load, two nil checks and
    /// the check that no route's queue drains (`DrainGate`).
    @inline(__always)
    func passDecisionPoint(_ base: UnsafeRawPointer, headLength: Int, _ handle: TableHandle) -> Exchange.Verdict {
        // The pinned handle comes in as an argument: read from the `unowned(unsafe)`
        // property it would be retained and released. The route borrowed, not retained (an
        // atomic pair every request): the pinned table holds it.
        Unmanaged.passUnretained(handle.table.routes[decision.route])._withUnsafeGuaranteedRef { route in
            if let hold = route.hold {
                let verdict = holdVerdict(hold, base)
                if verdict != .forward { return verdict }
            } else if !handle.drainGates.isEmpty {
                // A hold just ended: a write may wait behind the ones it parked.
                let verdict = joinVerdict(handle, base)
                if verdict != .forward { return verdict }
            }
            if let mirror = route.mirror { forkMirror(mirror, base, headLength: headLength) }
            return .forward
        }
    }

    /// Writes the head for the upstream into a fresh `toUpstream`; false when it does not fit.
    func writeUpstreamHead(_ base: UnsafeRawPointer, _ p: HTTPRequestParser, _ handle: TableHandle) -> Bool {
        // Every exchange gives `toUpstream` back at its end; should one still be here, it goes
        // to the pool too, never freed outright (`BufferPool`'s lifetime rule).
        releaseBuffer(&toUpstream)
        toUpstream = worker.buffers.take()
        // Borrowed from `toUpstream`, which holds it throughout (a local copy was a retain and
        // a release a request).
        let out = Unmanaged.passUnretained(toUpstream.unsafelyUnwrapped)
        let requestID = self.requestID
        func write(fallbackHost: UnsafeRawBufferPointer) -> Bool {
            client.ip.withUnsafeBytes { ip in
                client.forwardedFor.withUnsafeBytes { fwd in
                    handle.generationHeader.withUnsafeBytes { gen in
                        out._withUnsafeGuaranteedRef { out in HeadWriter.writeRequestHead(out, base, p, .init(
                            clientIP: ip, forwardedFor: fwd, scheme: isTLS ? "https" : "http",
                            generationHeader: gen, generation: handle.table.generation,
                            trustedPeer: client.trustedForwarder, requestID: requestID, fallbackHost: fallbackHost)) }
                    }
                }
            }
        }
        // Only a request that names no host (HTTP/1.0) pays for a system call and a string.
        let written = p.requestedHostSpan == nil ? Array(localAuthority().utf8).withUnsafeBytes { write(fallbackHost: $0) }
            : write(fallbackHost: UnsafeRawBufferPointer(start: nil, count: 0))
        guard written else { return false }
        replayLength = requestBody.isDone ? out._withUnsafeGuaranteedRef { $0.readableCount } : 0
        withScratch { $0.response.reset() }
        responseHeadDone = false
        responseDone = false
        upstreamEOF = false
        upstreamSocketEOF = false
        return true
    }

    /// The address the client connected to, as a Host value (`192.0.2.1:80`, `[2001:db8::1]:443`;
    /// `localhost` for a Unix socket or when the kernel cannot say).
    private func localAuthority() -> String {
        let socket = isH2 ? bridge.unsafelyUnwrapped.connection.fd : fd
        guard let address = try? Socket.localAddress(socket), address.family == AF_INET || address.family == AF_INET6 else {
            return "localhost"
        }
        return address.description
    }

    /// Validates the held chunked body as it arrives; see `Phase.holdingBody`.
    func validateHeldBody() -> Bool {
        guard let input = fromClient else {
            if clientEOF { perform(exchange.clientGone()) ; return true }
            return false
        }
        while validatedOffset < input.readableCount {
            let rest = UnsafeRawBufferPointer(rebasing: input.readable[validatedOffset...])
            let step: ChunkedStep
            do {
                step = try bodyValidator.decode(rest, maxData: Int(Int32.max))
            } catch {
                worker.stats.badRequests += 1
                perform(exchange.requestBodyRefused(status: error.status))
                return true
            }
            validatedOffset += step.consumed
            chunkedBodyBytes += UInt64(step.data.count)
            if chunkedBodyBytes > bodyLimit {
                perform(exchange.requestBodyRefused(status: 413))
                return true
            }
            if step.finished {
                chunkedBodyBytes = 0   // counted again while forwarding
                perform(exchange.heldBodyValidated())
                return true
            }
            if step.consumed == 0 { break }
        }
        if clientEOF {
            perform(exchange.clientGone())
            return true
        }
        // Larger than a buffer can hold: stream it; bad framing later cuts the upstream
        // connection before the last chunk, so the backend never sees a complete request.
        if input.readableCount + 4096 > input.capacity {
            chunkedBodyBytes = 0   // counted again while streaming
            perform(exchange.heldBodyValidated())
            return true
        }
        return false
    }

    func rememberForLog(_ base: UnsafeRawPointer) {
        let (m, path, line) = withScratch { ($0.request.methodSpan, $0.request.pathSpan, $0.logLine) }
        logMethodCount = min(m.count, 16)
        line.copyMemory(from: base + m.start, byteCount: logMethodCount)
        logPathCount = min(path.count, Self.logLineCapacity - 16)
        (line + 16).copyMemory(from: base + path.start, byteCount: logPathCount)
    }
}
