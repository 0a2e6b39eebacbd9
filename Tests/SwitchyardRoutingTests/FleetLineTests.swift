import Testing
@testable import SwitchyardRouting

/// The routes file's `fleet` line: what it holds, and each mistake at file:line:col.
struct FleetLineTests {
    @Test func withoutAFleetLineThereIsNoFleet() throws {
        #expect(try parse(twoBackends + "route app {\n    active legacy\n}\n").fleet == nil)
    }

    @Test func theWholeLineIsRead() throws {
        let config = try parse("fleet clinic etcd http://127.0.0.1:2379 http://[::1]:2381/ user proxy password-file /etc/sy/etcd.pw instance a\n"
                               + twoBackends + "route app {\n    active legacy\n}\n")
        let fleet = try #require(config.fleet)
        #expect(fleet.name == "clinic")
        #expect(fleet.endpoints == [FleetEndpoint(host: "127.0.0.1", port: 2379), FleetEndpoint(host: "::1", port: 2381)])
        #expect(fleet.endpoints[1].description == "http://[::1]:2381")
        #expect(fleet.user == "proxy")
        #expect(fleet.passwordFile == "/etc/sy/etcd.pw")
        #expect(fleet.instance == "a")
    }

    @Test func theExampleFleetFileNamesItsFleetAndInstance() throws {
        let text = try String(contentsOfFile: #filePath.components(separatedBy: "/Tests/")[0] + "/routes/fleet-host-a.routes", encoding: .utf8)
        let fleet = try #require(try parse(text).fleet)
        #expect(fleet.name == "clinic" && fleet.instance == "host-a" && fleet.endpoints.count == 3)
    }

    @Test(arguments: [
        ("fleet clinic", "test.routes:1:1: missing argument for fleet (usage: fleet NAME etcd URL [URL...] [user NAME password-file PATH] [instance NAME])"),
        ("fleet clinic consul http://127.0.0.1:2379", "test.routes:1:14: expected etcd after the fleet name"),
        ("fleet clinic etcd https://127.0.0.1:2379", "test.routes:1:19: bad etcd URL \"https://127.0.0.1:2379\""),
        ("fleet clinic etcd http://127.0.0.1:99999", "test.routes:1:19: bad etcd URL"),
        ("fleet clinic etcd http://root:s3cret@10.0.0.1:2379", "test.routes:1:19: an etcd URL must not carry credentials"),
        ("fleet clinic etcd user u", "test.routes:1:19: fleet needs at least one etcd URL"),
        ("fleet c/x etcd http://127.0.0.1:2379", "test.routes:1:7: bad fleet name \"c/x\""),
        ("fleet clinic etcd http://127.0.0.1:2379 user u", "test.routes:1:1: fleet: user and password-file go together"),
        ("fleet clinic etcd http://127.0.0.1:2379 instance", "test.routes:1:41: missing value after instance"),
        ("fleet clinic etcd http://127.0.0.1:2379 instance a instance b", "test.routes:1:52: duplicate instance"),
        ("fleet clinic etcd http://127.0.0.1:2379 color red", "test.routes:1:41: unexpected \"color\""),
        ("fleet a etcd http://127.0.0.1:2379\nfleet b etcd http://127.0.0.1:2379", "test.routes:2:1: duplicate fleet (first on line 1)"),
    ])
    func mistakesArePlaced(line: String, expected: String) throws {
        do {
            _ = try parse(line + "\n" + twoBackends + "route app {\n    active legacy\n}\n")
            Issue.record("accepted: \(line)")
        } catch let error as RoutesErrors {
            #expect(error.description.hasPrefix(expected), "\(error.description)")
        }
    }

    /// A password written into an etcd URL is refused without being repeated: the refusal
    /// goes to terminals, the journal and `check`'s output. Before, such a URL was accepted
    /// (its host read as `root:s3cret@10.0.0.1`) and printed at every start, in connection
    /// errors, in `status` and in the instance's record in etcd.
    @Test func anEtcdURLWithCredentialsIsRefusedWithoutEchoingThem() throws {
        do {
            _ = try parse("fleet clinic etcd http://root:s3cret@10.0.0.1:2379\n" + twoBackends + "route app {\n    active legacy\n}\n")
            Issue.record("accepted")
        } catch let error as RoutesErrors {
            #expect(!error.description.contains("s3cret"), "\(error.description)")
        }
        #expect(FleetEndpoint(url: "http://u:p@127.0.0.1:2379") == nil)
    }
}
