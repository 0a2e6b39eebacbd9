import Glibc
import SwitchyardSystem

/// The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2) that a load
/// balancer in front of a `listen … proxy-protocol` listener sends before anything else, to
/// say which client the connection is for. Pure: bytes in, a verdict out.
///
/// Only the source address is used (for `cohort client`, `sticky client`, X-Forwarded-For
/// and the access log). `LOCAL` (v2) and `UNKNOWN` (v1) headers — a balancer's own health
/// checks — keep the connection's real peer. TLVs are skipped.
enum ProxyProtocolHeader {
    /// The header is not complete. Every byte seen so far belongs to it, so the caller may
    /// consume them all without reading past its end.
    case needMore
    /// The header is `length` bytes long; `source` is the client it names (nil: keep the peer).
    case complete(length: Int, source: SocketAddress?)
    /// Not a PROXY header, or a malformed one: the connection is closed.
    case invalid(StaticString)

    /// Longest v1 header, CRLF included (the specification's figure).
    static let maxV1Bytes = 107
    /// Longest v2 header accepted: 16 bytes plus addresses and TLVs. Balancers send a few
    /// dozen bytes of TLVs; a header larger than this is refused rather than buffered.
    static let maxV2Bytes = 16 + 2048
    /// The most a reader should look at before the header's length is known.
    static let maxBytes = maxV2Bytes

    static let v1Prefix: [UInt8] = Array("PROXY ".utf8)
    static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    /// Judges `bytes`, the connection's first bytes (at most `maxBytes` of them).
    static func parse(_ bytes: UnsafeRawBufferPointer) -> ProxyProtocolHeader {
        guard let first = bytes.first else { return .needMore }
        if first == UInt8(ascii: "P") { return parseV1(bytes) }
        if first == 0x0D { return parseV2(bytes) }
        return .invalid("the connection did not start with a PROXY protocol header")
    }

    private static func parseV1(_ bytes: UnsafeRawBufferPointer) -> ProxyProtocolHeader {
        let prefix = v1Prefix
        for i in 0..<min(prefix.count, bytes.count) where bytes[i] != prefix[i] {
            return .invalid("the connection did not start with a PROXY protocol header")
        }
        var end = -1
        for i in 0..<min(bytes.count, maxV1Bytes) where bytes[i] == 0x0A {
            end = i
            break
        }
        guard end >= 0 else {
            return bytes.count >= maxV1Bytes ? .invalid("PROXY v1 header longer than 107 bytes") : .needMore
        }
        guard end >= 1, bytes[end - 1] == 0x0D else { return .invalid("PROXY v1 header not ended by CRLF") }
        let line = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[prefix.count..<(end - 1)]), as: UTF8.self)
        let parts = line.split(separator: " ", omittingEmptySubsequences: false)
        guard let family = parts.first else { return .invalid("PROXY v1 header without a protocol") }
        if family == "UNKNOWN" { return .complete(length: end + 1, source: nil) }
        guard family == "TCP4" || family == "TCP6" else { return .invalid("PROXY v1 protocol is not TCP4, TCP6 or UNKNOWN") }
        guard parts.count == 5, let port = UInt16(parts[3]), String(port) == parts[3] else {
            return .invalid("PROXY v1 header needs source, destination and two ports")
        }
        let ip = String(parts[1])
        let isV6 = ip.contains(":")
        guard isV6 == (family == "TCP6"), let source = SocketAddress(ip: ip, port: port) else {
            return .invalid("PROXY v1 source address does not parse")
        }
        return .complete(length: end + 1, source: source)
    }

    private static func parseV2(_ bytes: UnsafeRawBufferPointer) -> ProxyProtocolHeader {
        for i in 0..<min(v2Signature.count, bytes.count) where bytes[i] != v2Signature[i] {
            return .invalid("the connection did not start with a PROXY protocol header")
        }
        guard bytes.count >= 16 else { return .needMore }
        let versionCommand = bytes[12]
        guard versionCommand >> 4 == 2 else { return .invalid("PROXY v2 header with an unknown version") }
        let length = 16 + (Int(bytes[14]) << 8 | Int(bytes[15]))
        guard length <= maxV2Bytes else { return .invalid("PROXY v2 header longer than 2064 bytes") }
        guard bytes.count >= length else { return .needMore }
        switch versionCommand & 0x0F {
        case 0x0:   // LOCAL: the balancer speaking for itself
            return .complete(length: length, source: nil)
        case 0x1:   // PROXY
            break
        default:
            return .invalid("PROXY v2 header with an unknown command")
        }
        let familyProtocol = bytes[13]
        let body = UnsafeRawBufferPointer(rebasing: bytes[16..<length])
        switch familyProtocol >> 4 {
        case 0x1:   // AF_INET: 4 + 4 + 2 + 2
            guard body.count >= 12 else { return .invalid("PROXY v2 IPv4 addresses truncated") }
            let ip = "\(body[0]).\(body[1]).\(body[2]).\(body[3])"
            let port = UInt16(body[8]) << 8 | UInt16(body[9])
            return .complete(length: length, source: SocketAddress(ip: ip, port: port))
        case 0x2:   // AF_INET6: 16 + 16 + 2 + 2
            guard body.count >= 36 else { return .invalid("PROXY v2 IPv6 addresses truncated") }
            var groups: [String] = []
            for g in 0..<8 { groups.append(String(UInt16(body[2 * g]) << 8 | UInt16(body[2 * g + 1]), radix: 16)) }
            let port = UInt16(body[32]) << 8 | UInt16(body[33])
            return .complete(length: length, source: SocketAddress(ip: groups.joined(separator: ":"), port: port))
        default:    // AF_UNSPEC, AF_UNIX: nothing an IP cohort could use
            return .complete(length: length, source: nil)
        }
    }
}
