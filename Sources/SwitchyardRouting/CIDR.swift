/// An IPv4 or IPv6 network, `10.50.0.0/16` or `2001:db8:12::/48`.
///
/// Host bits must be zero (`10.50.1.0/16` is refused): a typo there silently widens or
/// narrows a cohort, and the operator should see it. Codable as its text.
public struct CIDR: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    enum Network: Sendable, Hashable {
        case v4(UInt32)
        case v6(UInt64, UInt64)
    }

    let network: Network
    /// 0…32 for IPv4, 0…128 for IPv6.
    public let prefixLength: Int

    /// An IPv4 network (else IPv6).
    public var isIPv4: Bool { if case .v4 = network { return true } else { return false } }

    /// Accepts `ADDR/LEN`; a bare address means a single host (`/32` or `/128`).
    public init?(parsing text: String) {
        guard case .success(let cidr) = CIDR.parseExplained(text) else { return nil }
        self = cidr
    }

    /// Like `init?(parsing:)`, but says what is wrong, for the routes-file parser.
    static func parseExplained(_ text: String) -> Result<CIDR, CIDRProblem> {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { return .failure(.malformed) }
        let address = parts[0]
        var length: Int?
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  parts[1].count <= 3, let n = Int(parts[1]) else { return .failure(.malformed) }
            length = n
        }
        if let v4 = parseIPv4(address) {
            let bits = length ?? 32
            guard bits <= 32 else { return .failure(.prefixTooLong(max: 32)) }
            let mask = CIDR.mask32(bits)
            guard v4 & ~mask == 0 else {
                return .failure(.hostBitsSet(suggestion: "\(formatIPv4(v4 & mask))/\(bits)"))
            }
            return .success(CIDR(network: .v4(v4), prefixLength: bits))
        }
        if let v6 = parseIPv6(address) {
            let bits = length ?? 128
            guard bits <= 128 else { return .failure(.prefixTooLong(max: 128)) }
            let (highMask, lowMask) = CIDR.mask128(bits)
            guard v6.high & ~highMask == 0, v6.low & ~lowMask == 0 else {
                let fixed = formatIPv6(high: v6.high & highMask, low: v6.low & lowMask)
                return .failure(.hostBitsSet(suggestion: "\(fixed)/\(bits)"))
            }
            return .success(CIDR(network: .v6(v6.high, v6.low), prefixLength: bits))
        }
        return .failure(.malformed)
    }

    private init(network: Network, prefixLength: Int) {
        self.network = network
        self.prefixLength = prefixLength
    }

    /// Whether `address` is inside this network. IPv4-mapped IPv6 clients match IPv4
    /// networks; Unix-socket clients match nothing. Does not allocate.
    public func contains(_ address: ClientAddress) -> Bool {
        switch (network, address.unmapped) {
        case (.v4(let net), .v4(let a)):
            return a & CIDR.mask32(prefixLength) == net
        case (.v6(let netHigh, let netLow), .v6(let high, let low)):
            let (highMask, lowMask) = CIDR.mask128(prefixLength)
            return high & highMask == netHigh && low & lowMask == netLow
        case (.v6(let netHigh, let netLow), .v4(let a)):
            // An IPv6 network written to cover ::ffff:0:0/96 still sees IPv4 clients.
            let (highMask, lowMask) = CIDR.mask128(prefixLength)
            let mappedHigh: UInt64 = 0, mappedLow = 0xFFFF_0000_0000 | UInt64(a)
            return mappedHigh & highMask == netHigh && mappedLow & lowMask == netLow
        default:
            return false
        }
    }

    public var description: String {
        switch network {
        case .v4(let a): return "\(formatIPv4(a))/\(prefixLength)"
        case .v6(let high, let low): return "\(formatIPv6(high: high, low: low))/\(prefixLength)"
        }
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let cidr = CIDR(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "not a CIDR: \(text)"))
        }
        self = cidr
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    @inline(__always)
    static func mask32(_ bits: Int) -> UInt32 {
        bits == 0 ? 0 : ~UInt32(0) << UInt32(32 - bits)
    }

    @inline(__always)
    static func mask128(_ bits: Int) -> (UInt64, UInt64) {
        if bits <= 64 {
            return (bits == 0 ? 0 : ~UInt64(0) << UInt64(64 - bits), 0)
        }
        return (~UInt64(0), bits == 128 ? ~UInt64(0) : ~UInt64(0) << UInt64(128 - bits))
    }
}

/// Why a CIDR's text was refused.
enum CIDRProblem: Error, Equatable {
    case malformed
    case prefixTooLong(max: Int)
    case hostBitsSet(suggestion: String)
}
