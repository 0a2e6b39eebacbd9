import SwitchyardSystem

/// Ending a client connection so that the client reads our last answer rather than a
/// reset: our side is shut down (close_notify first on TLS), then whatever the client still
/// sends is read and dropped until it closes or a short deadline passes. Used by both the
/// HTTP/1.1 and the HTTP/2 client connections, by tunnels passing on a half-close, and
/// by TCP-mode tunnels whose server side ended first.
enum Lingering {
    /// close_notify (TLS), then FIN: the client knows the answer is complete.
    static func shutdownWrite(_ fd: FileDescriptor, tls: TLSTransport?) {
        if let tls {
            tls.shutdown()
            _ = try? tls.flush(fd)
        }
        Socket.shutdownWrite(fd)
    }

    /// One read of what the client still sends, dropped. False when the client closed or
    /// the read failed: time to close.
    static func discard(_ fd: FileDescriptor, scratch: UnsafeMutableRawBufferPointer) -> Bool {
        switch try? fd.receive(into: scratch) {
        case .processed(let n)? where n > 0: return true
        case .wouldBlock?: return true
        default: return false
        }
    }
}
