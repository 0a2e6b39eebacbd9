import SwitchyardTLS

/// A TLS version as a static name, so that logging it per request allocates nothing.
enum TLSVersionName {
    static func of(_ session: TLSSession) -> StaticString {
        switch session.protocolVersion {
        case "TLSv1.3": return "TLSv1.3"
        case "TLSv1.2": return "TLSv1.2"
        case "TLSv1.1": return "TLSv1.1"
        default: return "TLS"
        }
    }
}
