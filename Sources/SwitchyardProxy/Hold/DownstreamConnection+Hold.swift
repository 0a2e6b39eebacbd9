import Glibc
import SwitchyardHTTP
import SwitchyardRouting
import SwitchyardSystem

/// The write hold at the exchange's decision point: a held write is parked in its worker's
/// queue (its head and the body so far stay in `fromClient` — a small buffer for a bodyless
/// head, a full one otherwise — nothing goes upstream), and
/// released later by routing it again with the table current then. See `Phase.parked`.
extension DownstreamConnection {
    /// Whether the held route parks this request, refuses it (a bound, an old hold, an
    /// HTTP/2 stream) or lets it pass (a read, an exception path). Off the common path:
    /// only requests on a held route get here. Does not allocate.
    func holdVerdict(_ hold: CompiledHold, _ base: UnsafeRawPointer) -> Exchange.Verdict {
        // Before the hold's own rules: a released write that landed on another held route
        // goes nowhere, whether that hold would take it or not.
        if landedElsewhere() { return refuseRerouted() }
        guard isWrite(by: hold, base) else { return .forward }
        if time(nil) >= hold.refuseAfterSeconds { return refuseHeld(.holdTooOld) }
        // Stopping: nothing parked now would ever be released by this process.
        if worker.draining { return refuseHeld(.shutdown) }
        if let bound = parkingBound() { return refuseHeld(bound) }
        parkedMaxWait = UInt64(hold.state.maxWaitSeconds) * 1000
        // A released joiner routed again to a route held now (a reload or `hold` came
        // between): parked by that hold, no longer waiting behind a release.
        stopJoining()
        holdKey = holdClientKey(base)
        return .park
    }

    /// Whether a write on a route whose hold just ended waits at the back of the queue
    /// (`DrainGate`): while the queue is being sent, a newer write from the same client
    /// must not overtake the writes in it. Not refused for waiting: past a bound, from a
    /// client that already stopped sending, or when the process stops, it goes upstream at
    /// once, as before there was a gate.
    func joinVerdict(_ handle: TableHandle, _ base: UnsafeRawPointer) -> Exchange.Verdict {
        if releasedFromHold && landedElsewhere() { return refuseRerouted() }
        let gate = handle.drainGates[decision.route]
        guard let gate, gate.isDraining(now: worker.nowMilliseconds) else {
            // Open for good: this route's requests stop looking, and once every gate of the
            // table is open and nothing is parked here (a released write still to route
            // again passes `landedElsewhere` above), the table's requests stop too.
            if gate != nil {
                handle.drainGates[decision.route] = nil
                handle.gatesLeft -= 1
            }
            if handle.gatesLeft == 0 && worker.hold.parked.isEmpty { handle.drainGates = [] }
            return .forward
        }
        // A write the release just took from the queue is routed again: it is what the
        // others wait for. A client that already stopped sending would be answered "not
        // saved" at once if parked (`parkedClientCheck`): it goes straight up, as before.
        guard !releasedFromHold, !clientEOF, !worker.draining else { return .forward }
        guard isWrite(by: gate.hold, base), parkingBound() == nil else { return .forward }
        // It waits for the release's pacing, as a released parked write does.
        parkedMaxWait = Self.releaseGraceMilliseconds
        joinedDrain = true
        gate.joined()
        holdKey = holdClientKey(base)
        return .park
    }

    /// A write just released from a hold that was routed again to another route than the
    /// one it was parked on: a reload meanwhile gave its path to another route (another
    /// application, perhaps). Sent there, it would be saved where its user never wrote; it
    /// is answered "not saved" instead. (Checked only while a release's queue drains, where
    /// every released write passes: `joinVerdict` and `holdVerdict`.)
    private func landedElsewhere() -> Bool {
        guard releasedFromHold, let releasedRoute, let name = routeName else { return false }
        return name != releasedRoute
    }

    /// Who sent this write, as far as the proxy can tell (`ReleasePlan`): the route, the
    /// client's address (the forwarded one, from a trusted forwarder) and its Cookie field,
    /// which carries a browser's session. Users behind one address (a terminal server, a
    /// NAT) differ by their session cookies. A write whose cookies changed since its
    /// client's earlier one (a read's answer set a new one) is taken for another client's
    /// and runs beside it, as before. 0 (nobody's in particular) without a Cookie field.
    private func holdClientKey(_ base: UnsafeRawPointer) -> UInt64 {
        guard let cookie = requestParser.cookieSpan else { return 0 }
        var hasher = Hasher()
        hasher.combine(routeName)
        client.ip.withUnsafeBytes { hasher.combine(bytes: $0) }
        hasher.combine(0 as UInt8)
        hasher.combine(bytes: UnsafeRawBufferPointer(start: base + cookie.start, count: cookie.count))
        let key = UInt64(bitPattern: Int64(hasher.finalize()))
        return key == 0 ? 1 : key
    }

    /// Whether `hold`'s rules (methods, exception paths) take this request.
    private func isWrite(by hold: CompiledHold, _ base: UnsafeRawPointer) -> Bool {
        let p = requestParser
        let methodBytes = UnsafeRawBufferPointer(start: base + p.methodSpan.start, count: p.methodSpan.count)
        return hold.holds(method: methodBytes, path: scratch.unsafelyUnwrapped.routingPath(base: base))
    }

    /// The name of the route the pinned table routed this exchange to (nil: none). Off the
    /// request path: a parked or released write's.
    var routeName: String? {
        guard let handle, decision.route >= 0 else { return nil }
        return handle.table.routes[decision.route].name
    }

    private func refuseRerouted() -> Exchange.Verdict {
        // Counted as refused, not as sent upstream by the release.
        worker.hold.releasedTotal -= 1
        return refuseHeld(.rerouted)
    }

    /// The worker's bound that parking this request would break (nil: none); sets
    /// `parkedBytes` to what it would count against `hold-bytes` when none.
    private func parkingBound() -> HoldRejection? {
        let queue = worker.hold
        var declared = 0
        switch requestBody {
        case .length(let n):
            if n > queue.limits.body { return .bodyLimit }
            declared = Int(n)
        case .chunked, .streamChunked:
            // No length to go by: counted as the most a parked request holds (one buffer),
            // or such bodies would park for free past `hold-bytes`.
            declared = worker.buffers.bufferSize
        case .done:
            break
        }
        // An HTTP/1.1 connection parks one request at a time; an HTTP/2 connection one per
        // stream, up to the bound.
        let onConnection = bridge?.connection.parkedStreams ?? 0
        if onConnection >= queue.limits.perConnection { return .connectionLimit }
        if queue.isFull { return .parkedLimit }
        // What the process holds of this body: at most one buffer (the rest waits in the
        // socket until release).
        let held = min(declared, worker.buffers.bufferSize)
        if UInt64(queue.parkedBytes + held) > queue.limits.bytes { return .bytesLimit }
        parkedBytes = held
        return nil
    }

    private func refuseHeld(_ reason: HoldRejection) -> Exchange.Verdict {
        worker.hold.rejected(reason)
        holdRefusal = true
        observed.heldWrite = true
        return .refuse
    }

    /// Carries out `.park`: queued in arrival order, answered 503 if still here at max-wait.
    func park() {
        let now = Clock.monotonicMilliseconds()
        parkedSince = now
        parkedAtNanoseconds = Clock.monotonicNanoseconds()
        phase = .parked
        deadline = now + parkedMaxWait
        worker.hold.parkedBytes += parkedBytes
        worker.hold.append(self)
        if joinedDrain { worker.hold.joined() }
        bridge?.connection.parkedStreams += 1
    }

    /// A parked exchange whose client stopped sending is never forwarded: a client that
    /// left took its write for failed (sent at the release, it would be saved behind its
    /// back, and again when it retried). The end of input cannot tell a client gone from
    /// one that only half-closed and still reads, so it is answered 503 "not saved" (and
    /// the connection closed): the one still reading knows, the one gone loses nothing.
    func parkedClientCheck() -> Bool {
        // An HTTP/2 stream's END_STREAM is the end of its request, not the client leaving
        // (a reset arrives as `bridgeCancel`).
        guard clientEOF, !isH2 else { return false }
        _ = refuseHeld(.clientClosed)
        perform(exchange.parkedClientClosed())
        return true
    }

    /// How long after it parked a released write may still wait for the release's pacing:
    /// the longest max-wait and the 10 s more the release follow-up runs (`drain`).
    static let releaseGraceMilliseconds: UInt64 = UInt64(HoldState.maxMaxWaitSeconds + 10) * 1000

    /// Max-wait passed, or the process stops (`reason` `.shutdown`): 503 with Retry-After,
    /// "not saved"; the request is never forwarded.
    func parkExpired(_ reason: HoldRejection = .maxWait) {
        worker.hold.rejected(reason)
        worker.stats.timeouts += 1
        holdRefusal = true
        observed.heldWrite = true
        performThenAdvance(exchange.deadlinePassed())
    }

    /// The exchange leaves the hold's books (it ended, or was taken for release).
    func leaveHold() {
        let queue = worker.hold
        if parkedSince != 0 {
            queue.remove(self)
            bridge?.connection.parkedStreams -= 1
            releaseBuffer(&parkedH2Head)
            queue.parkedBytes -= parkedBytes
            let waited = Clock.monotonicMilliseconds() &- parkedSince
            if waited > queue.longestParkMilliseconds { queue.longestParkMilliseconds = waited }
            parkedSince = 0
            parkedBytes = 0
            // Ended without a release (the max-wait 503, shutdown): the head it was parked
            // with is consumed now. Left in `fromClient`, a bodiless write on a kept-alive
            // connection was read again, parked again, and sent upstream at the next release,
            // after its client had been told it was not saved. (A request with a body is
            // answered with close.)
            if !isH2, let fromClient {
                fromClient.consume(min(parkedHeadLength, fromClient.readableCount))
            }
            parkedHeadLength = 0
        }
        if releasedFromHold { endRelease() }
        stopJoining()
    }

    /// No longer a released write in flight: it ended, or was parked again.
    private func endRelease() {
        releasedFromHold = false
        releasedRoute = nil
        worker.hold.answered(self)
    }

    /// No longer counted as a write waiting behind (or released from) a release's queue.
    private func stopJoining() {
        guard joinedDrain else { return }
        joinedDrain = false
        worker.hold.joinedOutstanding -= 1
    }

    /// The table in force holds this parked write's route again (a `hold`, `revert` or
    /// reload while its release still drained): it waits for that hold's release now, and
    /// is answered "not saved" by that hold's max-wait at the latest. Before, a write that
    /// waited behind the release kept its 310 s bound (and one whose max-wait the release
    /// had stretched kept the stretch): past the new hold's max-wait, its client waited
    /// longer than ops had said, or gave up on its own.
    func heldAgain(maxWaitMilliseconds: UInt64, now: UInt64) {
        stopJoining()
        deadline = min(deadline, now &+ maxWaitMilliseconds)
    }

    /// Release: the parked exchange starts again from its head, routed by the current
    /// table (the release's own generation or a later one). Called by the worker with the
    /// connection already taken off the queue.
    func resumeFromHold() {
        precondition(phase == .parked, "resumeFromHold in \(phase)")
        // A client that left while its buffer was full (a body larger than the buffer: no
        // read interest, so no event told us) is gone as surely as one whose end was read:
        // its write is dropped, never forwarded. Sent now, it would be saved after its
        // client had taken it for failed, and saved again when the client retried.
        if !isH2, !clientEOF, fd.peerHasHungUp {
            clientEOF = true
            if parkedClientCheck() {
                advance()
                return
            }
        }
        let queue = worker.hold
        queue.parkedBytes -= parkedBytes
        let waited = Clock.monotonicMilliseconds() &- parkedSince
        if waited > queue.longestParkMilliseconds { queue.longestParkMilliseconds = waited }
        parkedSince = 0
        parkedBytes = 0
        bridge?.connection.parkedStreams -= 1
        releasedFromHold = true
        queue.sent(self)
        queue.releasedTotal += 1
        // Undo the pin and the in-flight gauge of the first routing; the request's start
        // time stays, so the access log's duration includes the wait.
        let started = startNanoseconds
        if let handle {
            // The route it was parked on, by name: routed again, it must land there.
            releasedRoute = routeName
            if observed.inFlightCell >= 0 { handle.metrics[observed.inFlightCell].leave() }
            observed = ExchangeObservation()
            handle.activeRequests -= 1
            if handle.activeRequests == 0 { worker.tableReleased(handle) }
            self.handle = nil
        }
        releaseBuffer(&toUpstream)
        exchange.parkReleased()
        servedRequests -= 1
        phase = .awaitingHead
        let headLength = parkedHeadLength
        parkedHeadLength = 0
        if isH2 {
            // The stream's decoded head (the body, if any, is in `fromClient`).
            let head = parkedH2Head
            parkedH2Head = nil
            startExchange(base: head?.readable.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, headLength: 0, headBytes: parkedHeadBytes)
            // Routed again to a route that is held (its first route left the table, or no
            // longer matched): parked again, from the same head, which stays with it; the
            // parser's spans point into it. Given back, the next release read freed memory.
            if phase == .parked {
                parkedH2Head = head
            } else if let head {
                worker.buffers.give(head)
            }
        } else {
            startExchange(base: fromClient!.readable.baseAddress!, headLength: headLength)
        }
        if phase == .parked {
            // Parked again: waiting, not in flight.
            endRelease()
        }
        startNanoseconds = started
        // Released (not parked again): the wait is the hold's, not the backend's.
        // Whole milliseconds overstate the wait by up to one: never past the loop's batch
        // time, which the exchange's end is measured from (else its latency wraps to years).
        if phase != .parked, observed.inFlightCell >= 0 {
            observed.parkedNanoseconds = min(waited &* 1_000_000, worker.nowNanoseconds &- started)
        }
        advance()
        bridge?.connection.needsFlush()
    }

    /// The server label of a write of `routeName` in flight upstream on this connection
    /// (connecting or sending, not parked); nil otherwise. For the hold's quiescence.
    func writeInFlight(route routeName: String) -> [UInt8]? {
        guard phase == .connecting || phase == .holdingBody || phase == .exchanging, let handle, decision.route >= 0 else { return nil }
        let route = handle.table.routes[decision.route]
        guard route.name == routeName, !method.isSafeRead else { return nil }
        if phase == .exchanging && exchange.responseComplete { return nil }
        return upstream.map { $0.pool.labelBytes } ?? lastServerLabel
    }
}

extension HTTPMethod {
    /// GET, HEAD, OPTIONS, TRACE: never held, never waited for.
    var isSafeRead: Bool {
        switch self {
        case .get, .head, .options, .trace: return true
        default: return false
        }
    }
}
