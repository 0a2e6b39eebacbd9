import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
import SwitchyardAdmin

/// `notify post https://…`: the event goes over TLS to a receiver whose certificate chains
/// to the `ca` file and names the host; a receiver the proxy cannot verify gets nothing and
/// the attempt counts as a failure. The receiver is a second Switchyard terminating TLS in
/// front of a recording origin — real TLS on both ends.
@Suite struct NotifyTLSTests {
    @Test func eventsGoOverTLSToAVerifiedReceiverAndNeverToAnUnverifiedOne() throws {
        try requireTools("openssl")
        let directory = NSTemporaryDirectory() + "switchyard-notify-tls-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let made = try runProcess(toolPath("openssl"), ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                                        "-nodes", "-days", "1", "-subj", "/CN=notify receiver",
                                                        "-addext", "subjectAltName=IP:127.0.0.1",
                                                        "-keyout", directory + "/key.pem", "-out", directory + "/cert.pem"])
        try #require(made.status == 0, "openssl: \(made.output)")
        let receiver = try AdminHarness(routes: """
            listen http 127.0.0.1:0
            listen https 127.0.0.1:0 cert \(directory)/cert.pem key \(directory)/key.pem
            backend legacy {
                server 127.0.0.1:LEGACY
            }
            backend cloud {
                server 127.0.0.1:CLOUD
            }
            route events {
                active legacy standby cloud
            }
            """)
        defer { receiver.stop() }
        let port = try #require(receiver.proxy.httpsAddresses.first?.port)
        let h = try AdminHarness(routes: NotifyTests.routes(notify: """
            notify post https://127.0.0.1:\(port)/events ca \(directory)/cert.pem
            notify post https://127.0.0.1:\(port)/unverified
            """))
        defer { h.stop() }
        #expect(h.run("weight app cloud 20% --reason CHG-TLS").ok)
        #expect(waitUntil(10) { HoldSupport.seen(receiver.legacy, "POST", "/events") == 1 }, "the event arrived over TLS")
        let notifier = h.service.eventNotifier
        // No `ca`: the system's CAs do not vouch for a self-signed receiver; after its retries
        // the attempt is a failure, and nothing reached the receiver on that path.
        #expect(waitUntil(10) { notifier.counters.withLock { $0.failures } >= 1 })
        #expect(HoldSupport.seen(receiver.legacy, "POST", "/unverified") == 0)
        let raw = String(decoding: try #require(receiver.legacy.rawRequests.first), as: UTF8.self)
        #expect(raw.hasPrefix("POST /events HTTP/1.1\r\n"), "\(raw)")
        #expect(raw.contains("\"reason\":\"CHG-TLS\""), "\(raw)")
    }
}
