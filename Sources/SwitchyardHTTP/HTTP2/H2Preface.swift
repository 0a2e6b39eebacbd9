/// The client connection preface of HTTP/2 (RFC 9113 §3.4), by which a client with prior
/// knowledge (h2c) starts speaking HTTP/2 on a plain connection.
public enum H2Preface {
    public static let bytes: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    public enum Match { case complete, partial }

    /// `.complete` when `input` starts with the whole preface, `.partial` when it is a
    /// proper prefix of it (wait for more), nil when it is something else.
    public static func match(_ input: UnsafeRawBufferPointer) -> Match? {
        let n = min(input.count, bytes.count)
        guard n > 0 else { return nil }
        for i in 0..<n where input[i] != bytes[i] { return nil }
        return n == bytes.count ? .complete : .partial
    }
}
