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
        usleep(400_000)
        h.stop()   // drains: stop accepting, finish what is in flight
        group.wait()
        #expect(answered.load(ordering: .relaxed) > 50)
        #expect(lost.load(ordering: .relaxed) == 0, "\(lost.load(ordering: .relaxed)) requests were sent and not answered")
    }
}
