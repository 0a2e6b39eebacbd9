/// Walks a comma-separated list value (`#element`, RFC 9110 §5.6.1) without allocating.
/// Elements are trimmed of OWS; empty elements are reported so that each caller decides
/// whether to tolerate them.
struct FieldList {
    private let bytes: UnsafeRawBufferPointer
    private var position: Int
    private let end: Int
    private var done = false

    init(_ bytes: UnsafeRawBufferPointer, _ span: ByteSpan) {
        self.bytes = bytes
        self.position = span.start
        self.end = span.end
    }

    /// The next element (possibly empty), or nil after the last one.
    mutating func next() -> ByteSpan? {
        guard !done else { return nil }
        var i = position
        while i < end, bytes[i] != Byte.comma { i += 1 }
        var s = position
        var e = i
        while s < e, ByteClass.isWhitespace(bytes[s]) { s += 1 }
        while e > s, ByteClass.isWhitespace(bytes[e - 1]) { e -= 1 }
        if i < end { position = i + 1 } else { done = true }
        return ByteSpan(from: s, to: e)
    }

    /// True when every byte of `span` is a tchar (and it is not empty).
    static func isToken(_ bytes: UnsafeRawBufferPointer, _ span: ByteSpan) -> Bool {
        guard span.count > 0 else { return false }
        for i in span.start..<span.end where !ByteClass.isTokenChar(bytes[i]) { return false }
        return true
    }
}
