import SwitchyardRouting
import SwitchyardSystem

/// A route table as one worker holds it, plus what the worker derived from it: the server
/// pools of each backend and the round-robin positions.
///
/// A request pins the handle it started with (`activeRequests`, a plain counter: only the
/// worker's thread touches it), so a table stays alive until its last request ends, and
/// no per-request atomic reference count is needed: connections hold it `unowned(unsafe)`
/// while the worker keeps the strong reference.
final class TableHandle {
    let table: RouteTable
    /// backend index → its servers' pools, in the order of the routes file.
    let servers: [[ServerPool]]
    var roundRobin: [Int]
    var activeRequests = 0
    /// Route and backend names as bytes, for access-log lines.
    let routeNames: [[UInt8]]
    let backendNames: [[UInt8]]
    /// Per route: the sticky cookie's name when the route issues one, else empty.
    let cookieNames: [[UInt8]]

    /// backend index → this worker's counters for it (shared across tables by name).
    let counters: [BackendCounters]

    init(table: RouteTable, servers: [[ServerPool]], counters: [BackendCounters]) {
        self.table = table
        self.servers = servers
        self.counters = counters
        roundRobin = Array(repeating: 0, count: servers.count)
        routeNames = table.config.routes.map { Array($0.name.utf8) }
        backendNames = table.config.backends.map { Array($0.name.utf8) }
        cookieNames = table.routes.map { route in
            if case .cookie(let name) = route.sticky { return Array(name.utf8) }
            return []
        }
    }
}

/// Server addresses resolved for a table (resolution blocks, so it happens on the thread
/// that publishes, never on a worker).
public struct ResolvedServers: Sendable {
    /// backend index → server index → address.
    public let addresses: [[SocketAddress]]

    public init(addresses: [[SocketAddress]]) { self.addresses = addresses }

    /// Resolves every server of every backend; the first failure is reported.
    public static func resolve(_ config: RoutesConfig) throws(Errno) -> ResolvedServers {
        var result: [[SocketAddress]] = []
        for backend in config.backends {
            var addresses: [SocketAddress] = []
            for server in backend.servers {
                addresses.append(try SocketAddress.resolve(host: server.endpoint.host, port: server.endpoint.port))
            }
            result.append(addresses)
        }
        return ResolvedServers(addresses: result)
    }
}
