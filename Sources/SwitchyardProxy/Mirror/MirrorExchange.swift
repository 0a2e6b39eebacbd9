import Glibc
import SwitchyardCompare
import SwitchyardHTTP
import SwitchyardSystem
import SwitchyardTLS

/// A copy of a request with no client: the primary's rewritten head (and body, when there is
/// one and it was all there) sent to one server on the mirror's own connection, its answer
/// read, de-framed (Content-Length, chunked, until close), hashed and captured by its
/// recorder, and thrown away. Nothing of it reaches the user, and nothing waits for it.
///
/// Life: `start` (an idle pooled connection or a non-blocking connect) → writing → reading
/// the head (1xx skipped) → reading the body → `end` (connection back to the pool when it
/// can carry another request, buffers back to the worker's pool, the pair told). Every
/// failure — connect, reset, malformed answer, the deadline — ends it the same way, counted.
final class MirrorExchange: Indexed {
    unowned let mirror: WorkerMirror
    let pair: MirrorPair
    let kind: MirrorSample.Kind
    /// The backend the copy went to (the sample's target).
    let target: String
    let limiter: MirrorLimiter
    let recorder: MirrorRecorder
    private let method: HTTPMethod
    private let server: MirrorServer
    private var connection: MirrorConnection?
    private var out: IOBuffer?
    private var input: IOBuffer?
    private var parser: HTTPResponseParser?
    private var chunks = ChunkedDecoder()
    private enum Body { case head, length(UInt64), chunked, untilClose }
    private var body = Body.head
    private var writeBlocked = false
    private var eof = false
    /// The last read filled all the room it had: the server may have sent more than the
    /// answer, still in the socket (see `end`).
    private var readFilled = false
    /// The request's length in `out`, kept until the copy ends: a pooled connection the
    /// server closed just as the copy was sent gets it again on a fresh one (once).
    private let requestLength: Int
    private var receivedAny = false
    /// Answer bytes read so far (head and body, as received), against `maxAnswerBytes`.
    private var answerBytes: UInt64 = 0
    private var interimHeads = 0
    private var retried = false
    private(set) var ended = false
    /// Monotonic ms past which the copy is given up (counted as a timeout).
    let deadline: UInt64
    var listIndex = -1

    init(mirror: WorkerMirror, pair: MirrorPair, kind: MirrorSample.Kind, target: String, limiter: MirrorLimiter,
         server: MirrorServer, method: HTTPMethod, request: IOBuffer, deadline: UInt64) {
        self.mirror = mirror
        self.pair = pair
        self.kind = kind
        self.target = target
        self.limiter = limiter
        self.server = server
        self.method = method
        self.out = request
        requestLength = request.readableCount
        self.deadline = deadline
        recorder = mirror.takeRecorder()
    }

    /// Takes an idle connection of the server or connects; false (and ended) when the connect
    /// failed at once.
    func start() {
        if !retried, let idle = server.idle.popLast() {
            attach(idle)
            pump()
            return
        }
        do {
            let (fd, connected) = try Socket.connect(to: server.address)
            try? Socket.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            let made = MirrorConnection(fd: fd, server: server, loop: mirror.loop, connecting: !connected)
            do {
                if let tls = server.tls {
                    made.tls = TLSTransport(session: try TLSSession(client: tls.context, serverName: tls.serverName))
                }
                made.registration = try mirror.loop.register(fd, made, events: connected ? Epoll.writable | Epoll.readable : Epoll.writable)
            } catch {
                made.close()
                throw error
            }
            attach(made)
            if connected { pump() }
        } catch {
            end(failure: .connect)
        }
    }

    private func attach(_ made: MirrorConnection) {
        made.owner = self
        connection = made
    }

    func eventsReceived(_ events: UInt32) {
        guard let connection, !ended else { return }
        if connection.connecting {
            guard events & (Epoll.writable | Epoll.error | Epoll.hangUp) != 0 else { return }
            if Socket.takeError(connection.fd) != 0 {
                end(failure: .connect)
                return
            }
            connection.connecting = false
        }
        if events & Epoll.writable != 0 { writeBlocked = false }
        pump()
    }

    /// Moves the copy as far as it goes without waiting, then sets what it waits for.
    private func pump() {
        guard let connection, !ended else { return }
        if !send(connection) { return }
        if !read() { return }
        guard !ended, let connection = self.connection else { return }
        // TLS: the handshake finished while reading; the request can go now.
        if connection.tls != nil, !(out?.isEmpty ?? true), !send(connection) { return }
        let sending = !(out?.isEmpty ?? true) || (connection.tls?.hasPendingOutput ?? false)
        mirror.loop.setInterest(connection.registration, sending ? Epoll.readable | Epoll.writable : Epoll.readable)
    }

    /// Writes what it can of the request (encrypted, for a `tls` server); false when the
    /// copy failed. The bytes are kept (`consumeKeeping`) for a send on a fresh connection.
    private func send(_ connection: MirrorConnection) -> Bool {
        guard !writeBlocked else { return true }
        do {
            if let tls = connection.tls {
                if !tls.session.isHandshakeComplete { _ = try tls.session.handshake() }
                guard try tls.flush(connection.fd) else { writeBlocked = true ; return true }
                while let request = out, !request.isEmpty {
                    let n = try tls.encrypt(request.readable, sendingTo: connection.fd)
                    if n == 0 { break }
                    request.consumeKeeping(n)
                    guard try tls.flush(connection.fd) else { writeBlocked = true ; break }
                }
                return true
            }
            guard let request = out else { return true }
            while !request.isEmpty {
                guard case .processed(let n) = try connection.fd.send(request.readable) else {
                    writeBlocked = true
                    break
                }
                request.consumeKeeping(n)
            }
            return true
        } catch {
            // A TLS handshake that fails (verification, protocol) is the connect's failure.
            failed(connection.tls.map { $0.session.isHandshakeComplete } == false ? .connect : .reset)
            return false
        }
    }

    /// One read into `buffer`: from the socket, or for a `tls` server ciphertext in and
    /// plaintext out (the handshake advances here too).
    private func fill(_ buffer: IOBuffer, _ connection: MirrorConnection) throws {
        guard let tls = connection.tls else {
            let room = buffer.writableCount
            switch try connection.fd.receive(into: buffer.writable) {
            case .processed(0): eof = true
            case .processed(let n):
                readFilled = n == room
                buffer.commit(n)
                receivedAny = true
            case .wouldBlock: break
            }
            return
        }
        let socket = try tls.readSocket(connection.fd, scratch: mirror.loop.cipherScratch)
        reading: while buffer.writableCount > 0 {
            switch try tls.decrypt(into: buffer.writable) {
            case .bytes(let n):
                buffer.commit(n)
                receivedAny = true
            case .needMore:
                if socket == .endOfStream { eof = true }
                break reading
            case .closed:
                eof = true
                break reading
            }
        }
        _ = try tls.flush(connection.fd)
    }

    /// A failure: on a reused connection before any answer byte, the server may have closed
    /// it as the copy was sent — sent again once on a fresh connection, if sending it twice
    /// does no harm (an idempotent method, as the primary's replay: a sandbox's POST may have
    /// been taken before the close); else the end.
    private func failed(_ failure: MirrorAnswer.Failure) {
        guard failure == .reset, method.isIdempotent, !retried, !receivedAny, let connection, connection.hasServed,
              let request = out else {
            end(failure: failure)
            return
        }
        retried = true
        connection.close()
        self.connection = nil
        request.restore(count: requestLength)
        eof = false
        writeBlocked = false
        start()
    }

    /// Most answer bytes one copy may bring (beyond: `.tooLarge`, the copy ends): what a
    /// mirror target can make a worker hash is bounded per copy.
    static let maxAnswerBytes: UInt64 = 64 << 20
    /// Socket reads per readiness event (over TLS, then as soon as the session holds nothing
    /// unread): a target that streams faster than we hash gets a turn, then the worker's users
    /// and timers get theirs (epoll is level-triggered and reports the socket again).
    /// 16 × a pooled buffer ≈ 1 MiB a turn.
    static let readsPerEvent = 16
    /// 1xx heads accepted before a final one (more: `.malformed`).
    static let maxInterimHeads = 8

    /// Reads and consumes what the server sent; false when the copy ended.
    private func read() -> Bool {
        guard let connection else { return false }
        var reads = 0
        while true {
            if input == nil { input = mirror.buffers.take() }
            let buffer = input!
            buffer.compact()
            if buffer.writableCount > 0 && !eof {
                // Yield once nothing waits in a TLS session: epoll (level-triggered) reports
                // the socket again for what is still in it, but not records the session has
                // already read. A TLS copy used to read its whole answer (up to 64 MiB,
                // decrypted and hashed) in one turn while the worker's users waited.
                if reads >= Self.readsPerEvent && !(connection.tls?.hasUnreadInput ?? false) { return true }
                reads += 1
                let before = buffer.readableCount
                do {
                    try fill(buffer, connection)
                } catch {
                    failed(connection.tls.map { $0.session.isHandshakeComplete } == false ? .connect : .reset)
                    return false
                }
                answerBytes &+= UInt64(buffer.readableCount - before)
                if answerBytes > Self.maxAnswerBytes {
                    end(failure: .tooLarge)
                    return false
                }
            }
            let before = buffer.readableCount
            if !consume(buffer) { return false }
            if buffer.readableCount == before {
                // No progress: wait for more, or the server's end decides.
                if eof {
                    if case .untilClose = body {
                        end(failure: nil)
                    } else {
                        failed(.reset)
                    }
                    return false
                }
                return true
            }
        }
    }

    /// Parses the head and feeds the body to the recorder; false when the copy ended.
    private func consume(_ buffer: IOBuffer) -> Bool {
        if case .head = body {
            if parser == nil { parser = mirror.takeParser() }
            let p = parser!
            switch p.parse(buffer.readable, requestMethod: method) {
            case .needMore:
                if buffer.writableCount == 0 {
                    end(failure: .malformed)
                    return false
                }
                return true
            case .error:
                end(failure: .malformed)
                return false
            case .complete(let headLength):
                if p.status == 101 {
                    end(failure: .malformed)   // never asked for: the copy carries no upgrade
                    return false
                }
                if p.status < 200 {
                    interimHeads += 1
                    if interimHeads > Self.maxInterimHeads {
                        end(failure: .malformed)
                        return false
                    }
                    buffer.consume(headLength)
                    p.reset()
                    return true
                }
                recorder.head(p, buffer.readable.baseAddress!)
                buffer.consume(headLength)
                switch p.framing {
                case .none:
                    end(failure: nil)
                    return false
                case .contentLength(let n):
                    if n == 0 { end(failure: nil) ; return false }
                    body = .length(n)
                case .chunked:
                    chunks.reset()
                    body = .chunked
                case .untilClose:
                    body = .untilClose
                }
            }
        }
        switch body {
        case .head:
            return true
        case .length(let remaining):
            let n = min(Int(clamping: remaining), buffer.readableCount)
            recorder.body(UnsafeRawBufferPointer(start: buffer.readable.baseAddress, count: n))
            buffer.consume(n)
            if UInt64(n) == remaining {
                end(failure: nil)
                return false
            }
            body = .length(remaining - UInt64(n))
        case .chunked:
            while !buffer.isEmpty {
                let step: ChunkedStep
                do {
                    step = try chunks.decode(buffer.readable, maxData: Int(Int32.max))
                } catch {
                    end(failure: .malformed)
                    return false
                }
                if step.data.count > 0 {
                    recorder.body(UnsafeRawBufferPointer(start: buffer.readable.baseAddress! + step.data.start, count: step.data.count))
                }
                buffer.consume(step.consumed)
                if step.finished {
                    end(failure: nil)
                    return false
                }
                if step.consumed == 0 { break }
            }
        case .untilClose:
            recorder.body(buffer.readable)
            buffer.consume(buffer.readableCount)
        }
        return true
    }

    /// The deadline passed (the worker's tick).
    func timedOut() {
        end(failure: .timeout)
    }

    /// Ends the copy: counts it, gives back what it holds, tells the pair.
    func end(failure: MirrorAnswer.Failure?) {
        guard !ended else { return }
        ended = true
        recorder.ended(failure: failure)
        if let connection {
            let reusable = failure == nil && !eof && (parser?.keepAlive ?? false) && (input?.isEmpty ?? true)
                && (out?.isEmpty ?? true) && server.idle.count < MirrorServer.maxIdle && !connection.closed
                && connection.tls == nil   // an idle TLS connection's tickets would need reading: not pooled
                && server.tls == nil       // nor a plain one to a server a reload made `tls`
                // Bytes after the answer would be the next copy's answer if one took the
                // connection before their event closed it (copies start after the batch).
                && (!readFilled || Socket.nothingToRead(connection.fd))
            if case .untilClose = body {} else if reusable {
                connection.owner = nil
                connection.hasServed = true
                mirror.loop.setInterest(connection.registration, Epoll.readable)
                server.idle.append(connection)
                self.connection = nil
            }
            self.connection?.close()
            self.connection = nil
        }
        if let request = out { mirror.buffers.give(request) ; out = nil }
        if let buffer = input { mirror.buffers.give(buffer) ; input = nil }
        if let parser { mirror.giveParser(parser) ; self.parser = nil }
        mirror.copyEnded(self, failure: failure)
        pair.partEnded()
    }
}
