/// How this instance stands with etcd, as a state machine without I/O: the fleet threads
/// report what their calls did and the clock; it says whether the instance is synced,
/// detached or rejecting, and whether a change may be taken.
///
/// - `connecting`: no call has succeeded yet since start. Changes are refused.
/// - `synced`: calls succeed, and the watch caught up with the store since the last detach.
/// - `detached(since:reason:)`: no call succeeded for `detachAfterMilliseconds` (or the watch
///   ended for "no leader", or the first call at start failed). The table in force stays;
///   changes are refused. Leaves to `synced` only after a success **and** a catch-up.
/// A rejection (a state this instance cannot apply) and an alarm (the store is behind this
/// instance) are kept beside the phase: the instance keeps its last good table.
struct FleetLink: Equatable {
    enum Phase: Equatable {
        case connecting
        case synced
        case detached(sinceMilliseconds: UInt64, since: String, reason: String)
    }

    static let detachAfterMilliseconds: UInt64 = 5_000

    private(set) var phase: Phase = .connecting
    private(set) var lastSuccessMilliseconds: UInt64
    private(set) var lastError: String?
    /// The watch read the store whole and is following it, since the last detach.
    private(set) var caughtUp = false
    /// Why the last state document from the store was not applied, or nil.
    private(set) var rejection: String?
    /// Set when the store holds an older generation than this instance serves.
    private(set) var alarm: String?

    init(nowMilliseconds: UInt64) {
        lastSuccessMilliseconds = nowMilliseconds
    }

    /// A call to etcd succeeded.
    mutating func callSucceeded(nowMilliseconds: UInt64) {
        lastSuccessMilliseconds = nowMilliseconds
        lastError = nil
        settle()
    }

    /// A call failed; at start the first failure detaches at once (the instance serves its
    /// local state file and says so rather than "connecting" for five seconds).
    mutating func callFailed(nowMilliseconds: UInt64, reason: String, wall: String) {
        lastError = reason
        if phase == .connecting { detach(nowMilliseconds, wall, reason) }
    }

    /// The clock moved; returns true when the instance became detached just now.
    mutating func tick(nowMilliseconds: UInt64, wall: String) -> Bool {
        if case .detached = phase { return false }
        guard nowMilliseconds >= lastSuccessMilliseconds + Self.detachAfterMilliseconds else { return false }
        detach(nowMilliseconds, wall, lastError.map { "no successful call for 5 s: \($0)" } ?? "no successful call for 5 s")
        return true
    }

    /// The watch ended; a leaderless member detaches at once.
    mutating func watchEnded(nowMilliseconds: UInt64, reason: String, wall: String) {
        caughtUp = false
        if reason.contains("no leader") { detach(nowMilliseconds, wall, reason) }
    }

    /// The store was read whole and applied (or judged) and the watch is open again.
    mutating func caughtUpWithStore() {
        caughtUp = true
        settle()
    }

    mutating func rejected(_ reason: String?) { rejection = reason }
    mutating func storeBehind(_ reason: String?) { alarm = reason }

    private mutating func detach(_ now: UInt64, _ wall: String, _ reason: String) {
        if case .detached = phase { return }
        phase = .detached(sinceMilliseconds: now, since: wall, reason: reason)
        caughtUp = false
    }

    private mutating func settle() {
        guard caughtUp else { return }
        switch phase {
        case .connecting, .detached: phase = .synced
        case .synced: break
        }
    }

    /// `synced`, `detached` or `rejected`, for the instance record and status.
    var statusWord: String {
        switch phase {
        case .detached: return "detached"
        case .connecting: return "connecting"
        case .synced: return rejection != nil || alarm != nil ? "rejected" : "synced"
        }
    }

    /// Why a change must be refused now, or nil when it may go to the store.
    var changeRefusal: String? {
        switch phase {
        case .connecting:
            return "the fleet is not connected yet (\(lastError ?? "connecting")): not applied anywhere"
        case .detached(_, let since, let reason):
            return "this instance is DETACHED from the fleet since \(since) (\(reason)): not applied anywhere"
        case .synced:
            if let alarm { return "\(alarm): not applied anywhere" }
            return nil
        }
    }
}

/// Reconnect pacing: 100 ms doubling to 2 s, each wait drawn from its upper half (jitter, so
/// that instances cut off together do not knock on etcd together); reset after a success.
struct FleetBackoff: Equatable {
    static let firstMilliseconds: UInt64 = 100
    static let maxMilliseconds: UInt64 = 2_000
    private(set) var failures = 0

    /// The wait before the next attempt; `random` is any 64-bit value (tests fix it).
    mutating func next(random: UInt64) -> UInt64 {
        let ceiling = min(Self.maxMilliseconds, Self.firstMilliseconds << UInt64(min(failures, 5)))
        failures += 1
        let half = ceiling / 2
        return half + random % (ceiling - half + 1)
    }

    mutating func reset() { failures = 0 }
}

/// What to do with a state document the store holds, decided without I/O.
enum FleetApplyDecision: Equatable {
    /// Not newer than what this instance serves (its own change, or an old event).
    case ignore
    case apply
    /// The store's generation is lower than this instance's: restored from a backup, or a
    /// different etcd. Applying would move traffic back in time; a person decides.
    case storeBehind(String)

    /// `whole`: the document comes from a full read (start, reconnect, compaction), where a
    /// lower generation means the store went back; on the watch a lower one is just late.
    static func decide(storeGeneration: UInt64, localGeneration: UInt64, whole: Bool) -> FleetApplyDecision {
        if storeGeneration > localGeneration { return .apply }
        if whole && storeGeneration < localGeneration {
            return .storeBehind("the fleet store is at generation \(storeGeneration), behind this instance's \(localGeneration) (restored from a backup?); not applied, a person must decide")
        }
        return .ignore
    }
}
