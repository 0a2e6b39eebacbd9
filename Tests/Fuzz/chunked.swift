// libFuzzer harness: the chunked decoder, whole versus one byte at a time.
// Built together with Tests/SwitchyardTestSupport/ChunkedFeed.swift (decodeChunked).
import SwitchyardHTTP

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzChunked(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 1 else { return 0 }
    let maxData = Int(data[0] % 64) + 1
    let bytes = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    let whole = decodeChunked(bytes, maxData: maxData, feed: bytes.count)
    let trickle = decodeChunked(bytes, maxData: maxData, feed: 1)
    precondition(whole.data == trickle.data && whole.finished == trickle.finished && whole.error == trickle.error, "feeds disagree")
    return 0
}
