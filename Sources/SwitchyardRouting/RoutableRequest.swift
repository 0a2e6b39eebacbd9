/// What the router needs from a request. The proxy implements it over its read buffer, so
/// routing does not allocate: every buffer returned stays valid for the duration of the
/// `RouteTable.route` call.
public protocol RoutableRequest {
    /// The Host header (or `:authority`) value as sent; may include `:port`. The table ignores
    /// a port suffix and a trailing dot, and compares case-insensitively.
    var host: UnsafeRawBufferPointer { get }
    /// The request path without the query.
    var path: UnsafeRawBufferPointer { get }
    var clientAddress: ClientAddress { get }
    /// The first header with this name (case-insensitive); `name` is lower-case ASCII.
    ///
    /// For `cookie`, HTTP/2 allows the cookie to arrive in several fields (RFC 9113 §8.2.3):
    /// the proxy should return them joined with "; " so sticky cookies are found.
    func headerValue(lowercasedName name: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer?
    /// `headerValue(lowercasedName: "cookie")`: sticky cookies, cookie cohorts and the
    /// decision log read it on every request of a cookie route. The proxy's parser keeps
    /// the span as it classifies the field, instead of a search of the head by name.
    var cookieHeader: UnsafeRawBufferPointer? { get }
    /// The index in `RoutesConfig.listeners` of the listener the request came through, or
    /// -1 when unknown (then routes bound to named listeners do not match).
    var listener: Int { get }
}

extension RoutableRequest {
    public var listener: Int { -1 }

    public var cookieHeader: UnsafeRawBufferPointer? {
        headerValue(lowercasedName: UnsafeRawBufferPointer(start: CookieName.text.utf8Start, count: 6))
    }
}

/// The name the default `cookieHeader` searches for.
private enum CookieName {
    static let text: StaticString = "cookie"
}
