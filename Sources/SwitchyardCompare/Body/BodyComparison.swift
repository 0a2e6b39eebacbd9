import Foundation
import SwitchyardRouting

/// How two bodies were compared, and what differed.
struct BodyComparison: Equatable {
    /// Why a pair's bodies were compared by hash only (counted in the report).
    enum HashOnly: String, CaseIterable {
        /// A body was over `MirrorAnswer.captureLimit` (the data plane kept its hash only), or
        /// decoded to more than that.
        case overLimit = "over_limit"
        /// A compressed body decoded to more than `ContentDecoder.defaultLimit`.
        case decodedTooLarge = "decoded_too_large"
        /// A gzip or deflate body that zlib could not decode.
        case undecodable
        /// Bodies not compared: one side's coding is one the comparer does not decode
        /// (`br`, `zstd`, stacked codings) and the bytes differ — equal documents differ in
        /// bytes across codings, and across encoders of the same one. Nothing is said of the
        /// content (an old side's gzip against a new side's brotli is not a body that
        /// differs), and such a pair is no evidence either: it does not count towards the
        /// ready verdict's pairs (`CompareReport`).
        case unsupportedEncoding = "unsupported_encoding"
        /// JSON by its Content-Type, but one side did not parse (or nested too deep, or held
        /// more than `JSONParser.maxNodes` values).
        case invalidJSON = "invalid_json"
    }

    var differences: [String] = []
    var hashOnly: HashOnly?

    /// `contentType`: the primary's Content-Type (structural comparison needs both sides to
    /// say JSON; the header comparison reports when they disagree).
    static func compare(_ primary: MirrorAnswer, _ other: MirrorAnswer, primaryType: String?, otherType: String?,
                        primaryEncoding: String?, otherEncoding: String?, ignoring ignored: [JSONPathPattern],
                        decodedLimit: Int = ContentDecoder.defaultLimit) -> BodyComparison {
        var result = BodyComparison()
        guard let a = primary.body, let b = other.body else {
            result.hashOnly = .overLimit
            if !sameHash(primary, other) { result.differences = [DifferenceKey.body] }
            return result
        }
        // Identical bytes (and encodings): equal, nothing to decode.
        if a == b && primaryEncoding == otherEncoding { return result }
        guard let codingA = ContentDecoder.coding(of: primaryEncoding), let codingB = ContentDecoder.coding(of: otherEncoding) else {
            // The same bytes in the same coding are the same body; anything else is unknown.
            if ContentDecoder.folded(primaryEncoding) == ContentDecoder.folded(otherEncoding) && sameHash(primary, other) { return result }
            result.hashOnly = .unsupportedEncoding
            return result
        }
        let decodedA: [UInt8], decodedB: [UInt8]
        do throws(ContentDecoder.Failure) {
            decodedA = try ContentDecoder.decode(a, codingA, limit: decodedLimit)
            decodedB = try ContentDecoder.decode(b, codingB, limit: decodedLimit)
        } catch {
            result.hashOnly = error == .tooLarge ? .decodedTooLarge : .undecodable
            if !sameHash(primary, other) { result.differences = [DifferenceKey.body] }
            return result
        }
        // The README promises structural comparison up to the capture limit: a small gzip
        // body that inflates past it is compared by its bytes, as an over-limit body is.
        if decodedA.count > MirrorAnswer.captureLimit || decodedB.count > MirrorAnswer.captureLimit {
            result.hashOnly = .overLimit
            if decodedA != decodedB { result.differences = [DifferenceKey.body] }
            return result
        }
        if isJSON(primaryType) && isJSON(otherType) {
            if let x = try? JSONParser.parse(decodedA), let y = try? JSONParser.parse(decodedB) {
                result.differences = JSONDifference.paths(x, y, ignoring: ignored).map(DifferenceKey.json)
                return result
            }
            result.hashOnly = .invalidJSON
        }
        if decodedA != decodedB { result.differences = [DifferenceKey.body] }
        return result
    }

    /// The data plane's hashes when both sides have one, else length (a body over the
    /// capture limit always has its hash).
    static func sameHash(_ a: MirrorAnswer, _ b: MirrorAnswer) -> Bool {
        if !a.bodyHash.isEmpty && !b.bodyHash.isEmpty { return a.bodyHash == b.bodyHash }
        if let x = a.body, let y = b.body { return x == y }
        return a.bodyLength == b.bodyLength && a.bodyHash == b.bodyHash
    }

    /// `application/json`, `application/problem+json`, `text/json; charset=utf-8`, ….
    static func isJSON(_ contentType: String?) -> Bool {
        guard let type = contentType?.lowercased().split(separator: ";").first else { return false }
        let media = type.trimmingCharacters(in: [" ", "\t"])
        return media.hasSuffix("/json") || media.hasSuffix("+json")
    }
}
