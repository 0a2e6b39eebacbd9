import Foundation
import Testing
import SwitchyardRouting

/// The routes-file fuzz corpus (Tests/Fuzz/corpus/routes), replayed on every `make test`:
/// any text parses to a config or to errors with positions, never a crash.
@Suite struct RoutesFuzzCorpusReplayTests {
    @Test func routesCorpusNeverCrashesAndErrorsHavePositions() {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fuzz/corpus/routes")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        #expect(names.count >= 2)
        for name in names {
            guard let data = FileManager.default.contents(atPath: dir.appendingPathComponent(name).path) else { continue }
            do {
                let config = try RoutesConfig.parse(String(decoding: data, as: UTF8.self), file: name)
                _ = try? RouteTable.build(config: config, state: RuntimeState(), generation: 1)
            } catch {
                #expect(!error.errors.isEmpty)
                for e in error.errors { #expect(e.line >= 1 && e.column >= 1, "\(e)") }
            }
        }
    }
}
