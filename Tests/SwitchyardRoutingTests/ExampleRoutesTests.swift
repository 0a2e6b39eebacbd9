import Foundation
import Testing
@testable import SwitchyardRouting

@Suite("Example routes files")
struct ExampleRoutesTests {
    @Test func everyExampleFileLoadsAndBuilds() throws {
        let directory = try #require(routesDirectory(), "routes/ not found above \(#filePath)")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".routes") }.sorted()
        #expect(files.contains("demo.routes") && files.contains("clinic.routes"))
        for file in files {
            let path = directory.appendingPathComponent(file).path
            do {
                let config = try RoutesConfig.load(path: path)
                _ = try RouteTable.build(config: config, state: RuntimeState(), generation: 1)
            } catch {
                Issue.record("\(file): \(error)")
            }
        }
    }

    @Test func demoFileSaysWhatTheDemoNeeds() throws {
        let directory = try #require(routesDirectory())
        let config = try RoutesConfig.load(path: directory.appendingPathComponent("demo.routes").path)
        #expect(config.listeners.map(\.endpoint) == [Endpoint(host: "127.0.0.1", port: 8080)])
        #expect(config.admin?.socketPath == "/tmp/switchyard-demo/admin.sock")
        #expect(config.statePath == "/tmp/switchyard-demo/state.json")
        #expect(config.accessLogPath == "/tmp/switchyard-demo/access.log")
        #expect(config.generationHeader == "X-Switchyard-Generation")
        #expect(config.backends.map(\.name) == ["legacy", "cloud"])
        #expect(config.backends.map { $0.servers[0].endpoint.description } == ["127.0.0.1:9101", "127.0.0.1:9102"])
        let app = try #require(config.routes.first { $0.name == "app" })
        #expect(app.hosts.isEmpty && app.sticky == .cookie("SWITCHYARD_BUCKET"))
        #expect(app.split == [WeightedBackend(backend: "legacy", basisPoints: 9000), WeightedBackend(backend: "cloud", basisPoints: 1000)])
        let auth = try #require(config.routes.first { $0.name == "auth" })
        #expect(auth.pathPrefix == "/auth/" && auth.active == "cloud" && auth.standby == "legacy")
    }

    @Test func clinicFileRoutesLikeTheDesignSays() throws {
        let directory = try #require(routesDirectory())
        let config = try RoutesConfig.load(path: directory.appendingPathComponent("clinic.routes").path)
        let table = try RouteTable.build(config: config, state: RuntimeState(), generation: 7)
        let auth = try #require(table.route(FakeRequest(host: "charting.clinic.example", path: "/auth/login"), random: 1))
        #expect(table.routes[auth.route].name == "auth" && table.backends[auth.backend].name == "cloud")
        let facility12 = try #require(table.route(FakeRequest(host: "charting.clinic.example", path: "/chart",
                                                              client: ClientAddress(parsing: "198.51.100.77")!), random: 1))
        #expect(table.backends[facility12.backend].name == "legacy" && facility12.reason == .cohort)
        let tds = try #require(table.routeIndex(named: "tds"))
        #expect(table.backends[table.routeTCP(routeIndex: tds, client: .v4(1), random: 0).backend].name == "legacy-db")
        #expect(config.listeners.contains { $0.kind == .tcp && $0.routeName == "tds" })
    }
}
