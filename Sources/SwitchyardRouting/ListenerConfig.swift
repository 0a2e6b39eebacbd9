/// What a listener speaks. `.tcp` listeners come from `mode tcp` routes, never from a
/// top-level `listen` line.
public enum ListenerKind: String, Sendable {
    case http, https, tcp
}

/// One socket the proxy listens on.
public struct ListenerConfig: Sendable, Equatable {
    public var kind: ListenerKind
    public var endpoint: Endpoint
    /// Set for `.https` only. The parser does not open these files.
    public var certPath: String?
    public var keyPath: String?
    public var chainPath: String?
    /// `.http` only: HTTP/2 with prior knowledge (h2c) is accepted besides HTTP/1.1.
    /// (`.https` listeners offer HTTP/2 through ALPN unless `http1` is written.)
    public var h2c = false
    /// `.https` only: `client-ca PATH` — clients must present a certificate issued by it.
    public var clientCAPath: String?
    /// `.https` only: ALPN offers http/1.1 alone (`http1` on the listen line).
    public var http1Only = false
    /// `proxy-protocol` on the listen line: every connection starts with a PROXY protocol
    /// header (v1 or v2) naming the real client, sent by a load balancer in front.
    public var proxyProtocol = false
    /// `name NAME` on the listen line: routes may name it (`listen NAME` in a route) to be
    /// served there only.
    public var name: String?
    /// `trust-forwarded CIDR…` on the listen line: replaces the top-level list for this
    /// listener (nil: the top-level list applies).
    public var trustForwarded: [CIDR]?
    /// Set for `.tcp` only: the route whose `listen` line made this listener.
    public var routeName: String?
    /// The line of the `listen` directive, for messages that point back at the file.
    public var line: Int

    public init(kind: ListenerKind, endpoint: Endpoint, certPath: String? = nil, keyPath: String? = nil,
                chainPath: String? = nil, routeName: String? = nil, line: Int) {
        self.kind = kind
        self.endpoint = endpoint
        self.certPath = certPath
        self.keyPath = keyPath
        self.chainPath = chainPath
        self.routeName = routeName
        self.line = line
    }
}

extension RoutesConfig {
    /// Why `self` (a file read again) cannot be applied to listeners bound from `running`:
    /// the line of `self` it is about (nil: a line was removed) and a message; nil when it
    /// can. Sockets are bound at start, and what is decided there stays with the socket: its
    /// address, its kind, h2c, a tcp listener's route. Each listener's options (certificate,
    /// client-ca, trust) are found by its position in the file, so a reload that adds,
    /// removes, moves or re-addresses a `listen` line would hand one listener's
    /// certificate and client-ca to another.
    public func listenerChange(from running: RoutesConfig) -> (line: Int?, message: String)? {
        func describe(_ l: ListenerConfig) -> String {
            var text = "listen \(l.kind.rawValue) \(l.endpoint)"
            if l.h2c { text += " h2c" }
            if let route = l.routeName { text += " (route \(route))" }
            return text
        }
        let before = running.listeners.map(describe)
        let after = listeners.map(describe)
        if before == after { return nil }
        if let i = zip(before, after).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
            return (listeners[i].line, "listener \(i + 1) was \"\(before[i])\", is now \"\(after[i])\"")
        }
        return before.count < after.count
            ? (listeners[before.count].line, "a listener was added: \"\(after[before.count])\"")
            : (nil, "a listener was removed: \"\(before[after.count])\"")
    }

    /// `listenerChange` as a reload's refusal, at `file`'s line: one text for the admin
    /// side's `reload` and for `serve`'s own SIGHUP without an admin socket.
    public func listenerRefusal(from running: RoutesConfig, file: String) -> String? {
        guard let change = listenerChange(from: running) else { return nil }
        let place = change.line.map { "\(file):\($0):1: " } ?? "\(file): "
        return place + change.message + "; listeners are bound at start: restart, or `upgrade`, to change them"
    }
}
