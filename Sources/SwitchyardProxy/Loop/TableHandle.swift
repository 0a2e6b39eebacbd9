import SwitchyardRouting
import SwitchyardSystem
import SwitchyardTLS

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
    /// backend index → the order its servers take turns in, by the file's `weight`s (a
    /// server of weight 2 appears twice, spread out; one of weight 0 — drained — never).
    let schedule: [[Int]]
    /// backend index → position in `schedule`.
    var roundRobin: [Int]
    /// backend index → server index → weight 0 (drained).
    private let drained: [[Bool]]
    var activeRequests = 0
    /// Route and backend names as bytes, laid end to end in one allocation each (freed with
    /// the handle), for what every request writes them into (the inventory, the access
    /// log): an array of arrays retained and released the inner array on every read, an
    /// atomic pair a request. See `routeName(_:)`.
    private let routeNameText: NameText
    private let backendNameText: NameText
    /// Per route: the sticky cookie's name when the route issues one, else empty.
    let cookieNames: [[UInt8]]
    /// The name of the header that carries the table's generation (empty: none), kept with
    /// the table it names. A `let` of the handle the request pins, passed as an argument, is
    /// read without a retain; the worker's `var` copy was retained around each use.
    let generationHeader: [UInt8]

    /// route index → the gate its writes wait at while its ended hold's queue is released
    /// (`DrainGate`); empty when no route's queue drains, which is all the request path
    /// checks then. A gate found open is taken out by the worker (its own copy of the
    /// array), and the array emptied once none is left.
    var drainGates: [DrainGate?]
    /// The gates left in `drainGates`.
    var gatesLeft: Int

    /// backend index → this worker's counters for it (shared across tables by name).
    let counters: [BackendCounters]
    /// route index × backend count + backend index → this worker's metrics cell.
    var metrics: [MetricsCell] = []

    deinit {
        routeNameText.deallocate()
        backendNameText.deallocate()
    }

    /// Route `index`'s name as bytes, valid as long as this handle (which a request pins).
    @inline(__always)
    func routeName(_ index: Int) -> UnsafeRawBufferPointer { routeNameText[index] }

    /// Backend `index`'s name as bytes, valid as long as this handle.
    @inline(__always)
    func backendName(_ index: Int) -> UnsafeRawBufferPointer { backendNameText[index] }

    /// The next server of `backend` for a new exchange or tunnel, in the turns of its
    /// weighted schedule from the last pick: never a down or ejected one, nor one already in
    /// `tried` (a bit per server index), nor a drained one (weight 0); one whose connect just
    /// failed only when no other is left. Marks the pick in `tried` and moves the turn past
    /// it. nil: no server left to try.
    func nextServer(of backend: Int, tried: inout UInt64, now: UInt64) -> ServerPool? {
        nextServerUnretained(of: backend, tried: &tried, now: now)?.takeUnretainedValue()
    }

    /// `nextServer`, unretained: the pool lives as long as this table (`servers` is a `let`),
    /// so a caller that holds the table may borrow it for the call instead of retaining it
    /// (an atomic pair every request).
    func nextServerUnretained(of backend: Int, tried: inout UInt64, now: UInt64) -> Unmanaged<ServerPool>? {
        // `servers[backend]`, `schedule[backend]` and `drained[backend]` indexed in place
        // each time: bound to a local, the inner array was retained and released on every
        // request.
        let turns = schedule[backend].count
        guard turns > 0 else { return nil }
        let turn = roundRobin[backend]
        roundRobin[backend] = turn + 1 == turns ? 0 : turn + 1
        // The server whose turn it is, when it can take it: one look, however heavy the
        // weights (a schedule is up to 64 × 1,000 turns long).
        let index = schedule[backend][turn]
        if tried & (1 << UInt64(index & 63)) == 0, servers[backend][index].isAvailable(now: now),
           servers[backend][index].skipUntil <= now {
            tried |= 1 << UInt64(index & 63)
            return Unmanaged.passUnretained(servers[backend][index])
        }
        // Else the others in list order from it, never a drained one; one whose connect
        // just failed only when no other is left.
        let count = servers[backend].count
        for pass in 0..<2 {
            for k in 0..<count {
                let i = (index + k) % count
                if drained[backend][i] || tried & (1 << UInt64(i & 63)) != 0 { continue }
                if !servers[backend][i].isAvailable(now: now) { continue }
                if pass == 0 && servers[backend][i].skipUntil > now { continue }
                tried |= 1 << UInt64(i & 63)
                return Unmanaged.passUnretained(servers[backend][i])
            }
        }
        return nil
    }

    /// Whether server `index` of `backend` is drained (`weight 0`): it takes no turn, and no
    /// mirror copy either.
    func isDrained(backend: Int, index: Int) -> Bool { drained[backend][index] }

    /// Smooth weighted round robin, laid out once per table: each turn every server gains
    /// its weight and the one with the most takes the turn and pays the total, so a server
    /// of weight 2 beside two of weight 1 serves every other request, never twice in a row
    /// when it need not. Weights are divided by their common divisor first (`weight 2`
    /// everywhere is the same as none). Servers of weight 0 take no turn.
    static func schedule(weights: [Int]) -> [Int] {
        func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
        let divisor = weights.reduce(0, gcd)
        guard divisor > 0 else { return [] }
        let scaled = weights.map { $0 / divisor }
        let total = scaled.reduce(0, +)
        var credit = Array(repeating: 0, count: scaled.count)
        var turns: [Int] = []
        turns.reserveCapacity(total)
        for _ in 0..<total {
            var best = -1
            for i in scaled.indices where scaled[i] > 0 {
                credit[i] += scaled[i]
                if best < 0 || credit[i] > credit[best] { best = i }
            }
            credit[best] -= total
            turns.append(best)
        }
        return turns
    }

    init(table: RouteTable, servers: [[ServerPool]], counters: [BackendCounters], drainGates: [DrainGate?] = []) {
        self.table = table
        self.drainGates = drainGates
        gatesLeft = drainGates.reduce(0) { $0 + ($1 == nil ? 0 : 1) }
        self.servers = servers
        self.counters = counters
        let weights = servers.indices.map { b in
            let configured = table.config.backends[b].servers
            return servers[b].indices.map { $0 < configured.count ? configured[$0].weight : 1 }
        }
        schedule = weights.map(Self.schedule(weights:))
        drained = weights.map { $0.map { $0 == 0 } }
        roundRobin = Array(repeating: 0, count: servers.count)
        routeNameText = NameText(table.config.routes.map { Array($0.name.utf8) })
        backendNameText = NameText(table.config.backends.map { Array($0.name.utf8) })
        generationHeader = Array((table.config.generationHeader ?? "").utf8)
        cookieNames = table.routes.map { route in
            if case .cookie(let name) = route.sticky { return Array(name.utf8) }
            return []
        }
    }
}

/// Server addresses resolved, and TLS client contexts built, for a table: both block or
/// read files, so they happen on the thread that publishes, never on a worker.
public struct ResolvedServers: Sendable {
    /// backend index → server index → address.
    public let addresses: [[SocketAddress]]
    /// backend index → server index → TLS towards that server (nil: plain).
    let tls: [[UpstreamTLS?]]

    /// Resolves every server of every backend; the first failure is reported.
    public static func resolve(_ config: RoutesConfig) throws -> ResolvedServers {
        var result: [[SocketAddress]] = []
        var tls: [[UpstreamTLS?]] = []
        for backend in config.backends {
            var addresses: [SocketAddress] = []
            var contexts: [UpstreamTLS?] = []
            for server in backend.servers {
                addresses.append(try SocketAddress.resolve(host: server.endpoint.host, port: server.endpoint.port))
                if server.tls {
                    do {
                        let context = try TLSClientContext(caFile: server.caPath, verify: server.verify,
                                                           clientCertificate: server.clientCertificate.map(ListenerCertificates.files))
                        contexts.append(UpstreamTLS(context: context, serverName: server.sni ?? server.endpoint.host, server: server))
                    } catch {
                        throw ProxyError.tls(address: "backend \(backend.name) server \(server.endpoint)", message: error.description)
                    }
                } else {
                    contexts.append(nil)
                }
            }
            result.append(addresses)
            tls.append(contexts)
        }
        return ResolvedServers(addresses: result, tls: tls)
    }
}

/// How to speak TLS to one upstream server: its client context and the name to send (SNI)
/// and to verify the certificate against.
struct UpstreamTLS: @unchecked Sendable {
    let context: TLSClientContext
    let serverName: String
    /// The `server` line it was made from.
    let server: ServerConfig

    /// Whether `a` and `b` (either may be plain: nil) would verify and present the same:
    /// a connection made under one may go on under the other.
    static func sameSettings(_ a: UpstreamTLS?, _ b: UpstreamTLS?) -> Bool {
        guard let a, let b else { return a == nil && b == nil }
        return a.serverName == b.serverName && a.server.verify == b.server.verify && a.server.caPath == b.server.caPath
            && a.server.clientCertificate?.withoutLine == b.server.clientCertificate?.withoutLine
    }
}
