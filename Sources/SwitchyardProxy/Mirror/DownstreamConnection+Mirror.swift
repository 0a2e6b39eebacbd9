import SwitchyardCompare
import SwitchyardHTTP
import SwitchyardRouting
import SwitchyardSystem

/// The mirror's fork at the decision point, and the primary's side of the pair.
///
/// A request of a mirrored route whose user's bucket is in the mirror's share is copied —
/// its head as rewritten for upstreams plus `X-Switchyard-Mirror: 1`, and its body when it
/// has one that already arrived whole — into a `MirrorExchange` with no client, on the
/// worker's own mirror connections. The primary goes on exactly as without a mirror; its
/// answer is recorded on the side (`mirrorPair`) while it is relayed. Over a bound the copy
/// is dropped and counted, never queued.
extension DownstreamConnection {
    static let mirrorMarker: StaticString = "X-Switchyard-Mirror: 1\r\n\r\n"

    /// Called at the decision point once the request goes on (`.forward`); `headLength`: the
    /// head's bytes at the start of `fromClient` (0 for an HTTP/2 stream: the body starts there).
    func forkMirror(_ mirror: CompiledMirror, _ base: UnsafeRawPointer, headLength: Int) {
        // An upgrade (WebSocket) becomes a tunnel, not an answer to compare: never copied.
        guard let handle, let head = toUpstream, mirrorPair == nil, !requestIsUpgrade else { return }
        // A user the route already sends to the mirror's target (its split share, a flip, a
        // cohort) would be compared with itself: a pair that always matches and reads as
        // evidence that the new side answers as the old one does.
        guard mirror.backendIndex != decision.backend else { return }
        let p = requestParser
        let table = handle.table
        let view = RequestView(base: base, parser: p, clientAddress: client.address,
                               path: scratch.unsafelyUnwrapped.routingPath(base: base), listener: client.listener)
        guard mirror.covers(bucket: table.mirrorBucket(decision, view)) else { return }
        let state = worker.mirrorState
        let limiter = state.limiter(for: mirror.backend)
        let methodBytes = HeadWriter.slice(base, p.methodSpan)
        let isRead = mirror.allows(method: methodBytes)
        // A write is copied only to a sandbox: a copy of the database where it does no harm.
        if !isRead && !mirror.sandbox {
            limiter.dropped(.method)
            return
        }
        // The common drop (a stalled target holds its in-flight share) is decided before a
        // server is picked or a buffer taken: a copy that will not go costs the user nothing.
        let rules = mirror.rules
        guard limiter.hasRoom(inFlightShare: share(rules.inFlight)) else { return }
        // A pair whose copy ended waits for its primary, a slow reader's too, holding up to
        // 2 MiB of captures: at most four times the in-flight share of them per worker, or
        // slow readers would hold memory without bound (counted as in-flight drops).
        guard state.livePairs < 4 * share(rules.inFlight) else {
            limiter.dropped(.inFlight)
            return
        }
        var body = UnsafeRawBufferPointer(start: nil, count: 0)
        switch requestBody {
        case .done:
            break
        case .length(let n):
            // Only a body that is all here is copied: the copy never waits for the client.
            guard let input = fromClient, UInt64(input.readableCount - headLength) >= n else {
                limiter.dropped(.tooLarge)
                return
            }
            body = UnsafeRawBufferPointer(start: input.readable.baseAddress! + headLength, count: Int(n))
        case .chunked, .streamChunked:
            limiter.dropped(.tooLarge)
            return
        }
        guard let server = mirrorServer(handle, backend: mirror.backendIndex, state) else {
            limiter.dropped(.noServer)
            return
        }
        guard let request = mirrorRequest(head.readable, body: body) else {
            limiter.dropped(.tooLarge)
            return
        }
        let now = Clock.monotonicMilliseconds()
        guard limiter.admit(inFlightShare: share(rules.inFlight), ratePerSecond: Double(rules.ratePerSecond) / Double(state.workers),
                            now: now) else {
            worker.buffers.give(request)
            return
        }
        let route = table.routes[decision.route]
        let pair = MirrorPair(route: route.name, method: String(decoding: methodBytes, as: UTF8.self),
                              path: String(decoding: HeadWriter.slice(base, p.pathSpan), as: UTF8.self),
                              primary: state.takeRecorder(), mirror: state)
        mirrorPair = pair
        let deadline = now + state.deadlineMilliseconds
        let copy = MirrorExchange(mirror: state, pair: pair, kind: .mirror, target: mirror.backend, limiter: limiter,
                                  server: server, method: method, request: request, deadline: deadline)
        pair.added(copy)
        // Noise: the same copy to the primary side, safe methods only (a write is never sent
        // twice to the side whose database is real, even when `mirror methods` lists it for
        // copies to a sandbox).
        var noise: MirrorExchange?
        let safe = method == .get || method == .head || method == .options
        if safe, isRead, rules.noiseBasisPoints > 0, worker.nextRandom() % 10_000 < UInt64(rules.noiseBasisPoints) {
            let primaryName = table.backends[decision.backend].name
            let noiseLimiter = state.limiter(for: primaryName)
            if let primaryServer = mirrorServer(handle, backend: decision.backend, state),
               let again = mirrorRequest(head.readable, body: body) {
                if noiseLimiter.admit(inFlightShare: share(rules.inFlight), ratePerSecond: Double(rules.ratePerSecond) / Double(state.workers), now: now) {
                    noise = MirrorExchange(mirror: state, pair: pair, kind: .noise, target: primaryName, limiter: noiseLimiter,
                                           server: primaryServer, method: method, request: again, deadline: deadline)
                    pair.added(noise!)
                } else {
                    worker.buffers.give(again)
                }
            }
        }
        state.launch(copy)
        if let noise { state.launch(noise) }
    }

    /// This worker's share of a per-proxy bound (rounded up, so the sum is never below it).
    private func share(_ total: Int) -> Int {
        let n = worker.settings.workers
        return (total + n - 1) / n
    }

    /// An available server of `backend` that is not drained (plain or TLS, as the primary
    /// reaches it), starting at a random one so copies spread over the servers.
    private func mirrorServer(_ handle: TableHandle, backend: Int, _ state: WorkerMirror) -> MirrorServer? {
        let pools = handle.servers[backend]
        guard !pools.isEmpty else { return nil }
        let now = Clock.monotonicMilliseconds()
        let first = Int(worker.nextRandom() % UInt64(pools.count))
        var k = 0
        while k < pools.count {
            let index = (first + k) % pools.count
            let pool = pools[index]
            // A drained server (`weight 0`) gets no copy either: it is about to go away.
            if pool.isAvailable(now: now), !handle.isDrained(backend: backend, index: index) {
                return state.server(key: pool.key, address: pool.address, tls: pool.tls)
            }
            k += 1
        }
        return nil
    }

    /// The copy's bytes in a pooled buffer: the upstream head with the mirror's marker field
    /// before its final CRLF, then the body. nil when they do not fit one buffer.
    private func mirrorRequest(_ head: UnsafeRawBufferPointer, body: UnsafeRawBufferPointer) -> IOBuffer? {
        let marker = UnsafeRawBufferPointer(start: Self.mirrorMarker.utf8Start, count: Self.mirrorMarker.utf8CodeUnitCount)
        let buffer = worker.buffers.take()
        guard head.count >= 4, head.count - 2 + marker.count + body.count <= buffer.capacity else {
            worker.buffers.give(buffer)
            return nil
        }
        buffer.append(UnsafeRawBufferPointer(rebasing: head[0..<(head.count - 2)]))
        buffer.append(marker)
        if body.count > 0 { buffer.append(body) }
        return buffer
    }

    /// Body bytes of the primary's answer, as relayed (de-framed).
    @inline(never)
    func mirrorTap(_ bytes: UnsafeRawBufferPointer) {
        mirrorPair?.primary.body(bytes)
    }

    /// The primary's exchange ended (answered in full, or not).
    @inline(never)
    func mirrorPrimaryEnded() {
        guard let pair = mirrorPair else { return }
        mirrorPair = nil
        if pair.primary.status == 0 { pair.primary.status = status }
        pair.primary.ended(failure: responseDone && !aborted ? nil : .reset)
        pair.partEnded()
    }
}
