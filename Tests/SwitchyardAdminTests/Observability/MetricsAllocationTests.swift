import CSwitchyardMallocCounter
import Foundation
import Testing
import SwitchyardTestSupport

/// The hot-path rule with the metrics listener on: a worker proxying keep-alive requests
/// while `/metrics` and `/status.json` are scraped (and history sampled) every few
/// milliseconds still calls malloc zero times — the scrape copies counters into memory the
/// listener's thread allocated.
@Suite struct MetricsAllocationTests {
    @Test(.enabled(if: sy_malloc_counter_active() == 1, "sanitizer builds own the allocator"))
    func proxyingWhileScrapedAllocatesNothingOnTheWorker() throws {
        // A pause of this client on a loaded machine must not reduce its connection to an
        // `IdleTable` entry (allocations that belong to no request).
        let h = try MetricsHarness(workers: 1, tickMilliseconds: 20) { $0.idleReductionMilliseconds = .max }
        defer { h.stop() }
        let client = try TestClient(port: h.proxyPort)
        for _ in 0..<1000 { _ = try #require(client.get("/chart/123", headers: "Cookie: SWITCHYARD_BUCKET=00000000000000aa\r\n")) }
        for _ in 0..<3 { _ = try h.scrape() }
        _ = measure(h) {}
        #expect(measure(h) {} == 0, "the measuring hand-off itself must not allocate")
        let scraping = ScrapeLoop(h)
        let count = 5_000
        let counted = try measure(h) {
            for _ in 0..<count {
                let response = try #require(client.get("/chart/123", headers: "Cookie: SWITCHYARD_BUCKET=00000000000000aa\r\n"))
                #expect(response.status == 200)
            }
        }
        let scrapes = scraping.stop()
        #expect(scrapes >= 20, "only \(scrapes) scrapes ran during the measured requests")
        #expect(counted == 0, "\(counted) allocations on the worker in \(count) requests while scraped \(scrapes) times")
        let samples = parseSamples(try h.scrape())
        let total = (1...5).compactMap { samples[#"switchyard_requests_total{route="app",backend="legacy",code="\#($0)xx"}"#] }.reduce(0, +)
            + (1...5).compactMap { samples[#"switchyard_requests_total{route="app",backend="cloud",code="\#($0)xx"}"#] }.reduce(0, +)
        #expect(total == Double(1000 + count), "the scraped counters saw every request")
    }

    private func measure(_ h: MetricsHarness, _ body: () throws -> Void) rethrows -> Int {
        let start = h.admin.proxy.runOnFirstWorkerForTest { () -> Int in
            sy_malloc_counter_enable(1)
            return sy_malloc_counter_read()
        }
        try body()
        let end = h.admin.proxy.runOnFirstWorkerForTest { () -> Int in
            let value = sy_malloc_counter_read()
            sy_malloc_counter_enable(0)
            return value
        }
        return end - start
    }
}

/// Scrapes `/metrics` and `/status.json` in a loop on its own thread until stopped.
final class ScrapeLoop: @unchecked Sendable {
    private let lock = NSLock()
    private var running = true
    private var count = 0
    private let done = DispatchSemaphore(value: 0)

    init(_ h: MetricsHarness) {
        Thread { [self] in
            while lock.withLock({ running }) {
                if (try? h.request("/metrics"))?.status == 200 { lock.withLock { count += 1 } }
                _ = try? h.request("/status.json")
                usleep(5_000)
            }
            done.signal()
        }.start()
    }

    func stop() -> Int {
        lock.withLock { running = false }
        done.wait()
        return lock.withLock { count }
    }
}
