/// The framing bytes of the chunked transfer coding, for writing bodies upstream or
/// downstream. A chunk is `writeChunkHeader` + data + `chunkTrailer`; a body ends with
/// `lastChunk` (no trailers, no extensions).
public enum ChunkedEncoder {
    /// Longest chunk header: 16 hex digits (a 64-bit count) and CRLF.
    public static let maxChunkHeaderBytes = 18

    /// Writes "<hex>\r\n" (lowercase hex, no leading zeros) for a chunk of `count` bytes
    /// into `into` (caller guarantees >= 18 bytes); returns bytes written. Beware: a count of
    /// 0 writes "0\r\n", which starts the last chunk; never frame an empty read with it.
    public static func writeChunkHeader(count: Int, into: UnsafeMutableRawBufferPointer) -> Int {
        precondition(count >= 0, "chunk size must not be negative")
        precondition(into.count >= maxChunkHeaderBytes, "chunk header buffer must hold 18 bytes")
        let value = UInt64(count)
        let digits = max(1, (64 - value.leadingZeroBitCount + 3) / 4)
        var v = value
        var i = digits - 1
        while i >= 0 {
            let nibble = UInt8(v & 0xF)
            into[i] = nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
            v >>= 4
            i -= 1
        }
        into[digits] = Byte.cr
        into[digits + 1] = Byte.lf
        return digits + 2
    }

    /// Written after each chunk's data.
    public static let chunkTrailer: StaticString = "\r\n"
    /// Ends a chunked body: the zero-size chunk and the empty trailer section.
    public static let lastChunk: StaticString = "0\r\n\r\n"
}
