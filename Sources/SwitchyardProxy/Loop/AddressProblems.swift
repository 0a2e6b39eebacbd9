import SwitchyardRouting
import SwitchyardSystem

/// The names of a routes file resolved as `serve` resolves them, so that `check` refuses what
/// the start would refuse, with the line to fix. Blocking (getaddrinfo): never on a worker.
public enum AddressProblems {
    /// Two listeners whose addresses name one socket address once resolved
    /// (`localhost:8080` and `127.0.0.1:8080`), and listener names that do not resolve.
    /// The parser compares addresses as written; the sockets are bound with SO_REUSEPORT, so
    /// two such listeners would both bind and the kernel would share connections between
    /// them at random, each with its own kind, certificate and routes. Port 0 is exempt: each
    /// such listener gets a port of its own. Each problem is `file:line:1: message`.
    public static func listeners(_ config: RoutesConfig, file: String) -> [String] {
        var problems: [String] = []
        var resolved: [(ListenerConfig, SocketAddress)] = []
        for listener in config.listeners {
            do {
                resolved.append((listener, try SocketAddress.resolve(host: listener.endpoint.host, port: listener.endpoint.port)))
            } catch {
                problems.append("\(file):\(listener.line):1: listen \(listener.kind.rawValue) \(listener.endpoint): \(error)")
            }
        }
        return problems + shared(resolved).map { "\(file):\($0.listener.line):1: \($0.message)" }
    }

    /// A listener whose address, resolved, is an earlier listener's.
    public struct SharedAddress: Sendable {
        public let listener: ListenerConfig
        public let first: ListenerConfig
        /// The resolved address both name (`127.0.0.1:8080`).
        public let address: String

        public var message: String {
            "listen \(listener.kind.rawValue) \(listener.endpoint) is \(address), the address of the listener on line "
                + "\(first.line) (\(first.endpoint)): one listener per address"
        }
    }

    /// Every listener (port 0 aside) whose resolved address an earlier one already has;
    /// names that do not resolve are left to the bind, which reports them.
    public static func shared(_ config: RoutesConfig) -> [SharedAddress] {
        shared(config.listeners.compactMap { listener in
            (try? SocketAddress.resolve(host: listener.endpoint.host, port: listener.endpoint.port)).map { (listener, $0) }
        })
    }

    /// The same over listeners already resolved.
    static func shared(_ resolved: [(ListenerConfig, SocketAddress)]) -> [SharedAddress] {
        var found: [SharedAddress] = []
        var taken: [(key: String, listener: ListenerConfig)] = []
        for (listener, address) in resolved where address.port != 0 {
            // The description (`127.0.0.1:8080`, `[::1]:8080`) tells the families apart.
            let text = "\(address)"
            if let first = taken.first(where: { $0.key == text })?.listener {
                found.append(SharedAddress(listener: listener, first: first, address: text))
            } else {
                taken.append((text, listener))
            }
        }
        return found
    }

    /// Servers whose names do not resolve: `serve` refuses to start with one, and a reload
    /// is refused for it.
    public static func servers(_ config: RoutesConfig, file: String) -> [String] {
        var problems: [String] = []
        for backend in config.backends {
            for server in backend.servers {
                do {
                    _ = try SocketAddress.resolve(host: server.endpoint.host, port: server.endpoint.port)
                } catch {
                    problems.append("\(file):\(server.line):1: backend \(backend.name) server \(server.endpoint): \(error)")
                }
            }
        }
        return problems
    }
}
