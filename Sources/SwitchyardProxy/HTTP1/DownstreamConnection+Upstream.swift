import Glibc
import SwitchyardHTTP
import SwitchyardRouting
import SwitchyardSystem
import SwitchyardTLS

/// The upstream side: choosing and connecting to a server, writing the request to it, and
/// what happens when it fails (next server, failover, replay, 502).
extension DownstreamConnection {
    // MARK: upstream selection

    /// Takes an idle pooled connection or starts a connect, trying the backend's servers in
    /// the order `TableHandle.nextServer` gives. With no server left: failover or 503.
    func connectUpstream(allowReuse: Bool) {
        guard let pinned else { preconditionFailure("no table pinned") }
        // The table borrowed, not retained; the 503 is answered after the borrow, since an
        // answer may end the request and unpin the table.
        if let answer = pinned._withUnsafeGuaranteedRef({ connectUpstream(allowReuse: allowReuse, $0) }) {
            worker.stats.noServer += 1
            perform(answer)
        }
    }

    /// nil when a connection was attached or a connect started; else the action that
    /// answers for the backend that has no server left.
    private func connectUpstream(allowReuse: Bool, _ handle: TableHandle) -> Exchange.Action? {
        let now = worker.nowMilliseconds
        observeConnectStart()
        var portShortage = false
        while let next = handle.nextServerUnretained(of: decision.backend, tried: &exchange.triedServers, now: now) {
            // The pool borrowed, not retained: the pinned table holds it for the whole call.
            let start = next._withUnsafeGuaranteedRef { pool in
                use(pool, allowReuse: allowReuse, now: now)
            }
            switch start {
            case .started: return nil
            case .serverFailed: continue
            // Our own shortage: another server or the other side would meet it too, and
            // failing over would move this user between sides. 503, nobody blamed.
            case .localShortage: return exchange.noServerLeft(otherSide: nil)
            case .noLocalPort: portShortage = true
            }
        }
        if portShortage { return exchange.noServerLeft(otherSide: nil) }
        // No server of this backend can take it: the route's other side, or 503.
        let action = exchange.noServerLeft(otherSide: failoverBackend(handle))
        if case .failOver(let other) = action {
            decision.backend = other
            // A copy forked for the first side compares nothing real any more.
            mirrorPair?.discard()
            return connectUpstream(allowReuse: allowReuse, handle)
        }
        return action
    }

    /// How `use` went.
    enum UpstreamStart {
        case started
        /// The connect failed at once (noted against the server; the next one is tried).
        case serverFailed
        /// This process or host ran out (descriptors, socket buffers, memory) before any
        /// packet left: nothing the server did.
        case localShortage
        /// No local port left towards this server: the next one is tried, nobody blamed.
        case noLocalPort
    }

    /// Attaches an idle connection of `pool` or starts a connect to its server.
    private func use(_ pool: ServerPool, allowReuse: Bool, now: UInt64) -> UpstreamStart {
        // The newest idle connection (the pool is newest last) idle past the servers' usual
        // keep-alive: the server may be closing it right now, and a write it never reads
        // is a lost form post (a POST is not replayed). It and all older ones are closed.
        if allowReuse, pool.newestIdleIsOlder(than: now &- worker.settings.upstreamKeepAliveMilliseconds) {
            pool.closeIdle()
        }
        if allowReuse, let idle = pool.idle.popLast() {
            attach(consume idle)
            exchange.connected()
            observeConnected()
            phase = .exchanging
            deadline = now + worker.settings.upstreamTimeoutMilliseconds
            return .started
        }
        do {
            let (upstreamFD, connected) = try Socket.connect(to: pool.address)
            let connection = UpstreamConnection(fd: upstreamFD, pool: pool, loop: worker.loop, connecting: !connected)
            if let tls = pool.tls {
                do {
                    let session = try TLSSession(client: tls.context, serverName: tls.serverName, resuming: pool.resumable)
                    connection.tls = TLSTransport(session: session)
                } catch {
                    connection.close()
                    throw error
                }
            }
            do {
                // Edge-triggered when plain (one poll of the socket per answer, not two; see
                // `readFromUpstream`); a TLS session's reads stay level-triggered.
                connection.registration = try worker.loop.register(upstreamFD, connection, events: connected ? Epoll.readable : Epoll.writable,
                                                                   edgeTriggered: connection.tls == nil)
            } catch {
                connection.close()
                throw error
            }
            // A new TLS connection's handshake is part of connecting: it has the connect
            // timeout, and a server that never finishes it is a failed connect (`tick`).
            upstreamHandshakePending = connection.tls.map { !$0.session.isHandshakeComplete } ?? false
            attach(consume connection)
            if connected {
                exchange.connected()
                observeConnected()
                phase = .exchanging
                deadline = now + connectedTimeout
            } else {
                phase = .connecting
                deadline = now + worker.settings.connectTimeoutMilliseconds
            }
            return .started
        } catch {
            if let errno = error as? Errno, [EMFILE, ENFILE, ENOBUFS, ENOMEM, ENOSPC].contains(errno.code) {
                // Not the server's failure: no ejection, no error counted against it.
                worker.clientErrorLog("upstream \(pool.label): \(errno): out of local resources, answered 503 (the server is not blamed)")
                return .localShortage
            }
            if let errno = error as? Errno, errno.code == EADDRNOTAVAIL {
                // No local port left towards this server (ports are unique per destination:
                // TIME_WAIT from a server that closes every connection): the next server may
                // take it; nobody is blamed, and no server left means 503, not a failover
                // (blamed, the servers were ejected and a `failover` route's users moved).
                worker.clientErrorLog("upstream \(pool.label): \(errno): no local port left towards it (the server is not blamed)")
                return .noLocalPort
            }
            noteConnectFailure(pool, error)
            return .serverFailed
        }
    }

    /// The route's other side for `failover`: the standby (or active, if the standby was
    /// chosen), or the other backend of a two-way split.
    func failoverBackend(_ handle: TableHandle) -> Int? {
        let route = handle.table.routes[decision.route]
        guard route.config.failover else { return nil }
        let current = handle.table.config.backends[decision.backend].name
        let candidates = route.split.isEmpty ? [route.active, route.standby].compactMap { $0 } : route.split.map(\.backend)
        guard let other = candidates.first(where: { $0 != current }) else { return nil }
        return handle.table.backendIndex(named: other)
    }

    /// `consuming`: the caller's reference (popped from the pool's list, or just made) moves
    /// into `upstream` instead of being copied there and released (an atomic pair a request).
    func attach(_ connection: consuming UpstreamConnection) {
        connection.owner = self
        lastServer = Unmanaged.passUnretained(connection.pool)
        upstream = connection
        upstreamEOF = false
        upstreamSocketEOF = false
        upstreamWriteBlocked = false
        upstreamWriteBroken = false
        upstreamHungUp = false
        upstreamReadParked = false
        upstreamReadMayBeOwed = false
    }

    func noteConnectFailure(_ pool: ServerPool, _ error: Error) {
        pool.connectFailures += 1
        observeConnectFailure()
        notePassiveFailure(pool)
        if let handle { handle.counters[decision.backend].connectFailures += 1; handle.counters[decision.backend].errors += 1 }
        pool.skipUntil = Clock.monotonicMilliseconds() + 1_000
        worker.stats.connectFailures += 1
        worker.errorLog.error("upstream \(pool.label): \(error)")
    }

    /// A non-blocking connect failed or timed out: nothing of the request was sent, so the
    /// next server of the same backend is tried.
    func connectFailed(_ error: Error) {
        guard upstream != nil else { return }
        nextServerAfterFailedConnect(error)
        advance()
    }

    /// Closes the upstream, blames its server and tries the next one (`advance` is the
    /// caller's: an event handler calls it, a failure found while advancing returns to it).
    private func nextServerAfterFailedConnect(_ error: Error) {
        guard let upstream else { return }
        let pool = upstream.pool
        upstream.close()
        self.upstream = nil
        noteConnectFailure(pool, error)
        perform(exchange.connectFailed())
    }

    // MARK: writing to the upstream

    func flushToUpstream() -> Bool {
        if upstreamWriteBroken {
            // Nothing more can reach the server; its answer (if any) is read regardless.
            if let out = toUpstream, !out.isEmpty, replayLength == 0 { out.clear() }
            return false
        }
        guard upstream != nil else { return false }
        if withUpstream({ $0.tls != nil }) {
            guard let upstream, let tls = upstream.tls, !upstream.connecting else { return false }
            return flushToUpstreamTLS(upstream, tls)
        }
        // Connection and buffer borrowed, not retained (two pairs every request): `upstream`
        // and `toUpstream` hold them for the send; a failure is handled after the borrow.
        let (fd, connecting) = withUpstream { ($0.fd, $0.connecting) }
        guard !connecting, toUpstream != nil, !upstreamWriteBlocked else { return false }
        let keep = replayLength > 0
        let sent = Unmanaged.passUnretained(toUpstream.unsafelyUnwrapped)._withUnsafeGuaranteedRef { out -> Result<IOResult<Int>, Errno> in
            guard !out.isEmpty else { return .success(.processed(0)) }
            do throws(Errno) {
                let result = try fd.send(out.readable)
                // Bytes kept for a replay: only the read index moves.
                if case .processed(let n) = result { if keep { out.consumeKeeping(n) } else { out.consume(n) } }
                return .success(result)
            } catch {
                return .failure(error)
            }
        }
        switch sent {
        case .success(.processed(let n)):
            return n > 0
        case .success(.wouldBlock):
            upstreamWriteBlocked = true
            return false
        case .failure(let error):
            upstreamWriteFailed(error)
            return true
        }
    }

    /// A write to the upstream failed. A server that answered before reading the whole body
    /// (a 401, a redirect to the login page) and closed makes the write fail with EPIPE or a
    /// reset while its complete answer waits to be read: so the answer is read first, and
    /// the exchange fails (502, or a replay of a stale keep-alive connection) only if none
    /// arrives before the upstream's end.
    func upstreamWriteFailed(_ error: Errno) {
        guard upstream != nil else { return }
        guard error.code == EPIPE || error.code == ECONNRESET else {
            upstreamFailed(error)
            return
        }
        markUpstreamWriteBroken()
        readFromUpstream()
    }

    /// Nothing more can be sent to the server (it reset or closed its reading side); what it
    /// answered is still read, and the connection is not kept afterwards.
    func markUpstreamWriteBroken() {
        upstreamWriteBroken = true
        upstreamWriteBlocked = false
        closeAfterResponse = true
    }

    /// TLS upstream: drives the handshake (the ClientHello goes first), then encrypts.
    /// A replayable request keeps its bytes as with plain connections.
    func flushToUpstreamTLS(_ upstream: UpstreamConnection, _ tls: TLSTransport) -> Bool {
        guard !upstreamWriteBlocked else { return false }
        var progressed = false
        do {
            if !tls.session.isHandshakeComplete {
                _ = try tls.session.handshake()
            }
            guard try tls.flush(upstream.fd) else {
                upstreamWriteBlocked = true
                return false
            }
            while let out = toUpstream, !out.isEmpty {
                let n = try tls.encrypt(out.readable, sendingTo: upstream.fd)
                if n == 0 { break }
                if replayLength > 0 { out.consumeKeeping(n) } else { out.consume(n) }
                progressed = true
                guard try tls.flush(upstream.fd) else {
                    upstreamWriteBlocked = true
                    break
                }
            }
        } catch {
            // A server that answered early (a 401, the login page) and reset mid-body: its
            // answer is read first, as for plain servers. Before the handshake's end the
            // same error is a handshake that failed (`upstreamFailed`: the next server).
            if let errno = error as? Errno, tls.session.isHandshakeComplete {
                upstreamWriteFailed(errno)
            } else {
                upstreamFailed(error)
            }
            return true
        }
        return progressed
    }

    // MARK: failures

    /// The upstream broke the exchange. A bodiless request on a reused keep-alive connection
    /// that saw no response byte is replayed once on a fresh connection (the server may have
    /// closed the idle connection as we sent); otherwise 502, or a cut connection if the
    /// response had started.
    func upstreamFailed(_ error: Error) {
        guard let upstream else { return }
        let reusedConnection = upstream.hasServed
        let pool = upstream.pool
        // A TLS connection that failed before its first answer may have failed over the
        // session it offered: the next one does a full handshake.
        if upstream.tls != nil, !upstream.sessionSaved { pool.resumable = nil }
        // A handshake that failed (a certificate that does not verify, an alert, the server
        // closing) carried no byte of the request: like a refused connect, the next server
        // is tried — for a form post too — instead of answering 502 while another server
        // of the side could take it.
        if let tls = upstream.tls, !tls.session.isHandshakeComplete, !reusedConnection,
           exchange.state == .sending || exchange.state == .connecting {
            nextServerAfterFailedConnect(error)
            return
        }
        upstream.close()
        self.upstream = nil
        let nothingReceived = !responseHeadDone && (fromUpstream?.isEmpty ?? true)
        let action = exchange.upstreamFailed(reusedConnection: reusedConnection, nothingReceived: nothingReceived,
                                             replayable: replayLength > 0)
        if case .replay = action {
            perform(action)
            return
        }
        observeUpstreamFailure(error)
        worker.errorLog.error("upstream \(pool.label): \(error)")
        worker.stats.upstreamErrors += 1
        notePassiveFailure(pool)
        perform(action)
    }

    func notePassiveFailure(_ pool: ServerPool) {
        if pool.failed(now: Clock.monotonicMilliseconds()) {
            worker.errorLog.error("server \(pool.label) ejected for \(ServerPool.ejectionMilliseconds / 1000) s after \(ServerPool.ejectAfterFailures) failures in a row")
        }
    }
}
