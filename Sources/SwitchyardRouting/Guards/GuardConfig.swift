/// What a guard watches: the new side's error ratio, its p95 latency, or its share of
/// 401/403/404 answers, each compared with the old side's over the same window.
public enum GuardKind: String, Sendable, Codable, CaseIterable {
    case errors
    case latency
    case clientErrors = "client-errors"
}

/// What a tripped guard does.
public enum GuardMode: String, Sendable, Codable, CaseIterable {
    /// Log and show only.
    case observe
    /// Refuse further raises of the new side's share (latched until `guard ROUTE ack`).
    case freeze
    /// Restore the route as it was before the new side gained traffic, then as `freeze`.
    case revert
}

/// One guard of a route, from a `guard` line of the routes file or `guard ROUTE add`.
/// Thresholds are plain numbers checked against `GuardConfig.limits` when read.
public struct GuardConfig: Sendable, Equatable, Codable {
    public var name: String
    public var route: String
    public var kind: GuardKind
    /// The side gaining traffic, and the side it comes from.
    public var newSide: String
    public var oldSide: String
    public var mode: GuardMode
    /// errors / client-errors: the new side's ratio must be at least this many percentage
    /// points above the old side's … (`points`)
    public var points: Double
    /// … and (errors) at least this many times the old side's ratio; (latency) the new
    /// side's p95 at least this many times the old side's. (`times`)
    public var times: Double
    /// latency: and at least this many milliseconds above it. (`above`)
    public var aboveMilliseconds: Int
    /// Requests the new side must have had in the window for a verdict. (`min`)
    public var minRequests: Int
    public var windowSeconds: Int
    /// Red verdicts in a row (one check a second) before the guard trips. (`checks`)
    public var checks: Int
    /// errors: `MetricsLayout.fastTripStreak` transport failures in a row trip at once.
    public var fastTrip: Bool
    /// Where it was written (0: added at run time).
    public var line: Int

    public init(name: String, route: String, kind: GuardKind, newSide: String, oldSide: String, mode: GuardMode = .observe, line: Int = 0) {
        self.name = name
        self.route = route
        self.kind = kind
        self.newSide = newSide
        self.oldSide = oldSide
        self.mode = mode
        self.line = line
        switch kind {
        case .errors:
            (points, times, aboveMilliseconds, minRequests, windowSeconds, checks, fastTrip) = (1, 2, 0, 50, 30, 3, true)
        case .latency:
            (points, times, aboveMilliseconds, minRequests, windowSeconds, checks, fastTrip) = (0, 1.5, 150, 100, 10, 3, false)
        case .clientErrors:
            (points, times, aboveMilliseconds, minRequests, windowSeconds, checks, fastTrip) = (5, 1, 0, 50, 30, 3, false)
        }
    }

    /// The option words each kind takes, with their ranges (inclusive).
    public static func options(for kind: GuardKind) -> [String] {
        switch kind {
        case .errors: return ["points", "times", "min", "window", "checks", "fast-trip"]
        case .latency: return ["times", "above", "min", "window", "checks"]
        case .clientErrors: return ["points", "min", "window", "checks"]
        }
    }

    /// Sets one option from its text; the message says what is wrong (for a file:line:col
    /// or a one-line refusal).
    public mutating func set(_ option: String, _ text: String) -> String? {
        func number(_ range: ClosedRange<Double>) -> Double? {
            var t = Substring(text)
            if option == "points" && t.hasSuffix("pt") { t = t.dropLast(2) }
            if option == "times" && t.hasSuffix("x") { t = t.dropLast() }
            guard let v = Double(t), v.isFinite, range.contains(v) else { return nil }
            return v
        }
        func seconds(_ range: ClosedRange<Int>) -> Int? {
            let t = text.hasSuffix("s") ? String(text.dropLast()) : text
            guard let v = Int(t), range.contains(v) else { return nil }
            return v
        }
        switch option {
        case "points":
            guard let v = number(Self.pointsRange) else { return "points must be 0.1…100 (percentage points), not \"\(text)\"" }
            points = v
        case "times":
            guard let v = number(Self.timesRange) else { return "times must be 1…100, not \"\(text)\"" }
            times = v
        case "above":
            let t = text.hasSuffix("ms") ? String(text.dropLast(2)) : text
            guard let v = Int(t), Self.aboveRange.contains(v) else { return "above must be 1ms…60000ms, not \"\(text)\"" }
            aboveMilliseconds = v
        case "min":
            guard let v = Int(text), Self.minRequestsRange.contains(v) else { return "min must be 1…1000000 requests, not \"\(text)\"" }
            minRequests = v
        case "window":
            guard let v = seconds(Self.windowRange) else { return "window must be 1s…\(GuardConfig.maxWindowSeconds)s, not \"\(text)\"" }
            windowSeconds = v
        case "checks":
            guard let v = Int(text), Self.checksRange.contains(v) else { return "checks must be 1…600, not \"\(text)\"" }
            checks = v
        case "fast-trip":
            guard text == "on" || text == "off" else { return "fast-trip must be on or off, not \"\(text)\"" }
            fastTrip = text == "on"
        default:
            return "unknown guard option \"\(option)\" for \(kind.rawValue) (known: \(Self.options(for: kind).joined(separator: ", ")))"
        }
        return nil
    }

    /// The longest window a guard may read (the admin side keeps this many seconds).
    public static let maxWindowSeconds = 300

    // Each option's range, named once: `set` enforces them, and `rangeProblem` checks a
    // guard read back from the state file or the fleet's document against them.
    static let pointsRange: ClosedRange<Double> = 0.1...100
    static let timesRange: ClosedRange<Double> = 1...100
    static let aboveRange = 1...60_000
    static let minRequestsRange = 1...1_000_000
    static let windowRange = 1...maxWindowSeconds
    static let checksRange = 1...600

    /// The guard in routes-file words.
    public var text: String {
        var words = ["guard", name, kind.rawValue, "new", newSide, "old", oldSide, mode.rawValue]
        let base = GuardConfig(name: name, route: route, kind: kind, newSide: newSide, oldSide: oldSide)
        func add(_ word: String, _ value: String, _ differs: Bool) { if differs { words += [word, value] } }
        add("points", Self.format(points), points != base.points)
        add("times", Self.format(times), times != base.times)
        add("above", "\(aboveMilliseconds)ms", aboveMilliseconds != base.aboveMilliseconds)
        add("min", "\(minRequests)", minRequests != base.minRequests)
        add("window", "\(windowSeconds)s", windowSeconds != base.windowSeconds)
        add("checks", "\(checks)", checks != base.checks)
        add("fast-trip", fastTrip ? "on" : "off", fastTrip != base.fastTrip)
        return words.joined(separator: " ")
    }

    static func format(_ v: Double) -> String {
        v == v.rounded() ? String(Int(v)) : String(v)
    }

    /// Reads `NAME KIND new BACKEND old BACKEND [MODE] [OPTION VALUE]...` (the words after
    /// `guard` in a route, or after `guard ROUTE add`). Backends are not checked here. On a
    /// problem: the index of the word at fault and the message.
    public static func parse(_ words: [String], route: String, line: Int = 0) -> Result<GuardConfig, GuardParseError> {
        let usage = "usage: guard NAME errors|latency|client-errors new BACKEND old BACKEND [observe|freeze|revert] [OPTION VALUE]..."
        guard words.count >= 6 else { return .failure(.init(word: words.count, message: "missing arguments (\(usage))")) }
        guard isGuardName(words[0]) else { return .failure(.init(word: 0, message: "bad guard name \"\(words[0])\" (use letters, digits, '-', '_')")) }
        guard let kind = GuardKind(rawValue: words[1]) else {
            return .failure(.init(word: 1, message: "unknown guard kind \"\(words[1])\" (expected errors, latency or client-errors)"))
        }
        guard words[2] == "new" else { return .failure(.init(word: 2, message: "expected \"new BACKEND\" (\(usage))")) }
        guard words[4] == "old" else { return .failure(.init(word: 4, message: "expected \"old BACKEND\" (\(usage))")) }
        guard words[3] != words[5] else { return .failure(.init(word: 5, message: "the new and the old side must differ")) }
        var config = GuardConfig(name: words[0], route: route, kind: kind, newSide: words[3], oldSide: words[5], line: line)
        var i = 6
        if i < words.count, let mode = GuardMode(rawValue: words[i]) {
            config.mode = mode
            i += 1
        }
        while i < words.count {
            guard i + 1 < words.count else {
                let known = options(for: kind).contains(words[i]) || GuardMode(rawValue: words[i]) != nil
                return .failure(.init(word: i, message: known ? "missing value for \(words[i]) (or the mode is not right after the old side)" : "unknown guard option \"\(words[i])\" (known: \(options(for: kind).joined(separator: ", ")))"))
            }
            guard options(for: kind).contains(words[i]) else {
                return .failure(.init(word: i, message: "unknown guard option \"\(words[i])\" for \(kind.rawValue) (known: \(options(for: kind).joined(separator: ", ")))"))
            }
            if let problem = config.set(words[i], words[i + 1]) { return .failure(.init(word: i + 1, message: problem)) }
            i += 2
        }
        return .success(config)
    }

    static func isGuardName(_ text: String) -> Bool {
        !text.isEmpty && text.count <= 64 && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x2D || $0 == 0x5F }
    }
}

/// A guard's words that did not read: which word (index into the words given) and why.
public struct GuardParseError: Error, Sendable {
    public var word: Int
    public var message: String
}
