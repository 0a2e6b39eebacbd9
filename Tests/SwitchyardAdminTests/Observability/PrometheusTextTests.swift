import Testing
@testable import SwitchyardAdmin

/// Label values in the text exposition: backslash, double quote and line feed escaped, the
/// line feed of a CRLF too ("\r\n" is one Swift Character, equal to none of the three: it
/// went out raw, and what followed it was a line of the value's choosing).
@Suite struct PrometheusTextTests {
    @Test func everyLineFeedIsEscapedCRLFIncluded() {
        #expect(PrometheusText.escape(#"a\b"c"#) == #"a\\b\"c"#)
        #expect(PrometheusText.escape("a\nb") == #"a\nb"#)
        let crlf = PrometheusText.escape("a\r\nfake_metric 1")
        #expect(!crlf.unicodeScalars.contains("\n") && crlf == "a\r\\nfake_metric 1", "\(crlf.debugDescription)")
    }
}
