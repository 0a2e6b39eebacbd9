import Foundation
import Testing
import SwitchyardAdmin
import SwitchyardProxy
import SwitchyardTestSupport

/// The inventory from real traffic: curl from several loopback source addresses (each in its
/// own /24), browser and non-browser user agents, a raw-IP Host and a name no route lists,
/// TLS 1.2 and 1.3, HTTP/1.0, HTTP/2 over TLS and h2c, a WebSocket tunnel — every row
/// asserted with its exact count, through the admin command (two workers, merged).
@Suite struct InventoryTrafficTests {
    final class Certificate {
        let directory: String
        var cert: String { directory + "/cert.pem" }
        var key: String { directory + "/key.pem" }

        init() throws {
            directory = NSTemporaryDirectory() + "switchyard-inventory-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let status = try runProcess(try tool("openssl"), ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                                             "-nodes", "-days", "1", "-subj", "/CN=localhost",
                                                             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                                                             "-keyout", key, "-out", cert], standardError: .discarded).status
            guard status == 0 else { throw TestPrecondition("openssl could not make a test certificate") }
        }

        deinit { try? FileManager.default.removeItem(atPath: directory) }
    }

    static func routes(_ certificate: Certificate) -> String {
        """
        listen http 127.0.0.1:0 h2c
        listen https 127.0.0.1:0 cert \(certificate.cert) key \(certificate.key)
        backend legacy {
            server 127.0.0.1:LEGACY
        }
        backend cloud {
            server 127.0.0.1:CLOUD
        }
        route portal {
            host localhost app.example
            path /portal/
            backend legacy
        }
        route app {
            split legacy 100% cloud 0%
            sticky cookie SB
            cohort header X-Staff-Group internal -> cloud
        }
        """
    }

    /// A route's inventory section as key → count (`requests`, or `count` for tunnels),
    /// rows with the same key added up.
    static func table(_ app: [String: Any], _ section: String, _ key: ([String: Any]) -> String) -> [String: Int] {
        Dictionary(((app[section] as? [[String: Any]]) ?? []).map { (key($0), ($0["requests"] ?? $0["count"]) as? Int ?? -1) },
                   uniquingKeysWith: +)
    }

    func json(_ h: AdminHarness, _ line: String) throws -> [String: Any] {
        let (answer, _) = h.service.execute(line, caller: AdminHarness.root)
        #expect(answer.ok, "\(answer.text)")
        return try #require(try JSONSerialization.jsonObject(with: Data(answer.json.utf8)) as? [String: Any])
    }

    @Test func everyRowOfTheInventoryFromRealTraffic() throws {
        try requireTools("curl", "openssl")
        let certificate = try Certificate()
        let h = try AdminHarness(routes: Self.routes(certificate))
        defer { h.stop() }
        let p = h.port
        let t = try #require(h.proxy.httpsAddresses.first).port
        let curl = try tool("curl")
        func run(_ arguments: [String]) throws {
            let result = try runProcess(curl, ["-s", "-o", "/dev/null", "-w", "%{http_code} ", "--max-time", "20"] + arguments)
            #expect(result.status == 0, "curl \(arguments): \(result.output)")
        }
        let tls = ["--cacert", certificate.cert, "--resolve", "localhost:\(t):127.0.0.1"]
        // A: a browser on 127.0.1.0/24, three chart pages, keep-alive.
        try run(["--interface", "127.0.1.2", "-A", "Mozilla/5.0 (X11; Linux x86_64)", "-H", "Host: app.example",
                 "http://127.0.0.1:\(p)/patients/123/chart", "http://127.0.0.1:\(p)/patients/456/chart", "http://127.0.0.1:\(p)/patients/789/chart"])
        // B: a thick client with a hard-coded IP, pinned to cloud by the staff cohort.
        try run(["--interface", "127.0.2.2", "-A", "okhttp/4.9.3", "-H", "X-Staff-Group: internal",
                 "http://127.0.0.1:\(p)/api/orders/456", "http://127.0.0.1:\(p)/api/orders/457"])
        // C, D: a script speaking HTTP/1.0 to a name no route lists, a query that must not be kept, and a 503.
        try run(["--interface", "127.0.3.2", "--http1.0", "-A", "python-requests/2.31", "-H", "Host: old-app.internal",
                 "http://127.0.0.1:\(p)/search?q=secret-patient-name"])
        try run(["--interface", "127.0.3.2", "-A", "python-requests/2.31", "-H", "Host: old-app.internal",
                 "http://127.0.0.1:\(p)/status/503"])
        // E: the browser again, over TLS 1.2.
        try run(["--interface", "127.0.1.2", "--http1.1", "--tls-max", "1.2", "-A", "Mozilla/5.0 (X11; Linux x86_64)"] + tls
                + ["https://localhost:\(t)/patients/7/chart"])
        // F, G: a vendor's desktop client over HTTP/2: TLS 1.3 (two requests on one connection:
        // the second counts its SNI, caller and protocol rows through the connection's kept
        // slots), then h2c to the raw IP.
        try run(["--interface", "127.0.4.2", "--http2", "--tlsv1.3", "-A", "ClinicDesk/3.1"] + tls
                + ["https://localhost:\(t)/api/orders/9", "https://localhost:\(t)/api/orders/11"])
        try run(["--interface", "127.0.4.2", "--http2-prior-knowledge", "-A", "ClinicDesk/3.1", "http://127.0.0.1:\(p)/api/orders/10"])
        // H: a WebSocket tunnel from 127.0.0.1, no User-Agent, Host "a".
        let client = try TestClient(port: p)
        _ = client.send("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        #expect(client.readResponse()?.status == 101)
        _ = client.send("ping")
        client.shutdownWrite()
        #expect(String(decoding: client.readToEnd(), as: UTF8.self) == "ping")

        // The tunnel's end is counted when the proxy closes it: wait for it.
        var app: [String: Any] = [:]
        for _ in 0..<100 {
            let answer = try json(h, "inventory app --json")
            app = try #require((answer["routes"] as? [String: Any])?["app"] as? [String: Any])
            if let tunnels = app["tunnels"] as? [[String: Any]], !tunnels.isEmpty { break }
            usleep(50_000)
        }
        func rows(_ section: String) -> [[String: Any]] { app[section] as? [[String: Any]] ?? [] }
        func table(_ section: String, _ key: ([String: Any]) -> String) -> [String: Int] { Self.table(app, section, key) }
        #expect(table("callers") { $0["network"] as! String } ==
                ["127.0.1.0/24": 4, "127.0.2.0/24": 2, "127.0.3.0/24": 2, "127.0.4.0/24": 3, "127.0.0.0/24": 1])
        #expect(Dictionary(rows("callers").map { ($0["network"] as! String, $0["pinned"] as! Int) }, uniquingKeysWith: +) ==
                ["127.0.1.0/24": 0, "127.0.2.0/24": 2, "127.0.3.0/24": 0, "127.0.4.0/24": 0, "127.0.0.0/24": 0])
        #expect(table("hosts") { $0["host"] as! String } ==
                ["app.example": 3, "127.0.0.1:\(p)": 3, "old-app.internal": 2, "localhost:\(t)": 3, "a": 1])
        let flags = Dictionary(uniqueKeysWithValues: rows("hosts").map { ($0["host"] as! String, ($0["raw_ip"] as! Bool ? "raw IP" : "") + ($0["unlisted"] as! Bool ? "unlisted" : "")) })
        #expect(flags == ["app.example": "", "127.0.0.1:\(p)": "raw IP", "old-app.internal": "unlisted", "localhost:\(t)": "", "a": "unlisted"])
        #expect(table("sni") { $0["name"] as! String } == ["localhost": 3])
        #expect(table("clients") { "\($0["browser"] as! Bool ? "browser" : "other") \($0["product"] as! String) \($0["network"] as! String)" } ==
                ["browser Mozilla 127.0.1.0/24": 4, "other okhttp 127.0.2.0/24": 2, "other python-requests 127.0.3.0/24": 2,
                 "other ClinicDesk 127.0.4.0/24": 3, "other - 127.0.0.0/24": 1])
        #expect(table("protocols") { "\($0["http"] as! String) \($0["tls"] as! String)" } ==
                ["HTTP/1.1 plain": 7, "HTTP/1.0 plain": 1, "HTTP/1.1 TLSv1.2": 1, "HTTP/2 TLSv1.3": 2, "HTTP/2 plain": 1])
        #expect(table("tunnels") { $0["kind"] as! String } == ["websocket": 1])
        var endpoints: [String: String] = [:]
        for row in rows("endpoints") {
            let sides = row["sides"] as! [String: [String: Int]]
            endpoints["\(row["method"]!) \(row["template"]!)"] = ["legacy", "cloud"].map { "\($0) \(sides[$0]!["requests"]!)/\(sides[$0]!["errors"]!)" }.joined(separator: " ")
        }
        #expect(endpoints == ["GET /patients/{id}/chart": "legacy 4/0 cloud 0/0", "GET /api/orders/{id}": "legacy 3/0 cloud 2/0",
                              "GET /search": "legacy 1/0 cloud 0/0", "GET /status/{id}": "legacy 1/1 cloud 0/0", "GET /ws": "legacy 1/0 cloud 0/0"])

        // The same, as people and spreadsheets read it; never the query.
        let text = h.run("inventory app").text
        print(text)
        #expect(text.contains("127.0.0.1:\(p)  3  [raw IP]"))
        #expect(text.contains("old-app.internal  2  [unlisted]"))
        #expect(text.contains("[never served by cloud]"))
        let csv = try json(h, "inventory export --format csv app")["csv"] as! String
        #expect(csv.hasPrefix("section,route,key,network,side,requests,errors,pinned,first_seen,last_seen,flag\n"))
        #expect(csv.contains("hosts,app,127.0.0.1:\(p),,,3,,,"))
        #expect(csv.contains("endpoints,app,GET /status/{id},,legacy,1,1,"))
        for output in [text, csv, try json(h, "inventory --json").description] {
            #expect(!output.contains("secret-patient-name"))
        }
        // Read-only: nothing audited, no new generation.
        #expect(h.auditRecords().isEmpty)
        #expect(h.proxy.table.generation == 1)
    }

    /// A TCP-mode route: each connection counts for its caller's network, and the route's
    /// longest connection is kept.
    @Test func tcpConnectionsCountTheirCallersAndTheLongestConnection() throws {
        let h = try AdminHarness(routes: """
            listen http 127.0.0.1:0
            backend legacy {
                server 127.0.0.1:LEGACY
            }
            backend cloud {
                server 127.0.0.1:CLOUD
            }
            route app {
                backend legacy
            }
            route tds {
                mode tcp
                listen 127.0.0.1:0
                active legacy standby cloud
                cohort client 127.0.0.0/8 -> legacy
            }
            """)
        defer { h.stop() }
        let port = try #require(h.proxy.tcpAddresses["tds"]).port
        for pause in [0, 400_000] {
            let client = try TestClient(port: port)
            usleep(useconds_t(pause))
            _ = client.send("GET /x HTTP/1.1\r\nHost: db\r\nConnection: close\r\n\r\n")
            #expect(String(decoding: client.readToEnd(), as: UTF8.self).contains("legacy answered GET /x"))
        }
        var tds: [String: Any] = [:]
        for _ in 0..<100 {
            let answer = try json(h, "inventory tds --json")
            tds = try #require((answer["routes"] as? [String: Any])?["tds"] as? [String: Any])
            if (tds["tunnels"] as? [[String: Any]])?.first?["count"] as? Int == 2 { break }
            usleep(50_000)
        }
        let callers = tds["callers"] as? [[String: Any]] ?? []
        #expect(callers.map { "\($0["network"]!) \($0["requests"]!) pinned \($0["pinned"]!)" } == ["127.0.0.0/24 2 pinned 2"])
        let tunnels = tds["tunnels"] as? [[String: Any]] ?? []
        #expect(tunnels.map { "\($0["kind"]!) \($0["count"]!)" } == ["tcp 2"])
        let longest = tunnels.first?["longest_ms"] as? Int ?? 0
        #expect(longest >= 350 && longest < 10_000, "longest \(longest) ms (a 400 ms pause, counted from the accept)")
        print(h.run("inventory tds").text)
    }

    /// A TLS client that names no server (it connected to an address: no SNI) has no row in
    /// `sni`, and each of its requests still counts in every other row, the connection's
    /// later ones through its kept slots (which remember that there is no name).
    @Test func aTLSClientWithoutServerNameCountsInEveryOtherRow() throws {
        try requireTools("curl", "openssl")
        let certificate = try Certificate()
        let h = try AdminHarness(routes: Self.routes(certificate))
        defer { h.stop() }
        let t = try #require(h.proxy.httpsAddresses.first).port
        let curl = try tool("curl")
        for version in ["--http2", "--http1.1"] {
            let result = try runProcess(curl, ["-s", "-k", "-o", "/dev/null", "-o", "/dev/null", "-w", "%{http_code} ", "--max-time", "20", version, "-A", "Probe/1.0",
                                               "https://127.0.0.1:\(t)/api/orders/1", "https://127.0.0.1:\(t)/api/orders/2"])
            #expect(result.status == 0 && result.output == "200 200 ", "curl \(version): \(result.output)")
        }
        let answer = try json(h, "inventory app --json")
        let app = try #require((answer["routes"] as? [String: Any])?["app"] as? [String: Any])
        func table(_ section: String, _ key: ([String: Any]) -> String) -> [String: Int] { Self.table(app, section, key) }
        #expect(table("sni") { $0["name"] as! String } == [:])
        #expect(table("callers") { $0["network"] as! String } == ["127.0.0.0/24": 4])
        #expect(table("hosts") { $0["host"] as! String } == ["127.0.0.1:\(t)": 4])
        #expect(table("clients") { $0["product"] as! String } == ["Probe": 4])
        #expect(table("protocols") { "\($0["http"] as! String) \($0["tls"] as! String)" } ==
                ["HTTP/2 TLSv1.3": 2, "HTTP/1.1 TLSv1.3": 2])
    }

    /// A TLS server name is any client's bytes (OpenSSL refuses only NUL and length): one
    /// with an escape sequence cleared the operator's terminal through `switchyard
    /// inventory`. It is counted as `{invalid}`; the request itself is served.
    @Test func aServerNameThatIsNoHostNameIsCountedAsInvalid() throws {
        try requireTools("openssl")
        let certificate = try Certificate()
        let h = try AdminHarness(routes: Self.routes(certificate))
        defer { h.stop() }
        let t = try #require(h.proxy.httpsAddresses.first).port
        let script = "printf 'GET /api/orders/1 HTTP/1.1\\r\\nHost: 127.0.0.1:\(t)\\r\\nConnection: close\\r\\n\\r\\n' | "
            + "\(try tool("openssl")) s_client -connect 127.0.0.1:\(t) -servername \"$(printf 'x\\033[2Jy')\" -quiet -ign_eof"
        let result = try runProcess("/bin/sh", ["-c", script], standardError: .discarded, timeoutSeconds: 30)
        #expect(result.output.hasPrefix("HTTP/1.1 200"), "\(result.output.prefix(200))")
        let answer = try json(h, "inventory app --json")
        let app = try #require((answer["routes"] as? [String: Any])?["app"] as? [String: Any])
        #expect(Self.table(app, "sni") { $0["name"] as! String } == ["{invalid}": 1])
        let text = h.run("inventory app").text
        #expect(!text.unicodeScalars.contains("\u{1B}") && text.contains("{invalid}"), "\(text)")
    }

    /// One keep-alive connection whose requests change their Host and User-Agent: the host
    /// and client rows a connection keeps are used only for the same host (any case) and the
    /// same product; any other is counted under its own row (same lengths included: the
    /// text is compared, not only its length).
    @Test func aConnectionThatChangesItsHostOrUserAgentCountsEachUnderItsOwnRow() throws {
        let h = try AdminHarness(routes: """
            listen http 127.0.0.1:0
            backend legacy {
                server 127.0.0.1:LEGACY
            }
            route app {
                backend legacy
            }
            """)
        defer { h.stop() }
        let client = try TestClient(port: h.port)
        let requests: [(host: String, agent: String?)] = [
            ("App.Example", "Mozilla/5.0 (X11)"), ("app.example", "Mozilla/4.0"), ("app.exemple", "Mozilla/5.0 (X11)"),
            ("app.example", "curl/8.1"), ("APP.EXAMPLE", nil), ("app.example", "Mozillb/1"), ("app.exampl", "Mozilla"),
        ]
        for r in requests {
            _ = client.send("GET /x HTTP/1.1\r\nHost: \(r.host)\r\n" + (r.agent.map { "User-Agent: \($0)\r\n" } ?? "") + "\r\n")
            #expect(client.readResponse()?.status == 200)
        }
        let answer = try json(h, "inventory app --json")
        let app = try #require((answer["routes"] as? [String: Any])?["app"] as? [String: Any])
        func table(_ section: String, _ key: String) -> [String: Int] { Self.table(app, section) { $0[key] as! String } }
        #expect(table("hosts", "host") == ["app.example": 5, "app.exemple": 1, "app.exampl": 1])
        #expect(table("clients", "product") == ["Mozilla": 4, "curl": 1, "-": 1, "Mozillb": 1])
        #expect(table("callers", "network") == ["127.0.0.0/24": 7])
    }

    @Test func badInventoryCommandsAreRefusedInOneLine() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        for (line, message) in [("inventory nosuch", "unknown route \"nosuch\""),
                                ("inventory export", "inventory export needs --format csv"),
                                ("inventory app --since yesterday", "--since yesterday: give a duration"),
                                ("inventory app extra", "usage: inventory")] {
            let answer = h.run(line)
            #expect(!answer.ok)
            #expect(answer.text.contains(message), "\(line): \(answer.text)")
            #expect(!answer.text.contains("\n"))
        }
        // --since filters by last seen: nothing before now + 1 s is "since the future".
        #expect(h.run("inventory app --since 0s").ok)
    }
}
