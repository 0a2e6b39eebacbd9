/// Latencies in fixed buckets (upper bounds in microseconds, about 1.5× apart from 100 µs to
/// 60 s, then one open bucket): a few hundred bytes per side and endpoint however many pairs
/// were seen. A percentile is the upper bound of the bucket it falls in.
public struct LatencyHistogram: Codable, Sendable, Equatable {
    public static let boundsMicros: [Int] = {
        var bounds: [Int] = []
        var b = 100.0
        while b < 60_000_000 { bounds.append(Int(b.rounded())); b *= 1.5 }
        bounds.append(60_000_000)
        return bounds
    }()

    /// One count per bound, plus the last for slower than the last bound.
    public var counts: [Int] = Array(repeating: 0, count: LatencyHistogram.boundsMicros.count + 1)

    public init() {}

    public mutating func add(_ micros: Int) {
        if counts.count != Self.boundsMicros.count + 1 { counts = Array(repeating: 0, count: Self.boundsMicros.count + 1) }
        var index = Self.boundsMicros.count
        for (i, bound) in Self.boundsMicros.enumerated() where micros <= bound { index = i; break }
        counts[index] += 1
    }

    public var total: Int { counts.reduce(0, +) }

    /// The bound of the bucket holding the `q` quantile (0…1), in microseconds; nil when
    /// empty. The open bucket reports the last bound.
    public func quantileMicros(_ q: Double) -> Int? {
        let n = total
        guard n > 0 else { return nil }
        let rank = max(1, Int((q * Double(n)).rounded(.up)))
        var seen = 0
        for (i, c) in counts.enumerated() {
            seen += c
            if seen >= rank { return Self.boundsMicros[min(i, Self.boundsMicros.count - 1)] }
        }
        return Self.boundsMicros.last
    }

    mutating func merge(_ other: LatencyHistogram) {
        guard other.counts.count == counts.count else { return }
        for i in counts.indices { counts[i] += other.counts[i] }
    }
}
