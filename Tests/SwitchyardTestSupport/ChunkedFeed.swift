import SwitchyardHTTP

/// Decodes a chunked body with a fresh `ChunkedDecoder`, making `feed` more bytes available
/// per call and at most `maxData` data bytes per step: what was decoded, whether the last
/// chunk was reached, and the error status if the body was refused. Fed whole and byte by
/// byte, a body must give the same answer (the replay test and the fuzz harness compare).
/// The fuzz harness is built by swiftc outside SwiftPM and compiles this file in directly.
public func decodeChunked(_ bytes: UnsafeRawBufferPointer, maxData: Int, feed: Int) -> (data: [UInt8], finished: Bool, error: Int?) {
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
