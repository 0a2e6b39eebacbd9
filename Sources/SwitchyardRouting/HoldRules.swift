/// What a write hold parks on one route, from the routes file: `hold methods M…` (default
/// POST PUT PATCH DELETE) and `hold except PATH…` (path prefixes that are never held — a
/// login endpoint that must keep working). The hold itself is runtime state (`HoldState`).
public struct HoldRules: Sendable, Equatable {
    /// Upper-case method names that are held.
    public var methods: [String]
    /// Path prefixes (the routing rule of `path`) that pass a hold.
    public var exceptions: [String]

    public static let defaultMethods = ["POST", "PUT", "PATCH", "DELETE"]

    public init(methods: [String] = HoldRules.defaultMethods, exceptions: [String] = []) {
        self.methods = methods
        self.exceptions = exceptions
    }
}

/// A write hold in force on a route: runtime state, saved with the rest, so it survives a
/// restart or a kill -9 (requests parked at that moment were never acknowledged).
public struct HoldState: Sendable, Equatable, Codable {
    /// Wall-clock seconds since 1970 when the hold began (a hold older than
    /// `HoldState.maxAgeSeconds` answers new writes 503 instead of parking them).
    public var since: Double
    /// How long one request may stay parked before it is answered 503 (1…300 s).
    public var maxWaitSeconds: Int
    public var reason: String?

    /// A hold that has lasted longer than this stops parking: new writes get 503.
    public static let maxAgeSeconds: Double = 600
    public static let defaultMaxWaitSeconds = 60
    public static let maxMaxWaitSeconds = 300

    public init(since: Double, maxWaitSeconds: Int, reason: String? = nil) {
        self.since = since
        self.maxWaitSeconds = maxWaitSeconds
        self.reason = reason
    }
}

/// A route's hold as the request path checks it: method names and exception prefixes as
/// bytes, compared without allocating.
public final class CompiledHold: Sendable {
    public let rules: HoldRules
    public let state: HoldState
    let methodKeys: [ByteString]
    let exceptionKeys: [ByteString]
    /// `state.since` in whole seconds, and the age past which new writes are refused.
    public let sinceSeconds: Int
    public let refuseAfterSeconds: Int

    init(rules: HoldRules, state: HoldState) {
        self.rules = rules
        self.state = state
        methodKeys = rules.methods.map { ByteString($0) }
        exceptionKeys = rules.exceptions.map { ByteString($0) }
        sinceSeconds = Int(state.since)
        refuseAfterSeconds = Int(state.since + HoldState.maxAgeSeconds)
    }

    /// Whether a request with `method` (its bytes as sent) and normalised `path` is held.
    /// Does not allocate.
    public func holds(method: UnsafeRawBufferPointer, path: UnsafeRawBufferPointer) -> Bool {
        var held = false
        var k = 0
        while k < methodKeys.count && !held {
            held = ByteMatch.equals(method, methodKeys[k].bytes)
            k += 1
        }
        guard held else { return false }
        k = 0
        while k < exceptionKeys.count {
            if ByteMatch.pathMatches(path, prefix: exceptionKeys[k].bytes) { return false }
            k += 1
        }
        return true
    }
}
