/// What one call to `ChunkedDecoder.decode` did.
public struct ChunkedStep: Sendable, Equatable {
    /// Bytes at the front of the input the caller must drop: framing and the data run.
    public var consumed: Int
    /// The data run's offset and length within the input (count 0 when none).
    public var data: ByteSpan
    /// The last chunk, the trailer section and the final CRLF were consumed; nothing after
    /// them was.
    public var finished: Bool

    public init(consumed: Int, data: ByteSpan, finished: Bool) {
        self.consumed = consumed
        self.data = data
        self.finished = finished
    }
}
