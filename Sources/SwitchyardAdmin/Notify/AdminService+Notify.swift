import Foundation
import SwitchyardRouting

extension AdminService {
    /// Tells the notify targets about an accepted change, trip, ack or plan event; returns
    /// at once (the delivery is the notifier's threads' business).
    func notify(_ command: AdminCommandLine, _ caller: Caller, changes: [String], generationBefore: UInt64?, generation: UInt64,
                figures: String? = nil, kind: String? = nil) {
        guard eventNotifier.hasTargets else { return }
        var event: [String: Any] = [
            "event": kind ?? Self.eventKind(command.words), "time": AuditLog.now(), "generation": generation,
            "actor": caller.userName, "uid": caller.uid, "command": AdminText.stored(command.text),
            "reason": command.reason.map(AdminText.stored) ?? NSNull(), "changes": changes,
        ]
        event["generation_before"] = generationBefore ?? NSNull()
        // A trip that reverted went through the commit path: its reason is the figures.
        if let figures = figures ?? (event["event"] as? String == "guard-trip" ? command.reason : nil) { event["figures"] = figures }
        eventNotifier.send(event)
    }

    /// `change`, `guard-trip`, `guard-ack`, `guard-change`, `plan-step`, `plan-abort`,
    /// `plan-start`, … from the command's words.
    static func eventKind(_ words: [String]) -> String {
        switch words.first {
        case "guard" where words.count >= 4 && words[3] == "trip":
            return "guard-trip"
        case "guard" where words.count >= 3:
            return words[2] == "ack" ? "guard-ack" : "guard-change"
        case "plan" where words.count >= 3:
            return "plan-" + (words[1] == "load" ? "load" : words.count >= 3 && (words[2] == "step" || words[2] == "abort") ? words[2] : words[1])
        case "hold", "release":
            return words[0]
        default:
            return "change"
        }
    }
}
