import Foundation
import Glibc
import SwitchyardAdmin
import SwitchyardOrigin
import SwitchyardProxy
import SwitchyardTestSupport

/// Pieces the write-hold tests share.
enum HoldSupport {
    static let routes = """
        listen http 127.0.0.1:0
        backend legacy {
            server 127.0.0.1:LEGACY
        }
        backend cloud {
            server 127.0.0.1:CLOUD
        }
        route app {
            active legacy standby cloud
            hold except /login
        }
        route tds {
            mode tcp
            listen 127.0.0.1:0
            backend legacy
        }
        """

    /// A POST with a body of `body` bytes (Content-Length), sent raw; `cookie`: a Cookie
    /// field's value (a browser's session).
    static func post(_ client: TestClient, _ path: String, body: String = "note", cookie: String? = nil) -> TestClient.Response? {
        let cookieLine = cookie.map { "Cookie: \($0)\r\n" } ?? ""
        client.send("POST \(path) HTTP/1.1\r\nHost: test.local\r\n\(cookieLine)Content-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        return client.readResponse()
    }

    /// POSTs `paths`, each on a connection and thread of its own, one after the other once
    /// the one before was counted (`counted`: parked, by default; or joined a release's
    /// queue), so that the queue's order is the list's. The answers, to wait for.
    static func send(_ h: AdminHarness, _ paths: [String], to what: String = "park", cookie: String? = nil,
                     counted: @escaping (HoldSnapshot) -> Int = { $0.parked }) throws -> [Background<TestClient.Response?>] {
        let start = counted(h.proxy.holdSnapshot())
        var pending: [Background<TestClient.Response?>] = []
        for path in paths {
            let client = Handed(try TestClient(port: h.port))
            pending.append(Background { post(client.client, path, cookie: cookie) })
            try waitFor("\(path) to \(what)", seconds: 5) { counted(h.proxy.holdSnapshot()) == start + pending.count }
        }
        return pending
    }

    /// Starts `command` (a release) on a thread of its own and waits until the origin saw
    /// the first POST to `prefix`: the release is under way. Its answer, to wait for.
    static func releaseUnderWay(_ h: AdminHarness, _ command: String = "release app --rate 1/s",
                                firstSent prefix: String = "/notes") throws -> Background<(ok: Bool, text: String)> {
        let release = Background { h.run(command) }
        try waitFor("the first parked write to be sent", seconds: 5) { seen(h.legacy, "POST", prefix) >= 1 }
        return release
    }

    /// The N of each `POST /notes/N` the origin saw, in the order it saw them.
    static func notesOrder(_ origin: OriginServer) -> [Int] { seenOrder(origin, "/notes/") }

    /// The N of each `POST` to `prefix` + N the origin saw, in the order it saw them.
    static func seenOrder(_ origin: OriginServer, _ prefix: String) -> [Int] {
        origin.requestHeads.filter { $0.hasPrefix("POST \(prefix)") }.map { head in
            Int(head.split(separator: " ")[1].dropFirst(prefix.count)) ?? -1
        }
    }

    /// How many requests with `method` and a path starting with `prefix` the origin saw.
    static func seen(_ origin: OriginServer, _ method: String, _ prefix: String) -> Int {
        origin.requestHeads.filter { $0.hasPrefix("\(method) \(prefix)") }.count
    }
}

/// One value set from another thread (a lock TSan understands).
final class Box<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var item: T
    init(_ value: T) { item = value }
    var value: T {
        get { lock.lock(); defer { lock.unlock() }; return item }
        set { lock.lock(); item = newValue; lock.unlock() }
    }
}

/// Runs `body` on its own thread; `wait` returns its result.
final class Background<T>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let box: Box<T?> = Box(nil)
    init(_ body: @escaping @Sendable () -> T) {
        Thread { [box, done] in box.value = body(); done.signal() }.start()
    }
    func wait(seconds: Double = 30) throws -> T {
        try done.wait(seconds: seconds, for: "a background request")
        return box.value!
    }
    var finished: Bool { box.value != nil }
}

/// A client handed to the one thread that uses it from then on.
struct Handed: @unchecked Sendable {
    let client: TestClient
    init(_ client: TestClient) { self.client = client }
}
