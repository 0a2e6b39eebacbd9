import Foundation
import Testing
import SwitchyardTestSupport
import SwitchyardProxy

/// Many streams in flight on one connection, each answered by its own exchange: every
/// stream gets its own answer, never another stream's (h2load, in HTTP2Tests, only counts
/// the answers). Callbacks find their stream by id through the session; a lookup that
/// mixed two up would show here.
@Suite struct H2StreamLookupTests {
    @Test func everyOneOfFortyStreamsInFlightGetsItsOwnAnswer() throws {
        let h = try ProxyHarness(routes: ProxyHarness.h2cRoutes)
        defer { h.stop() }
        let client = try H2FrameClient(port: h.port)
        let ids = (0..<40).map { UInt32(2 * $0 + 1) }
        for id in ids { client.request(stream: id, path: "/stream/\(id)") }

        var statuses: [UInt32: Int] = [:]
        var bodies: [UInt32: [UInt8]] = [:]
        var ended = Set<UInt32>()
        while ended.count < ids.count, let frame = client.readFrame() {
            switch frame.type {
            case H2FrameClient.headers:
                let fields = client.decode(frame.payload)
                statuses[frame.stream] = fields.first { $0.0 == ":status" }.flatMap { Int($0.1) }
            case H2FrameClient.data:
                bodies[frame.stream, default: []] += frame.payload
            case H2FrameClient.rstStream:
                ended.insert(frame.stream)
            default:
                break
            }
            if frame.flags & H2FrameClient.endStream != 0,
               frame.type == H2FrameClient.data || frame.type == H2FrameClient.headers {
                ended.insert(frame.stream)
            }
        }
        #expect(ended.count == ids.count, "every stream ended: \(ended.count) of \(ids.count)")
        for id in ids {
            #expect(statuses[id] == 200, "stream \(id): \(statuses[id].map(String.init) ?? "no head")")
            let body = String(decoding: bodies[id] ?? [], as: UTF8.self)
            #expect(body == "legacy answered GET /stream/\(id)\n", "stream \(id) got: \(body)")
        }
    }
}
