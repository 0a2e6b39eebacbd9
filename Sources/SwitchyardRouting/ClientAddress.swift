/// The downstream client's address as the router sees it, without allocation.
///
/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, what a dual-stack socket reports for an IPv4
/// client) are treated as the IPv4 address by CIDR matching and by the sticky client key,
/// so a client keeps its bucket whichever listener it came through.
public enum ClientAddress: Sendable, Equatable {
    /// Host byte order.
    case v4(UInt32)
    /// High and low 64 bits, host byte order.
    case v6(UInt64, UInt64)
    /// A Unix-socket client: matches no CIDR; all such clients share one sticky bucket.
    case unix

    /// Parses `192.0.2.7` or `2001:db8::7` (no brackets, no port). For tests and tools.
    public init?(parsing text: String) {
        if let v4 = parseIPv4(Substring(text)) {
            self = .v4(v4)
        } else if let v6 = parseIPv6(Substring(text)) {
            self = .v6(v6.high, v6.low)
        } else {
            return nil
        }
    }

    /// An IPv4-mapped IPv6 address as `.v4`, anything else unchanged.
    @inline(__always)
    var unmapped: ClientAddress {
        if case .v6(let high, let low) = self, high == 0, low >> 32 == 0xFFFF {
            return .v4(UInt32(truncatingIfNeeded: low))
        }
        return self
    }
}

extension ClientAddress: CustomStringConvertible {
    public var description: String {
        switch self {
        case .v4(let a): return formatIPv4(a)
        case .v6(let high, let low): return formatIPv6(high: high, low: low)
        case .unix: return "unix"
        }
    }
}
