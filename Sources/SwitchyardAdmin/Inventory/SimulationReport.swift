import Foundation
import SwitchyardRouting

/// `simulate`'s answer: per side now and after, the moves, the monotonicity check, the
/// moves by cohort rule, network and client, and the busiest minute's projected rate.
struct SimulationReport {
    let simulation: Simulation
    let before: CompiledRoute
    let after: CompiledRoute
    let cohortChange: Bool
    let since: Date?
    let seconds: Double

    /// Backends whose share rises, when the proposal only moves shares (no cohort change):
    /// no user may then move away from them.
    var rising: [String] {
        guard !cohortChange else { return [] }
        let old = Dictionary(before.split.map { ($0.backend, $0.basisPoints) }, uniquingKeysWith: +)
        return after.split.filter { $0.basisPoints > (old[$0.backend] ?? (before.active == $0.backend && before.split.isEmpty ? 10_000 : 0)) }.map(\.backend)
    }

    var sides: [String] {
        var names = (after.split.map(\.backend) + before.split.map(\.backend) + [before.active, before.standby].compactMap { $0 })
        names += simulation.now.keys.sorted() + simulation.after.keys.sorted()
        var seen: Set<String> = []
        return names.filter { seen.insert($0).inserted }
    }

    static func routing(_ route: CompiledRoute) -> String {
        var text = route.split.isEmpty ? "active \(route.active ?? "-")" : "split " + route.split.map { "\($0.backend) \(Percent.format($0.basisPoints))" }.joined(separator: " ")
        if !route.cohorts.isEmpty { text += "; cohorts: " + route.cohorts.map(\.description).joined(separator: ", ") }
        return text
    }

    /// Cohorts the proposal adds that the log cannot judge: the decision log keeps, of a
    /// request, the cohort rules that matched it then (by identity) and the caller's /24 (or
    /// /64) — not its header, cookie or path values, nor its full address. The users such a
    /// cohort moves are not counted; the answer says so instead of "moves: none".
    var unjudgedCohorts: [Cohort] {
        after.cohorts.filter { cohort in
            guard !before.cohorts.contains(where: { $0.matcher == cohort.matcher }) else { return false }
            if case .client(let cidr) = cohort.matcher { return cidr.prefixLength > (cidr.isIPv4 ? 24 : 64) }
            return true
        }
    }

    func checks() -> [String] {
        rising.map { side in
            let back = simulation.usersLeaving(side)
            return back == 0
                ? "moves away from \(side): 0 users — as it must be: \(side)'s share only rises"
                : "VIOLATION: \(back) user(s) would move away from \(side) although its share only rises"
        }
    }

    func text() -> String {
        let s = simulation
        var lines = ["simulate \(s.route): \(s.records) recorded request(s)\(since.map { " since " + InventoryReport.time(UInt64(max(0, $0.timeIntervalSince1970))) } ?? ""), \(s.users) user(s)"]
        lines.append("  now:   \(Self.routing(before))")
        lines.append("  after: \(Self.routing(after))")
        lines.append("  side          users now → after   sessions now → after   requests now → after")
        for side in sides {
            let a = s.now[side] ?? .init(), b = s.after[side] ?? .init()
            lines.append("  " + side.padding(toLength: 12, withPad: " ", startingAt: 0)
                         + "  \(a.users) → \(b.users)".padding(toLength: 20, withPad: " ", startingAt: 0)
                         + "  \(a.sessions) → \(b.sessions)".padding(toLength: 23, withPad: " ", startingAt: 0)
                         + "  \(a.requests) → \(b.requests)")
        }
        if s.moves.isEmpty { lines.append("  moves: none") }
        for (move, users) in s.moves.sorted(by: { $0.key < $1.key }) {
            lines.append("  moves \(move.from) → \(move.to): \(users) user(s), \(s.movedRequests[move] ?? 0) request(s)")
        }
        lines += checks().map { "  " + $0 }
        for cohort in unjudgedCohorts {
            lines.append("  NOT COUNTED: cohort \(cohort.description) cannot be judged from the log (it keeps networks, not addresses, and no header, cookie or path values): the users it moves are missing above")
        }
        for (title, groups) in [("by cohort rule", s.byCohort), ("by network", s.byNetwork), ("by client", s.byClient)] where !groups.isEmpty {
            lines.append("  \(title):")
            // The ten groups with the most users moving; the JSON answer has them all.
            let ranked: [(name: String, moves: [Simulation.Move: Int], users: Int)] = groups.map { entry in
                (name: entry.key, moves: entry.value, users: entry.value.values.reduce(0, +))
            }.sorted { a, b in a.users != b.users ? a.users > b.users : a.name < b.name }
            for (name, moves, _) in ranked.prefix(10) {
                lines.append("    \(name): " + moves.sorted { $0.key < $1.key }.map { "\($0.key.from) → \($0.key.to) \($0.value)" }.joined(separator: ", "))
            }
            if ranked.count > 10 { lines.append("    … \(ranked.count - 10) more (--json lists them all)") }
        }
        if s.busiestRequests > 0 {
            let perSide = sides.map { side in "\(side) \(s.busiestNow[side] ?? 0) → \(s.busiestAfter[side] ?? 0)" }.joined(separator: ", ")
            lines.append("  busiest minute \(InventoryReport.time(s.busiestMinute)): \(s.busiestRequests) request(s); per side now → after: \(perSide) (req/min)")
            for side in sides where (s.busiestAfter[side] ?? 0) > 0 {
                lines.append("    projected \(side) rate then: \(String(format: "%.2f", Double(s.busiestAfter[side]!) / 60)) req/s")
            }
        }
        if s.unplaced > 0 { lines.append("  \(s.unplaced) request(s) without a sticky key: the split places such visitors at random") }
        lines.append("  (replayed in \(String(format: "%.3f", seconds)) s; nothing changed)")
        return lines.joined(separator: "\n")
    }

    func json() -> [String: Any] {
        let s = simulation
        func side(_ v: Simulation.Side) -> [String: Any] { ["users": v.users, "sessions": v.sessions, "requests": v.requests] }
        func moves(_ m: [Simulation.Move: Int]) -> [[String: Any]] {
            m.sorted { $0.key < $1.key }.map { ["from": $0.key.from, "to": $0.key.to, "users": $0.value] }
        }
        return [
            "route": s.route, "records": s.records, "users": s.users, "unplaced": s.unplaced,
            "now": Dictionary(uniqueKeysWithValues: sides.map { ($0, side(s.now[$0] ?? .init())) }),
            "after": Dictionary(uniqueKeysWithValues: sides.map { ($0, side(s.after[$0] ?? .init())) }),
            "moves": s.moves.sorted { $0.key < $1.key }.map { ["from": $0.key.from, "to": $0.key.to, "users": $0.value, "requests": s.movedRequests[$0.key] ?? 0] },
            "checks": checks(), "violation": checks().contains { $0.hasPrefix("VIOLATION") },
            "unjudged_cohorts": unjudgedCohorts.map(\.description),
            "by_cohort": s.byCohort.mapValues(moves), "by_network": s.byNetwork.mapValues(moves), "by_client": s.byClient.mapValues(moves),
            "busiest_minute": InventoryReport.time(s.busiestMinute), "busiest_requests": s.busiestRequests,
            "busiest_after": s.busiestAfter, "busiest_now": s.busiestNow, "seconds": seconds,
        ]
    }
}
