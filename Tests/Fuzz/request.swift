// libFuzzer harness: the request head parser, then a chunked body if the head says so.
import SwitchyardHTTP

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequest(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let whole = HTTPRequestParser()
    let resultWhole = whole.parse(bytes)
    // The same bytes in two feeds must give the same verdict.
    if size > 1 {
        let cut = Int(data[0]) % size
        let split = HTTPRequestParser()
        var result = split.parse(UnsafeRawBufferPointer(rebasing: bytes[0..<cut]))
        if case .needMore = result { result = split.parse(bytes) }
        precondition(result == resultWhole, "split feed disagrees: \(result) vs \(resultWhole)")
    }
    if case .complete(let headLength) = resultWhole, whole.framing == .chunked {
        var decoder = ChunkedDecoder()
        var rest = UnsafeRawBufferPointer(rebasing: bytes[headLength...])
        while true {
            guard let step = try? decoder.decode(rest, maxData: 7) else { break }
            precondition(step.consumed <= rest.count && step.data.end <= step.consumed)
            if step.finished || step.consumed == 0 { break }
            rest = UnsafeRawBufferPointer(rebasing: rest[step.consumed...])
        }
    }
    return 0
}
