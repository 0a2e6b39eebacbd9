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
    func pumpRequestBody() -> Bool {
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

    /// Parses the response head and moves response body bytes to `toClient`.
    func pumpResponse() -> Bool {
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

    func parseResponseHead(_ input: IOBuffer) -> Bool {
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
            observeResponseHead()
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
    func writeResponseHead(_ out: IOBuffer, _ base: UnsafeRawPointer, upgrade: Bool) -> Bool {
        let cookieName = decision.issueCookie ? (handle?.cookieNames[decision.route] ?? []) : []
        return cookieName.withUnsafeBytes { name in
            HeadWriter.writeResponseHead(out, base, responseParser, .init(
                clientIsHTTP10: clientIsHTTP10, closeAfter: closeAfterResponse, chunkToClient: chunkToClient,
                upgrade: upgrade, cookieName: name, cookieValue: decision.cookieValue, secureCookie: isTLS))
        }
    }

    // MARK: the end of an exchange

    /// Ends the exchange normally: returns the upstream connection to its pool when it can
    /// carry another request, logs, and goes back to waiting for the next head.
    func finishExchange() {
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
    func logRefusal(status: Int, reason: String) {
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

    static let dash: [UInt8] = [UInt8(ascii: "-")]

    /// Logs the request and unpins its table.
    func endRequest() {
        guard let handle else { return }
        observeEnd(handle)
        if let log = worker.accessLog {
            // A request that matched no route (404, CONNECT's 501) has no route or backend:
            // never the previous request's.
            let routed = decision.route >= 0
            let route = routed ? handle.routeNames[decision.route] : Self.dash
            let backend = routed ? handle.backendNames[decision.backend] : Self.dash
            let serverLabel = lastServerLabel
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
}
