import Testing
import SwitchyardHTTP
import SwitchyardRouting

/// The routes file checks prefixes with `PathPrefix` (text, SwitchyardRouting); requests are
/// normalised by `RoutingPath` (bytes, SwitchyardHTTP). The two must agree, or a prefix the
/// file accepts could still never match.
@Suite struct PathPrefixAgreementTests {
    static func requestForm(_ path: String) -> String {
        let bytes = Array(path.utf8)
        var out = [UInt8](repeating: 0, count: bytes.count)
        let n = bytes.withUnsafeBytes { input in out.withUnsafeMutableBytes { RoutingPath.normalize(input, into: $0) } }
        return String(decoding: out[0..<n], as: UTF8.self)
    }

    @Test func bothNormaliseRandomPathsAlike() {
        let pieces = ["/", "a", "b", ".", "..", ";", "x=1", "%7E", "%7e", "%2F", "%41", "%2", "%zz", "~", "caf%C3%A9", "//"]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            var path = "/"
            for _ in 0..<Int.random(in: 0...8, using: &generator) { path += pieces.randomElement(using: &generator)! }
            let normal = Self.requestForm(path)
            #expect(PathPrefix.problem(path) == nil ? normal == path : normal != path, "\(path) → \(normal)")
            #expect(PathPrefix.problem(normal) == nil, "the normal form \(normal) of \(path) is accepted")
        }
    }

    @Test func prefixesInTheRequestsFormAreAccepted() {
        for prefix in ["/", "/auth/", "/api", "/a%2Fb", "/caf%C3%A9", "/~staff", "/a..b/", "/.well-known/"] {
            #expect(PathPrefix.problem(prefix) == nil, "\(prefix)")
        }
        #expect(PathPrefix.problem("/%7Estaff")?.contains("write \"/~staff\"") == true)
        #expect(PathPrefix.problem("/a//b")?.contains("write \"/a/b\"") == true)
        #expect(PathPrefix.problem("/a/../b")?.contains("write \"/b\"") == true)
    }
}
