import SwitchyardHTTP
import SwitchyardRouting

/// A parsed request head as the router sees it: slices of the read buffer, no copies.
struct RequestView: RoutableRequest {
    let base: UnsafeRawPointer
    /// Borrowed: the connection holds the parser for the whole exchange, and a view lives
    /// only while a head is routed or observed. Read through `_withUnsafeGuaranteedRef`,
    /// which costs nothing, where an `unowned(unsafe)` property is made strong (an atomic
    /// retain and release) at every use — ten a request between `host` and `headerValue`.
    private let parserRef: Unmanaged<HTTPRequestParser>
    let clientAddress: ClientAddress
    /// The normalised path (`RoutingPath`): what route prefixes and path cohorts compare.
    let path: UnsafeRawBufferPointer
    /// The listener the request came through (index in `RoutesConfig.listeners`).
    let listener: Int

    init(base: UnsafeRawPointer, parser: HTTPRequestParser, clientAddress: ClientAddress,
         path: UnsafeRawBufferPointer, listener: Int) {
        self.base = base
        parserRef = .passUnretained(parser)
        self.clientAddress = clientAddress
        self.path = path
        self.listener = listener
    }

    /// Host, or for an HTTP/1.0 absolute-form request without one, the target's authority.
    var host: UnsafeRawBufferPointer {
        let base = self.base
        return parserRef._withUnsafeGuaranteedRef { parser in
            guard let span = parser.requestedHostSpan else { return UnsafeRawBufferPointer(start: base, count: 0) }
            return HeadWriter.slice(base, span)
        }
    }

    var cookieHeader: UnsafeRawBufferPointer? {
        let base = self.base
        return parserRef._withUnsafeGuaranteedRef { parser in parser.cookieSpan.map { HeadWriter.slice(base, $0) } }
    }

    func headerValue(lowercasedName name: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        let base = self.base
        return parserRef._withUnsafeGuaranteedRef { parser in
            var i = 0
            while i < parser.headerCount {
                let field = parser.header(i)
                if ASCII.equalsIgnoringCase(HeadWriter.slice(base, field.name), name) {
                    return HeadWriter.slice(base, field.value)
                }
                i += 1
            }
            return nil
        }
    }
}
