import CSwitchyardShims
import Glibc

/// An IPv4, IPv6 or Unix socket address, stored as the kernel wants it.
public struct SocketAddress: Sendable, CustomStringConvertible {
    public var storage: sockaddr_storage
    public var length: socklen_t

    public init(storage: sockaddr_storage, length: socklen_t) {
        self.storage = storage
        self.length = length
    }

    /// Parses a numeric IPv4 or IPv6 address (no brackets) and a port.
    public init?(ip: String, port: UInt16) {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, ip, &v4) == 1 {
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            sin.sin_addr = v4
            self.init(copying: sin)
        } else if inet_pton(AF_INET6, ip, &v6) == 1 {
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = port.bigEndian
            sin6.sin6_addr = v6
            self.init(copying: sin6)
        } else {
            return nil
        }
    }

    /// The IPv4 address `value` (host byte order, as `ipv4` gives it), port 0.
    public init(ipv4 value: UInt32) {
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_addr.s_addr = value.bigEndian
        self.init(copying: sin)
    }

    /// The IPv6 address of two host-order halves (as `ipv6` gives them), port 0.
    public init(ipv6 high: UInt64, _ low: UInt64) {
        var sin6 = sockaddr_in6()
        sin6.sin6_family = sa_family_t(AF_INET6)
        withUnsafeMutableBytes(of: &sin6.sin6_addr) { raw in
            for i in 0..<8 { raw[i] = UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64(i))) }
            for i in 0..<8 { raw[8 + i] = UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64(i))) }
        }
        self.init(copying: sin6)
    }

    /// The address in `address` (a `sockaddr_in`, `sockaddr_in6` or `sockaddr_un`), copied
    /// into the storage, its length the type's size.
    private init<Address>(copying address: Address) {
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { raw in withUnsafeBytes(of: address) { raw.copyMemory(from: $0) } }
        self.init(storage: storage, length: socklen_t(MemoryLayout<Address>.size))
    }

    /// A Unix domain socket path (at most 107 bytes, see unix(7)).
    public init?(unixPath: String) {
        var sun = sockaddr_un()
        sun.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(unixPath.utf8)
        let capacity = MemoryLayout.size(ofValue: sun.sun_path)
        guard bytes.count < capacity else { return nil }
        withUnsafeMutableBytes(of: &sun.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        self.init(copying: sun)
    }

    /// Resolves `host` (numeric or a DNS name, "localhost" included) with getaddrinfo.
    /// Blocking: call it while loading configuration, never on an event loop.
    public static func resolve(host: String, port: UInt16) throws(Errno) -> SocketAddress {
        if let numeric = SocketAddress(ip: host, port: port) { return numeric }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let first = result else {
            // EAGAIN for a failure that may pass (the resolver unreachable or overloaded),
            // as against a name that does not exist.
            throw Errno(code: rc == EAI_AGAIN ? EAGAIN : EHOSTUNREACH, call: "getaddrinfo(\(host)): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(result) }
        // Prefer IPv4 for "localhost" and friends: test backends bind 127.0.0.1.
        var chosen = first
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            if entry.pointee.ai_family == AF_INET { chosen = entry; break }
            cursor = entry.pointee.ai_next
        }
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { raw in
            raw.copyMemory(from: UnsafeRawBufferPointer(start: chosen.pointee.ai_addr, count: Int(chosen.pointee.ai_addrlen)))
        }
        return SocketAddress(storage: storage, length: chosen.pointee.ai_addrlen)
    }

    public var family: Int32 { Int32(storage.ss_family) }

    public var port: UInt16 {
        var storage = self.storage
        switch family {
        case AF_INET:
            return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) } }
        case AF_INET6:
            return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) } }
        default:
            return 0
        }
    }

    /// The IPv4 address in host byte order, if this is IPv4.
    public var ipv4: UInt32? {
        guard family == AF_INET else { return nil }
        var storage = self.storage
        return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) } }
    }

    /// The IPv6 address as two host-order halves, if this is IPv6.
    public var ipv6: (UInt64, UInt64)? {
        guard family == AF_INET6 else { return nil }
        var storage = self.storage
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                withUnsafeBytes(of: sin6.pointee.sin6_addr) { raw in
                    var high: UInt64 = 0, low: UInt64 = 0
                    for i in 0..<8 { high = high << 8 | UInt64(raw[i]) }
                    for i in 8..<16 { low = low << 8 | UInt64(raw[i]) }
                    return (high, low)
                }
            }
        }
    }

    /// The address without the port ("127.0.0.1", "::1"), for logs and X-Forwarded-For.
    public var ipString: String {
        withIPText { String(decoding: $0, as: UTF8.self) }
    }

    /// The text `ipString` spells, written into a buffer on the stack and handed to `body`
    /// (valid during the call only). A client connection makes its address texts from it
    /// once, and again when an idle one wakes: an `[CChar]`, inet_ntop's `sprintf` and a
    /// `String` each time were about 3,900 instructions and two heap blocks a connection.
    /// A dotted quad is written here; IPv6 stays inet_ntop's (its zero-run compression and
    /// IPv4-mapped form are the ones logs and X-Forwarded-For have always carried).
    public func withIPText<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var storage = self.storage
        let family = self.family
        // 48 bytes on the stack: inet_ntop's longest IPv6 text and its NUL (INET6_ADDRSTRLEN,
        // 46) fit. CChar and UInt8 may share memory (signed and unsigned of one size).
        return try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 48) { buffer in
            let out = buffer.baseAddress.unsafelyUnwrapped
            var count = 0
            switch family {
            case AF_INET:
                count = Self.writeDottedQuad(ipv4.unsafelyUnwrapped, into: out)   // set for AF_INET
            case AF_INET6:
                withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                    var addr = sin6.pointee.sin6_addr
                    if inet_ntop(AF_INET6, &addr, UnsafeMutableRawPointer(out).assumingMemoryBound(to: CChar.self),
                                 socklen_t(buffer.count)) != nil {
                        count = strlen(UnsafeRawPointer(out).assumingMemoryBound(to: CChar.self))
                    }
                } }
            case AF_UNIX:
                count = Self.copy("unix", into: out)
            default:
                count = Self.copy("?", into: out)
            }
            return try body(UnsafeRawBufferPointer(start: out, count: count))
        }
    }

    /// `a.b.c.d` for the host-order `value`, each part in decimal without leading zeros
    /// (inet_ntop's form); at most 15 bytes. The number written.
    private static func writeDottedQuad(_ value: UInt32, into out: UnsafeMutablePointer<UInt8>) -> Int {
        var i = 0
        for shift in stride(from: 24, through: 0, by: -8) {
            let part = Int(truncatingIfNeeded: value >> UInt32(shift)) & 0xFF
            if part >= 100 { out[i] = UInt8(truncatingIfNeeded: 48 + part / 100); i += 1 }
            if part >= 10 { out[i] = UInt8(truncatingIfNeeded: 48 + part / 10 % 10); i += 1 }
            out[i] = UInt8(truncatingIfNeeded: 48 + part % 10)
            i += 1
            if shift > 0 { out[i] = UInt8(ascii: "."); i += 1 }
        }
        return i
    }

    private static func copy(_ text: StaticString, into out: UnsafeMutablePointer<UInt8>) -> Int {
        out.update(from: text.utf8Start, count: text.utf8CodeUnitCount)
        return text.utf8CodeUnitCount
    }

    public var description: String {
        family == AF_INET6 ? "[\(ipString)]:\(port)" : "\(ipString):\(port)"
    }
}
