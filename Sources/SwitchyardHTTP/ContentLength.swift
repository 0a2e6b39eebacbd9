/// Reads a Content-Length value.
enum ContentLength {
    /// Most digits in a Content-Length value: 15 digits stay below 2^53 (about 1 PB), far
    /// beyond any real body, and can never overflow. Longer values are refused rather than
    /// risk two parsers wrapping differently.
    static let maxDigits = 15

    /// Parses `1*15DIGIT`: no sign, no inner space, no list ("5, 5"), no hex. Else 400.
    static func parse(_ b: UnsafeRawBufferPointer, _ value: ByteSpan) throws(ParseFailure) -> UInt64 {
        guard value.count > 0 else { throw ParseFailure(400, "empty Content-Length", at: value.start) }
        guard value.count <= maxDigits else {
            throw ParseFailure(400, "Content-Length has more than 15 digits", at: value.start)
        }
        var n: UInt64 = 0
        for i in value.start..<value.end {
            let c = b[i]
            guard ByteClass.isDigit(c) else {
                throw ParseFailure(400, "Content-Length must be decimal digits only", at: i)
            }
            n = n * 10 + UInt64(c - UInt8(ascii: "0"))
        }
        return n
    }
}
