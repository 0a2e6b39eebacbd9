import SwitchyardHTTP

/// The outcome of decoding a whole chunked body.
struct DecodedBody: Equatable {
    var data: [UInt8] = []
    /// Body bytes consumed in all.
    var consumed = 0
    var finished = false
    var error: HTTPParseError?
    /// The longest data run seen.
    var longestRun = 0
}

/// Decodes `body` as it arrives in pieces (the `feed` cuts), keeping unconsumed bytes as a
/// caller would, and reassembles the data.
func decodeChunked(_ body: [UInt8], _ feed: Feed = .whole, maxData: Int = 1 << 20,
                   limits: HTTPLimits = .default) -> DecodedBody {
    var decoder = ChunkedDecoder(limits: limits)
    var out = DecodedBody()
    var pending: [UInt8] = []
    var delivered = 0
    for cut in feed.cuts(body.count) {
        pending += body[delivered..<cut]
        delivered = cut
        while true {
            let step: ChunkedStep
            do {
                step = try pending.withUnsafeBytes { try decoder.decode($0, maxData: maxData) }
            } catch {
                out.error = error as? HTTPParseError
                return out
            }
            if step.data.count > 0 {
                out.data += pending[step.data.start..<step.data.end]
                out.longestRun = max(out.longestRun, step.data.count)
            }
            pending.removeFirst(step.consumed)
            out.consumed += step.consumed
            if step.finished {
                out.finished = true
                return out
            }
            if step.consumed == 0 && step.data.count == 0 { break }
        }
    }
    return out
}

func decodeChunked(_ text: String, _ feed: Feed = .whole, maxData: Int = 1 << 20,
                   limits: HTTPLimits = .default) -> DecodedBody {
    decodeChunked(bytes(text), feed, maxData: maxData, limits: limits)
}
