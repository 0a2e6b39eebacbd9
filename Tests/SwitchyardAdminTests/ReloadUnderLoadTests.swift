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
        let ok = Atomic<Int>(0)
        let failed = Atomic<Int>(0)
        let load = ClientLoad(clients: 4, port: h.port, reconnectEvery: { _, n in n % 7 == 0 }) { worker, n, client in
            if let result = client?.get(n % 2 == 0 ? "/auth/\(worker)" : "/app/\(n)"), result.status == 200 {
                ok.add(1, ordering: .relaxed)
                return true
            }
            failed.add(1, ordering: .relaxed)
            return false
        }
        for i in 0..<20 {
            try (i % 2 == 0 ? variant : original).write(toFile: h.routesPath, atomically: true, encoding: .utf8)
            let answer = h.run("reload")
            #expect(answer.ok, "\(answer.text)")
            usleep(25_000)
        }
        load.stop()
        #expect(ok.load(ordering: .relaxed) > 100)
        #expect(failed.load(ordering: .relaxed) == 0)
        #expect(h.proxy.table.generation == 21)
    }
}
