import Foundation
import SwitchyardProxy
import SwitchyardRouting

/// What a hold remembers between `hold` and `release`: the rejection counters when each
/// route's hold began, so a release (and its audit record) can say how many writes were
/// refused while it lasted. Its own lock: read and written by follow-ups, outside the
/// commit lock.
final class HoldBook: @unchecked Sendable {
    private let lock = NSLock()
    private var baselines: [String: [String: Int]] = [:]
    private var giveUp = UInt64(HoldState.maxMaxWaitSeconds + 10) * 1000

    /// How long a release paces its queue before it gives up and sends what is left: the
    /// longest a parked write waits, and 10 s more (310 s). Tests shorten it.
    var releaseGiveUpMilliseconds: UInt64 {
        get { lock.withLock { giveUp } }
        set { lock.withLock { giveUp = newValue } }
    }

    func began(_ routes: [String], rejections: [String: Int]) {
        lock.withLock { for route in routes where baselines[route] == nil { baselines[route] = rejections } }
    }

    /// The refusals counted since the earliest of `routes`' holds began (all routes: the
    /// counters are per reason, not per route), and forgets those routes.
    func ended(_ routes: [String], rejections now: [String: Int]) -> [String: Int] {
        lock.withLock {
            var base: [String: Int]? = nil
            for route in routes {
                if let b = baselines.removeValue(forKey: route) {
                    base = base.map { old in old.merging(b) { min($0, $1) } } ?? b
                }
            }
            var result: [String: Int] = [:]
            for (reason, count) in now {
                let delta = count - (base?[reason] ?? 0)
                if delta > 0 { result[reason] = delta }
            }
            return result
        }
    }
}

extension AdminAnswer {
    /// The answer with a follow-up's lines after its own (text), and under "followUp" (JSON).
    func followedBy(_ lines: [String]) -> AdminAnswer {
        guard !lines.isEmpty else { return self }
        var object = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] ?? [:]
        object["followUp"] = lines
        let text = (self.text.hasSuffix("\n") ? self.text : self.text + "\n") + lines.joined(separator: "\n")
        object["message"] = text
        return AdminAnswer(ok: ok, text: text, json: AdminAnswer.encode(object))
    }
}

extension AuditLog {
    /// A wall-clock time in seconds since 1970, as the audit log writes times.
    static func timestamp(_ seconds: Double) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date(timeIntervalSince1970: seconds))
    }
}

extension AdminService {
    /// Writes in flight upstream on the routes held now; nil when none is (for this
    /// instance's fleet record: `FleetAgent.holdLaggards`).
    func heldWritesInFlight() -> Int? {
        let held = Set(table.routes.filter { $0.hold != nil }.map(\.name))
        guard !held.isEmpty else { return nil }
        return dataPlane.holdSnapshot(routes: held).writesInFlight.values.reduce(0, +)
    }
}
