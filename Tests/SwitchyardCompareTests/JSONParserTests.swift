import Testing
@testable import SwitchyardCompare

@Suite struct JSONParserTests {
    @Test func readsEveryKindOfValue() throws {
        let value = try JSONParser.parse(Array(#" {"a": [1, -2.5e3, true, false, null], "s": "x\n\u00e9\ud83d\ude00\"", "o": {}} "#.utf8))
        guard case .object(let members) = value else { Issue.record("not an object"); return }
        #expect(members.map(\.key) == ["a", "o", "s"], "sorted by key")
        let o = Dictionary(uniqueKeysWithValues: members.map { ($0.key, $0.value) })
        #expect(o["a"] == .array([.number("1"), .number("-2.5e3"), .bool(true), .bool(false), .null]))
        #expect(o["s"] == .string("x\né😀\""))
        #expect(o["o"] == .object([]))
        #expect(try JSONParser.parse(Array(#"{"k":1,"j":2,"k":3}"#.utf8)) == .object([JSONMember(key: "j", value: .number("2")), JSONMember(key: "k", value: .number("3"))]),
                "a repeated key keeps its last value")
    }

    @Test func refusesGarbageAndTruncationWithoutCrashing() {
        for text in ["", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "tru", "\"abc", "{\"a\":1}x", "nul", "[1 2]", "\"\\q\"", "{1:2}"] {
            #expect(throws: JSONParser.Invalid.self, "\(text)") { try JSONParser.parse(Array(text.utf8)) }
        }
    }

    @Test func nestingDeeperThanTheLimitIsRefusedNotRecursedInto() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParser.Invalid.self) { try JSONParser.parse(Array(deep.utf8)) }
        let fine = String(repeating: "[", count: JSONParser.maxDepth) + String(repeating: "]", count: JSONParser.maxDepth)
        #expect((try? JSONParser.parse(Array(fine.utf8))) != nil)
    }

    @Test func randomBytesNeverCrashTheParser() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("{}[]\":,0123456789.eE+-truefalsn \\u\t".utf8) + [0, 0xFF, 0xC3]
        var parsed = 0
        for _ in 0..<20_000 {
            let n = Int.random(in: 0..<40, using: &generator)
            let bytes = (0..<n).map { _ in alphabet.randomElement(using: &generator)! }
            if (try? JSONParser.parse(bytes)) != nil { parsed += 1 }
        }
        #expect(parsed < 20_000)
    }
}
