import Foundation
import Testing
@testable import SwitchyardAdmin
import SwitchyardRouting

/// A state file holding a value no command could have written (hand-edited, corrupt) is
/// refused at load with the reason, instead of the table build or a request trapping on it.
@Suite struct StateFileRangeTests {
    static func path() -> String { NSTemporaryDirectory() + "switchyard-state-\(UUID().uuidString).json" }

    static func good() -> StateFile {
        let app = RouteRuntime(split: [WeightedBackend(backend: "legacy", basisPoints: 9000),
                                       WeightedBackend(backend: "cloud", basisPoints: 1000)])
        var record = GuardRecord()
        record.runtimeGuards = [GuardConfig(name: "g", route: "app", kind: .errors, newSide: "cloud", oldSide: "legacy")]
        // More transport failures than requests: counted per connect attempt, so it happens.
        record.oldBaselines = ["app/g/legacy": SideWindow(requests: 200, errors: 3, transportFailures: 450, p95Microseconds: 4_000)]
        return StateFile(generation: 7, state: RuntimeState(routes: ["app": app]), history: [], guards: record)
    }

    /// Saves `file`, lets `edit` change its JSON text, and loads it back.
    static func load(_ file: StateFile, edit: (String) -> String = { $0 }) throws -> StateFile? {
        let path = path()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try file.save(path: path)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try edit(text).write(toFile: path, atomically: true, encoding: .utf8)
        return try StateFile.load(path: path)
    }

    @Test func aGoodFileLoads() throws {
        #expect(try Self.load(Self.good()) == Self.good())
    }

    /// Spoils one value of `file` the way case `what` says; answers the reason expected.
    static func spoil(_ what: String, _ f: inout StateFile) -> String {
        switch what {
        case "generation":
            f.generation = UInt64.max
            return "past 2^53"
        case "split share":
            f.state.routes["app"]!.split![0].basisPoints = Int.max
            return "outside 0…10000"
        case "mirror share":
            f.state.routes["app"]!.mirror = MirrorSetting(backend: "cloud", basisPoints: -1)
            return "outside 0…10000"
        case "hold start":
            f.state.routes["app"]!.hold = HoldState(since: 1e300, maxWaitSeconds: 60)
            return "is not a time"
        case "hold max-wait":
            f.state.routes["app"]!.hold = HoldState(since: 1, maxWaitSeconds: -1)
            return "max-wait"
        case "guard minimum":
            f.guards!.runtimeGuards[0].minRequests = -1
            return "guard g"
        case "guard points":
            f.guards!.runtimeGuards[0].points = 1e300
            return "guard g"
        default:
            let bad = RuntimeState(routes: ["app": RouteRuntime(split: [WeightedBackend(backend: "cloud", basisPoints: Int.max)])])
            f.history = [HistoryEntry(generation: 6, time: "t", uid: 0, user: "u", command: "c", reason: nil, changes: [], state: bad)]
            return "history generation 6"
        }
    }

    @Test(arguments: ["generation", "split share", "mirror share", "hold start", "hold max-wait", "guard minimum",
                      "guard points", "history"])
    func aValueNoCommandWritesIsRefusedWithTheReason(_ what: String) throws {
        var file = Self.good()
        let reason = Self.spoil(what, &file)
        do {
            _ = try Self.load(file)
            Issue.record("\(what): the file loaded")
        } catch {
            #expect("\(error)".contains(reason), "\(what): \(error)")
            #expect("\(error)".contains("move it aside"), "\(what): \(error)")
        }
    }

    /// A saved old-side window is advisory: one past 2^53 is dropped when the guards start
    /// from the file, which still loads (refusing it would move routing back to the routes
    /// file's over a guard's hint).
    @Test func aSavedBaselineThatDoesNotFitIsDroppedNotRefused() throws {
        var file = Self.good()
        file.guards!.oldBaselines!["app/h/legacy"] = SideWindow(requests: UInt64.max, errors: 1)
        // Errors past the requests: a ratio of 10^17 % made the figures' text trap.
        file.guards!.oldBaselines!["app/i/legacy"] = SideWindow(requests: 1, errors: 1 << 50)
        file.guards!.oldBaselines!["app/j/legacy"] = SideWindow(requests: 1, clientErrors: 2)
        let loaded = try #require(try Self.load(file))
        #expect(loaded.guards?.oldBaselines?.count == 4)
        let book = GuardBook(record: loaded.guards)
        #expect(book.oldBaseline.keys.sorted() == ["app/g/legacy"])
    }

    /// A plan's progress is only ever written by the plan's state machine; a file with one out
    /// of range (which `plan status` negated or indexed with) is refused too.
    @Test func aPlanProgressOutOfRangeIsRefused() throws {
        var file = Self.good()
        file.guards!.plans["ramp"] = PlanProgress()
        do {
            _ = try Self.load(file) { $0.replacingOccurrences(of: "\"heldMilliseconds\" : 0", with: "\"heldMilliseconds\" : -9223372036854775808") }
            Issue.record("the file loaded")
        } catch {
            #expect("\(error)".contains("plan's progress"), "\(error)")
        }
    }
}
