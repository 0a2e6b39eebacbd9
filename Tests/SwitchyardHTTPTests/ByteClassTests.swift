import Testing
@testable import SwitchyardHTTP

@Suite struct ByteClassTests {
    /// The token masks say exactly RFC 9110's tchar, for all 256 bytes.
    @Test func tokenMasksAreTheGrammarsTokenCharacters() {
        let symbols = Array("!#$%&'*+-.^_`|~".utf8)
        for byte in 0...255 {
            let c = UInt8(byte)
            let alpha = (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
            let digit = c >= 0x30 && c <= 0x39
            let expected = alpha || digit || symbols.contains(c)
            #expect(ByteClass.isTokenChar(c) == expected, "byte \(byte)")
        }
    }
}
