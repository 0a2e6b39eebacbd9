// libFuzzer harness: the response head parser.
import SwitchyardHTTP

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzResponse(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 1 else { return 0 }
    let methods: [HTTPMethod] = [.get, .head, .post, .connect]
    let method = methods[Int(data[0]) % methods.count]
    let bytes = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    let whole = HTTPResponseParser()
    let resultWhole = whole.parse(bytes, requestMethod: method)
    let cut = Int(data[0] >> 2) % bytes.count
    let split = HTTPResponseParser()
    var result = split.parse(UnsafeRawBufferPointer(rebasing: bytes[0..<cut]), requestMethod: method)
    if case .needMore = result { result = split.parse(bytes, requestMethod: method) }
    precondition(result == resultWhole, "split feed disagrees: \(result) vs \(resultWhole)")
    return 0
}
