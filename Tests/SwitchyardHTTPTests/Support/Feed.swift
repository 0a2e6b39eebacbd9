import SwitchyardTestSupport

/// How a test hands a message to a parser: whole, one more byte per call, or in random pieces.
enum Feed: CustomStringConvertible, Sendable {
    case whole
    case byteByByte
    case random(seed: UInt64)

    /// Every way the tests feed a message: whole, byte by byte, and five seeded random splits.
    static let all: [Feed] = [.whole, .byteByByte] + (1...5).map { .random(seed: $0) }

    var description: String {
        switch self {
        case .whole: return "whole"
        case .byteByByte: return "byte by byte"
        case .random(let seed): return "random(\(seed))"
        }
    }

    /// Increasing prefix lengths ending with `count`: the sizes of the buffer on each call.
    func cuts(_ count: Int) -> [Int] {
        switch self {
        case .whole:
            return [count]
        case .byteByByte:
            return count == 0 ? [0] : Array(1...count)
        case .random(let seed):
            var rng = SplitMix64(seed: seed)
            var cuts: [Int] = []
            var at = 0
            while at < count {
                at = min(count, at + Int.random(in: 1...max(1, count / 4), using: &rng))
                cuts.append(at)
            }
            return cuts.isEmpty ? [0] : cuts
        }
    }
}

/// The bytes of `text` (UTF-8).
func bytes(_ text: String) -> [UInt8] {
    Array(text.utf8)
}
