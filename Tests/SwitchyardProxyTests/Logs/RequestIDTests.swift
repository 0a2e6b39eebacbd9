import Testing
@testable import SwitchyardProxy

/// A minted request ID is the 32 lower-case hex digits of its two words, most significant
/// first, whatever the values: the word-at-a-time digits agree with `String(_:radix:)`.
@Suite struct RequestIDTests {
    static func minted(_ high: UInt64, _ low: UInt64) -> String {
        var bytes = [UInt8](repeating: 0, count: RequestID.mintedLength + 2)
        bytes.withUnsafeMutableBytes { RequestID.mint(high: high, low: low, into: $0.baseAddress! + 1) }
        #expect(bytes.first == 0 && bytes.last == 0, "nothing written outside the 32 bytes")
        return String(decoding: bytes[1...RequestID.mintedLength], as: UTF8.self)
    }

    static func expected(_ high: UInt64, _ low: UInt64) -> String {
        func hex(_ v: UInt64) -> String {
            let digits = String(v, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }
        return hex(high) + hex(low)
    }

    @Test func everyNibbleValueInEveryPosition() {
        for position in 0..<16 {
            for nibble in UInt64(0)...15 {
                let high = nibble << (4 * UInt64(position))
                let low = ~high
                #expect(Self.minted(high, low) == Self.expected(high, low), "nibble \(nibble) at \(position)")
            }
        }
    }

    @Test func randomValuesAgreeWithStringRadix() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let high = generator.next() as UInt64, low = generator.next() as UInt64
            #expect(Self.minted(high, low) == Self.expected(high, low))
        }
        #expect(Self.minted(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210) == "0123456789abcdeffedcba9876543210")
    }
}
