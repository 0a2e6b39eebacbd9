import SwitchyardRouting
import SwitchyardSystem

/// The write hold as the admin side sees it, merged over the workers.
public struct HoldSnapshot: Sendable, Equatable {
    /// Requests parked now.
    public var parked = 0
    /// Bytes of parked bodies held in memory now.
    public var parkedBytes = 0
    /// Released exchanges still running.
    public var releasedInFlight = 0
    /// Counts since the process started.
    public var parkedTotal = 0
    public var releasedTotal = 0
    /// By `HoldRejection.label`, since the process started.
    public var rejections: [String: Int] = [:]
    public var longestParkMilliseconds: UInt64 = 0
    /// How long the oldest request parked now has waited (ms; 0: none parked).
    public var oldestParkedMilliseconds: UInt64 = 0
    /// After a release step: parked requests whose route is no longer held, still queued.
    public var releasable = 0
    /// After a release step: the requests that step sent upstream. Not the change in
    /// `releasedTotal`, which also counts what another release sent meanwhile.
    public var releasedByStep = 0
    /// After a release step: the hold's own parked writes of the routes asked about that
    /// were sent and are not answered yet (writes that joined the queue not counted).
    public var heldWritesRunning = 0
    /// After a release step: the longest any write that step sent had waited (ms). A
    /// release's own figure: `longestParkMilliseconds` is since the process started.
    public var longestWaitByStepMilliseconds: UInt64 = 0
    /// After a release step: how many of the writes it sent had joined the queue during the
    /// release (the rest are the hold's own).
    public var joinersSentByStep = 0
    /// Writes that waited behind a release's queue since the process started, and those of
    /// them not ended yet.
    public var joinedTotal = 0
    public var joinedOutstanding = 0
    /// Writes of the routes asked about that are in flight upstream, by server label.
    public var writesInFlight: [String: Int] = [:]

    public init() {}

    public var rejectedTotal: Int { rejections.values.reduce(0, +) }
}

extension Proxy {
    /// At most this many released exchanges run at once (a release must not become the
    /// burst a database just promoted falls over from).
    public static let releaseConcurrency = 16

    /// The hold's counters merged from every worker (each reads its own on its loop, as
    /// `stats` does). `routes`: the routes whose writes in flight upstream are counted.
    public func holdSnapshot(routes: Set<String> = []) -> HoldSnapshot {
        let parts = onEveryWorker { worker in Self.counters(of: worker, routes: routes) }
        return parts.reduce(into: HoldSnapshot()) { Self.merge(&$0, $1) }
    }

    /// Releases up to `count` parked requests whose route is no longer held, in arrival
    /// order across the workers: the `count` that parked first, wherever they wait (a
    /// client's two writes on two connections may sit in two workers), except that a write
    /// whose client has an earlier one still running waits for its answer (`ReleasePlan`).
    /// The snapshot's `releasable` says how many are left.
    ///
    /// `routes`: only the parked writes of these routes (empty: of every released route). A
    /// release paces its own routes' queues; another route's release is not held up by it,
    /// nor sent at its pace. `byClient` false: no write waits for its client's earlier one
    /// (a release that gave up sends everything left).
    public func releaseParked(count: Int, routes: Set<String> = [], byClient: Bool = true) -> HoldSnapshot {
        let listings = onEveryWorker { worker -> ReleasePlan.Listing in
            let table = worker.current.table
            let running = byClient ? worker.hold.released.compactMap { $0.joinedDrain || $0.holdKey == 0 ? nil : $0.holdKey } : []
            return ReleasePlan.listing(worker.hold.parked, running: running, count: count, upTo: worker.hold.lastSequence,
                                       entry: { .init(id: $0.parkSequence, stamp: $0.parkedAtNanoseconds,
                                                      key: byClient ? $0.holdKey : 0, held: !$0.joinedDrain) },
                                       releasable: { Self.isReleased($0, by: table, of: routes) })
        }
        let plan = ReleasePlan(listings, count: count)
        let parts = onEveryWorkerIndexed { index, worker -> WorkerHoldCounters in
            let table = worker.current.table
            let releasedBefore = worker.hold.releasedTotal
            let chosen = plan.chosen[index]
            let listedUpTo = listings[index].upTo
            let taken = worker.hold.take { connection in
                guard Self.isReleased(connection, by: table, of: routes) else { return false }
                if chosen.contains(connection.parkSequence) { return true }
                // Without `byClient` nothing is blocked: every key may go.
                return plan.takesNewcomers && connection.parkSequence > listedUpTo && plan.mayTakeNewcomer(key: connection.holdKey)
            }
            let now = Clock.monotonicMilliseconds()
            var longestWait: UInt64 = 0
            // Phase checked: an earlier one's end may have ended a shared HTTP/2
            // connection, and with it this stream.
            var joinersSent = 0
            for connection in taken where connection.phase == .parked {
                longestWait = max(longestWait, now &- connection.parkedSince)
                if Self.routeRemoved(connection, by: table) {
                    connection.parkExpired(.routeRemoved)
                } else {
                    if connection.joinedDrain { joinersSent += 1 }
                    connection.resumeFromHold()
                }
            }
            var counters = Self.counters(of: worker, routes: [])
            counters.releasedByStep = worker.hold.releasedTotal - releasedBefore
            counters.longestWaitByStep = longestWait
            counters.joinersSentByStep = joinersSent
            counters.releasable = worker.hold.parked.reduce(0) { $0 + (Self.isReleased($1, by: table, of: routes) ? 1 : 0) }
            counters.heldWritesRunning = worker.hold.released.reduce(0) { count, connection in
                let ours = routes.isEmpty || connection.releasedRoute.map { routes.contains($0) } == true
                return count + (ours && !connection.joinedDrain ? 1 : 0)
            }
            return counters
        }
        return parts.reduce(into: HoldSnapshot()) { Self.merge(&$0, $1) }
    }

    /// Whether the table in force no longer has the route a parked request was routed to.
    private static func routeRemoved(_ connection: DownstreamConnection, by table: RouteTable) -> Bool {
        guard let name = connection.routeName else { return false }
        return table.routeIndex(named: name) == nil
    }

    /// `isReleased`, for a parked request of one of `routes` (empty: of any route).
    private static func isReleased(_ connection: DownstreamConnection, by table: RouteTable, of routes: Set<String>) -> Bool {
        guard isReleased(connection, by: table) else { return false }
        guard !routes.isEmpty, let name = connection.routeName else { return true }
        return routes.contains(name)
    }

    /// Whether the table in force no longer holds the route a parked request was routed to.
    static func isReleased(_ connection: DownstreamConnection, by table: RouteTable) -> Bool {
        guard let name = connection.routeName, let now = table.routeIndex(named: name) else { return true }
        return table.routes[now].hold == nil
    }

    /// One worker's counters, copied on its loop: plain integers (no allocation, so a
    /// scrape keeps the worker at 0 allocations); the writes in flight of `routes` are
    /// looked up only when asked (a hold's quiescence, `status` during a hold).
    private static func counters(of worker: Worker, routes: Set<String>) -> WorkerHoldCounters {
        let queue = worker.hold
        var c = WorkerHoldCounters(parked: queue.parked.count, parkedBytes: queue.parkedBytes,
                                   releasedInFlight: queue.releasedInFlight, parkedTotal: queue.parkedTotal,
                                   releasedTotal: queue.releasedTotal, rejections: queue.rejections,
                                   longestPark: queue.longestParkMilliseconds, oldestParked: 0, releasable: 0, releasedByStep: 0, heldWritesRunning: 0, longestWaitByStep: 0, joinersSentByStep: 0,
                                   joinedTotal: queue.joinedTotal, joinedOutstanding: queue.joinedOutstanding, writesInFlight: nil)
        if let first = queue.parked.first { c.oldestParked = Clock.monotonicMilliseconds() &- first.parkedSince }
        guard !routes.isEmpty else { return c }
        var labels: [[UInt8]] = []
        for route in routes {
            var drivers = worker.connections
            for h2 in worker.http2Connections { drivers += h2.streams.compactMap(\.exchange) }
            for connection in drivers {
                if let label = connection.writeInFlight(route: route) { labels.append(label) }
            }
        }
        c.writesInFlight = labels
        return c
    }

    /// Merged on the asking thread (dictionaries allocate: never on a worker).
    private static func merge(_ total: inout HoldSnapshot, _ part: WorkerHoldCounters) {
        total.parked += part.parked
        total.parkedBytes += part.parkedBytes
        total.releasedInFlight += part.releasedInFlight
        total.parkedTotal += part.parkedTotal
        total.releasedTotal += part.releasedTotal
        total.releasable += part.releasable
        total.releasedByStep += part.releasedByStep
        total.heldWritesRunning += part.heldWritesRunning
        total.longestWaitByStepMilliseconds = max(total.longestWaitByStepMilliseconds, part.longestWaitByStep)
        total.joinersSentByStep += part.joinersSentByStep
        total.joinedTotal += part.joinedTotal
        total.joinedOutstanding += part.joinedOutstanding
        for reason in HoldRejection.allCases where part.rejections[reason] > 0 {
            total.rejections[reason.label, default: 0] += part.rejections[reason]
        }
        let oldest = part.parked > 0 ? part.oldestParked : 0
        total.longestParkMilliseconds = max(total.longestParkMilliseconds, part.longestPark, oldest)
        total.oldestParkedMilliseconds = max(total.oldestParkedMilliseconds, oldest)
        for label in part.writesInFlight ?? [] { total.writesInFlight[String(decoding: label, as: UTF8.self), default: 0] += 1 }
    }
}

/// What one worker's loop copies out for a hold snapshot.
struct WorkerHoldCounters: Sendable {
    var parked, parkedBytes, releasedInFlight, parkedTotal, releasedTotal: Int
    var rejections: HoldRejectionCounts
    var longestPark, oldestParked: UInt64
    var releasable, releasedByStep, heldWritesRunning: Int
    var longestWaitByStep: UInt64
    var joinersSentByStep: Int
    var joinedTotal, joinedOutstanding: Int
    var writesInFlight: [[UInt8]]?
}
