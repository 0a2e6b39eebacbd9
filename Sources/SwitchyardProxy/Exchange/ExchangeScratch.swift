import SwitchyardHTTP

/// What a connection needs only while a request is in progress: the head parsers (with
/// their field tables) and the access-log scratch. Pooled per worker.
final class ExchangeScratch {
    static let logLineCapacity = 512
    let request: HTTPRequestParser
    let response: HTTPResponseParser
    /// Method (first 16 bytes) and path of the request, kept for the access-log line after
    /// the head has left the read buffer.
    let logLine: UnsafeMutableRawPointer
    /// Where a path that needs it is normalised for routing (`RoutingPath`); a path is never
    /// longer than the request line.
    let routingPath: UnsafeMutableRawBufferPointer
    /// The request's ID (`RequestID`): the client's sane `X-Request-ID`, or one minted here;
    /// logged and sent upstream. `requestIDCount` bytes are valid.
    let requestID: UnsafeMutableRawPointer
    var requestIDCount = 0

    init(limits: HTTPLimits) {
        request = HTTPRequestParser(limits: limits)
        response = HTTPResponseParser(limits: limits)
        logLine = .allocate(byteCount: Self.logLineCapacity, alignment: 1)
        routingPath = .allocate(byteCount: limits.maxRequestLineBytes, alignment: 1)
        requestID = .allocate(byteCount: RequestID.maxLength, alignment: 1)
    }

    deinit {
        logLine.deallocate()
        routingPath.deallocate()
        requestID.deallocate()
    }

    /// The path `request` (complete, in `base`) is routed by: its own bytes, or their
    /// normalised form written into `routingPath`.
    func routingPath(base: UnsafeRawPointer) -> UnsafeRawBufferPointer {
        let raw = UnsafeRawBufferPointer(start: base + request.pathSpan.start, count: request.pathSpan.count)
        guard RoutingPath.needsNormalizing(raw) else { return raw }
        let length = RoutingPath.normalize(raw, into: routingPath)
        return UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(routingPath)[0..<length])
    }

    /// Ready for the next user.
    func reset() {
        request.reset()
        response.reset()
        requestIDCount = 0
    }
}
