/// Shares are basis points (0.01 %): "5%", "5", "4.75%" ↔ 475.
enum Percent {
    static func parse(_ text: String) throws(AdminError) -> Int {
        var body = Substring(text)
        if body.hasSuffix("%") { body = body.dropLast() }
        let parts = body.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let whole = Int(parts[0]), !parts[0].isEmpty,
              parts[0].allSatisfy(\.isNumber) else {
            throw AdminError("\"\(text)\" is not a percentage (like 5%, 12.5% or 0.25%)")
        }
        var fraction = 0
        if parts.count == 2 {
            guard (1...2).contains(parts[1].count), parts[1].allSatisfy(\.isNumber), let f = Int(parts[1]) else {
                throw AdminError("\"\(text)\": shares go in steps of 0.01%")
            }
            fraction = parts[1].count == 1 ? f * 10 : f
        }
        // `0.5` without a % sign may be meant as a half: taken as 0.5 %, a move of half the
        // users would move one in two hundred. Below 1 the sign is required.
        if !text.hasSuffix("%"), whole == 0, fraction > 0 {
            throw AdminError("\"\(text)\" is ambiguous: give the share with % (\(text)% or \(fraction)%)")
        }
        // Compared before it is scaled: a whole part of 18 digits would overflow the product.
        guard whole <= 100, case let points = whole * 100 + fraction, points <= 10_000 else {
            throw AdminError("\"\(text)\" is outside 0%…100%")
        }
        return points
    }

    static func format(_ points: Int) -> String {
        let fraction = points % 100
        return "\(points / 100).\(fraction < 10 ? "0" : "")\(fraction)%"
    }
}

/// Durations as in the routes file: 500ms, 30s, 2m.
enum Duration {
    /// The longest duration a command takes (30 days): longer than any drain or wait an
    /// operator means, and far from where adding it to a clock could overflow.
    static let maxMilliseconds: UInt64 = 30 * 24 * 3_600_000

    static func parseMilliseconds(_ text: String) throws(AdminError) -> UInt64 {
        let units: [(String, UInt64)] = [("ms", 1), ("s", 1000), ("m", 60_000)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            if let value = UInt64(number), !number.isEmpty, number.allSatisfy(\.isNumber) {
                let (milliseconds, overflow) = value.multipliedReportingOverflow(by: factor)
                guard !overflow, milliseconds <= maxMilliseconds else {
                    throw AdminError("\"\(text)\" is too long (at most 30 days)")
                }
                return milliseconds
            }
        }
        throw AdminError("\"\(text)\" is not a duration (like 30s, 500ms or 2m)")
    }
}
