// libFuzzer harness: the chunked decoder, whole versus one byte at a time.
import SwitchyardHTTP

func decodeAll(_ bytes: UnsafeRawBufferPointer, maxData: Int, step feed: Int) -> ([UInt8], Bool, Int?) {
    var decoder = ChunkedDecoder()
    var data: [UInt8] = []
    var available = 0
    var start = 0
    while start < bytes.count {
        available = min(bytes.count, max(available, start) + feed)
        let window = UnsafeRawBufferPointer(rebasing: bytes[start..<available])
        let step: ChunkedStep
        do { step = try decoder.decode(window, maxData: maxData) } catch { return (data, false, error.status) }
        data += window[step.data.start..<step.data.end]
        start += step.consumed
        if step.finished { return (data, true, nil) }
        if step.consumed == 0 && available == bytes.count { break }
    }
    return (data, false, nil)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzChunked(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 1 else { return 0 }
    let maxData = Int(data[0] % 64) + 1
    let bytes = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    let whole = decodeAll(bytes, maxData: maxData, step: bytes.count)
    let trickle = decodeAll(bytes, maxData: maxData, step: 1)
    precondition(whole.0 == trickle.0 && whole.1 == trickle.1 && whole.2 == trickle.2, "feeds disagree")
    return 0
}
