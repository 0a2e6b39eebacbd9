import Testing
import SwitchyardRouting

/// `timeout`, `limit` and `failover` lines.
@Suite struct TuningTests {
    let base = """
        listen http 127.0.0.1:8080
        backend a {
            server 127.0.0.1:1
        }
        route r {
            backend a

        """

    @Test func timeoutsLimitsAndFailoverParse() throws {
        let config = try RoutesConfig.parse("""
            timeout header 5s
            timeout keep-alive 2m
            timeout connect 500ms
            timeout upstream-keep-alive 2s
            limit request-line 4k
            limit header-bytes 16k
            limit header-count 50
            limit connections 1000
            limit idle-per-server 64
            limit min-body-rate 2k
            \(base)    failover
            }
            """, file: "t.routes")
        #expect(config.tuning.headerTimeoutMilliseconds == 5_000)
        #expect(config.tuning.keepAliveTimeoutMilliseconds == 120_000)
        #expect(config.tuning.connectTimeoutMilliseconds == 500)
        #expect(config.tuning.upstreamKeepAliveMilliseconds == 2_000)
        #expect(config.tuning.maxRequestLineBytes == 4_096)
        #expect(config.tuning.maxHeaderBytes == 16_384)
        #expect(config.tuning.maxHeaderCount == 50)
        #expect(config.tuning.maxConnectionsPerWorker == 1_000)
        #expect(config.tuning.maxIdlePerServer == 64)
        #expect(config.tuning.minBodyBytesPerSecond == 2_048)
        #expect(config.routes[0].failover)
    }

    @Test(arguments: [
        ("timeout forever 5s", "1:9:", "unknown timeout"),
        ("timeout header soon", "1:16:", "soon"),
        ("limit header-bytes 1m", "1:20:", "between 256 and 60k"),
        ("limit header-count zero", "1:20:", "whole number"),
        ("limit colour 5", "1:7:", "unknown limit"),
        // Past 1g a second, rate × window would overflow on the request path.
        ("limit min-body-rate 2000000g", "1:21:", "at most 1g"),
        ("timeout header 5s\ntimeout header 6s", "2:1:", "duplicate"),
        // Alone, each counts with the other's default (8k line, 32k headers): 68k, 61k.
        ("limit header-bytes 60k", "1:1:", "within 60k"),
        ("limit request-line 29k", "1:1:", "within 60k"),
    ])
    func badLinesAreRefusedWithPositions(_ line: String, _ position: String, _ fragment: String) {
        do {
            _ = try RoutesConfig.parse(line + "\n" + base + "}\n", file: "t.routes")
            Issue.record("\(line) was accepted")
        } catch {
            #expect(error.description.contains("t.routes:\(position)"), "\(error.description)")
            #expect(error.description.lowercased().contains(fragment), "\(error.description)")
        }
    }
}
