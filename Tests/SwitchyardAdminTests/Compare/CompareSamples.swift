import Foundation
import SwitchyardAdmin
import SwitchyardCompare

/// The issue's planted differences as `MirrorSample`s (what the data plane will hand over):
/// legacy and cloud answer the same JSON except a field renamed on 3 % of requests, a
/// timestamp in every answer (also primary-vs-primary: noise), a request id the routes file
/// ignores, and a 500 from cloud on one endpoint. Queries carry a "secret" that must never
/// appear anywhere.
enum CompareSamples {
    static let routes = """
        listen http 127.0.0.1:0
        backend legacy {
            server 127.0.0.1:LEGACY
        }
        backend cloud {
            server 127.0.0.1:CLOUD
        }
        route app {
            split legacy 90% cloud 10%
            compare ignore json $.meta.requestId
            compare ready 100 pairs 1m
        }
        """

    static func answer(_ i: Int, renamed: Bool = false, status: Int = 200, latency: Int = 2_000) -> MirrorAnswer {
        let name = renamed ? "fullName" : "name"
        let body = Array(#"{"patient":{"id":\#(i),"\#(name)":"Patient \#(i)"},"generatedAt":"\#(UUID().uuidString)","meta":{"requestId":"\#(UInt64.random(in: 0...UInt64.max))"}}"#.utf8)
        return MirrorAnswer(status: status, headers: [("Content-Type", "application/json"), ("Date", "\(i)")], body: body,
                            bodyHash: [], bodyLength: body.count, latencyMicros: latency)
    }

    /// `pairs` pairs on each of two endpoints, and on each a noise sample for one in ten.
    static func planted(pairs: Int, route: String = "app") -> [MirrorSample] {
        var samples: [MirrorSample] = []
        for i in 0..<pairs {
            samples.append(MirrorSample(kind: .mirror, route: route, target: "cloud", method: "GET", path: "/patients/\(i)?name=secret",
                                        primary: answer(i), other: answer(i, renamed: i % 100 < 3, latency: 9_000)))
            samples.append(MirrorSample(kind: .mirror, route: route, target: "cloud", method: "GET", path: "/reports/\(i)/pdf",
                                        primary: answer(i), other: answer(i, status: 500)))
            if i % 10 == 0 {
                samples.append(MirrorSample(kind: .noise, route: route, target: "legacy", method: "GET", path: "/patients/\(i)",
                                            primary: answer(i), other: answer(i)))
                samples.append(MirrorSample(kind: .noise, route: route, target: "legacy", method: "GET", path: "/reports/\(i)/pdf",
                                            primary: answer(i), other: answer(i)))
            }
        }
        return samples
    }
}
