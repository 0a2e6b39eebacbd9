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
        // /extra/ answers under a generation made from the variant (even generations), which
        // must come from the route only that file has: cloud.
        let extraOnVariant = Atomic<Int>(0)
        let extraMisrouted = Atomic<Int>(0)
        let load = ClientLoad(clients: 4, port: h.port, reconnectEvery: { _, n in n % 7 == 0 }) { worker, n, client in
            let path = [n % 3 == 0 ? "/auth/\(worker)" : "/app/\(n)", "/extra/\(worker)-\(n)"][n % 2]
            if let result = client?.get(path), result.status == 200 {
                ok.add(1, ordering: .relaxed)
                // "cloud answered GET /extra/1-2 (generation 4)\n"
                let generation = Int(result.text.split(separator: " ").last?.dropLast(2) ?? "") ?? -1
                if path.hasPrefix("/extra/") && generation > 0 && generation % 2 == 0 {
                    extraOnVariant.add(1, ordering: .relaxed)
                    if !result.text.hasPrefix("cloud answered") { extraMisrouted.add(1, ordering: .relaxed) }
                }
                return true
            }
            failed.add(1, ordering: .relaxed)
            return false
        }
        for i in 0..<20 {
            try (i % 2 == 0 ? variant : original).write(toFile: h.routesPath, atomically: true, encoding: .utf8)
            let answer = h.run("reload")
            #expect(answer.ok, "\(answer.text)")
            // Let each table serve some requests before the next reload.
            let before = ok.load(ordering: .relaxed)
            _ = waitUntil(2) { ok.load(ordering: .relaxed) >= before + 8 }
        }
        try load.stop(seconds: 30)
        #expect(ok.load(ordering: .relaxed) > 100)
        #expect(failed.load(ordering: .relaxed) == 0)
        #expect(h.proxy.table.generation == 21)
        #expect(extraOnVariant.load(ordering: .relaxed) > 0, "the route only the reloaded file has was requested while in force")
        #expect(extraMisrouted.load(ordering: .relaxed) == 0, "every such request went to the new route's backend")
    }
}
