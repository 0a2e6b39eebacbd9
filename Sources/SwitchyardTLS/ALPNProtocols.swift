/// An ALPN preference list in wire format (RFC 7301 §3.1: each name prefixed by its length),
/// and the server's choice against a client's offer.
final class ALPNProtocols: Sendable {
    /// Length-prefixed names, our preference first.
    let wire: [UInt8]

    /// Names must be 1…255 bytes; an empty list means "no ALPN".
    init(_ names: [String]) throws(TLSError) {
        var wire: [UInt8] = []
        for name in names {
            let bytes = Array(name.utf8)
            guard (1...255).contains(bytes.count) else {
                throw TLSError(message: "ALPN protocol name must be 1 to 255 bytes: \"\(name)\"")
            }
            wire.append(UInt8(bytes.count))
            wire.append(contentsOf: bytes)
        }
        self.wire = wire
    }

    /// The fallback offered when none of ours match: every HTTP client speaks it.
    static let http11: [UInt8] = Array("http/1.1".utf8)

    /// The server's pick from a client's wire-format `offer`: the first of *our* names the
    /// client offers; else "http/1.1" if the client offers it (a client that offers ALPN
    /// still speaks HTTP/1.1 even if we did not list it); else nil, meaning "answer without
    /// ALPN". Returns the chosen name's range inside `offer`, which OpenSSL copies.
    /// Allocates nothing: it runs once per handshake inside OpenSSL's callback.
    func select(from offer: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        let chosen: Range<Int>? = wire.withUnsafeBufferPointer { ours in
            var index = 0
            while index < ours.count {
                let length = Int(ours[index])
                let name = UnsafeBufferPointer(rebasing: ours[(index + 1)..<(index + 1 + length)])
                if let range = Self.find(name, in: offer) { return range }
                index += 1 + length
            }
            return nil
        }
        if let chosen { return chosen }
        return Self.http11.withUnsafeBufferPointer { Self.find($0, in: offer) }
    }

    /// The range of `name` inside the wire-format `list`, nil when absent or when the list
    /// is malformed (a length running past the end: the client's bytes are untrusted).
    private static func find(_ name: UnsafeBufferPointer<UInt8>, in list: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        var index = 0
        while index < list.count {
            let length = Int(list[index])
            let start = index + 1
            guard length > 0, start + length <= list.count else { return nil }
            if length == name.count && memcmpEqual(list, start, name) {
                return start..<(start + length)
            }
            index = start + length
        }
        return nil
    }

    private static func memcmpEqual(_ list: UnsafeBufferPointer<UInt8>, _ start: Int, _ name: UnsafeBufferPointer<UInt8>) -> Bool {
        for offset in 0..<name.count where list[start + offset] != name[offset] {
            return false
        }
        return true
    }
}
