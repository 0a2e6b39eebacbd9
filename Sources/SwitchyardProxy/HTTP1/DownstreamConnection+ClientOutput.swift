import Glibc
import SwitchyardHTTP
import SwitchyardRouting
import SwitchyardSystem
import SwitchyardTLS

/// Writing to the client (plain, TLS, or an HTTP/2 stream), our own error answers, and closing.
extension DownstreamConnection {
    // MARK: writing to the client

    func flushToClient() -> Bool {
        // The flags first: binding a nil optional still calls into the runtime.
        if isTLS, let tls { return flushEncrypted(tls) }
        // `toClient` (and `bridge`'s stream) stay put through this call: they are used
        // through guaranteed references, not retained copies (atomic pairs every response).
        // Neither `deliverBody` nor `send` runs the exchange again (the stream only asks for
        // a flush later), so nothing here can give the buffer back before its last use; the
        // error path's `abort` comes after it.
        guard phase != .closed, toClient != nil, !clientWriteBlocked else { return false }
        let out = Unmanaged.passUnretained(toClient.unsafelyUnwrapped)
        let bytes = out._withUnsafeGuaranteedRef { $0.readable }
        guard !bytes.isEmpty else { return false }
        if isH2 {
            let (n, blocked) = Unmanaged.passUnretained(bridge.unsafelyUnwrapped)._withUnsafeGuaranteedRef {
                $0.deliverBody(bytes, complete: responseDone)
            }
            out._withUnsafeGuaranteedRef { $0.consume(n) }
            bytesOut += UInt64(n)
            if blocked { clientWriteBlocked = true }
            return n > 0
        }
        guard !clientShutDown else { return false }
        do {
            switch try fd.send(bytes) {
            case .processed(let n):
                out._withUnsafeGuaranteedRef { $0.consume(n) }
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
    func flushEncrypted(_ tls: TLSTransport) -> Bool {
        guard phase != .closed, !clientWriteBlocked, !clientShutDown else { return false }
        var progressed = false
        do {
            guard try tls.flush(fd) else {
                clientWriteBlocked = true
                return false
            }
            while let out = toClient, !out.isEmpty {
                let n = try tls.encrypt(out.readable, sendingTo: fd)
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
    var clientOutputDrained: Bool {
        (toClient?.isEmpty ?? true) && !(tls?.hasPendingOutput ?? false)
    }

    // MARK: errors and closing

    /// The deadline for the next head once an exchange ended: the idle keep-alive timeout,
    /// or the header timeout when bytes of a next head are already here (pipelined, or
    /// trickled in behind the request).
    var nextHeadDeadline: UInt64 {
        worker.nowMilliseconds + ((fromClient?.isEmpty ?? true)
            ? worker.settings.keepAliveTimeoutMilliseconds : worker.settings.headerTimeoutMilliseconds)
    }

    /// Answers with an error of our own before any response byte was sent, and ends the
    /// exchange. `close`: the stream cannot continue (framing in doubt, unread body).
    func finishWithError(_ status: Int, close: Bool) {
        self.status = status
        // The request's method is known here (a malformed head never gets this far).
        queueOwnAnswer(status, close: close || closeAfterResponse || worker.draining, headOnly: method == .head)
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
            deadline = nextHeadDeadline
        }
    }

    /// A malformed head: answer and close (framing is in doubt, nothing is forwarded).
    func respondAndClose(status: Int) {
        self.status = status
        queueOwnAnswer(status, close: true)
        fromClient?.clear()
        phase = .closing
    }

    /// Our own answer: HTTP/1.1 text into `toClient`, or a stream's HEADERS and DATA.
    /// `headOnly`: the answer to a HEAD request, which has no body (RFC 9110 §9.3.2): its
    /// bytes would be read as the start of the next answer on a kept connection.
    func queueOwnAnswer(_ status: Int, close: Bool, headOnly: Bool = false) {
        if isH2, let bridge {
            bridge.answer(status: status, heldWrite: holdRefusal, headOnly: headOnly)
            holdRefusal = false
            return
        }
        if toClient == nil { toClient = worker.buffers.take() }
        if holdRefusal {
            holdRefusal = false
            HoldAnswer.write(toClient!, close: close)
            return
        }
        HeadWriter.writeError(toClient!, status: status, close: close, headOnly: headOnly)
    }

    /// Something broke after the response started: the client sees a cut connection, which
    /// is the only honest signal left.
    func abort(reason: String) {
        aborted = true
        if let upstream {
            upstream.close()
            self.upstream = nil
        }
        if handle != nil { endRequest() }
        close()
    }

    /// An HTTP/1.1 answer the server cut (it failed, or fell silent, mid-answer): what
    /// already came still goes to the client, then the connection ends with a half-close and
    /// a linger. Closing at once dropped what was queued for a client that had not read it
    /// yet (and, with the client's bytes unread, the reset threw away the kernel's queue).
    func endCutAnswer() {
        aborted = true
        if let upstream {
            upstream.close()
            self.upstream = nil
        }
        // What came of the answer and waits in `fromUpstream` (a timeout while the client
        // read nothing, a TLS failure after good records) goes too, as far as there is room.
        // Only while it moves bytes: a chunk it cannot decode stays where it is.
        while let input = fromUpstream, !input.isEmpty {
            let before = input.readableCount
            _ = pumpResponse()
            if (fromUpstream?.readableCount ?? 0) >= before { break }
        }
        if handle != nil { endRequest() }
        releaseBuffer(&toUpstream)
        releaseBuffer(&fromUpstream)
        fromClient?.clear()   // pipelined requests get no answer on a connection that ends
        closeAfterResponse = true
        phase = .closing
        deadline = worker.nowMilliseconds + worker.settings.upstreamTimeoutMilliseconds
    }

    /// Whether the client can tell a cut answer from a whole one by its framing: a length
    /// not reached, or chunks without their last one. An answer ended by the close cannot.
    var cutShowsInFraming: Bool {
        switch responseBody {
        case .length: return true
        case .chunked: return chunkToClient
        case .done, .streamChunked: return false
        }
    }

    func startLingering() {
        if isH2 {
            close()   // the stream ends with the answer; there is no socket to linger on
            return
        }
        // Only a cut answer lingers with `aborted` set: `abort` closes at once.
        Lingering.shutdownWrite(fd, tls: aborted ? nil : tls)
        clientShutDown = true
        if clientEOF || clientSocketEOF {
            close()
            return
        }
        fromClient?.clear()
        phase = .lingering
        deadline = Clock.monotonicMilliseconds() + worker.settings.lingerMilliseconds
    }

    func close() {
        guard phase != .closed else { return }
        // An answer the client has not wholly received (its end not relayed yet, or bytes
        // still queued) ends here: shutdown's grace ran out, or an abort mid-answer. A plain
        // client must see a reset: the orderly close is how a close-delimited answer (or a
        // de-chunked one for HTTP/1.0) ends whole. A TLS client tells by the missing
        // close_notify; a tunnel's end is its own.
        if !isH2 && !isTLS && (phase == .exchanging || phase == .closing) && responseHeadDone
            && (!responseDone || !clientOutputDrained) {
            Socket.resetOnClose(fd)
        }
        phase = .closed
        if let upstream = upstream.take() { upstream.close() }
        if handle != nil { endRequest() }
        releaseBuffer(&fromClient)
        releaseBuffer(&toClient)
        releaseBuffer(&toUpstream)
        releaseBuffer(&fromUpstream)
        releaseScratch()
        if isH2 {
            // Borrowed, as in `relayHeadToStream`: the stream outlives this call.
            Unmanaged.passUnretained(bridge.unsafelyUnwrapped)._withUnsafeGuaranteedRef { $0.exchangeClosed(aborted: aborted) }
            return
        }
        worker.loop.deregister(registration)
        fd.close()
        worker.connectionClosed(self)
    }
}
