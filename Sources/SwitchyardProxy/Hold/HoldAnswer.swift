/// The 503 a held write gets when it cannot be parked or waited too long: it says plainly
/// that the change was NOT saved (the request never reached a backend and never will), and
/// when to try again.
enum HoldAnswer {
    static let retryAfterSeconds: StaticString = "30"
    static let body: StaticString = """
        503 Service Unavailable: writes are paused for maintenance.
        Your change was NOT saved. Please try again in a minute.

        """

    static func write(_ out: IOBuffer, close: Bool) {
        out.ensureWritable(512)
        out.append("HTTP/1.1 503 Service Unavailable\r\nRetry-After: ")
        out.append(retryAfterSeconds)
        out.append("\r\nContent-Type: text/plain; charset=utf-8\r\nCache-Control: no-store\r\nContent-Length: ")
        out.append(decimal: UInt64(body.utf8CodeUnitCount))
        out.append(close ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n")
        out.append(body)
    }
}
