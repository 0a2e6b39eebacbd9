import Testing
@testable import SwitchyardCompare

@Suite struct SipHashTests {
    /// The reference vectors of the SipHash paper (key 00…0f, messages 00…(n−1)).
    @Test func matchesTheReferenceVectors() {
        let key: (UInt64, UInt64) = (0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908)
        #expect(SipHash.hash(key: key, []) == 0x726f_db47_dd0e_0e31)
        #expect(SipHash.hash(key: key, Array(0..<15)) == 0xa129_ca61_49be_45e5)
        #expect(SipHash.hash(key: key, Array(0..<8)) == 0x93f5_f579_9a93_2462)
        // One word: the bytes 00…07 little-endian.
        #expect(SipHash.hash(key: key, word: 0x0706_0504_0302_0100) == 0x93f5_f579_9a93_2462)
        for word: UInt64 in [0, 1, 0xdead_beef_0bad_f00d, .max] {
            let bytes = (0..<8).map { UInt8(truncatingIfNeeded: word >> (8 * UInt64($0))) }
            #expect(SipHash.hash(key: (7, 9), word: word) == SipHash.hash(key: (7, 9), bytes))
        }
    }

    /// An example's body text is the same for equal bodies under one key and says nothing
    /// under another (the key is the installation's).
    @Test func exampleHashesAreKeyed() {
        let answer = MirrorAnswer(status: 200, body: Array(#"{"positive":true}"#.utf8))
        let mine = CompareAggregator.hashText(answer, key: (1, 2))
        #expect(mine == CompareAggregator.hashText(answer, key: (1, 2)))
        #expect(mine != CompareAggregator.hashText(answer, key: (3, 4)))
        #expect(mine.count == 16 && mine.allSatisfy(\.isHexDigit))
        #expect(CompareAggregator.hashText(MirrorAnswer(status: 204), key: (1, 2)) == "-")
    }
}
