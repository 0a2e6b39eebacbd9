import Foundation
import SwitchyardSystem

/// What the admin side did, for `/metrics` and `/status.json`: accepted changes per command
/// word, reloads per outcome, and the last reload. Updated by the commit path (a few times
/// a minute at most), read by the metrics listener; its own lock, never the commit lock.
public final class AdminActivity: Sendable {
    public struct LastReload: Sendable {
        /// Seconds since the epoch.
        public var time: Double
        public var ok: Bool
        public var message: String
    }

    private struct Counts {
        var changes: [String: Int] = [:]
        var reloads: [String: Int] = ["ok": 0, "failed": 0]
        var lastReload: LastReload?
    }

    private let counts = Locked(Counts())

    public init() {}

    /// A change made a new generation (`command`: the first word, e.g. "weight"). A word no
    /// change command has (a fleet document's, from etcd) is counted as "other": each word
    /// becomes a metric label, and a writer of the store must not be able to make new series
    /// without end.
    func changeCommitted(command: String) {
        let word = Self.changeWords.contains(command) ? command : "other"
        counts.withLock { $0.changes[word, default: 0] += 1 }
    }

    /// The words of the commands that make a generation.
    private static let changeWords = Set(AdminCommands.all.filter(\.changes).map(\.word))

    /// A reload (command or SIGHUP) finished.
    func reloadFinished(ok: Bool, message: String) {
        counts.withLock {
            $0.reloads[ok ? "ok" : "failed", default: 0] += 1
            $0.lastReload = LastReload(time: Date().timeIntervalSince1970, ok: ok, message: message)
        }
    }

    public var changesByCommand: [String: Int] { counts.withLock { $0.changes } }
    public var reloadsByResult: [String: Int] { counts.withLock { $0.reloads } }
    public var lastReload: LastReload? { counts.withLock { $0.lastReload } }
}
