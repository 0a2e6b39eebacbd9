import ArgumentParser
import Foundation
import SwitchyardOrigin
import SwitchyardProxy

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the proxy on routes/demo.routes with two built-in backends, 'legacy' and 'cloud'.")

    @Option(help: "The demo routes file.")
    var routes = "routes/demo.routes"

    @OptionGroup var options: ServeOptions

    func run() throws {
        guard FileManager.default.fileExists(atPath: routes) else {
            printError("switchyard demo: \(routes) not found — run it from the repository's top folder (make demo does)")
            throw ExitCode(1)
        }
        try? FileManager.default.createDirectory(atPath: "/tmp/switchyard-demo", withIntermediateDirectories: true,
                                                 attributes: [.posixPermissions: 0o750])
        let legacy: OriginServer
        let cloud: OriginServer
        do {
            legacy = try OriginServer(name: "legacy", port: 9101)
            cloud = try OriginServer(name: "cloud", port: 9102)
        } catch {
            printError("switchyard demo: cannot start the demo backends on 127.0.0.1:9101/9102: \(error)")
            throw ExitCode(1)
        }
        legacy.start()
        cloud.start()
        var options = options
        if options.workers == nil { options.workers = 2 }
        try ServeRunner(routesFile: routes, options: options, upgradable: false).run { proxy in
            let address = proxy.httpAddresses.first.map { "\($0)" } ?? "127.0.0.1:8080"
            printNow("""

            Switchyard demo is running: proxy on http://\(address), backends 'legacy' (127.0.0.1:9101) \
            and 'cloud' (127.0.0.1:9102).

              curl -s http://\(address)/                 # a new visitor: 90% legacy, 10% cloud
              for i in $(seq 20); do curl -s http://\(address)/; done
              curl -s -c /tmp/jar -b /tmp/jar http://\(address)/   # with a cookie jar you stay on your side
              curl -s http://\(address)/auth/login       # route 'auth': active cloud, standby legacy
              curl -s --http2-prior-knowledge http://\(address)/   # the same over HTTP/2 (h2c)

            In a second terminal (no flags needed):

              switchyard status                  # routes, sides, servers, the write hold
              switchyard weight app cloud 50%    # canary: half of the new visitors to cloud
              switchyard flip all                # blue-green: every route to its other side
              switchyard revert                  # back to the generation before
              switchyard hold app                # the database freeze: writes park, reads flow
              switchyard release app             # the parked writes go on, in order
              switchyard history                 # every change, who made it and why

            Cutover page (legacy and cloud side by side): http://127.0.0.1:9180/
            Prometheus metrics: http://127.0.0.1:9180/metrics

            Access log: /tmp/switchyard-demo/access.log; audit log: /tmp/switchyard-demo/audit.log.
            Stop with Ctrl-C.

            """)
        }
    }
}
