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

    init(limits: HTTPLimits) {
        request = HTTPRequestParser(limits: limits)
        response = HTTPResponseParser(limits: limits)
        logLine = .allocate(byteCount: Self.logLineCapacity, alignment: 1)
    }

    deinit { logLine.deallocate() }

    /// Ready for the next user.
    func reset() {
        request.reset()
        response.reset()
    }
}
