import Glibc
import SwitchyardHTTP
import SwitchyardRouting
import SwitchyardSystem
import SwitchyardTLS

/// The hand-over to HTTP/2 and the bridge an `H2Stream` drives this connection through.
extension DownstreamConnection {
    // MARK: HTTP/2

    /// The socket speaks HTTP/2 (ALPN "h2", or the h2c preface): an `H2Connection` takes
    /// it over with the bytes already read; this object leaves the worker's list.
    func handOverToHTTP2() {
        if fromClient != nil { ensureFullClientBuffer() }
        let input = fromClient
        fromClient = nil
        phase = .closed
        worker.loop.deregister(registration)
        releaseBuffer(&toClient)
        releaseScratch()
        worker.connectionClosed(self)
        worker.startHTTP2(fd: fd, client: client, tls: tls, tlsVersion: tlsVersion, initial: input)
    }

    /// The stream's decoded head, loaded into `scratch`'s request parser with `verdict`
    /// (its spans point into `head`): starts the exchange with no second parse. A refused
    /// head is answered with its status and logged like a refused HTTP/1.1 head.
    func startDecoded(scratch: consuming ExchangeScratch, head: UnsafeRawBufferPointer, size: Int,
                      verdict: HeadParseResult, endStream: Bool) {
        self.scratch = consume scratch   // moved in: without `consume`, copied and released
        if endStream { clientEOF = true }
        switch verdict {
        case .complete:
            startExchange(base: head.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, headLength: 0, headBytes: size)
        case .error(let error):
            worker.stats.badRequests += 1
            respondAndClose(status: error.status)
            logRefusal(status: error.status, reason: error.reason)
        case .needMore:
            preconditionFailure("a decoded head is complete or refused")
        }
        advance()
    }

    /// Binds a closed stream driver to the next stream of the same HTTP/2 connection: what
    /// the last stream left is reset, as between two requests of a keep-alive connection
    /// (the per-exchange state is set when the head is routed). Saves an object per stream.
    func rebind(to stream: H2Stream) {
        // `bridge` still names the last stream, which may be freed: it is only written here.
        precondition(phase == .closed, "only a closed stream driver is reused")
        bridge = stream
        phase = .awaitingHead
        exchange = Exchange()
        clientEOF = false
        clientWriteBlocked = false
        clientShutDown = false
        aborted = false
        closeAfterResponse = false
        inTunnel = false
        tunnelShutUpstream = false
        tunnelShutClient = false
        status = 0
        deadline = worker.nowMilliseconds + worker.settings.keepAliveTimeoutMilliseconds
    }

    /// The exchange can still use request bytes (after an early answer it cannot: the
    /// stream then discards what the client sends).
    var acceptsRequestBytes: Bool {
        phase == .awaitingHead || phase == .connecting || phase == .holdingBody || phase == .parked || phase == .exchanging
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

    /// A response body of known length goes from `fromUpstream` straight into the stream's
    /// DATA buffer: no `toClient` buffer taken, filled and copied out again (a 64 KiB buffer
    /// and a copy a request less, with a hundred streams in flight on each connection).
    /// What the stream cannot take yet stays in `fromUpstream` until `bridgeResume`.
    /// When every byte `fromUpstream` holds is body and the stream has nothing staged, the
    /// buffer itself becomes the stream's staged body (`H2Stream.adoptBody`) and the next
    /// read takes a fresh one: the body bytes that came with the head are not copied. With
    /// bytes after the answer's last (a server that broke its framing) they are copied, and
    /// what follows stays behind, keeping the connection from its pool.
    /// `input` is `fromUpstream`, borrowed by the caller.
    func deliverBodyToStream(_ input: IOBuffer, remaining: UInt64) -> Bool {
        guard !clientWriteBlocked, phase != .closed else { return false }
        let n = min(Int(clamping: remaining), input.readableCount)
        guard n > 0 else { return false }
        let last = remaining == UInt64(n)
        // The stream borrowed: it is alive while it is bridged, and neither call closes it.
        let stream = Unmanaged.passUnretained(bridge.unsafelyUnwrapped)
        if n == input.readableCount, stream._withUnsafeGuaranteedRef({ $0.canAdoptBody }) {
            assert(fromUpstream === input, "the body is delivered from fromUpstream")
            // Moved, not copied: the stream's reference is the one `fromUpstream` held.
            stream._withUnsafeGuaranteedRef { $0.adoptBody(fromUpstream.take().unsafelyUnwrapped, complete: last) }
            bodyWentToStream(n, of: remaining)
            return true
        }
        let bytes = UnsafeRawBufferPointer(start: input.readable.baseAddress, count: n)
        let (used, blocked) = stream._withUnsafeGuaranteedRef { $0.deliverBody(bytes, complete: last) }
        input.consume(used)
        if blocked { clientWriteBlocked = true }
        bodyWentToStream(used, of: remaining)
        return used > 0
    }

    /// `count` bytes of the `remaining` body went to the stream: counted, and the answer
    /// done when they were its last.
    @inline(__always)
    private func bodyWentToStream(_ count: Int, of remaining: UInt64) {
        bytesOut += UInt64(count)
        bodyRelayed(count, of: remaining)
    }

    /// One read from a plain upstream socket straight into the stream's staged body, for a
    /// body of known length: no pass through `fromUpstream` and no copy out of it (one copy
    /// of every byte less on a large answer). Only while `fromUpstream` holds nothing (bytes
    /// there go first, by `deliverBodyToStream`), and never past the answer's last byte:
    /// what a server sends after it must not reach the client. False when the caller is to
    /// read into `fromUpstream` as usual: this read is not for the stream, or it took the
    /// answer's last byte (the usual read then finds whatever follows, which keeps the
    /// connection from its pool, and takes a pending end now).
    func receiveIntoStream(peerEnded: Bool) -> Bool {
        guard responseHeadDone, phase == .exchanging, !clientWriteBlocked, !upstreamHungUp, mirrorPair == nil,
              case .length(let remaining) = responseBody,
              fromUpstream?.isEmpty ?? true, toClient?.isEmpty ?? true else { return false }
        // The stream borrowed: it is alive while it is bridged, and neither call closes it.
        let stream = Unmanaged.passUnretained(bridge.unsafelyUnwrapped)
        let window: UnsafeMutableRawBufferPointer
        switch stream._withUnsafeGuaranteedRef({ $0.bodyReceiveWindow(max: Int(clamping: remaining)) }) {
        case .room(let room):
            window = room
        case .full:
            // The bytes stay in the socket — back-pressure on the server, as a full
            // `fromUpstream` is — until frames leave and `bridgeResume` asks again. Read
            // into `fromUpstream` now, they would only be copied into the stream later.
            upstreamReadParked = true
            return true
        case .complete:
            return false
        }
        let (fd, registration) = withUpstream { ($0.fd, $0.registration) }
        let n = receiveFromUpstream(fd, into: window)
        // A window cut to the answer's end leaves what follows it in the socket, too.
        upstreamReadMayBeOwed = n == window.count
        if n > 0 {
            let last = UInt64(n) == remaining
            stream._withUnsafeGuaranteedRef { $0.bodyReceived(n, complete: last) }
            bodyWentToStream(n, of: remaining)
            if last { return false }
        }
        // Edge-triggered: a full window may have left bytes queued (see `readFromUpstream`).
        if n == window.count || (peerEnded && !upstreamEOF) {
            worker.loopRef._withUnsafeGuaranteedRef { $0.readAgain(registration) }
        }
        return true
    }

    /// The stream can take more of the answer again.
    func bridgeResume() {
        clientWriteBlocked = false
        if upstreamReadParked {
            // Edge-triggered: the bytes left in the socket will bring no event of their own.
            upstreamReadParked = false
            if let registration = upstream.map({ $0.registration }) {
                worker.loopRef._withUnsafeGuaranteedRef { $0.readAgain(registration) }
            }
        }
        advance()
    }

    /// The client reset the stream or the HTTP/2 connection ended.
    func bridgeCancel() {
        guard phase != .closed else { return }
        abort(reason: "HTTP/2 stream closed by the client")
    }

    func releaseScratch() {
        if let taken = scratch.take() { worker.giveScratch(taken) }
    }

    @inline(__always)
    func releaseBuffer(_ buffer: inout IOBuffer?) {
        // `take()` moves the reference out: no retain and release around the hand-back.
        guard buffer != nil else { return }
        worker.buffersRef._withUnsafeGuaranteedRef { $0.give(buffer.take().unsafelyUnwrapped) }
    }
}
