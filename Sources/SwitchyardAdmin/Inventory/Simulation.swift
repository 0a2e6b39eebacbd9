import Foundation
import SwitchyardProxy
import SwitchyardRouting

/// "If I set this, who moves?": the recorded decisions of one route placed by the table in
/// force and by a proposed one, with `RouteTable.place` — the cohorts and the split the
/// proxy itself applies. A user is a sticky key (its hash); a session is a user's run of
/// requests without a 30-minute gap.
struct Simulation {
    struct Side: Equatable {
        var users = 0
        var sessions = 0
        var requests = 0
    }

    struct Move: Hashable, Comparable {
        var from: String
        var to: String
        static func < (a: Move, b: Move) -> Bool { (a.from, a.to) < (b.from, b.to) }
    }

    var route: String
    var records = 0
    var users = 0
    /// Requests the split would place at random (a cohort-pinned visitor without a sticky key).
    var unplaced = 0
    var now: [String: Side] = [:]
    var after: [String: Side] = [:]
    /// Distinct users with at least one request moving from → to.
    var moves: [Move: Int] = [:]
    var movedRequests: [Move: Int] = [:]
    /// Users moving, by the cohort rule that pins them now or after (its words), by network,
    /// by client product.
    var byCohort: [String: [Move: Int]] = [:]
    var byNetwork: [String: [Move: Int]] = [:]
    var byClient: [String: [Move: Int]] = [:]
    /// The busiest minute (Unix seconds of its start), its requests, and per side after.
    var busiestMinute: UInt64 = 0
    var busiestRequests = 0
    var busiestAfter: [String: Int] = [:]
    var busiestNow: [String: Int] = [:]

    static let sessionGap: UInt32 = 30 * 60

    /// `kinds`: product token names by `DecisionRecord.nameHash`, for the per-client rows.
    init(route: String, records all: [DecisionRecord], current: RouteTable, proposed: RouteTable,
         since: UInt32, kinds: [UInt32: String]) {
        self.route = route
        guard let ci = current.routeIndex(named: route), let pi = proposed.routeIndex(named: route) else { return }
        let routeHash = DecisionRecord.nameHash(route)
        var selected = all.filter { $0.route == routeHash && $0.time >= since }
        selected.sort { ($0.keyHash, $0.time) < ($1.keyHash, $1.time) }
        records = selected.count
        var perMinute: [UInt32: (total: Int, now: [String: Int], after: [String: Int])] = [:]
        var index = 0
        while index < selected.count {
            // One user's records (sorted by key, then time); key 0 = no sticky key: each
            // record is its own visitor.
            let key = selected[index].keyHash
            var end = index + 1
            if key != 0 { while end < selected.count && selected[end].keyHash == key { end += 1 } }
            var sidesNow: Set<String> = [], sidesAfter: Set<String> = []
            var sessionsNow: [String: Int] = [:], sessionsAfter: [String: Int] = [:]
            var lastNow: [String: UInt32] = [:], lastAfter: [String: UInt32] = [:]
            var userMoves: Set<Move> = []
            for r in selected[index..<end] {
                let network = InventoryNetwork.address(r.network)
                guard let a = current.place(routeIndex: ci, keys: r.keys, network: network),
                      let b = proposed.place(routeIndex: pi, keys: r.keys, network: network) else {
                    unplaced += 1
                    continue
                }
                let sideNow = current.backends[a.backend].name
                let sideAfter = proposed.backends[b.backend].name
                now[sideNow, default: Side()].requests += 1
                after[sideAfter, default: Side()].requests += 1
                sidesNow.insert(sideNow)
                sidesAfter.insert(sideAfter)
                if lastNow[sideNow].map({ r.time &- $0 > Self.sessionGap }) ?? true { sessionsNow[sideNow, default: 0] += 1 }
                if lastAfter[sideAfter].map({ r.time &- $0 > Self.sessionGap }) ?? true { sessionsAfter[sideAfter, default: 0] += 1 }
                lastNow[sideNow] = r.time
                lastAfter[sideAfter] = r.time
                let minute = r.time / 60 * 60
                perMinute[minute, default: (0, [:], [:])].total += 1
                perMinute[minute]!.now[sideNow, default: 0] += 1
                perMinute[minute]!.after[sideAfter, default: 0] += 1
                guard sideNow != sideAfter else { continue }
                let move = Move(from: sideNow, to: sideAfter)
                movedRequests[move, default: 0] += 1
                guard userMoves.insert(move).inserted else { continue }
                moves[move, default: 0] += 1
                let rule = a.cohort >= 0 ? current.routes[ci].cohorts[a.cohort].description
                    : b.cohort >= 0 ? proposed.routes[pi].cohorts[b.cohort].description : "split"
                byCohort[rule, default: [:]][move, default: 0] += 1
                byNetwork[InventoryNetwork.text(r.network), default: [:]][move, default: 0] += 1
                byClient[kinds[r.clientKind] ?? "-", default: [:]][move, default: 0] += 1
            }
            if !sidesNow.isEmpty || !sidesAfter.isEmpty { users += 1 }
            for side in sidesNow { now[side, default: Side()].users += 1 }
            for side in sidesAfter { after[side, default: Side()].users += 1 }
            for (side, n) in sessionsNow { now[side, default: Side()].sessions += n }
            for (side, n) in sessionsAfter { after[side, default: Side()].sessions += n }
            index = end
        }
        if let busiest = perMinute.max(by: { $0.value.total != $1.value.total ? $0.value.total < $1.value.total : $0.key > $1.key }) {
            busiestMinute = UInt64(busiest.key)
            busiestRequests = busiest.value.total
            busiestAfter = busiest.value.after
            busiestNow = busiest.value.now
        }
    }

    /// Users moving away from `side`.
    func usersLeaving(_ side: String) -> Int { moves.filter { $0.key.from == side }.reduce(0) { $0 + $1.value } }
}
