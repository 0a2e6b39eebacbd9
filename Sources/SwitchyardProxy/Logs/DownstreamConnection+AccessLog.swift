import SwitchyardHTTP
import SwitchyardRouting
import SwitchyardSystem

/// The access-log side of an exchange: its request ID, chosen when the head is parsed, and
/// its line, written when it ends (or when its head is refused). Everything here formats
/// into scratch memory and the worker's log buffer: no allocation per request.
extension DownstreamConnection {
    /// Keeps the first `X-Request-ID` of the parsed head when it is sane (`RequestID`),
    /// otherwise mints one into the scratch. The rewritten head carries it upstream.
    func assignRequestID(_ base: UnsafeRawPointer) {
        let scratch = self.scratch.unsafelyUnwrapped
        let p = requestParser
        for i in 0..<p.headerCount {
            let field = p.header(i)
            guard RequestID.isHeaderName(HeadWriter.slice(base, field.name)) else { continue }
            let value = HeadWriter.slice(base, field.value)
            if RequestID.isSane(value) {
                scratch.requestID.copyMemory(from: value.baseAddress!, byteCount: value.count)
                scratch.requestIDCount = value.count
                return
            }
            // The first copy decides: a later one cannot launder an insane first.
            break
        }
        RequestID.mint(high: worker.nextRandom(), low: worker.nextRandom(), into: scratch.requestID)
        scratch.requestIDCount = RequestID.mintedLength
    }

    /// The request ID of the exchange in progress (empty when no head was parsed).
    var requestID: UnsafeRawBufferPointer {
        guard scratch != nil else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return withScratch { UnsafeRawBufferPointer(start: $0.requestID, count: $0.requestIDCount) }
    }

    /// How the backend was chosen, for `via`.
    var via: StaticString {
        guard decision.route >= 0 else { return "-" }
        if exchange.failedOver { return "failover" }
        switch decision.reason {
        case .active: return "active"
        case .cohort: return "cohort"
        // A bucket from the user's own key (cookie, header, address) is stickiness; a new
        // user without one was placed by the split and is issued a cookie.
        case .split: return decision.issueCookie ? "split" : "sticky"
        }
    }

    /// The access-log line of an exchange that ends (called by `endRequest` before the
    /// observation is reset); `now`: the monotonic clock at the end, in nanoseconds.
    func logRequest(_ handle: TableHandle, now: UInt64) {
        // The log, the names and the server's label borrowed, not retained or copied (five
        // atomic pairs a request, with the access log on as it is by default).
        guard let log = worker.accessLogRef else { return }
        // A request that matched no route (404, CONNECT's 501) has no route or backend:
        // never the previous request's.
        let routed = decision.route >= 0
        let r = routed ? handle.routeName(decision.route) : Self.dashText
        let b = routed ? handle.backendName(decision.backend) : Self.dashText
        let o = observed
        var flags = o.flags
        // Aborted without a reason of the exchange's own: the client side broke (hung up,
        // reset its stream, a failed read or write, a TLS error).
        if aborted && flags.isEmpty { flags = .downstreamTerminated }
        // The line is written once the answer's last byte is queued, not sent: what still
        // waits in `toClient` (the tail of a large answer, or all of one of our own) is
        // counted as out. Not for an aborted exchange: those bytes will never leave.
        let queued = aborted ? 0 : UInt64(toClient?.readableCount ?? 0)
        log._withUnsafeGuaranteedRef { log in client.ip.withUnsafeBytes { c in withLastServerLabel { s in
            log.append(.init(
                client: c,
                method: UnsafeRawBufferPointer(start: logLine, count: logMethodCount),
                path: UnsafeRawBufferPointer(start: logLine + 16, count: logPathCount),
                route: r, backend: b, server: s,
                status: status, bytesIn: bytesIn, bytesOut: bytesOut &+ queued,
                durationMicroseconds: (now &- startNanoseconds) / 1000,
                generation: handle.table.generation, protocolName: protocolName, tlsVersion: tlsVersion,
                requestID: requestID, upstreamStatus: o.upstreamStatus,
                connectMicroseconds: o.connectedNanoseconds == 0 ? nil : (o.connectedNanoseconds &- o.connectStartNanoseconds) / 1000,
                ttfbMicroseconds: o.headNanoseconds == 0 ? nil : (o.headNanoseconds &- startNanoseconds) / 1000,
                retries: o.connectFailures + (exchange.replayed ? 1 : 0), via: via, flags: flags))
        } } }
    }

    /// A request refused before it was routed (malformed head): one access-log line with
    /// route and backend "-", the status and the parser's reason. No method or path: the
    /// head did not parse, so nothing of it is trustworthy enough to log — nor its
    /// `X-Request-ID`, so the line gets an ID of its own.
    func logRefusal(status: Int, reason: String) {
        guard let log = worker.accessLog else { return }
        var minted: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)   // 32 bytes, on the stack
        let high = worker.nextRandom(), low = worker.nextRandom()
        withUnsafeMutableBytes(of: &minted) { id in
            RequestID.mint(high: high, low: low, into: id.baseAddress!)
            let d = Self.dashText
            client.ip.withUnsafeBytes { c in
                log.append(.init(
                    client: c, method: d, path: d, route: d, backend: d, server: d,
                    status: status, bytesIn: 0, bytesOut: 0, durationMicroseconds: 0,
                    generation: worker.current.table.generation, protocolName: protocolName,
                    tlsVersion: tlsVersion, reason: reason,
                    requestID: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(id)[0..<RequestID.mintedLength]),
                    flags: status == 408 ? .streamIdle : .downstreamProtocolError))
            }
        }
    }

    static var dashText: UnsafeRawBufferPointer {
        let dash: StaticString = "-"
        return UnsafeRawBufferPointer(start: dash.utf8Start, count: dash.utf8CodeUnitCount)
    }
}
