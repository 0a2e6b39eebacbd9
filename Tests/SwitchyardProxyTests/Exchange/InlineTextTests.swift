import Testing
@testable import SwitchyardProxy

/// The client's address texts live in `InlineText`: what goes in must come out byte for
/// byte at every length up to the capacity, and equality must see every byte and the length.
@Suite struct InlineTextTests {
    @Test(arguments: [0, 1, 7, 8, 9, 45, 53, 63, 64])
    func bytesComeOutAsTheyWentIn(length: Int) {
        let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        let text = InlineText(bytes)
        #expect(text.count == length)
        #expect(text.bytes == bytes)
        text.withUnsafeBytes { raw in
            #expect(raw.count == length)
            #expect(Array(raw) == bytes)
        }
    }

    @Test func equalityLooksAtEveryByteAndTheLength() {
        let base = Array("for=\"[2001:db8::1]\"".utf8)
        #expect(InlineText(base) == InlineText(base))
        for i in base.indices {
            var changed = base
            changed[i] ^= 0x20
            #expect(InlineText(changed) != InlineText(base), "byte \(i)")
        }
        // A shorter text is not equal to its longer form, even though the spare bytes are 0.
        #expect(InlineText(base.dropLast()) != InlineText(base))
        #expect(InlineText([0]) != InlineText([]))
    }

    /// The joining form, which the client's Forwarded element is made with: prefix, text and
    /// suffix end to end, at every length the text may have, with empty parts too.
    @Test(arguments: [0, 1, 15, 45, 56])
    func prefixTextAndSuffixComeOutEndToEnd(length: Int) {
        let middle = (0..<length).map { UInt8(truncatingIfNeeded: 48 &+ $0 % 10) }
        let joined = middle.withUnsafeBytes { InlineText("for=\"[", $0, "]\"") }
        #expect(joined.bytes == Array("for=\"[".utf8) + middle + Array("]\"".utf8))
        let bare = middle.withUnsafeBytes { InlineText("", $0, "") }
        #expect(bare == InlineText(middle))
    }
}
