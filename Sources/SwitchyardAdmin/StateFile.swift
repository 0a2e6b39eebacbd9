import Foundation
import SwitchyardRouting

/// One generation in the history: who changed what, and the runtime state it produced.
public struct HistoryEntry: Sendable, Codable, Equatable {
    public var generation: UInt64
    public var time: String
    public var uid: UInt32
    public var user: String
    public var command: String
    public var reason: String?
    public var changes: [String]
    public var state: RuntimeState
}

/// What survives a restart: the runtime overrides of the last acknowledged generation and
/// the recent history (for `history` and `revert to N`).
public struct StateFile: Sendable, Codable, Equatable {
    public var generation: UInt64
    public var state: RuntimeState
    public var history: [HistoryEntry]
    /// Guards added at run time, latched trips and plans' progress (absent in older files).
    public var guards: GuardRecord?

    /// Generations kept for `history` and `revert to N`.
    public static let historyLimit = 200

    public init(generation: UInt64, state: RuntimeState, history: [HistoryEntry], guards: GuardRecord? = nil) {
        self.generation = generation
        self.state = state
        self.history = history
        self.guards = guards
    }

    /// nil when there is no file yet; an unreadable or corrupt file is an error (starting
    /// from the routes file instead would silently move traffic back). Opened with
    /// O_NOFOLLOW: a symlink planted in place of the file is refused, not followed.
    public static func load(path: String) throws(AdminError) -> StateFile? {
        guard let bytes = try DurableFile.read(path, what: "state file") else { return nil }
        let file: StateFile
        do {
            file = try JSONDecoder().decode(StateFile.self, from: Data(bytes))
        } catch {
            throw AdminError("state file \(path) is not valid (\(error)); move it aside to start from the routes file alone")
        }
        if let problem = file.rangeProblem {
            throw AdminError("state file \(path) is not valid (\(problem)); move it aside to start from the routes file alone")
        }
        return file
    }

    /// The largest generation read back from outside: JSON numbers past 2^53 are not exact,
    /// and a generation near UInt64.max would overflow at the next change.
    public static let maxGeneration: UInt64 = 1 << 53

    /// A value no command could have written (see `RangeChecks`), or nil.
    var rangeProblem: String? {
        if let problem = Self.rangeProblem(generation: generation, state: state) ?? guards?.rangeProblem { return problem }
        for entry in history {
            if let problem = Self.rangeProblem(generation: entry.generation, state: entry.state) {
                return "history generation \(entry.generation): \(problem)"
            }
        }
        return nil
    }

    /// A generation and its runtime state read back from outside (this file, its history,
    /// the fleet's document), checked as no command writes them, or nil.
    static func rangeProblem(generation: UInt64, state: RuntimeState) -> String? {
        if generation > maxGeneration { return "generation \(generation) is past 2^53" }
        return state.rangeProblem
    }

    public func save(path: String) throws(AdminError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data: Data
        do { data = try encoder.encode(self) } catch { throw AdminError("cannot encode state: \(error)") }
        try DurableFile.replace(path, with: Array(data))
    }
}
