import Foundation
import Synchronization
import Testing
import SwitchyardTestSupport
import SwitchyardAdmin

/// `reload` under continuous traffic fails nothing, whatever the new file changes.
@Suite struct ReloadUnderLoadTests {
    @Test func reloadsUnderLoadFailNothing() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        let original = try String(contentsOfFile: h.routesPath, encoding: .utf8)
        let variant = original + "\nroute extra {\n    path /extra/\n    backend cloud\n}\n"
        let running = Atomic<Bool>(true)
        let ok = Atomic<Int>(0)
        let failed = Atomic<Int>(0)
        let group = DispatchGroup()
        for worker in 0..<4 {
            group.enter()
            Thread {
                defer { group.leave() }
                var client = try? TestClient(port: h.port)
                var n = 0
                while running.load(ordering: .relaxed) {
                    n += 1
                    if n % 7 == 0 { client = try? TestClient(port: h.port) }
                    if let result = client?.get(n % 2 == 0 ? "/auth/\(worker)" : "/app/\(n)"), result.status == 200 {
                        ok.add(1, ordering: .relaxed)
                    } else {
                        failed.add(1, ordering: .relaxed)
                        client = try? TestClient(port: h.port)
                    }
                }
            }.start()
        }
        for i in 0..<20 {
            try (i % 2 == 0 ? variant : original).write(toFile: h.routesPath, atomically: true, encoding: .utf8)
            let answer = h.run("reload")
            #expect(answer.ok, "\(answer.text)")
            usleep(25_000)
        }
        running.store(false, ordering: .relaxed)
        group.wait()
        #expect(ok.load(ordering: .relaxed) > 100)
        #expect(failed.load(ordering: .relaxed) == 0)
        #expect(h.proxy.table.generation == 21)
    }
}
