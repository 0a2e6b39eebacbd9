import Foundation
import Testing
import SwitchyardTestSupport
import SwitchyardOrigin

/// The inventory and the decision log survive a restart of a real `switchyard serve`
/// (files beside the state file, written at shutdown); damaged files never stop the start:
/// they are kept aside, logged, and the proxy starts with empty ones and serves.
@Suite(.serialized) struct InventoryPersistenceTests {
    func callers(_ admin: String) throws -> Int {
        let answer = try #require(ServeProcessTests.command(admin, "json inventory app"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any])
        let rows = ((object["routes"] as? [String: Any])?["app"] as? [String: Any])?["callers"] as? [[String: Any]] ?? []
        return rows.reduce(0) { $0 + ($1["requests"] as? Int ?? 0) }
    }

    func records(_ admin: String) throws -> Int {
        let answer = try #require(ServeProcessTests.command(admin, "json simulate app cloud 50%"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any])
        return object["records"] as? Int ?? -1
    }

    func traffic(_ served: ServeProcessTests.Served, _ count: Int) throws {
        let client = try TestClient(port: try served.port())
        for i in 0..<count {
            let response = try #require(client.get("/chart/\(i)", headers: "Cookie: SWITCHYARD_BUCKET=\(String(format: "%016x", i))\r\nUser-Agent: okhttp/4\r\n"))
            #expect(response.status == 200)
        }
    }

    /// Counts in `inventory.json` that parse but add up past 2^64 (a hand edit, a corrupt
    /// file; the state directory may be writable by the admin group) do not stop the proxy:
    /// before, the cutover page's summary added them with a trapping `+` and the first
    /// `GET /status.json` killed the process, again after every restart.
    @Test func countsThatAddUpPastUInt64DoNotStopTheCutoverPage() throws {
        let directory = NSTemporaryDirectory() + "switchyard-inventory-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let big = UInt64.max
        func row(_ product: String) -> String {
            #"{"parts":["app","\#(product)"],"network":0,"count":\#(big),"firstSeen":1,"lastSeen":2,"pinned":0,"errors":0,"longestMilliseconds":0}"#
        }
        try #"{"rows":{"clients":[\#(row("okhttp")),\#(row("curl"))]},"other":{}}"#
            .write(toFile: directory + "/inventory.json", atomically: true, encoding: .utf8)
        let routes = ServeProcessTests.routes(directory, 9, 9) + "\nmetrics 127.0.0.1:0\n"
        let served = try ServeProcessTests.Served(directory: directory, routes: routes)
        defer { served.stop() }
        var port: UInt16?
        try waitFor("the cutover page's port", seconds: 10) {
            guard let range = served.errorLog.range(of: "cutover page on http://127.0.0.1:") else { return false }
            port = UInt16(served.errorLog[range.upperBound...].prefix { $0.isNumber })
            return port != nil
        }
        let page = try runProcess(try tool("curl"), ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
                                                     "http://127.0.0.1:\(try #require(port))/status.json"])
        #expect(page.output == "200", "\(page.output) \(served.errorLog.suffix(800))")
        #expect(served.process.isRunning, "the proxy serves on")
    }

    @Test func theInventorySurvivesARestartAndADamagedFileIsKeptAside() throws {
        let legacy = try OriginServer(name: "legacy"), cloud = try OriginServer(name: "cloud")
        legacy.start()
        cloud.start()
        defer { legacy.stop(); cloud.stop() }
        let directory = NSTemporaryDirectory() + "switchyard-inventory-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let routes = ServeProcessTests.routes(directory, legacy.port, cloud.port)

        var served = try ServeProcessTests.Served(directory: directory, routes: routes)
        try traffic(served, 5)
        #expect(try callers(served.admin) == 5)
        served.stop()
        #expect(FileManager.default.fileExists(atPath: directory + "/inventory.json"))
        #expect(FileManager.default.fileExists(atPath: directory + "/decisions.bin"))
        let saved = try String(contentsOfFile: directory + "/inventory.json", encoding: .utf8)
        #expect(saved.contains("/chart/{id}"))

        served = try ServeProcessTests.Served(directory: directory, routes: routes)
        try traffic(served, 2)
        #expect(try callers(served.admin) == 7, "5 saved + 2 live")
        #expect(try records(served.admin) == 7)
        // The same through the CLI, as an operator types it.
        let cli = try switchyardBinary()
        let text = try runProcess(cli, ["inventory", "app", "--since", "1h", "--admin", served.admin])
        #expect(text.status == 0 && text.output.contains("route app") && text.output.contains("other  okhttp/…  127.0.0.0/24  7"), "\(text.output)")
        let csv = try runProcess(cli, ["inventory", "export", "--format", "csv", "--admin", served.admin])
        #expect(csv.status == 0 && csv.output.hasPrefix("section,route,key,network,side,requests,errors,pinned,first_seen,last_seen,flag"))
        let simulated = try runProcess(cli, ["simulate", "app", "cloud", "25%", "--admin", served.admin])
        #expect(simulated.status == 0 && simulated.output.contains("moves away from cloud: 0 users"), "\(simulated.output)")
        let refused = try runProcess(cli, ["simulate", "app", "cloud", "150%", "--admin", served.admin])
        #expect(refused.status == 1 && refused.output.contains("outside 0%…100%"), "\(refused.output)")
        served.stop()

        // Damaged files: the start goes on, empty, with the files kept aside and logged.
        try "{\"rows\": [garbage".write(toFile: directory + "/inventory.json", atomically: true, encoding: .utf8)
        try "SYDL and then nothing that fits".write(toFile: directory + "/decisions.bin", atomically: true, encoding: .utf8)
        served = try ServeProcessTests.Served(directory: directory, routes: routes)
        defer { served.stop() }
        try traffic(served, 3)
        #expect(try callers(served.admin) == 3)
        #expect(try records(served.admin) == 3)
        let log = served.errorLog
        #expect(log.contains("inventory file \(directory)/inventory.json is damaged"))
        #expect(log.contains("decision log \(directory)/decisions.bin is damaged"))
        let aside = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.contains(".damaged-") }
        #expect(aside.count == 2, "\(aside)")
    }
}
