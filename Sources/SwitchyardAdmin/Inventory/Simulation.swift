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
    /// `records` is consumed: filtered and sorted in place (a million records are 40 MB).
    init(route: String, records all: consuming [DecisionRecord], current: RouteTable, proposed: RouteTable,
         since: UInt32, kinds: [UInt32: String]) {
        self.route = route
        guard let ci = current.routeIndex(named: route), let pi = proposed.routeIndex(named: route) else { return }
        let routeHash = DecisionRecord.nameHash(route)
        var selected = all
        selected.removeAll { $0.route != routeHash || $0.time < since }
        selected.sort { ($0.keyHash, $0.time) < ($1.keyHash, $1.time) }
        records = selected.count
        // Integer indices in the loop (a million records): sides are backend indices of the
        // table in force; the proposal's are mapped by name (both come from one routes file).
        let names = current.backends.map(\.name)
        let n = names.count
        let fromProposed = proposed.backends.map { backend in names.firstIndex(of: backend.name) ?? 0 }
        var requestsNow = [Int](repeating: 0, count: n), requestsAfter = requestsNow
        var usersNow = requestsNow, usersAfter = requestsNow, sessionsNow = requestsNow, sessionsAfter = requestsNow
        var movedUsers = [Int](repeating: 0, count: n * n), movedRequestCounts = movedUsers
        var lastNow = [UInt32](repeating: 0, count: n), lastAfter = lastNow
        var seenNow = [Bool](repeating: false, count: n), seenAfter = seenNow
        var userMoved = [Bool](repeating: false, count: n * n)
        var minuteRow: [UInt32: Int] = [:]
        var minuteCounts: [Int] = []          // per minute: total, now per side, after per side
        let width = 1 + 2 * n
        var cohortMoves: [Int: [Int]] = [:], networkMoves: [UInt64: [Int]] = [:], kindMoves: [UInt32: [Int]] = [:]
        var index = 0
        while index < selected.count {
            // One user's records (sorted by key, then time); key 0 = no sticky key: each
            // record is its own visitor.
            let key = selected[index].keyHash
            var end = index + 1
            if key != 0 { while end < selected.count && selected[end].keyHash == key { end += 1 } }
            for i in 0..<n { seenNow[i] = false; seenAfter[i] = false; lastNow[i] = 0; lastAfter[i] = 0 }
            for i in 0..<(n * n) { userMoved[i] = false }
            var placed = false
            var r = index
            while r < end {
                let record = selected[r]
                r += 1
                let network = InventoryNetwork.address(record.network)
                guard let a = current.place(routeIndex: ci, keys: record.keys, network: network),
                      let b = proposed.place(routeIndex: pi, keys: record.keys, network: network) else {
                    unplaced += 1
                    continue
                }
                placed = true
                let x = a.backend, y = fromProposed[b.backend]
                requestsNow[x] += 1
                requestsAfter[y] += 1
                seenNow[x] = true
                seenAfter[y] = true
                // A session: no gap over 30 minutes (times are ascending within a user).
                if lastNow[x] == 0 || record.time &- lastNow[x] > Self.sessionGap { sessionsNow[x] += 1 }
                if lastAfter[y] == 0 || record.time &- lastAfter[y] > Self.sessionGap { sessionsAfter[y] += 1 }
                lastNow[x] = max(record.time, 1)
                lastAfter[y] = max(record.time, 1)
                let minute = record.time / 60 * 60
                let row: Int
                if let known = minuteRow[minute] {
                    row = known
                } else {
                    row = minuteCounts.count / width
                    minuteRow[minute] = row
                    minuteCounts.append(contentsOf: repeatElement(0, count: width))
                }
                minuteCounts[row * width] += 1
                minuteCounts[row * width + 1 + x] += 1
                minuteCounts[row * width + 1 + n + y] += 1
                guard x != y else { continue }
                let move = x * n + y
                movedRequestCounts[move] += 1
                guard !userMoved[move] else { continue }
                userMoved[move] = true
                movedUsers[move] += 1
                let rule = a.cohort >= 0 ? a.cohort : b.cohort >= 0 ? 1_000_000 + b.cohort : -1
                cohortMoves[rule, default: [Int](repeating: 0, count: n * n)][move] += 1
                networkMoves[record.network, default: [Int](repeating: 0, count: n * n)][move] += 1
                kindMoves[record.clientKind, default: [Int](repeating: 0, count: n * n)][move] += 1
            }
            if placed { users += 1 }
            for i in 0..<n {
                if seenNow[i] { usersNow[i] += 1 }
                if seenAfter[i] { usersAfter[i] += 1 }
            }
            index = end
        }
        for i in 0..<n where requestsNow[i] > 0 || requestsAfter[i] > 0 {
            now[names[i]] = Side(users: usersNow[i], sessions: sessionsNow[i], requests: requestsNow[i])
            after[names[i]] = Side(users: usersAfter[i], sessions: sessionsAfter[i], requests: requestsAfter[i])
        }
        func moveTable(_ counts: [Int]) -> [Move: Int] {
            var table: [Move: Int] = [:]
            for m in 0..<(n * n) where counts[m] > 0 { table[Move(from: names[m / n], to: names[m % n])] = counts[m] }
            return table
        }
        moves = moveTable(movedUsers)
        movedRequests = moveTable(movedRequestCounts)
        for (rule, counts) in cohortMoves {
            let name = rule < 0 ? "split" : rule < 1_000_000 ? current.routes[ci].cohorts[rule].description
                : proposed.routes[pi].cohorts[rule - 1_000_000].description
            byCohort[name] = moveTable(counts)
        }
        for (word, counts) in networkMoves { byNetwork[InventoryNetwork.text(word)] = moveTable(counts) }
        for (kind, counts) in kindMoves { byClient[kinds[kind] ?? "(unknown client)", default: [:]].merge(moveTable(counts), uniquingKeysWith: +) }
        var busiestRow = -1
        for (minute, row) in minuteRow {
            let total = minuteCounts[row * width]
            if busiestRow < 0 || total > busiestRequests || (total == busiestRequests && UInt64(minute) < busiestMinute) {
                busiestRow = row
                busiestRequests = total
                busiestMinute = UInt64(minute)
            }
        }
        if busiestRow >= 0 {
            for i in 0..<n {
                if minuteCounts[busiestRow * width + 1 + i] > 0 { busiestNow[names[i]] = minuteCounts[busiestRow * width + 1 + i] }
                if minuteCounts[busiestRow * width + 1 + n + i] > 0 { busiestAfter[names[i]] = minuteCounts[busiestRow * width + 1 + n + i] }
            }
        }
    }

    /// Users moving away from `side`.
    func usersLeaving(_ side: String) -> Int { moves.filter { $0.key.from == side }.reduce(0) { $0 + $1.value } }
}
