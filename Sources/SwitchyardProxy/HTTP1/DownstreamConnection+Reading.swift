import Glibc
import SwitchyardHTTP
import SwitchyardRouting
import SwitchyardSystem
import SwitchyardTLS

/// Reading from both sockets: plain or TLS, one read per readiness event, and the PROXY
/// protocol header that may come first on the client socket.
extension DownstreamConnection {
    // MARK: reading

    /// One read per readiness event: level-triggered epoll reports the fd again if more is
    /// waiting, and a second read that would only return EAGAIN is a wasted system call.
    func readFromClient() {
        guard !clientEOF, !clientSocketEOF, phase != .closed else { return }
        if phase == .lingering {
            if !Lingering.discard(fd, scratch: worker.cipherScratch) { close() }
            return
        }
        if isTLS, let tls {
            readCiphertext(tls)
            return
        }
        prepareClientReadBuffer()
        // Borrowed, not retained (an atomic pair every read): see `fromClientRef`.
        fromClientRef._withUnsafeGuaranteedRef { receiveFromClient(into: $0) }
    }

    /// One plain read from the client socket into `buffer` (`fromClient`).
    private func receiveFromClient(into buffer: IOBuffer) {
        guard buffer.writableCount > 0 else { return }
        do {
            switch try fd.receive(into: buffer.writable) {
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

    /// Makes `fromClient` the buffer the next client read goes into. A connection waiting
    /// for a head starts with a small one (`BufferPool.takeSmall`); once the head fills it,
    /// its bytes move to a full buffer (`ensureFullClientBuffer`), as they do when a head
    /// with a body or an upgrade completes. A bodyless head is consumed from the small
    /// buffer where it lies (also when parked by a write hold), and a read in any later
    /// phase that finds a small buffer full moves it then.
    func prepareClientReadBuffer() {
        guard fromClient != nil else {
            fromClient = phase == .awaitingHead ? worker.buffers.takeSmall() : worker.buffers.take()
            return
        }
        let small = fromClientRef._withUnsafeGuaranteedRef { buffer -> Bool in
            buffer.ensureWritable(4096)
            return buffer.writableCount == 0 && buffer.capacity < worker.buffers.bufferSize
        }
        if small { ensureFullClientBuffer() }
    }

    /// The next client read has somewhere to go: no buffer yet, free space (or space a
    /// compaction frees), or a small buffer that moves to a full one when read into.
    var clientBufferHasRoom: Bool {
        guard let buffer = fromClient else { return true }
        return buffer.writableCount > 0 || buffer.readerIndex > 0 || buffer.capacity < worker.buffers.bufferSize
    }

    /// The next upstream read has somewhere to go: no buffer yet, free space, or space a
    /// compaction frees.
    var upstreamBufferHasRoom: Bool {
        (fromUpstream?.writableCount ?? 1) > 0 || (fromUpstream?.readerIndex ?? 0) > 0
    }

    /// Moves a small `fromClient`'s bytes into a full buffer (no-op for a full one).
    @discardableResult
    func ensureFullClientBuffer() -> IOBuffer {
        let current = fromClient.unsafelyUnwrapped
        guard current.capacity < worker.buffers.bufferSize else { return current }
        let full = worker.buffers.take()
        current.move(into: full)
        worker.buffers.give(current)
        fromClient = full
        return full
    }

    /// Bookkeeping for `n` new client bytes in `buffer` (plain or decrypted): the body-rate
    /// window, and the deadline — a head's first bytes start the head timeout, traffic in
    /// an exchange or tunnel pushes its idle timeout.
    func clientBytesReceived(_ n: Int, into buffer: IOBuffer) {
        rateWindowBytes += UInt64(n)
        if phase == .awaitingHead && buffer.readableCount == n {
            deadline = worker.nowMilliseconds + worker.settings.headerTimeoutMilliseconds
        } else if phase == .tunnel || (phase == .exchanging && !requestBody.isDone) {
            // In an exchange only the request's own body is progress: bytes after it are
            // the next (pipelined) request, and trickled in they kept a hung backend's 504
            // from ever firing.
            deadline = worker.nowMilliseconds + idleLimit
        }
    }

    /// TLS: one socket read into the session, then as much plaintext as fits.
    func readCiphertext(_ tls: TLSTransport) {
        do {
            switch try tls.readSocket(fd, scratch: worker.cipherScratch) {
            case .endOfStream: clientSocketEOF = true   // `clientEOF` once the session is empty
            case .fed, .filled, .wouldBlock, .full: break
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
    func pullPlaintext(_ tls: TLSTransport) -> Bool {
        guard phase != .closed, phase != .lingering else { return false }
        var progressed = false
        // Two typed `do`s, not one: decryption throws TLSError and the socket write Errno,
        // and a single block would box either into an `any Error` (a heap block and a
        // dynamic cast each time a client resets its connection).
        do throws(TLSError) {
            reading: while true {
                prepareClientReadBuffer()
                let buffer = fromClient.unsafelyUnwrapped
                guard buffer.writableCount > 0 else { break }
                switch try tls.decrypt(into: buffer.writable) {
                case .bytes(let n):
                    buffer.commit(n)
                    clientBytesReceived(n, into: buffer)
                    progressed = true
                case .needMore:
                    // After the socket's end, a record still incomplete never will be.
                    if clientSocketEOF { clientEOF = true }
                    break reading
                case .closed:
                    clientEOF = true
                    break reading
                }
            }
        } catch {
            // A failed handshake (not TLS, no common cipher…) or a broken record: send
            // the alert if any, then close. Nothing to log per client beyond a counter.
            worker.stats.tlsFailures += 1
            _ = try? tls.flush(fd)
            if phase == .awaitingHead || phase == .closing { close() } else { abort(reason: "TLS: \(error)") }
            return true
        }
        do throws(Errno) {
            if !clientShutDown, try !tls.flush(fd) { clientWriteBlocked = true }
        } catch {
            clientEOF = true
            close()
            return true
        }
        if !handshakeNoted, tls.session.isHandshakeComplete {
            handshakeNoted = true
            tlsVersion = TLSVersionName.of(tls.session)
            worker.stats.noteHandshake(tlsVersion)
            if tls.session.negotiatedALPN == "h2" {
                handOverToHTTP2()
                return true
            }
        }
        return progressed
    }

    /// One read from the upstream socket: plain into `fromUpstream`, or through the TLS session.
    /// A plain upstream socket is edge-triggered (`EventLoop.register`): a read that fills
    /// what it asked for may have left bytes queued, which no new event would announce, so
    /// it asks the loop for another turn (`readAgain`), as it does when the event said the
    /// server's end has arrived (`peerEnded`) and the read that takes it is still to come.
    func readFromUpstream(peerEnded: Bool = false) {
        guard upstream != nil, !upstreamEOF else { return }
        if withUpstream({ $0.tls != nil }) {
            readFromTLSUpstream()
            return
        }
        if isH2, receiveIntoStream(peerEnded: peerEnded) { return }
        if fromUpstream == nil { fromUpstream = worker.buffers.take() }
        // Connection and buffer borrowed, not retained (two pairs every answer): `upstream`
        // and `fromUpstream` hold them, and a plain read replaces neither.
        let (fd, registration) = withUpstream { ($0.fd, $0.registration) }
        var filled = Unmanaged.passUnretained(fromUpstream.unsafelyUnwrapped)._withUnsafeGuaranteedRef { receive(from: fd, into: $0) }
        if peerEnded && !filled && !upstreamEOF {
            // The end arrived before this report and a short read took every byte before
            // it: take the end now, so a connection whose server closed right after its
            // answer is not put back in the pool for the next request to find dead.
            filled = Unmanaged.passUnretained(fromUpstream.unsafelyUnwrapped)._withUnsafeGuaranteedRef { receive(from: fd, into: $0) }
        }
        if filled || (peerEnded && !upstreamEOF) {
            worker.loopRef._withUnsafeGuaranteedRef { $0.readAgain(registration) }
        }
    }

    /// A TLS upstream's socket read and decryption (strong references here: a failed
    /// handshake ends the exchange, and with it `upstream`, mid-call). The socket's end is
    /// not yet the answer's: records read before it may still wait for room to be decrypted.
    private func readFromTLSUpstream() {
        guard let upstream, let tls = upstream.tls else { return }
        if !upstreamSocketEOF {
            do {
                let read = try tls.readSocket(upstream.fd, scratch: worker.cipherScratch)
                if read == .endOfStream { upstreamSocketEOF = true }
                // Level-triggered, so the loop comes back for the rest; but not before a
                // pipelined request could take the pooled connection (`returnOrClose`).
                upstreamReadMayBeOwed = read == .filled || read == .full
            } catch {
                // A reset is not a clean end: an until-close body must not look complete.
                // What the session already holds was sent before it: decrypted all the same
                // (an answer with a length may still complete).
                upstreamSocketEOF = true
                upstreamReset = true
            }
        }
        pullUpstreamPlaintext(upstream, tls)
    }

    /// One plain read from the upstream socket into `buffer` (`fromUpstream`). True when it
    /// filled all the room it had: more may be queued. With no room it reads nothing, and
    /// what the last read said about the socket stands.
    private func receive(from fd: FileDescriptor, into buffer: IOBuffer) -> Bool {
        buffer.ensureWritable(4096)
        let room = buffer.writableCount
        guard room > 0 else { return false }
        let n = receiveFromUpstream(fd, into: buffer.writable)
        buffer.commit(n)
        upstreamReadMayBeOwed = n == room
        return n == room
    }

    /// One plain read from the upstream socket into `window` (`fromUpstream`'s room, or an
    /// HTTP/2 stream's: `receiveIntoStream`). Returns the bytes read, 0 when none came; the
    /// server's end and a reset are noted, and bytes put off the idle deadline.
    @inline(__always)
    func receiveFromUpstream(_ fd: FileDescriptor, into window: UnsafeMutableRawBufferPointer) -> Int {
        do {
            switch try fd.receive(into: window) {
            case .processed(0):
                upstreamEOF = true
            case .processed(let n):
                deadline = worker.nowMilliseconds + idleLimit
                return n
            case .wouldBlock:
                break
            }
        } catch {
            // A reset is not a clean end: an until-close body must not look complete.
            upstreamEOF = true
            upstreamReset = true
        }
        return 0
    }

    /// A TLS upstream's records that waited in the session for room in `fromUpstream`, taken
    /// out once there is room: with the session full its read interest is off, so no socket
    /// event would bring them (the exchange and the tunnel pumps both call this).
    @inline(__always)
    func pullWaitingUpstreamRecords() -> Bool {
        if upstreamHungUp { return readHungUpUpstream() }
        guard let upstream, let tls = upstream.tls, !upstream.connecting, !upstreamEOF,
              (fromUpstream?.writableCount ?? 1) > 0 else { return false }
        return pullUpstreamPlaintext(upstream, tls)
    }

    /// An upstream muted after hanging up with no room to read its end (see
    /// `upstreamHungUp`): read as room comes, until its end or its error. True on progress.
    func readHungUpUpstream() -> Bool {
        guard upstream != nil, !upstreamEOF, !withUpstream({ $0.connecting }), upstreamBufferHasRoom else { return false }
        let before = fromUpstream?.readableCount ?? 0
        readFromUpstream()
        return upstream == nil || upstreamEOF || (fromUpstream?.readableCount ?? 0) != before
    }

    /// TLS upstream: decrypts what the session holds into `fromUpstream` and sends what the
    /// handshake produced. A failed handshake (verification!) fails the exchange: 502.
    @discardableResult
    func pullUpstreamPlaintext(_ upstream: UpstreamConnection, _ tls: TLSTransport) -> Bool {
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
                    deadline = worker.nowMilliseconds + idleLimit
                    if !upstream.sessionSaved { saveSession(upstream, tls) }
                case .needMore:
                    // Everything the session held is out; after the socket's end no more comes.
                    if upstreamSocketEOF { upstreamEOF = true }
                    break reading
                case .closed:
                    upstreamEOF = true
                }
            }
        } catch {
            upstreamFailed(error)
            return true
        }
        if upstreamHandshakePending && tls.session.isHandshakeComplete {
            // Connected now: the server has the response timeout from here.
            upstreamHandshakePending = false
            deadline = worker.nowMilliseconds + worker.settings.upstreamTimeoutMilliseconds
        }
        // Nothing more reaches a server whose write side broke; its answer is still read.
        guard !upstreamWriteBroken else { return progressed }
        do throws(Errno) {
            if try !tls.flush(upstream.fd) { upstreamWriteBlocked = true }
        } catch {
            // The server reset after answering early: what it answered is decrypted above
            // and relayed (see `upstreamWriteFailed`); the exchange fails only if its end
            // comes before a whole answer. Before the handshake's end: a failed handshake.
            guard tls.session.isHandshakeComplete, error.code == EPIPE || error.code == ECONNRESET else {
                upstreamFailed(error)
                return true
            }
            markUpstreamWriteBroken()
        }
        return progressed
    }

    /// The server's first answer bytes: its session works, and with TLS 1.3 its tickets came
    /// before them. Later connections to it offer the session (once per connection; only
    /// TLS upstreams get here, so plain ones pay nothing).
    private func saveSession(_ upstream: UpstreamConnection, _ tls: TLSTransport) {
        upstream.sessionSaved = true
        if let session = tls.session.resumableSession { upstream.pool.resumable = session }
    }

    var idleLimit: UInt64 {
        phase == .tunnel ? worker.settings.tunnelIdleTimeoutMilliseconds : worker.settings.upstreamTimeoutMilliseconds
    }

    // MARK: PROXY protocol

    /// Reads the PROXY header without reading a byte past it: it peeks, and consumes only
    /// bytes the parser says belong to the header.
    func readProxyHeader() {
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
            worker.clientErrorLog("PROXY protocol from \(client.ip.string): \(reason); closing")
            close()
            return
        }
        // Consume exactly the header's bytes (they are in the socket: we just peeked them).
        let consumed = (try? fd.receive(into: UnsafeMutableRawBufferPointer(rebasing: scratch[0..<take]))) ?? .processed(0)
        guard case .processed(take) = consumed else {
            close()
            return
        }
        if case .complete(_, let source) = verdict {
            proxyHeader = nil
            if let source {
                client = client.behindBalancer(source, trusted: worker.trustForwarded(listener: client.listener))
            } else {
                client = client.withoutForwarderTrust()
            }
            if tls == nil { deadline = worker.nowMilliseconds + worker.settings.keepAliveTimeoutMilliseconds }
            return
        }
        held.removeLast(held.count - already - take)
        proxyHeader = held
    }
}
