import Testing
@testable import SwitchyardHTTP

/// Every name the parsers act on is recognised in any case (and the forwarding ones with
/// '_' for '-'), whatever shortcut `classify` takes to skip the names it does not know.
@Suite struct KnownFieldTests {
    static let known: [(String, KnownField)] = [
        ("te", .otherHopByHop), ("host", .host), ("expect", .expect), ("upgrade", .upgrade),
        ("trailer", .otherHopByHop), ("forwarded", .forwarded), ("x-real-ip", .xRealIP),
        ("connection", .connection), ("keep-alive", .otherHopByHop), ("user-agent", .userAgent), ("cookie", .cookie),
        ("x-client-ip", .clientIdentity), ("x-rewrite-url", .clientIdentity), ("content-length", .contentLength),
        ("true-client-ip", .clientIdentity), ("x-original-url", .clientIdentity), ("x-forwarded-for", .xForwardedFor),
        ("x-forwarded-ssl", .clientIdentity), ("proxy-connection", .otherHopByHop), ("x-forwarded-host", .xForwardedHost),
        ("x-forwarded-port", .clientIdentity), ("transfer-encoding", .transferEncoding),
        ("x-forwarded-proto", .xForwardedProto), ("x-forwarded-server", .clientIdentity),
        ("x-forwarded-scheme", .clientIdentity), ("x-forwarded-prefix", .clientIdentity),
        ("x-cluster-client-ip", .clientIdentity),
    ]

    static func classify(_ name: String) throws -> KnownField {
        var copy = name
        return try copy.withUTF8 { bytes in try KnownField.classify(UnsafeRawBufferPointer(bytes), at: 0) }
    }

    @Test func everyKnownNameInEveryCase() throws {
        for (name, expected) in Self.known {
            let mixed = String(name.enumerated().map { $0.offset % 2 == 0 ? Character($0.element.uppercased()) : $0.element })
            for spelling in [name, name.uppercased(), mixed] {
                #expect(try Self.classify(spelling) == expected, "\(spelling)")
            }
        }
    }

    @Test func forwardingNamesWithUnderscoresAndFramingNamesRefused() throws {
        for (name, expected) in Self.known where name.hasPrefix("x-") || name == "true-client-ip" {
            #expect(try Self.classify(String(name.map { $0 == "-" ? "_" : $0 }).uppercased()) == expected, "\(name)")
        }
        for name in ["Content_Length", "TRANSFER_ENCODING"] {
            #expect(throws: ParseFailure.self) { try Self.classify(name) }
        }
    }

    @Test func otherNamesAreUnknown() throws {
        for name in ["content-type", "accept", "date", "cookies", "cooki", "hosts", "hos", "xhost", "Server", "etag", "a", "x"] {
            #expect(try Self.classify(name) == .unknown, "\(name)")
        }
    }
}
