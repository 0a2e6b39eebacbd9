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

    func startExchange(base: UnsafeRawPointer, headLength: Int) {
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
        observeRouted()
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
    func validateHeldBody() -> Bool {
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

    func rememberForLog(_ base: UnsafeRawPointer) {
        let m = requestParser.methodSpan
        logMethodCount = min(m.count, 16)
        logLine.copyMemory(from: base + m.start, byteCount: logMethodCount)
        let path = requestParser.pathSpan
        logPathCount = min(path.count, Self.logLineCapacity - 16)
        (logLine + 16).copyMemory(from: base + path.start, byteCount: logPathCount)
    }
}
