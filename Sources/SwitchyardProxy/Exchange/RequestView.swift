import SwitchyardHTTP
import SwitchyardRouting

/// A parsed request head as the router sees it: slices of the read buffer, no copies.
struct RequestView: RoutableRequest {
    let base: UnsafeRawPointer
    unowned(unsafe) let parser: HTTPRequestParser
    let clientAddress: ClientAddress
    /// The normalised path (`RoutingPath`): what route prefixes and path cohorts compare.
    let path: UnsafeRawBufferPointer
    /// The listener the request came through (index in `RoutesConfig.listeners`).
    let listener: Int

    /// Host, or for an HTTP/1.0 absolute-form request without one, the target's authority.
    var host: UnsafeRawBufferPointer {
        guard let span = parser.requestedHostSpan else { return UnsafeRawBufferPointer(start: base, count: 0) }
        return HeadWriter.slice(base, span)
    }

    func headerValue(lowercasedName name: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        for i in 0..<parser.headerCount {
            let field = parser.header(i)
            if ASCII.equalsIgnoringCase(HeadWriter.slice(base, field.name), name) {
                return HeadWriter.slice(base, field.value)
            }
        }
        return nil
    }
}
