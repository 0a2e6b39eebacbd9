/// A run of bytes inside a message, as an offset from the message's first byte and a length.
///
/// Parsers hand out spans rather than pointers because the caller's buffer may move between
/// calls (it grows as more bytes arrive); the offsets stay true for as long as the message's
/// prefix is unchanged.
public struct ByteSpan: Sendable, Equatable {
    /// Offset of the first byte, counted from the message's first byte.
    public var start: Int
    /// Number of bytes.
    public var count: Int
    /// Offset one past the last byte.
    public var end: Int { start + count }

    public init(start: Int, count: Int) {
        self.start = start
        self.count = count
    }

    init(from start: Int, to end: Int) {
        self.start = start
        self.count = end - start
    }
}

extension UnsafeRawBufferPointer {
    /// The bytes of `span`, without copying.
    @inline(__always)
    subscript(span span: ByteSpan) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: self[span.start..<span.end])
    }
}
