import CSwitchyardMallocCounter
import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
import SwitchyardProxy

/// A keep-alive connection idle for a while is reduced to an entry of the worker's
/// `IdleTable`: it must cost little, wake up for its next request as if nothing happened
/// (plain and TLS), and still close at its keep-alive timeout and on a drain.
@Suite struct IdleTableTests {
    /// The worker's net heap (malloc_usable_size of every block allocated minus every block
    /// freed on its thread) while connections are opened, served once and left to go idle,
    /// divided by their number. `bench/idle` measures the same thing as RSS beside HAProxy
    /// and nginx; this counts it exactly, so a field added to the idle state shows up here.
    @Test(.enabled(if: sy_malloc_counter_active() == 1, "sanitizer builds own the allocator"))
    func anIdleKeepAliveConnectionHoldsLittleHeapAndWakesForItsNextRequest() throws {
        let h = try ProxyHarness { $0.idleReductionMilliseconds = 200 }
        defer { h.stop() }
        let count = 200
        func openIdle() throws -> [TestClient] {
            var clients: [TestClient] = []
            for i in 0..<count {
                let client = try h.client()
                let response = try #require(client.get("/chart/\(i)"))
                #expect(response.status == 200)
                clients.append(client)
            }
            try waitFor("every connection idle and reduced", seconds: 10) {
                let held = h.proxy.heldForTest()
                return held.buffers == 0 && held.scratches == 0 && h.proxy.idleConnectionsForTest() == count
            }
            return clients
        }
        // Warm up: pools, list capacities, the upstream pool.
        var warm: [TestClient]? = try openIdle()
        warm = nil
        try waitFor("warm-up connections closed", seconds: 10) { h.proxy.stats().openConnections == 0 }
        _ = warm
        _ = Self.measureBytes(h) {}
        var idle: [TestClient] = []
        let bytes = try Self.measureBytes(h) { idle = try openIdle() }
        let perConnection = Double(bytes) / Double(count)
        print("idle keep-alive connection: \(perConnection) bytes of heap each")
        // 1,240 before the reduction (the connection object alone took 1,128); about 0 now,
        // since the warm-up grew the table (its entries are a few dozen bytes each).
        #expect(perConnection <= 384, "\(perConnection) bytes of heap per idle keep-alive connection")

        // Each wakes for its next request, on the same connection, and is answered in full.
        for (i, client) in idle.enumerated() {
            let response = try #require(client.get("/again/\(i)"))
            #expect(response.status == 200)
            #expect(response.text == "legacy answered GET /again/\(i) (generation 1)\n")
        }
        #expect(h.proxy.stats().openConnections == count, "no connection was replaced or lost")
    }

    @Test func aReducedConnectionStillClosesAtItsKeepAliveTimeout() throws {
        let h = try ProxyHarness {
            $0.keepAliveTimeoutMilliseconds = 1_500
            $0.idleReductionMilliseconds = 200
        }
        defer { h.stop() }
        let client = try h.client()
        #expect(client.get("/a")?.status == 200)
        try waitFor("the connection reduced", seconds: 5) { h.proxy.idleConnectionsForTest() == 1 }
        let start = Date()
        #expect(client.readToEnd().isEmpty, "closed without a byte")
        let waited = Date().timeIntervalSince(start)
        #expect(waited < 5, "closed at the keep-alive timeout, not later (\(waited) s)")
        try waitFor("the connection gone from the worker", seconds: 5) {
            h.proxy.stats().openConnections == 0 && h.proxy.idleConnectionsForTest() == 0
        }
    }

    /// As for any idle connection (HTTPProxyTests): a request that arrives after the drain
    /// began is answered with `Connection: close`; a silent one is closed after a second.
    @Test func aDrainWakesReducedConnectionsToAnswerOrClose() throws {
        let h = try ProxyHarness { $0.idleReductionMilliseconds = 200 }
        try HTTPProxyTests.drainAnswersOrClosesIdleConnections(h) {
            try waitFor("both connections reduced", seconds: 5) { h.proxy.idleConnectionsForTest() == 2 }
        }
    }

    /// A TLS connection keeps its session while reduced: the next request is decrypted and
    /// answered on the same connection (openssl s_client sends both, a pause between). With
    /// the default reduction time (1 s).
    @Test func aReducedTLSConnectionWakesWithItsSession() throws {
        let certificate = try TLSTerminationTests.Certificate()
        let (h, port) = try TLSTerminationTests().harness(certificate)
        defer { h.stop() }
        let script = """
            printf 'GET /first HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n'; sleep 2
            printf 'GET /second HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n'; sleep 2
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "(\(script)) | \(toolPath("openssl")) s_client -quiet -connect 127.0.0.1:\(port) -servername localhost 2>/dev/null"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        try waitFor("the TLS connection reduced between its requests", seconds: 5) { h.proxy.idleConnectionsForTest() == 1 }
        process.waitUntilExit()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(text.contains("legacy answered GET /first"), "\(text)")
        #expect(text.contains("legacy answered GET /second"), "the second request, after the wake: \(text)")
        #expect(h.proxy.stats().tls13Handshakes + h.proxy.stats().tls12Handshakes == 1, "one handshake: the same connection carried both")
    }

    /// Net heap bytes the first worker's thread kept from what it allocated while `body` ran.
    static func measureBytes(_ h: ProxyHarness, _ body: () throws -> Void) rethrows -> Int {
        try AllocationTests.measure(h, reading: { sy_malloc_counter_bytes() }, body)
    }
}
