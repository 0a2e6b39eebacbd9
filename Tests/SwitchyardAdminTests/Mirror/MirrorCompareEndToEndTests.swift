import Foundation
import Testing
import SwitchyardTestSupport

/// The issue's planted differences, end to end through a real `switchyard serve`: legacy and
/// cloud answer the same JSON except (a) a field renamed on 3 % of cloud's answers, (b) a
/// timestamp and a random id in every answer of both, (c) a 500 from cloud on one endpoint.
/// Users go to legacy; every read is mirrored to cloud, one in ten is also sent to legacy a
/// second time (noise). The report flags (a) with its path and rate and (c), classes (b) as
/// noise, and every user got legacy's own answer byte for byte; no query string and no body
/// reach the report.
@Suite(.serialized) struct MirrorCompareEndToEndTests {
    static func body(_ path: String, renamed: Bool) -> String {
        let stamp = "\(DispatchTime.now().uptimeNanoseconds)"
        let random = UUID().uuidString
        if path.hasPrefix("/reports/") {
            return #"{"report":{"pages":3,"title":"Discharge summary"},"generatedAt":"\#(stamp)","requestId":"\#(random)"}"#
        }
        let id = path.split(separator: "/").last.map(String.init) ?? "0"
        let nameKey = renamed ? "fullName" : "name"
        return #"{"requestId":"\#(random)","patient":{"id":\#(id),"\#(nameKey)":"Ann Example","ward":"B2"},"generatedAt":"\#(stamp)"}"#
    }

    @Test func plantedDifferencesAreReportedNoiseIsNoiseAndUsersGetLegacysAnswer() throws {
        let legacy = try JSONOrigin { path, _ in (200, Self.body(path, renamed: false)) }
        let renames = Counter()
        let cloud = try JSONOrigin { path, _ in
            if path.hasPrefix("/reports/") { return (500, #"{"error":"renderer unavailable"}"#) }
            // Exactly 3 in every 100 patient answers rename the field.
            return (200, Self.body(path, renamed: renames.next() % 100 < 3))
        }
        defer { legacy.stop(); cloud.stop() }
        let directory = NSTemporaryDirectory() + "switchyard-mirror-e2e-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let routes = """
            listen http 127.0.0.1:0
            admin \(directory)/admin.sock
            state \(directory)/state.json
            backend legacy {
                server 127.0.0.1:\(legacy.port)
            }
            backend cloud {
                server 127.0.0.1:\(cloud.port)
            }
            route app {
                backend legacy
                mirror cloud 100%
                mirror noise 10%
                mirror rate 100000/s
                compare ready 100 pairs 1s
            }
            """
        let served = try ServeProcessTests.Served(directory: directory, routes: routes)
        defer { served.stop() }
        let client = try TestClient(port: try served.port(), timeoutSeconds: 10)

        var seq = 0
        func get(_ path: String) throws {
            seq += 1
            let response = try #require(client.get(path, headers: "X-Seq: \(seq)\r\n"))
            #expect(response.status == 200, "users get legacy's answer, never cloud's 500")
            #expect(response.body == legacy.sent(seq: "\(seq)"), "byte for byte what legacy sent for request \(seq)")
        }
        for i in 0..<1000 { try get("/patients/\(1000 + i)?token=secret-\(i)") }
        for i in 0..<200 { try get("/reports/\(i)/pdf") }

        // The comparer gets the pairs once a second: wait until all are in.
        var report: [String: Any] = [:]
        try waitFor("1,200 mirrored pairs compared", seconds: 30) {
            guard let answer = ServeProcessTests.command(served.admin, "json compare app"),
                  let object = try? JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any],
                  let route = (object["routes"] as? [[String: Any]])?.first else { return false }
            report = route
            return (route["pairs"] as? Int ?? 0) >= 1200
        }
        let endpoints = try #require(report["endpoints"] as? [[String: Any]])
        func differences(_ endpoint: String) throws -> [[String: Any]] {
            let entry = try #require(endpoints.first { $0["endpoint"] as? String == endpoint }, "\(endpoints.map { $0["endpoint"] ?? "" })")
            return try #require(entry["differences"] as? [[String: Any]])
        }
        let patients = try differences("GET /patients/{id}")
        // (a): the renamed field, named by its path, at its rate, as a mismatch.
        let renamed = try #require(patients.first { $0["display"] as? String == "$.patient.name" }, "\(patients)")
        #expect(renamed["noise"] as? Bool == false)
        let rate = renamed["rate"] as? Double ?? 0
        #expect(rate > 0.02 && rate < 0.04, "3 % of pairs: \(rate)")
        // (b): timestamp and random id differ in every pair, and as often primary-vs-primary.
        for noisy in ["$.generatedAt", "$.requestId"] {
            let entry = try #require(patients.first { $0["display"] as? String == noisy }, "\(noisy) in \(patients)")
            #expect(entry["noise"] as? Bool == true, "\(noisy) is noise: \(entry)")
        }
        // (c): the 500, as a status mismatch on its endpoint.
        let reports = try differences("GET /reports/{id}/pdf")
        let status = try #require(reports.first { ($0["display"] as? String ?? "").hasPrefix("status:200>500") }, "\(reports)")
        #expect(status["noise"] as? Bool == false)
        #expect(report["ready"] as? Bool == false, "mismatches above noise keep the route from ready")

        let text = try #require(ServeProcessTests.command(served.admin, "compare app"))
        print("switchyard compare app, after the planted differences:\n\(text)")
        #expect(text.contains("$.patient.name") && text.contains("MISMATCH"), "\(text)")
        #expect(!text.contains("secret") && !text.contains("Ann Example") && !text.contains("Discharge"), "no query string, no body")
        let saved = (try? String(contentsOfFile: directory + "/compare.json", encoding: .utf8)) ?? ""
        #expect(!saved.contains("secret") && !saved.contains("Ann Example"))
        #expect(cloud.copiesReceived >= 1200, "every read was copied to cloud")
    }
}

/// A thread-safe counter for the origins' answer closures.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int { lock.withLock { value += 1; return value - 1 } }
}
