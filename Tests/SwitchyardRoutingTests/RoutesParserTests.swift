import Foundation
import Testing
@testable import SwitchyardRouting

@Suite("Routes parser: every directive")
struct RoutesParserTests {
    static let full = """
        # a comment line
        listen http 127.0.0.1:8080          # trailing comment
        listen http [::1]:0
        listen http localhost:8081
        listen https 0.0.0.0:8443 cert /c.pem key /k.pem chain /ch.pem
        admin /run/sy/admin.sock allow group ops allow user alice allow uid 990
        state /var/lib/sy/state.json
        access-log /var/log/sy/access.log
        error-log /var/log/sy/error.log
        generation-header X-Gen

        backend legacy {
        \tserver 192.0.2.5:80
            server 192.0.2.6:8080 weight 3
            health HEAD /healthz every 500ms expect 204 rise 4 fall 5
        }
        backend cloud {
            server app.internal.example:443 tls noverify sni app.example ca /ca.pem
            server [2001:db8::10]:443 tls verify
            health GET /ready every 1m
        }
        route web {
            mode http
            host WWW.Example.com example.com.
            path /app
            split legacy 95.25% cloud 4.75%
            sticky header X-User
            cohort header X-Staff-Group internal -> cloud
            cohort cookie side new -> cloud
            cohort client 198.51.100.0/24 -> legacy
            cohort client 2001:db8:12::/48 -> legacy
            cohort path /app/beta/ -> cloud
            max-body 10m
        }
        route auth {
            host *
            path /auth/
            active cloud standby legacy
            max-body 512k
        }
        route plain {
            backend legacy
            max-body 1048576
        }
        route db {
            mode tcp
            listen 0.0.0.0:1433
            split legacy 99.99% cloud 0.01%
            sticky client
            cohort client 10.0.0.0/8 -> cloud
        }
        route big {
            backend cloud
            max-body 1g
            sticky cookie S
        }
        """

    @Test func parsesTopLevelDirectives() throws {
        let config = try parse(Self.full)
        #expect(config.listeners.count == 5)
        #expect(config.listeners[0] == ListenerConfig(kind: .http, endpoint: Endpoint(host: "127.0.0.1", port: 8080), line: 2))
        #expect(config.listeners[1].endpoint == Endpoint(host: "::1", port: 0))
        #expect(config.listeners[1].endpoint.description == "[::1]:0")
        #expect(config.listeners[2].endpoint == Endpoint(host: "localhost", port: 8081))
        #expect(config.listeners[3] == ListenerConfig(kind: .https, endpoint: Endpoint(host: "0.0.0.0", port: 8443),
                                                      certPath: "/c.pem", keyPath: "/k.pem", chainPath: "/ch.pem", line: 5))
        #expect(config.listeners[4] == ListenerConfig(kind: .tcp, endpoint: Endpoint(host: "0.0.0.0", port: 1433), routeName: "db", line: 47))
        #expect(config.admin == AdminConfig(socketPath: "/run/sy/admin.sock", allowGroups: ["ops"], allowUsers: ["alice"], allowUIDs: [990]))
        #expect(config.statePath == "/var/lib/sy/state.json")
        #expect(config.accessLogPath == "/var/log/sy/access.log")
        #expect(config.errorLogPath == "/var/log/sy/error.log")
        #expect(config.generationHeader == "X-Gen")
    }

    /// A file an editor saved with a byte-order mark reads as without one (it gave "1:1:
    /// unknown directive \"listen\"", a word that reads exactly like the known one).
    @Test func aByteOrderMarkAtTheStartIsSkipped() throws {
        let text = "listen http 127.0.0.1:0\nbackend b {\n server 127.0.0.1:1\n}\nroute r {\n backend b\n}\n"
        let config = try parse("\u{FEFF}" + text)
        #expect(config.routes.map(\.name) == ["r"])
        // Columns still count from the first character an editor shows.
        do {
            _ = try parse("\u{FEFF}lisen http 127.0.0.1:0\n")
            Issue.record("expected an error")
        } catch let error as RoutesErrors {
            #expect(error.errors.first?.description.contains("test.routes:1:1:") == true, "\(error.errors)")
        }
    }

    @Test func parsesBackends() throws {
        let config = try parse(Self.full)
        #expect(config.backends.map(\.name) == ["legacy", "cloud"])
        let legacy = config.backends[0]
        #expect(legacy.servers == [
            ServerConfig(endpoint: Endpoint(host: "192.0.2.5", port: 80)),
            ServerConfig(endpoint: Endpoint(host: "192.0.2.6", port: 8080), weight: 3),
        ])
        #expect(legacy.health == HealthCheckConfig(method: "HEAD", path: "/healthz", intervalMilliseconds: 500, expectStatus: 204, rise: 4, fall: 5))
        let cloud = config.backends[1]
        #expect(cloud.servers[0] == ServerConfig(endpoint: Endpoint(host: "app.internal.example", port: 443), tls: true, verify: false,
                                                  sni: "app.example", caPath: "/ca.pem"))
        #expect(cloud.servers[1] == ServerConfig(endpoint: Endpoint(host: "2001:db8::10", port: 443), tls: true, verify: true))
        #expect(cloud.health == HealthCheckConfig(path: "/ready", intervalMilliseconds: 60_000))
    }

    @Test func parsesRoutes() throws {
        let config = try parse(Self.full)
        #expect(config.routes.map(\.name) == ["web", "auth", "plain", "db", "big"])
        let web = config.routes[0]
        #expect(web.mode == .http)
        #expect(web.hosts == ["www.example.com", "example.com"])
        #expect(web.pathPrefix == "/app")
        #expect(web.active == nil)
        #expect(web.split == [WeightedBackend(backend: "legacy", basisPoints: 9525), WeightedBackend(backend: "cloud", basisPoints: 475)])
        #expect(web.sticky == .header("X-User"))
        #expect(web.cohorts == [
            Cohort(matcher: .header(name: "X-Staff-Group", value: "internal"), backend: "cloud"),
            Cohort(matcher: .cookie(name: "side", value: "new"), backend: "cloud"),
            Cohort(matcher: .client(CIDR(parsing: "198.51.100.0/24")!), backend: "legacy"),
            Cohort(matcher: .client(CIDR(parsing: "2001:db8:12::/48")!), backend: "legacy"),
            Cohort(matcher: .path(prefix: "/app/beta/"), backend: "cloud"),
        ])
        #expect(web.maxBodyBytes == 10 << 20)
        #expect(web.line == 22)

        let auth = config.routes[1]
        #expect(auth.hosts.isEmpty)
        #expect(auth.pathPrefix == "/auth/")
        #expect(auth.active == "cloud" && auth.standby == "legacy")
        #expect(auth.split.isEmpty)
        #expect(auth.sticky == .cookie("SWITCHYARD_BUCKET"))
        #expect(auth.maxBodyBytes == 512 << 10)

        let plain = config.routes[2]
        #expect(plain.active == "legacy" && plain.standby == nil && plain.maxBodyBytes == 1_048_576)

        let db = config.routes[3]
        #expect(db.mode == .tcp)
        #expect(db.listen == Endpoint(host: "0.0.0.0", port: 1433))
        #expect(db.split.map(\.basisPoints) == [9999, 1])
        #expect(db.sticky == .client)

        #expect(config.routes[4].maxBodyBytes == 1 << 30)
        #expect(config.routes[4].sticky == .cookie("S"))
    }

    @Test func defaultsWhenOptionalDirectivesAreAbsent() throws {
        let config = try parse(twoBackends + "route r {\n  backend legacy\n}\n")
        #expect(config.admin == nil && config.statePath == nil && config.generationHeader == nil)
        #expect(config.accessLogPath == nil)   // off
        #expect(config.errorLogPath == nil)    // stderr
        #expect(config.routes[0].mode == .http && config.routes[0].maxBodyBytes == nil)
        #expect(config.backends[0].health == nil)
        let offAndStderr = try parse("access-log off\nerror-log stderr\n" + twoBackends + "route r {\n  backend legacy\n}\n")
        #expect(offAndStderr.accessLogPath == nil && offAndStderr.errorLogPath == nil)
    }

    @Test func tcpRouteSplitDefaultsToStickyClient() throws {
        let config = try parse(twoBackends + "route db {\n mode tcp\n listen 127.0.0.1:0\n split legacy 50% cloud 50%\n}\n")
        #expect(config.routes[0].sticky == .client)
    }

    @Test func acceptsCRLFLineEnds() throws {
        let config = try parse((twoBackends + "route r {\n  backend cloud\n}\n").replacingOccurrences(of: "\n", with: "\r\n"))
        #expect(config.routes[0].active == "cloud")
    }

    @Test func backendsMayBeDefinedAfterTheRoutesThatUseThem() throws {
        let config = try parse("listen http 127.0.0.1:0\nroute r {\n backend late\n}\nbackend late {\n server 192.0.2.9:80\n}\n")
        #expect(config.routes[0].active == "late")
    }

    @Test func errorDescriptionIsFileLineColumnMessage() {
        let error = RoutesError(file: "routes/clinic.routes", line: 14, column: 11, message: "unknown backend \"clowd\" (known: legacy, cloud)")
        #expect(error.description == "routes/clinic.routes:14:11: unknown backend \"clowd\" (known: legacy, cloud)")
        let errors = RoutesErrors([error, RoutesError(file: "f", line: 0, column: 0, message: "cannot read: x")])
        #expect(errors.description == "routes/clinic.routes:14:11: unknown backend \"clowd\" (known: legacy, cloud)\nf: cannot read: x")
    }

    @Test func tlsAndHTTP2Directives() throws {
        let config = try RoutesConfig.parse("""
            listen http 127.0.0.1:8080 h2c
            listen https 127.0.0.1:8443 cert /c.pem key /k.pem client-ca /ca.pem http1
            backend cloud {
                server 192.0.2.7:443 tls ca /ca.pem cert /client.pem key /client.key
            }
            route clinic {
                host clinic.example
                cert /clinic.pem key /clinic.key chain /chain.pem
                backend cloud
            }
            """, file: "t.routes")
        #expect(config.listeners[0].h2c && !config.listeners[0].http1Only)
        #expect(config.listeners[1].http1Only && config.listeners[1].clientCAPath == "/ca.pem" && !config.listeners[1].h2c)
        let server = try #require(config.backends.first?.servers.first)
        #expect(server.clientCertificate == CertificatePaths(certPath: "/client.pem", keyPath: "/client.key", line: 4))
        #expect(config.routes[0].certificate == CertificatePaths(certPath: "/clinic.pem", keyPath: "/clinic.key", chainPath: "/chain.pem", line: 8))
    }
}

@Suite struct TrustForwardedParsingTests {
    @Test func topLevelAndListenerListsAreKeptApart() throws {
        let text = """
            trust-forwarded 10.0.0.0/8 2001:db8::/32
            listen http 127.0.0.1:8080 h2c trust-forwarded 192.0.2.0/24
            listen http 127.0.0.1:8081
            backend b {
                server 127.0.0.1:9000
            }
            route r {
                backend b
            }
            """
        let config = try RoutesConfig.parse(text, file: "t.routes")
        #expect(config.trustForwarded.map(\.description) == ["10.0.0.0/8", "2001:db8::/32"])
        #expect(config.listeners[0].h2c)
        #expect(config.listeners[0].trustForwarded?.map(\.description) == ["192.0.2.0/24"])
        #expect(config.listeners[1].trustForwarded == nil)
    }
}
