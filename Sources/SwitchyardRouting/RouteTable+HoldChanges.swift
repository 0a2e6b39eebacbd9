extension RouteTable {
    /// `charting held (writes: POST PUT PATCH DELETE; max-wait 60s)`, `charting released`.
    static func holdChanges(of new: CompiledRoute, from old: CompiledRoute) -> [String] {
        switch (old.hold?.state, new.hold?.state) {
        case (nil, let now?):
            return ["\(new.name) held (writes: \(new.hold!.rules.methods.joined(separator: " ")); max-wait \(now.maxWaitSeconds)s)"]
        case (_?, nil):
            return ["\(new.name) released"]
        case (let before?, let now?) where before != now:
            return ["\(new.name) hold changed (max-wait \(before.maxWaitSeconds)s → \(now.maxWaitSeconds)s)"]
        default:
            return []
        }
    }
}
