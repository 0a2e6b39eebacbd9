import Glibc
import SwitchyardHTTP
import SwitchyardRouting
import SwitchyardSystem
import SwitchyardTLS

/// Deadlines and the body-rate rule, checked on every loop tick.
extension DownstreamConnection {
    // MARK: timers

    func startRateWindow() {
        rateWindowStart = worker.nowMilliseconds
        rateWindowBytes = 0
        rateWindowHeldBack = false
    }

    /// The body-rate check (see `ProxySettings.minBodyBytesPerSecond`).
    func checkBodyRate(now: UInt64) {
        guard phase == .holdingBody || (phase == .exchanging && !requestBody.isDone) else { return }
        if upstreamWriteBlocked || (fromClient?.writableCount ?? 1) == 0 { rateWindowHeldBack = true }
        if awaitingContinue {
            // A window with bytes: the client stopped waiting (its own timer ran out).
            if rateWindowBytes == 0 { rateWindowHeldBack = true } else { awaitingContinue = false }
        }
        let window = worker.settings.bodyRateWindowMilliseconds
        guard now >= rateWindowStart + window else { return }
        let needed = worker.settings.minBodyBytesPerSecond * window / 1000
        if !rateWindowHeldBack && rateWindowBytes < needed {
            worker.stats.timeouts += 1
            performThenAdvance(exchange.requestBodyTooSlow())
            return
        }
        startRateWindow()
    }

    /// Whether the routed backend has a server available besides `pool`.
    private func anotherServerIsAvailable(than pool: ServerPool) -> Bool {
        guard let handle, decision.backend >= 0, decision.backend < handle.servers.count else { return false }
        let now = worker.nowMilliseconds
        return handle.servers[decision.backend].contains { $0 !== pool && $0.isAvailable(now: now) }
    }

    /// Called on every loop tick.
    func tick(now: UInt64) {
        checkBodyRate(now: now)
        guard phase != .closed, now >= deadline else { return }
        switch phase {
        case .awaitingHead:
            if let buffer = fromClient, !buffer.isEmpty {
                worker.stats.timeouts += 1
                respondAndClose(status: 408)
                advance()
            } else if clientOutputDrained {
                close()
            } else {
                // The last answer is still leaving: give a slow reader the send time.
                phase = .closing
                deadline = now + worker.settings.upstreamTimeoutMilliseconds
            }
        case .holdingBody:
            worker.stats.timeouts += 1
            performThenAdvance(exchange.deadlinePassed())
        case .parked:
            // Its route was released and the release's pacing has not reached it yet: its
            // max-wait stops counting (a release of 2,000 writes at 100/s takes 20 s; those
            // at the back were answered "not saved" mid-release), up to the longest a
            // release runs (`HoldCommands.drain`'s give-up).
            let bound = parkedSince &+ Self.releaseGraceMilliseconds
            if now < bound, Proxy.isReleased(self, by: worker.current.table) {
                deadline = bound
                return
            }
            parkExpired()
        case .connecting:
            connectFailed(Errno(code: ETIMEDOUT, call: "connect"))
        case .exchanging:
            if let upstream, let tls = upstream.tls, !tls.session.isHandshakeComplete {
                // The server took the connection and never finished its handshake: no byte
                // of the request reached it, so this is a failed connect (counted as one, as
                // the `.connecting` timeout is), and the next server is tried (for a form
                // post too) instead of a 504 a minute later. Then on, as a connect does: a
                // pooled connection's request is flushed, a 503 is written.
                upstreamFailed(Errno(code: ETIMEDOUT, call: "TLS handshake with \(upstream.pool.label)"))
                if phase != .closed { advance() }
                return
            }
            worker.stats.timeouts += 1
            if !exchange.responseStarted, let upstream {
                worker.errorLog.error("upstream \(upstream.pool.label): no response within \(worker.settings.upstreamTimeoutMilliseconds) ms")
                // A server that takes connections and never answers is as broken as one that
                // refuses them: three in a row eject it, and the side's other servers take
                // its share instead of every third request waiting for a 504. Only for a
                // request that arrived whole (a client stalling mid-body is not the server's
                // doing), and never the side's last server available: a slow endpoint (a
                // report, a lock) must not take the whole side out for 10 s, nor move a
                // failover route's writes to the other side's database.
                if exchange.requestComplete, anotherServerIsAvailable(than: upstream.pool) {
                    notePassiveFailure(upstream.pool)
                }
            }
            performThenAdvance(exchange.deadlinePassed())
        case .closing where !clientOutputDrained:
            // The answer ended upstream, but the client did not take the rest of it in time:
            // what is left is lost, so the client must see a cut (RST_STREAM, a missing
            // close_notify, a reset), never a clean end, which a chunked or close-delimited
            // answer would pass for whole.
            worker.stats.timeouts += 1
            if !isH2 && !isTLS { Socket.resetOnClose(fd) }
            abort(reason: "client too slow for the rest of its answer")
        case .tunnel, .lingering, .closing:
            close()
        case .closed:
            break
        }
    }

    /// Carries out a timer's action; an exchange that ended with an answer queued, or with
    /// a cut answer's bytes still to send, moves on (flushes them); a closed one is done.
    func performThenAdvance(_ action: Exchange.Action) {
        perform(action)
        if phase == .closed { return }
        advance()
    }
}
