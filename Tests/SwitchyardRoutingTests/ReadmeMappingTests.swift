import Foundation
import Testing
import SwitchyardTestSupport

/// Tests/README.md maps the README's promises to tests: every test it names exists (a
/// renamed or deleted test cannot leave a claim silently unproved), and every bullet of
/// the README's "Behaviour worth knowing" has its section.
@Suite struct ReadmeMappingTests {
    static let root = repositoryRoot()

    /// Every Swift test source, by path.
    static func testSources() throws -> [String: String] {
        var sources: [String: String] = [:]
        let tests = root.appendingPathComponent("Tests")
        let files = FileManager.default.enumerator(atPath: tests.path)?.compactMap { $0 as? String } ?? []
        for file in files where file.hasSuffix(".swift") && !file.hasPrefix("Fuzz/") {
            sources[file] = try String(contentsOf: tests.appendingPathComponent(file), encoding: .utf8)
        }
        return sources
    }

    @Test func everyTestNamedInTheMappingExists() throws {
        let mapping = try String(contentsOf: Self.root.appendingPathComponent("Tests/README.md"), encoding: .utf8)
        let sources = try Self.testSources()
        let names = mapping.matches(of: try Regex("`([A-Z][A-Za-z0-9]*)\\.([a-z][A-Za-z0-9]*)`"))
            .map { (String($0.output[1].substring!), String($0.output[2].substring!)) }
        #expect(names.count >= 80, "the mapping names its tests as `Suite.test` (\(names.count) found)")
        for (suite, test) in names {
            let found = sources.values.contains { $0.contains("struct \(suite) ") && $0.contains("func \(test)(") }
            #expect(found, "Tests/README.md names \(suite).\(test), which no test source defines")
        }
    }

    @Test func everyBehaviourBulletHasASection() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let mapping = try String(contentsOf: Self.root.appendingPathComponent("Tests/README.md"), encoding: .utf8)
        let section = try #require(readme.components(separatedBy: "## Behaviour worth knowing").dropFirst().first?
            .components(separatedBy: "\n## ").first)
        let bullets = section.matches(of: try Regex("\\n- \\*\\*([^*]+)\\.\\*\\*")).map { String($0.output[1].substring!) }
        #expect(bullets.count >= 13, "\(bullets)")
        for bullet in bullets {
            #expect(mapping.contains("\n## \(bullet)\n"), "Tests/README.md has no section for \"\(bullet)\"")
        }
    }
}
