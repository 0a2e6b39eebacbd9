import SwitchyardHTTP
import SwitchyardRouting

/// A parsed request head as the router sees it: slices of the read buffer, no copies.
struct RequestView: RoutableRequest {
    let base: UnsafeRawPointer
    unowned(unsafe) let parser: HTTPRequestParser
    let clientAddress: ClientAddress

    var host: UnsafeRawBufferPointer {
        guard let span = parser.hostSpan else { return UnsafeRawBufferPointer(start: base, count: 0) }
        return HeadWriter.slice(base, span)
    }

    var path: UnsafeRawBufferPointer { HeadWriter.slice(base, parser.pathSpan) }

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
