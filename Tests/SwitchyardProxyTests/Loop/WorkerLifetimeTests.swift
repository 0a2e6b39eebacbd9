import Foundation
import Testing
import SwitchyardTestSupport
@testable import SwitchyardProxy

/// What a worker holds is given back when the proxy stops.
@Suite struct WorkerLifetimeTests {
    /// A keep-alive client, one idle and one busy, is still connected at shutdown: the worker
    /// closes both outside any batch of events, and neither the connections nor the worker
    /// outlive the proxy. (The loop keeps closed handlers until its batch ends; at shutdown
    /// nothing ended a batch any more, and each closed connection kept its worker alive.)
    @Test func aStoppedProxyFreesItsWorkerAndTheConnectionsItClosed() throws {
        weak var worker: Worker?
        do {
            let h = try ProxyHarness()
            let idle = try h.client(), busy = try h.client()
            for client in [idle, busy] {
                #expect(client.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
                #expect(client.readResponse()?.status == 200)
            }
            #expect(busy.send("GET / HTTP/1.1\r\nHost: a\r\n"))   // a head still arriving
            worker = h.proxy.onFirstWorker { $0 }
            #expect(h.proxy.onFirstWorker { $0.connectionCount } == 2)
            h.stop()
        }
        // The worker's thread lets go of its closure a moment after shutdown returns.
        let deadline = Date().addingTimeInterval(10)
        while worker != nil && Date() < deadline { usleep(10_000) }
        #expect(worker == nil, "the stopped worker is still alive")
    }
}
