import Testing
import SwitchyardHTTP

@Suite struct ASCIITests {
    @Test func equalsIgnoringCaseWithALiteral() {
        bytes("Content-LENGTH").withUnsafeBytes { b in
            #expect(ASCII.equalsIgnoringCase(b, "content-length"))
            #expect(!ASCII.equalsIgnoringCase(b, "content-lengths"))
            #expect(!ASCII.equalsIgnoringCase(b, "content_length"))
        }
        [UInt8]().withUnsafeBytes { #expect(ASCII.equalsIgnoringCase($0, "")) }
    }

    @Test func equalsIgnoringCaseWithBytes() {
        bytes("Host").withUnsafeBytes { a in
            bytes("hOST").withUnsafeBytes { b in #expect(ASCII.equalsIgnoringCase(a, b)) }
            bytes("hOSt ").withUnsafeBytes { b in #expect(!ASCII.equalsIgnoringCase(a, b)) }
        }
    }

    /// Only A–Z fold: '@' (0x40) and '`' (0x60), '[' and '{' differ by the case bit but are
    /// different characters.
    @Test func onlyLettersFold() {
        bytes("@[").withUnsafeBytes { #expect(!ASCII.equalsIgnoringCase($0, "`{")) }
        [UInt8]([0xC9]).withUnsafeBytes { a in
            [UInt8]([0xE9]).withUnsafeBytes { b in #expect(!ASCII.equalsIgnoringCase(a, b)) }
        }
    }
}
