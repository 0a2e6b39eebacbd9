/// Diffy's idea without a second deployment: some mirrored requests are also sent to the
/// primary side a second time (`MirrorSample.Kind.noise`). A difference the primary shows
/// against itself is no difference between the sides.
///
/// The rule, per endpoint and per difference key K:
///
///     noise rate  = noise samples showing K / noise samples
///     mirror rate = mirror pairs showing K / mirror pairs
///     K is noise  ⇔ noise samples showing K ≥ minimumCount (3)
///                   and noise rate ≥ half the mirror rate
///
/// A mirror pair whose differences are all noise counts as noise, not as a mismatch; a pair
/// with any difference that is not noise is a mismatch ("above noise"), whatever else it shows.
public enum NoiseRule {
    public static let minimumCount = 3
    public static let rateFactor = 0.5

    public static func isNoise(_ key: String, in book: EndpointBook) -> Bool {
        let noise = book.noiseKeyCounts[key] ?? 0
        guard noise >= minimumCount, book.noiseSamples > 0, book.pairs > 0 else { return false }
        let noiseRate = Double(noise) / Double(book.noiseSamples)
        let mirrorRate = Double(book.keyCounts[key] ?? 0) / Double(book.pairs)
        return noiseRate >= rateFactor * mirrorRate
    }

    /// Mirror pairs that differ by more than noise, and those that differ by noise only.
    public static func split(_ book: EndpointBook) -> (aboveNoise: Int, noiseOnly: Int) {
        var above = book.overflowPairs, noiseOnly = 0
        var cache: [String: Bool] = [:]
        for (signature, count) in book.signatures {
            let keys = signature.split(separator: "\n").map(String.init)
            let allNoise = keys.allSatisfy { key in
                if let known = cache[key] { return known }
                let verdict = isNoise(key, in: book)
                cache[key] = verdict
                return verdict
            }
            if allNoise { noiseOnly += count } else { above += count }
        }
        return (above, noiseOnly)
    }
}
