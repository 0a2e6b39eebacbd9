import COpenSSL

/// The TLS versions Switchyard speaks. Older ones are never negotiated.
public enum TLSVersion: Sendable, Equatable, Comparable {
    case v1_2
    case v1_3

    var openSSLValue: Int32 {
        switch self {
        case .v1_2: return TLS1_2_VERSION
        case .v1_3: return TLS1_3_VERSION
        }
    }
}
