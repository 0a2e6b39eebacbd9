import Foundation
import Synchronization
import Testing
import SwitchyardTestSupport
import SwitchyardProxy

/// Shutting down under load: every request a client managed to send is answered.
@Suite struct ZeroLossTests {
    @Test func gracefulShutdownUnderLoadLosesNoRequest() throws {
        let h = try ProxyHarness(workers: 2)
        let answered = Atomic<Int>(0)
        let lost = Atomic<Int>(0)
        let group = DispatchGroup()
        for worker in 0..<4 {
            group.enter()
            Thread {
                defer { group.leave() }
                var n = 0
                // Keep-alive clients that reconnect whenever the proxy closes after an answer.
                while let client = try? TestClient(port: h.port, timeoutSeconds: 10) {
                    while true {
                        n += 1
                        client.send("GET /slow?ms=\(n % 3 == 0 ? 20 : 1) HTTP/1.1\r\nHost: a\r\nX-N: \(worker)-\(n)\r\n\r\n")
                        guard let response = client.readResponse() else {
                            // Sent but never answered: the one thing that must not happen.
                            lost.add(1, ordering: .relaxed)
                            break
                        }
                        if response.status == 200 { answered.add(1, ordering: .relaxed) } else { lost.add(1, ordering: .relaxed) }
                        if response.header("Connection") == "close" { break }
                    }
                }
            }.start()
        }
        // Under load: wait until it is real rather than for a fixed time.
        #expect(waitUntil(10) { answered.load(ordering: .relaxed) > 50 }, "the load got going")
        h.stop()   // drains: stop accepting, finish what is in flight
        try group.wait(seconds: 30, for: "the client threads to finish after the shutdown")
        let answers = answered.load(ordering: .relaxed)
        #expect(answers > 50)
        #expect(lost.load(ordering: .relaxed) == 0, "\(lost.load(ordering: .relaxed)) requests were sent and not answered")
        // Counted at the origin too: every request that reached it was answered to a client,
        // and every answer came from it (none was made up by the proxy).
        #expect(h.legacy.requestCount == answers, "the origin received \(h.legacy.requestCount) requests, clients got \(answers) answers")
    }
}
