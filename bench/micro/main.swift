// bench/micro: the request parser and the route decision, timed in a tight loop.
// Built by bench/micro/run with swiftc -O against the modules' sources.
import Glibc
import SwitchyardHTTP
import SwitchyardRouting

func now() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

let smoke = CommandLine.arguments.contains("--smoke")
let rounds = smoke ? 20_000 : 1_000_000

// A realistic browser request (Chrome-like, 14 fields, ~700 bytes).
let request = Array("""
GET /charting/patient/summary?tab=vitals HTTP/1.1\r
Host: charting.clinic.example\r
Connection: keep-alive\r
sec-ch-ua: "Chromium";v="130", "Google Chrome";v="130", "Not?A_Brand";v="99"\r
sec-ch-ua-mobile: ?0\r
sec-ch-ua-platform: "Linux"\r
Upgrade-Insecure-Requests: 1\r
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36\r
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r
Sec-Fetch-Site: same-origin\r
Sec-Fetch-Mode: navigate\r
Sec-Fetch-Dest: document\r
Referer: https://charting.clinic.example/charting/patient\r
Accept-Encoding: gzip, deflate, br\r
Accept-Language: en-GB,en;q=0.9\r
Cookie: theme=dark; SWITCHYARD_BUCKET=4f2a9c0d11e2b3a4; session=abcdef0123456789\r
\r

""".utf8)

let parser = HTTPRequestParser()
var checksum = 0
var start = now()
request.withUnsafeBytes { bytes in
    for _ in 0..<rounds {
        parser.reset()
        if case .complete(let n) = parser.parse(bytes) { checksum &+= n }
    }
}
var elapsed = now() - start
let nsPerRequest = Double(elapsed) / Double(rounds)
let mbPerSecond = Double(request.count) * Double(rounds) / (Double(elapsed) / 1e9) / 1e6
print("request parser: \(request.count) bytes, \(Int(nsPerRequest.rounded())) ns per request, \(Int(mbPerSecond.rounded())) MB/s")

// The route decision: host + path match, three cohorts checked, then a sticky split.
let config = try! RoutesConfig.parse("""
    listen http 127.0.0.1:8080
    backend legacy {
        server 127.0.0.1:9101
    }
    backend cloud {
        server 127.0.0.1:9102
    }
    route auth {
        host charting.clinic.example
        path /auth/
        active cloud standby legacy
    }
    route charting {
        host charting.clinic.example
        sticky cookie SWITCHYARD_BUCKET
        cohort header X-Staff-Group internal -> cloud
        cohort client 198.51.100.0/24 -> legacy
        cohort path /reports/export -> cloud
        split legacy 95% cloud 5%
    }
    """, file: "micro.routes")
let table = try! RouteTable.build(config: config, state: RuntimeState(), generation: 1)

struct View: RoutableRequest {
    let base: UnsafeRawPointer
    let parser: HTTPRequestParser
    var host: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base + parser.hostSpan!.start, count: parser.hostSpan!.count) }
    var path: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base + parser.pathSpan.start, count: parser.pathSpan.count) }
    var clientAddress: ClientAddress { .v4(0x0A00_0001) }
    func headerValue(lowercasedName name: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        for i in 0..<parser.headerCount {
            let f = parser.header(i)
            if ASCII.equalsIgnoringCase(UnsafeRawBufferPointer(start: base + f.name.start, count: f.name.count), name) {
                return UnsafeRawBufferPointer(start: base + f.value.start, count: f.value.count)
            }
        }
        return nil
    }
}

request.withUnsafeBytes { bytes in
    parser.reset()
    _ = parser.parse(bytes)
    let view = View(base: bytes.baseAddress!, parser: parser)
    start = now()
    for i in 0..<rounds {
        if let d = table.route(view, random: UInt64(i)) { checksum &+= d.backend }
    }
    elapsed = now() - start
}
let nsPerDecision = Int((Double(elapsed) / Double(rounds)).rounded())
print("route decision: \(nsPerDecision) ns per decision (host, path, 3 cohorts, sticky split)")
if checksum == 42 { print("") }
