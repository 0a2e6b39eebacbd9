import Testing
@testable import SwitchyardRouting

/// A bad routes file, where the parser must point, and what it must say.
struct BadFile: CustomTestStringConvertible, Sendable {
    var name: String
    var text: String
    var line: Int
    var column: Int
    var fragment: String
    var testDescription: String { name }
}

/// `twoBackends` is 7 lines, so snippets appended to it start on line 8.
private func afterBackends(_ snippet: String) -> String { twoBackends + snippet }

@Suite("Routes parser: bad files")
struct RoutesErrorCatalogueTests {
    static let catalogue: [BadFile] = [
        BadFile(name: "unknown top-level directive", text: "lisen http 127.0.0.1:80\n",
                line: 1, column: 1, fragment: #"unknown directive "lisen" at top level (did you mean "listen"?)"#),
        BadFile(name: "unknown route directive", text: afterBackends("route app {\n    sticy cookie X\n    backend legacy\n}\n"),
                line: 9, column: 5, fragment: #"unknown directive "sticy" in a route block (did you mean "sticky"?)"#),
        BadFile(name: "server at top level", text: afterBackends("server 192.0.2.3:80\n"),
                line: 8, column: 1, fragment: "belongs inside a backend block"),
        BadFile(name: "missing argument", text: afterBackends("route app {\n    backend\n}\n"),
                line: 9, column: 5, fragment: "missing argument for backend"),
        BadFile(name: "extra argument", text: afterBackends("route app {\n    path /a /b\n    backend legacy\n}\n"),
                line: 9, column: 13, fragment: #"unexpected argument "/b""#),
        BadFile(name: "port out of range", text: "listen http 127.0.0.1:99999\n",
                line: 1, column: 13, fragment: "bad port \"99999\""),
        BadFile(name: "bad IPv4 address", text: "listen http 300.1.1.1:80\n",
                line: 1, column: 13, fragment: "bad IPv4 address \"300.1.1.1\""),
        BadFile(name: "IPv6 without brackets", text: "listen http ::1:80\n",
                line: 1, column: 13, fragment: "put IPv6 addresses in brackets"),
        BadFile(name: "listen on a DNS name", text: "listen http example.com:80\n",
                line: 1, column: 13, fragment: "bad listen address"),
        BadFile(name: "https without key", text: "listen https 0.0.0.0:8443 cert /c.pem\n",
                line: 1, column: 8, fragment: "listen https needs cert PATH and key PATH"),
        BadFile(name: "trust-forwarded with host bits", text: "trust-forwarded 10.1.2.3/8\n",
                line: 1, column: 17, fragment: "did you mean 10.0.0.0/8?"),
        BadFile(name: "trust-forwarded without networks", text: "trust-forwarded\n",
                line: 1, column: 1, fragment: "trust-forwarded CIDR [CIDR...]"),
        BadFile(name: "listen trust-forwarded without networks", text: "listen http 127.0.0.1:80 trust-forwarded\n",
                line: 1, column: 26, fragment: "trust-forwarded needs at least one CIDR"),
        BadFile(name: "listen trust-forwarded bad network", text: "listen http 127.0.0.1:80 trust-forwarded 10.0.0.0/33 h2c\n",
                line: 1, column: 42, fragment: "prefix length must be 0…32"),
        BadFile(name: "route names an unknown listener", text: "listen http 127.0.0.1:80 name public\n" + afterBackends("route app {\n    listen staff\n    backend legacy\n}\n"),
                line: 10, column: 12, fragment: #"no listener is named "staff" (named: public)"#),
        BadFile(name: "duplicate listener name", text: "listen http 127.0.0.1:80 name a\nlisten http 127.0.0.1:81 name a\n",
                line: 2, column: 31, fragment: #"listener name "a" is already used on line 1"#),
        BadFile(name: "tcp route with a listener name", text: afterBackends("route t {\n    mode tcp\n    listen staff\n    backend legacy\n}\n"),
                line: 10, column: 12, fragment: "a tcp route listens on its own address"),
        BadFile(name: "percentage without %", text: afterBackends("route app {\n    split legacy 95 cloud 5%\n}\n"),
                line: 9, column: 18, fragment: "bad percentage \"95\""),
        BadFile(name: "too many decimals", text: afterBackends("route app {\n    split legacy 95.001% cloud 4.999%\n}\n"),
                line: 9, column: 18, fragment: "more than 2 decimals"),
        BadFile(name: "split not summing to 100%", text: afterBackends("route app {\n    split legacy 90% cloud 5%\n}\n"),
                line: 9, column: 5, fragment: "split sums to 95.00%, must be exactly 100%"),
        BadFile(name: "same backend twice in a split", text: afterBackends("route app {\n    split legacy 50% legacy 50%\n}\n"),
                line: 9, column: 22, fragment: "backend \"legacy\" appears twice in the split"),
        BadFile(name: "split with one backend", text: afterBackends("route app {\n    split legacy 100%\n}\n"),
                line: 9, column: 5, fragment: "split needs at least two backends"),
        BadFile(name: "unknown active backend", text: afterBackends("route app {\n    active clowd\n}\n"),
                line: 9, column: 12, fragment: #"unknown backend "clowd" (known: legacy, cloud)"#),
        BadFile(name: "unknown standby backend", text: afterBackends("route app {\n    active legacy standby clowd\n}\n"),
                line: 9, column: 27, fragment: #"unknown backend "clowd""#),
        BadFile(name: "unknown split backend", text: afterBackends("route app {\n    split legacy 50% blue 50%\n}\n"),
                line: 9, column: 22, fragment: #"unknown backend "blue""#),
        BadFile(name: "unknown cohort backend", text: afterBackends("route app {\n    cohort header X-A b -> nope\n    backend legacy\n}\n"),
                line: 9, column: 28, fragment: #"unknown backend "nope""#),
        // The first of two cohorts for the same requests always wins (a header's name in any
        // case): the second would pin nobody while the file reads as if it did.
        BadFile(name: "a cohort given twice", text: afterBackends("route app {\n    cohort header X-A b -> legacy\n    cohort header x-a b -> cloud\n    backend legacy\n}\n"),
                line: 10, column: 12, fragment: "cohort header x-a b is given twice (first at line 9, -> legacy)"),
        BadFile(name: "CIDR prefix too long", text: afterBackends("route app {\n    cohort client 10.0.0.0/33 -> cloud\n    backend legacy\n}\n"),
                line: 9, column: 19, fragment: "prefix length must be 0…32"),
        BadFile(name: "CIDR host bits set", text: afterBackends("route app {\n    cohort client 10.50.1.0/16 -> cloud\n    backend legacy\n}\n"),
                line: 9, column: 19, fragment: "did you mean 10.50.0.0/16?"),
        BadFile(name: "malformed CIDR", text: afterBackends("route app {\n    cohort client 2001:db8::g/32 -> cloud\n    backend legacy\n}\n"),
                line: 9, column: 19, fragment: "bad CIDR"),
        BadFile(name: "missing arrow", text: afterBackends("route app {\n    cohort path /x => cloud\n    backend legacy\n}\n"),
                line: 9, column: 20, fragment: #"expected "->""#),
        BadFile(name: "bad duration", text: afterBackends("backend b3 {\n    server 192.0.2.3:80\n    health GET /h every 2x\n}\nroute app {\n backend b3\n}\n"),
                line: 10, column: 25, fragment: "bad duration \"2x\""),
        BadFile(name: "bad size", text: afterBackends("route app {\n    backend legacy\n    max-body 10x\n}\n"),
                line: 10, column: 14, fragment: "bad size \"10x\""),
        BadFile(name: "bad weight", text: afterBackends("backend b3 {\n    server 192.0.2.3:80 weight -1\n}\nroute app {\n backend b3\n}\n"),
                line: 9, column: 32, fragment: "bad weight"),
        BadFile(name: "verify without tls", text: afterBackends("backend b3 {\n    server 192.0.2.3:80 verify\n}\nroute app {\n backend b3\n}\n"),
                line: 9, column: 25, fragment: "verify needs tls"),
        BadFile(name: "route cert without host", text: afterBackends("route app {\n    cert /c.pem key /k.pem\n    backend legacy\n}\n"),
                line: 9, column: 5, fragment: "cert needs host names in the route"),
        BadFile(name: "route cert without listen https", text: afterBackends("route app {\n    host a.test\n    cert /c.pem key /k.pem\n    backend legacy\n}\n"),
                line: 10, column: 5, fragment: "this file has no listen https line"),
        BadFile(name: "route cert without key", text: afterBackends("route app {\n    host a.test\n    cert /c.pem chain /ch.pem\n    backend legacy\n}\n"),
                line: 10, column: 5, fragment: "cert needs a key"),
        BadFile(name: "route cert chain without its path", text: afterBackends("route app {\n    host a.test\n    cert /c.pem key /k.pem chain\n    backend legacy\n}\n"),
                line: 10, column: 28, fragment: "chain needs a path"),
        BadFile(name: "route cert with a stray word", text: afterBackends("route app {\n    host a.test\n    cert /c.pem key /k.pem extra\n    backend legacy\n}\n"),
                line: 10, column: 28, fragment: "unexpected \"extra\""),
        BadFile(name: "route cert in a tcp route", text: afterBackends("route db {\n    mode tcp\n    listen 127.0.0.1:5432\n    cert /c key /k\n    backend legacy\n}\n"),
                line: 11, column: 5, fragment: "cert applies to http routes"),
        BadFile(name: "client certificate without key", text: afterBackends("backend b3 {\n    server 192.0.2.3:443 tls cert /c.pem\n}\nroute app {\n backend b3\n}\n"),
                line: 9, column: 30, fragment: "needs both cert PATH and key PATH"),
        BadFile(name: "client certificate without tls", text: afterBackends("backend b3 {\n    server 192.0.2.3:80 cert /c key /k\n}\nroute app {\n backend b3\n}\n"),
                line: 9, column: 25, fragment: "cert needs tls"),
        BadFile(name: "h2c on https", text: "listen https 127.0.0.1:8443 cert /c key /k h2c\n",
                line: 1, column: 44, fragment: "unknown listen https option \"h2c\""),
        BadFile(name: "client-ca on http", text: "listen http 127.0.0.1:8080 client-ca /ca.pem\n",
                line: 1, column: 28, fragment: "listen http takes h2c, name NAME, proxy-protocol and trust-forwarded"),
        BadFile(name: "unterminated block at end of file", text: afterBackends("route app {\n    backend legacy\n"),
                line: 8, column: 1, fragment: "unterminated block"),
        BadFile(name: "block opened inside a block", text: afterBackends("route app {\n    backend legacy\nroute other {\n    backend cloud\n}\n"),
                line: 8, column: 1, fragment: "unterminated block \"route app\": no '}' before the block on line 10"),
        BadFile(name: "closing brace without block", text: afterBackends("}\nroute app {\n    backend legacy\n}\n"),
                line: 8, column: 1, fragment: "'}' without an open block"),
        BadFile(name: "header without brace", text: afterBackends("route app\n    backend legacy\n}\n"),
                line: 8, column: 11, fragment: "expected '{' at the end of the route line"),
        BadFile(name: "unknown block", text: afterBackends("frontend web {\n}\nroute app {\n backend legacy\n}\n"),
                line: 8, column: 1, fragment: "unknown block \"frontend\""),
        BadFile(name: "duplicate backend", text: afterBackends("backend legacy {\n    server 192.0.2.3:80\n}\nroute app {\n backend legacy\n}\n"),
                line: 8, column: 9, fragment: "duplicate backend \"legacy\" (first defined on line 2)"),
        // One pool per address: a second line silently doubled its weight, or gave it two
        // TLS setups of which the last won.
        BadFile(name: "server listed twice", text: afterBackends("backend more {\n    server 192.0.2.3:80\n    server 192.0.2.3:80 weight 5\n}\nroute app {\n backend more\n}\n"),
                line: 10, column: 12, fragment: "server 192.0.2.3:80 is listed twice in this backend (first at line 9)"),
        // One certificate per host name (before: the last won, and the first route's TLS
        // requests were all 421).
        BadFile(name: "two certificates for one host", text: "listen https 127.0.0.1:8443 cert /c key /k\n" + afterBackends("route a {\n    host x.example\n    path /api/\n    cert /a.pem key /a.key\n    backend legacy\n}\nroute b {\n    host x.example\n    cert /b.pem key /b.key\n    backend cloud\n}\n"),
                line: 17, column: 5, fragment: "host x.example has another certificate in route a (line 12): one certificate per host name"),
        BadFile(name: "duplicate route", text: afterBackends("route app {\n backend legacy\n}\nroute app {\n backend cloud\n}\n"),
                line: 11, column: 7, fragment: "duplicate route \"app\" (first defined on line 8)"),
        BadFile(name: "backend without server", text: afterBackends("backend empty {\n}\nroute app {\n backend legacy\n}\n"),
                line: 8, column: 9, fragment: "has no server"),
        BadFile(name: "bad route name", text: afterBackends("route a/b {\n backend legacy\n}\n"),
                line: 8, column: 7, fragment: "bad route name \"a/b\""),
        BadFile(name: "http route without http listener",
                text: "backend legacy {\n server 192.0.2.1:80\n}\nroute app {\n backend legacy\n}\n",
                line: 4, column: 7, fragment: "no `listen http` or `listen https` line"),
        BadFile(name: "tcp route without listen", text: afterBackends("route db {\n    mode tcp\n    backend legacy\n}\n"),
                line: 8, column: 7, fragment: "tcp route \"db\" has no listen line"),
        BadFile(name: "host on a tcp route", text: afterBackends("route db {\n    mode tcp\n    listen 127.0.0.1:1433\n    host db.example\n    backend legacy\n}\n"),
                line: 11, column: 5, fragment: "host applies to http routes only"),
        BadFile(name: "path on a tcp route", text: afterBackends("route db {\n    mode tcp\n    listen 127.0.0.1:1433\n    path /x\n    backend legacy\n}\n"),
                line: 11, column: 5, fragment: "path applies to http routes only"),
        BadFile(name: "sticky cookie on a tcp route", text: afterBackends("route db {\n    mode tcp\n    listen 127.0.0.1:1433\n    sticky cookie X\n    split legacy 50% cloud 50%\n}\n"),
                line: 11, column: 5, fragment: "use `sticky client`"),
        BadFile(name: "listen in an http route", text: afterBackends("route app {\n    listen 127.0.0.1:9000\n    backend legacy\n}\n"),
                line: 9, column: 5, fragment: "listen ADDR:PORT inside a route is only for mode tcp"),
        BadFile(name: "route without a backend", text: afterBackends("route app {\n    host a.example\n}\n"),
                line: 8, column: 7, fragment: "route \"app\" has no backend"),
        BadFile(name: "active and split together", text: afterBackends("route app {\n    backend legacy\n    split legacy 50% cloud 50%\n}\n"),
                line: 10, column: 5, fragment: "either backend/active or split, not both"),
        BadFile(name: "path not starting with /", text: afterBackends("route app {\n    path auth\n    backend legacy\n}\n"),
                line: 9, column: 10, fragment: "path prefix must start with '/'"),
        // Prefixes in a spelling requests never have once normalised could never match.
        BadFile(name: "route path with an escaped letter", text: afterBackends("route app {\n    path /%7Estaff\n    backend legacy\n}\n"),
                line: 9, column: 10, fragment: #"would never match: requests are routed by their normalised path"#),
        BadFile(name: "cohort path with a parameter", text: afterBackends("route app {\n    backend legacy\n    cohort path /api;v=2 -> cloud\n}\n"),
                line: 10, column: 17, fragment: #"write "/api""#),
        BadFile(name: "hold except with a dot segment", text: afterBackends("route app {\n    backend legacy\n    hold except /a/./login\n}\n"),
                line: 10, column: 17, fragment: #"write "/a/login""#),
        BadFile(name: "unknown mode", text: afterBackends("route app {\n    mode udp\n    backend legacy\n}\n"),
                line: 9, column: 10, fragment: "unknown mode \"udp\""),
        BadFile(name: "wildcard host", text: afterBackends("route app {\n    host *.example.com\n    backend legacy\n}\n"),
                line: 9, column: 10, fragment: "wildcards are not supported"),
        BadFile(name: "standby equals active", text: afterBackends("route app {\n    active legacy standby legacy\n}\n"),
                line: 9, column: 27, fragment: "standby is the same backend as active"),
        BadFile(name: "duplicate listener address", text: afterBackends("listen http 127.0.0.1:8080\nlisten https 127.0.0.1:8080 cert /c key /k\nroute app {\n backend legacy\n}\n"),
                line: 9, column: 14, fragment: "already used by the listener on line 8"),
        BadFile(name: "a 65th server in a backend",
                text: "backend many {\n" + (1...65).map { "    server 10.0.0.\($0):80\n" }.joined() + "}\nroute app {\n backend many\n}\n",
                line: 66, column: 5, fragment: "a backend has at most 64 servers"),
        BadFile(name: "no route at all", text: twoBackends,
                line: 1, column: 1, fragment: "no route in file"),
        BadFile(name: "metrics on a listener's address", text: "listen http 127.0.0.1:8080\nmetrics 127.0.0.1:8080\n" + afterBackends("route app {\n backend legacy\n}\n"),
                line: 2, column: 9, fragment: "address 127.0.0.1:8080 is already used by the listener on line 1"),
        BadFile(name: "duplicate state", text: "state /a\nstate /b\n" + afterBackends("route app {\n backend legacy\n}\n"),
                line: 2, column: 1, fragment: "duplicate state (first on line 1)"),
        BadFile(name: "bad generation header", text: "generation-header X:Gen\n" + afterBackends("route app {\n backend legacy\n}\n"),
                line: 1, column: 19, fragment: "bad header name"),
    ]

    @Test(arguments: catalogue)
    func reportsTheProblemAtItsToken(_ bad: BadFile) {
        let errors = collectErrors(bad.text)
        let atPosition = errors.filter { $0.line == bad.line && $0.column == bad.column }
        #expect(atPosition.contains { $0.message.contains(bad.fragment) },
                "expected \(bad.line):\(bad.column) \(bad.fragment), got:\n\(errors.map(\.description).joined(separator: "\n"))")
        #expect(errors.allSatisfy { $0.file == "bad.routes" })
    }

    /// Every entry tests something of its own: no name or file is repeated, and no two
    /// entries expect the same message at the same place.
    @Test func everyCaseIsDistinct() {
        #expect(Set(Self.catalogue.map(\.name)).count == Self.catalogue.count, "case names are unique")
        #expect(Set(Self.catalogue.map(\.text)).count == Self.catalogue.count, "no file is repeated")
        #expect(Set(Self.catalogue.map { "\($0.line):\($0.column):\($0.fragment)" }).count == Self.catalogue.count)
    }

    @Test func collectsEveryErrorInFileOrder() {
        let text = """
            listen http 127.0.0.1:99999
            backend legacy {
                server 192.0.2.1:80
            }
            route app {
                split legacy 90% clowd 5%
                sticy cookie X
            }
            route app {
                active nowhere
            }
            """
        let errors = collectErrors(text)
        let positions = errors.map { "\($0.line):\($0.column)" }
        #expect(positions == ["1:13", "6:5", "6:22", "7:5", "9:7"], "\(errors)")
        #expect(errors[0].description.hasPrefix("bad.routes:1:13: bad port"))
    }

    @Test func unreadableFileIsOneErrorAtLineZero() {
        do {
            _ = try RoutesConfig.load(path: "/nonexistent/switchyard/x.routes")
            Issue.record("expected an error")
        } catch {
            #expect(error.errors.count == 1)
            #expect(error.errors[0].line == 0 && error.errors[0].column == 0)
            #expect(error.errors[0].message == "cannot read: No such file or directory")
            #expect(error.description == "/nonexistent/switchyard/x.routes: cannot read: No such file or directory")
        }
    }

    private func collectErrors(_ text: String) -> [RoutesError] {
        do {
            _ = try RoutesConfig.parse(text, file: "bad.routes")
            return []
        } catch {
            return error.errors
        }
    }
}
