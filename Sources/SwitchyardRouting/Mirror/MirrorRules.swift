/// A route's mirror as the routes file writes it: `mirror BACKEND N%` (share of users, by
/// the route's sticky bucket), `mirror methods M…` (default GET HEAD OPTIONS), `mirror noise
/// N%` (share of mirrored requests also sent a second time to the primary side), and the
/// bounds `mirror in-flight N` and `mirror rate N/s` (per target backend, per proxy).
/// The target and share are also runtime state (`MirrorSetting`, the `mirror` admin command).
public struct MirrorRules: Sendable, Equatable {
    /// The mirror target from the file (nil: mirrored only once the admin command names one).
    public var backend: String?
    /// Share of users mirrored, in basis points.
    public var basisPoints: Int
    /// Upper-case methods copied to any target; other methods go only to a `sandbox` backend.
    public var methods: [String]
    /// Share of mirrored requests also sent to the primary side (noise), in basis points.
    public var noiseBasisPoints: Int
    /// Mirrored requests in flight to the target at once, per proxy (split between workers).
    public var inFlight: Int
    /// Mirrored requests started per second to the target, per proxy (split between workers).
    public var ratePerSecond: Int

    public static let defaultMethods = ["GET", "HEAD", "OPTIONS"]
    public static let defaultNoiseBasisPoints = 100
    public static let defaultInFlight = 64
    public static let defaultRatePerSecond = 200
    public static let maxInFlight = 10_000
    public static let maxRatePerSecond = 100_000

    public init(backend: String? = nil, basisPoints: Int = 0, methods: [String] = MirrorRules.defaultMethods,
                noiseBasisPoints: Int = MirrorRules.defaultNoiseBasisPoints, inFlight: Int = MirrorRules.defaultInFlight,
                ratePerSecond: Int = MirrorRules.defaultRatePerSecond) {
        self.backend = backend
        self.basisPoints = basisPoints
        self.methods = methods
        self.noiseBasisPoints = noiseBasisPoints
        self.inFlight = inFlight
        self.ratePerSecond = ratePerSecond
    }
}

/// The mirror's target and share set at run time (`mirror ROUTE BACKEND N%`, `mirror ROUTE
/// off`): overrides the file's `mirror BACKEND N%`, saved with the rest of the runtime state.
public struct MirrorSetting: Sendable, Equatable, Codable {
    /// nil: mirroring turned off.
    public var backend: String?
    public var basisPoints: Int

    public init(backend: String?, basisPoints: Int) {
        self.backend = backend
        self.basisPoints = basisPoints
    }

    public static let off = MirrorSetting(backend: nil, basisPoints: 0)
}

/// A route's mirror as the request path checks it: the target resolved to a backend index,
/// the allowed methods as bytes. Present on a `CompiledRoute` only when a target is set and
/// its share is above 0, so a route without a mirror costs one nil check.
public final class CompiledMirror: Sendable {
    public let rules: MirrorRules
    /// The effective target and share (runtime setting over the file).
    public let backend: String
    public let backendIndex: Int
    public let basisPoints: Int
    /// The target is a `sandbox` backend: any method may be copied there, with its body.
    public let sandbox: Bool
    let methodKeys: [ByteString]

    init(rules: MirrorRules, backend: String, backendIndex: Int, basisPoints: Int, sandbox: Bool) {
        self.rules = rules
        self.backend = backend
        self.backendIndex = backendIndex
        self.basisPoints = basisPoints
        self.sandbox = sandbox
        methodKeys = rules.methods.map { ByteString($0) }
    }

    /// Whether `method` (its bytes as sent) is in the route's read allowlist. Does not allocate.
    public func allows(method: UnsafeRawBufferPointer) -> Bool {
        var k = 0
        while k < methodKeys.count {
            if ByteMatch.equals(method, methodKeys[k].bytes) { return true }
            k += 1
        }
        return false
    }

    /// Whether a user in `bucket` (0…9999) is mirrored: the first `basisPoints` buckets are,
    /// so raising the share only adds users and a user's whole session is in or out.
    @inline(__always)
    public func covers(bucket: Int) -> Bool { bucket >= 0 && bucket < basisPoints }
}
