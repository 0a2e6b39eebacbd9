import Testing
import SwitchyardTestSupport
@testable import SwitchyardHTTP

/// `RoutingPath`: the rules its doc comment states, each with an example, and properties
/// over random paths (never longer, idempotent, always starts with '/').
@Suite struct RoutingPathTests {
    static func normalized(_ path: String) -> String {
        let bytes = Array(path.utf8)
        return bytes.withUnsafeBytes { raw in
            guard RoutingPath.needsNormalizing(raw) else { return path }
            var out = [UInt8](repeating: 0, count: max(1, bytes.count))
            let n = out.withUnsafeMutableBytes { RoutingPath.normalize(raw, into: $0) }
            return String(decoding: out[0..<n], as: UTF8.self)
        }
    }

    @Test(arguments: [
        ("/auth/login", "/auth/login"),
        ("/%61uth/login", "/auth/login"),
        ("/%41%7e%2D%5f%2E", "/A~-_."),
        ("/./auth/login", "/auth/login"),
        ("//auth//login", "/auth/login"),
        ("/x/../auth/login", "/auth/login"),
        ("/auth;x/login", "/auth/login"),
        ("/auth;jsessionid=1", "/auth"),
        ("/../../auth", "/auth"),
        ("/%2e%2E/auth", "/auth"),
        ("/a/b/..", "/a/"),
        ("/a/b/.", "/a/b/"),
        ("/a/", "/a/"),
        ("/a//", "/a/"),
        ("/", "/"),
        ("//", "/"),
        ("/..", "/"),
        ("/%2Fauth", "/%2Fauth"),
        ("/a%2fb", "/a%2fb"),
        ("/a%zz", "/a%zz"),
        ("/a%2", "/a%2"),
        ("/a%", "/a%"),
        ("/.hidden/x", "/.hidden/x"),
        ("/a..b/c", "/a..b/c"),
        ("*", "*"),
    ])
    func rules(_ example: (String, String)) {
        #expect(Self.normalized(example.0) == example.1, "\(example.0)")
    }

    @Test func plainPathsNeedNothing() {
        for path in ["/", "/auth/login", "/a-b_c~d.e/f", "/api/v1/patients"] {
            #expect(Array(path.utf8).withUnsafeBytes { !RoutingPath.needsNormalizing($0) }, "\(path)")
        }
    }

    @Test func randomPathsNormaliseToAFixedPointNoLonger() {
        let seed: UInt64 = 0x5eed_2026_1130
        var random = SplitMix64(seed: seed)
        let alphabet = Array("/./.a%2e%41;x/b..".utf8)
        for _ in 0..<20_000 {
            var bytes: [UInt8] = [UInt8(ascii: "/")]
            for _ in 0..<Int(random.next() % 24) { bytes.append(alphabet[Int(random.next() % UInt64(alphabet.count))]) }
            let path = String(decoding: bytes, as: UTF8.self)
            let once = Self.normalized(path)
            #expect(once.utf8.count <= bytes.count, "seed \(seed): \(path)")
            #expect(once.hasPrefix("/"), "seed \(seed): \(path)")
            // Decoding once can spell a new escape ("%2%44" → "%2D"), which a backend decoding
            // once also keeps; without escapes left, normalising again changes nothing.
            if !once.contains("%") {
                #expect(Self.normalized(once) == once, "seed \(seed): not idempotent on \(path) → \(once)")
            }
            #expect(!once.contains("//") && !once.contains("/./") && !once.contains("/../"), "seed \(seed): \(path) → \(once)")
        }
    }
}
