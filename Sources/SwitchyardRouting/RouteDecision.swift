/// Where one request (or tcp connection) goes, and why.
public struct RouteDecision: Sendable, Equatable {
    /// Why this backend was chosen.
    public enum Reason: UInt8, Sendable {
        /// The route's active side (no cohort matched, no split).
        case active
        /// A cohort matched.
        case cohort
        /// The split, by the request's bucket.
        case split
    }

    /// Index into `RouteTable.routes`.
    public var route: Int
    /// Index into `RouteTable.backends`.
    public var backend: Int
    /// 0…9999, or -1 when no split was involved.
    public var bucket: Int
    public var reason: Reason
    /// The route is `sticky cookie NAME`, the split decided, and the request had no such
    /// cookie: the proxy must answer with `Set-Cookie: NAME=<cookieValue>; Path=/; HttpOnly;
    /// SameSite=Lax` (over TLS `SameSite=None; Secure`) so the user keeps this bucket.
    public var issueCookie: Bool
    /// The token to send when `issueCookie`, written as 16 lower-case hex digits (see
    /// `writeCookieValue(into:)`). The bucket was derived from that text exactly as it will
    /// be from the cookie when it comes back. 0 when `issueCookie` is false.
    public var cookieValue: UInt64

    public init(route: Int, backend: Int, bucket: Int, reason: Reason, issueCookie: Bool = false, cookieValue: UInt64 = 0) {
        self.route = route
        self.backend = backend
        self.bucket = bucket
        self.reason = reason
        self.issueCookie = issueCookie
        self.cookieValue = cookieValue
    }

    /// Writes `cookieValue` as 16 lower-case hex digits into the start of `buffer` (which
    /// must hold at least 16 bytes) and returns 16. Does not allocate.
    @discardableResult
    public func writeCookieValue(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        precondition(buffer.count >= 16, "cookie value needs 16 bytes")
        for i in 0..<16 {
            buffer[i] = StickyBucket.hexDigit(of: cookieValue, at: i)
        }
        return 16
    }
}
