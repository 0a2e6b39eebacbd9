import Testing
import SwitchyardRouting

@Suite struct JSONPathPatternTests {
    @Test func parsesKeysIndicesWildcardsAndQuotedNames() throws {
        let p = try JSONPathPattern(parsing: #"$.items[*].ts["odd key"][2].*"#)
        #expect(p.steps == [.key("items"), .anyIndex, .key("ts"), .key("odd key"), .index(2), .anyKey])
        #expect(p.description == #"$.items[*].ts["odd key"][2].*"#)
    }

    @Test func saysWhereAPathStopsParsing() {
        for (text, offset) in [("meta.x", 0), ("$.", 2), ("$.a[", 4), ("$.a[x]", 4), ("$.a]", 3), (#"$["ab"#, 5), ("$.a[1", 5), ("$", 0)] {
            do {
                _ = try JSONPathPattern(parsing: text)
                Issue.record("\(text) parsed")
            } catch {
                #expect(error.offset == offset, "\(text): \(error.message)")
            }
        }
    }

    @Test func matchesThePathAndEverythingBelowIt() throws {
        let p = try JSONPathPattern(parsing: "$.items[*].ts")
        #expect(p.matches([.key("items"), .index(3), .key("ts")]))
        #expect(p.matches([.key("items"), .index(0), .key("ts"), .key("zone")]))
        #expect(!p.matches([.key("items"), .index(0), .key("id")]))
        #expect(!p.matches([.key("items")]))
        #expect(!p.matches([.key("other"), .index(0), .key("ts")]))
    }

    @Test func controlBytesInAKeyAreEscapedWhenShown() {
        #expect(JSONPathPattern(steps: [.key("\u{1b}[31m\u{7f}")]).description == #"$["\u001b[31m\u007f"]"#)
    }
}
