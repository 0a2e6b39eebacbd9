import Foundation
import Glibc
import Testing
import SwitchyardTestSupport

/// A stream opened after the drain began is refused or ignored, and that is all: a slow
/// reader's answer still leaving completes, and the connection ends with GOAWAY(NO_ERROR).
/// A guard: here nghttp2 has handed the GOAWAY over before stream 3 arrives, and ignores it.
/// When the GOAWAY still waits in nghttp2's queue, the stream is refused by us
/// (`H2Connection.h2HeadComplete`), and is now marked expired there so that its header
/// deadline cannot read as a header block left open (GOAWAY PROTOCOL_ERROR, the answer cut);
/// that timing is not reproduced here.
@Suite struct H2DrainRefusalTests {
    @Test func aStreamRefusedDuringTheDrainDoesNotEndTheConnection() throws {
        let h = try ProxyHarness(routes: HTTP2Tests.routes) { settings in
            settings.headerTimeoutMilliseconds = 300
        }
        let client = try H2FrameClient(port: h.port, timeoutSeconds: 20)
        // A 16 MiB stream window: the answer is held back by our not reading, not by flow control.
        client.sendFrame(type: H2FrameClient.settings, flags: 0, stream: 0, payload: [0x00, 0x04] + H2FrameClient.uint32(1 << 24))
        let size = 8_000_000
        client.request(stream: 1, path: "/big?bytes=\(size)")
        usleep(1_000_000)   // the proxy's output and the socket's buffers fill
        let proxy = h.proxy
        let stopped = DispatchSemaphore(value: 0)
        Thread { proxy.shutdown(graceMilliseconds: 20_000); stopped.signal() }.start()
        usleep(300_000)
        client.request(stream: 3, path: "/late")
        usleep(1_500_000)   // five header timeouts: the refused stream's deadline passes
        let answer = try #require(client.response(stream: 1), "stream 1 ended with the connection")
        #expect(answer.reset == nil && answer.body.count == size, "got \(answer.body.count) of \(size) bytes, reset \(answer.reset.map(String.init) ?? "none")")
        let rest = client.readUntilClosed()
        let code = H2FrameClient.goAwayCode(client.history)
        #expect(code == 0, "GOAWAY code \(code.map(String.init) ?? "none"): 1 is PROTOCOL_ERROR")
        #expect(!rest.contains { $0.type == H2FrameClient.headers && $0.stream == 3 }, "stream 3 is not answered")
        #expect(stopped.wait(timeout: .now() + 20) == .success)
        h.legacy.stop()
        h.cloud.stop()
    }
}
