/// A short text (at most `capacity` bytes) held inside the value itself: no heap object,
/// so reading it from a connection's property and handing its bytes to the head writer
/// makes no reference-count call. An `[UInt8]` property is retained and released around
/// each `withUnsafeBytes` (the closure could replace the property), an atomic pair each
/// time; the client's two address texts were two such pairs a request.
struct InlineText: Equatable {
    /// What fits: the longest text a client address gives is its Forwarded element,
    /// `for="[` + 45 bytes of IPv6 text + `]"`, 53 bytes.
    static let capacity = 64

    private var storage: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    let count: Int

    /// `bytes` must fit (`capacity`): the callers write texts of a bounded form.
    init(_ bytes: some Collection<UInt8>) {
        precondition(bytes.count <= Self.capacity, "InlineText holds at most \(Self.capacity) bytes")
        count = bytes.count
        Swift.withUnsafeMutableBytes(of: &storage) { raw in
            _ = raw.initializeMemory(as: UInt8.self, from: bytes)
        }
    }

    /// `prefix`, `text` and `suffix` end to end; together they must fit (`capacity`).
    init(_ prefix: StaticString, _ text: UnsafeRawBufferPointer, _ suffix: StaticString) {
        let total = prefix.utf8CodeUnitCount + text.count + suffix.utf8CodeUnitCount
        precondition(total <= Self.capacity, "InlineText holds at most \(Self.capacity) bytes")
        count = total
        Swift.withUnsafeMutableBytes(of: &storage) { raw in
            let out = raw.baseAddress.unsafelyUnwrapped
            out.copyMemory(from: prefix.utf8Start, byteCount: prefix.utf8CodeUnitCount)
            var at = prefix.utf8CodeUnitCount
            if let base = text.baseAddress { (out + at).copyMemory(from: base, byteCount: text.count) }
            at += text.count
            (out + at).copyMemory(from: suffix.utf8Start, byteCount: suffix.utf8CodeUnitCount)
        }
    }

    /// The bytes, valid during `body` only.
    @inline(__always)
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try Swift.withUnsafeBytes(of: storage) { raw in
            try body(UnsafeRawBufferPointer(rebasing: raw[0..<count]))
        }
    }

    /// The bytes as an array (tests, equality).
    var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// The text as a String, for error log lines.
    var string: String { withUnsafeBytes { String(decoding: $0, as: UTF8.self) } }

    static func == (a: InlineText, b: InlineText) -> Bool { a.bytes == b.bytes }
}
