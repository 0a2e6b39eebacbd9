import Foundation

extension FleetAgent {
    /// The headline: synced, or `DETACHED since T (reason), serving generation N`.
    func headline(serving generation: UInt64) -> String {
        let link = currentLink()
        var text = "fleet \(config.name), instance \(instanceName): "
        switch link.phase {
        case .connecting:
            text += "connecting (\(link.lastError ?? "first call under way")), serving generation \(generation)"
        case .detached(_, let since, let reason):
            text += "DETACHED since \(since) (\(reason)), serving generation \(generation)"
        case .synced:
            text += "synced, serving generation \(generation)"
        }
        if let rejection = link.rejection { text += "\n  REJECTED the store's state: \(rejection)" }
        if let alarm = link.alarm { text += "\n  ALARM: \(alarm)" }
        return text
    }

    /// `status` lines: the headline, then each instance with its generation, lag and when it
    /// was last seen (as the heartbeat read the records last).
    func statusLines(serving generation: UInt64) -> [String] {
        let view = self.view.withLock { $0 }
        var lines = [headline(serving: generation)]
        guard view.readAtMilliseconds > 0 else { return lines }
        let now = Self.wallMilliseconds()
        // The newest generation anyone is known to have: the lag is measured against it.
        let store = ([view.storeGeneration, generation] + view.instances.map(\.generation)).compactMap { $0 }.max()
        let detached: Bool
        if case .detached = currentLink().phase { detached = true } else { detached = false }
        lines.append("  " + (detached ? "as last read before the detach, " : "") + "store at generation "
                     + "\(view.storeGeneration.map(String.init) ?? "-") (read \(Self.ago(now, view.readAtMilliseconds)) ago)")
        lines.append("  instance         generation   lag  status      last seen")
        for record in view.instances {
            let lag = store.map { $0 > record.generation ? String($0 - record.generation) : "0" } ?? "-"
            var line = "  " + record.name.padding(toLength: 16, withPad: " ", startingAt: 0) + " "
                + Self.pad(String(record.generation), 10) + " " + Self.pad(lag, 5) + "  "
                + record.status.padding(toLength: 10, withPad: " ", startingAt: 0) + "  " + Self.ago(now, record.seenAtMilliseconds) + " ago"
            if let error = record.error, record.status != "synced" { line += "  (\(error))" }
            lines.append(line)
        }
        for name in view.gone {
            lines.append("  " + name.padding(toLength: 16, withPad: " ", startingAt: 0) + " " + Self.pad("-", 10) + " "
                         + Self.pad("-", 5) + "  gone        (lease expired)")
        }
        return lines
    }

    /// The same for `json status`, `/status.json`.
    func statusJSON(serving generation: UInt64) -> [String: Any] {
        let link = currentLink()
        let view = self.view.withLock { $0 }
        var object: [String: Any] = ["name": config.name, "instance": instanceName, "status": link.statusWord,
                                     "generation": generation, "store_generation": view.storeGeneration as Any]
        if case .detached(_, let since, let reason) = link.phase {
            object["detached_since"] = since
            object["detached_reason"] = reason
        }
        object["rejected"] = link.rejection as Any
        object["alarm"] = link.alarm as Any
        object["instances"] = view.instances.map { record -> [String: Any] in
            ["name": record.name, "generation": record.generation, "revision": record.revision, "status": record.status,
             "applied_at_ms": record.appliedAtMilliseconds, "seen_at_ms": record.seenAtMilliseconds, "error": record.error as Any]
        }
        object["gone"] = view.gone
        return object
    }

    /// For `/metrics`: 1 while detached, and how many generations the store is ahead.
    var detachedGauge: Double {
        if case .detached = currentLink().phase { return 1 }
        return 0
    }

    func lagGauge(serving generation: UInt64) -> Double {
        guard let store = view.withLock({ $0.storeGeneration }), store > generation else { return 0 }
        return Double(store - generation)
    }

    private static func ago(_ now: UInt64, _ then: UInt64) -> String {
        let ms = now > then ? now - then : 0
        return ms < 10_000 ? String(format: "%.1fs", Double(ms) / 1000) : "\(ms / 1000)s"
    }

    private static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
    }
}
