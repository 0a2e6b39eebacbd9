import Foundation
import Glibc
import SwitchyardSystem

/// A small HTTP/1.1 origin server on blocking sockets, one thread per connection. It is
/// the demo's "legacy" and "cloud" backend and the tests' backend: deliberately simple
/// and independent of the proxy's own parser, so the tests do not check the proxy against
/// itself. Not for production traffic.
///
/// Paths it understands:
/// - `/echo`: answers with the request body;
/// - `/discard`: reads the body and answers with its length;
/// - `/read-later?ms=N`: waits N ms before reading the body, then answers with its length;
/// - `/chunked`: a chunked answer in several chunks;
/// - `/big?bytes=N`: N bytes of body;
/// - `/slow?ms=N`: waits N ms, then answers;
/// - `/status/N`: answers with status N;
/// - `/close`: closes the connection without answering;
/// - `/headers`: answers with the request head it received;
/// - `/chunked-ext`: a chunked answer with chunk extensions and a trailer;
/// - `/hop-by-hop`: an answer carrying hop-by-hop fields (`Connection: X-Foo`, `X-Foo`,
///   `Keep-Alive`, `Trailer`, `Proxy-Connection`) beside an end-to-end `X-Kept`;
/// - `/early-hints`: a 103 Early Hints answer, then the final 200;
/// - `/sso-start`, `/sso-idp`, `/sso-acs`: a single sign-on round trip (`SingleSignOnPages`);
/// - `/ws` (or any path ending in it): accepts an Upgrade with 101, then echoes bytes until the client half-closes;
/// - anything else: "NAME answered METHOD PATH (generation G)".
public final class OriginServer: @unchecked Sendable {
    public let name: String
    public let port: UInt16
    private let listener: FileDescriptor
    private let lock = NSLock()
    private var _connections = 0
    private var _requests: [String] = []
    private var _generations: [String] = []
    private var stopped = false
    private var _failing = false
    private var _dropsReusedRequests = false
    private var _rawRequests: [[UInt8]] = []
    private var _peerClosed = 0

    /// While true, every request is answered 503 (a sick server that keeps its port).
    public var failing: Bool {
        get { lock.lock(); defer { lock.unlock() }; return _failing }
        set { lock.lock(); _failing = newValue; lock.unlock() }
    }

    /// While above 0, one request in this many is answered 503 (a partial fault: 5 is 20 %).
    public var failingOneIn: Int {
        get { lock.lock(); defer { lock.unlock() }; return _failingOneIn }
        set { lock.lock(); _failingOneIn = newValue; _partialCount = 0; lock.unlock() }
    }
    private var _failingOneIn = 0
    private var _partialCount = 0

    /// True when this request is one of the partial fault's.
    private func partialFault() -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard _failingOneIn > 0 else { return false }
        _partialCount += 1
        return _partialCount % _failingOneIn == 0
    }

    /// While true, a request arriving on a connection that already carried one is read and
    /// the connection closed without an answer: a keep-alive timeout firing just as the
    /// request arrives, which the proxy sees as a stale pooled connection.
    public var dropsRequestsOnReusedConnections: Bool {
        get { lock.lock(); defer { lock.unlock() }; return _dropsReusedRequests }
        set { lock.lock(); _dropsReusedRequests = newValue; lock.unlock() }
    }

    /// The bytes of each request exactly as they arrived (head, body framing, trailers), in
    /// order; bodies over 1 MiB are not kept.
    public var rawRequests: [[UInt8]] { lock.lock(); defer { lock.unlock() }; return _rawRequests }

    /// Connections the peer (the proxy) closed while they were idle between requests: the
    /// FIN an origin sees when a proxy drops a pooled connection.
    public var connectionsClosedByPeer: Int { lock.lock(); defer { lock.unlock() }; return _peerClosed }

    public init(name: String, host: String = "127.0.0.1", port: UInt16 = 0) throws {
        self.name = name
        guard let address = SocketAddress(ip: host, port: port) else { throw Errno(code: EINVAL, call: "address \(host)") }
        let fd = try Socket.listen(on: address, reusePort: false, backlog: 512)
        // The accept thread blocks in accept(2): make the listener blocking.
        let flags = fcntl(fd.rawValue, F_GETFL)
        _ = fcntl(fd.rawValue, F_SETFL, flags & ~O_NONBLOCK)
        listener = fd
        self.port = try Socket.localAddress(fd).port
    }

    /// Connections accepted so far (keep-alive reuse shows as few connections).
    public var connectionCount: Int { lock.lock(); defer { lock.unlock() }; return _connections }
    /// Request heads received so far, in order.
    public var requestHeads: [String] { lock.lock(); defer { lock.unlock() }; return _requests }
    public var requestCount: Int { lock.lock(); defer { lock.unlock() }; return _requests.count }
    public func resetRecords() { lock.lock(); _requests = []; _rawRequests = []; _connections = 0; _peerClosed = 0; lock.unlock() }

    public func start() {
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "origin-\(name)"
        thread.start()
    }

    public func stop() {
        lock.lock(); stopped = true; lock.unlock()
        Glibc.shutdown(listener.rawValue, Int32(SHUT_RDWR))
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener.rawValue, nil, nil)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                lock.lock(); let done = stopped; lock.unlock()
                if done { listener.close(); return }
                usleep(10_000)
                continue
            }
            lock.lock(); _connections += 1; lock.unlock()
            let thread = Thread { [self] in serve(OriginSocket(fd: client)) }
            thread.stackSize = 256 * 1024
            thread.start()
        }
    }

    private func record(_ head: String, raw: [UInt8]) {
        lock.lock(); _requests.append(head); _rawRequests.append(raw); lock.unlock()
    }

    private func serve(_ socket: OriginSocket) {
        defer { socket.close() }
        var served = 0
        while true {
            socket.transcript = []
            guard let request = socket.readRequest() else {
                if socket.sawEndOfStream && socket.transcript?.isEmpty == true { lock.lock(); _peerClosed += 1; lock.unlock() }
                return
            }
            record(request.head, raw: socket.transcript ?? [])
            served += 1
            if served > 1 && dropsRequestsOnReusedConnections { return }
            socket.answeringHead = request.method == "HEAD"
            let keepAlive = !request.headerValue("connection").lowercased().contains("close") && request.version == "HTTP/1.1"
            let path = request.path
            let generation = request.headerValue("x-switchyard-generation")
            switch true {
            case failing || partialFault():
                socket.respond(status: 503, body: Array("\(name) is failing\n".utf8), keepAlive: keepAlive)
            case path == "/close":
                return
            case path.hasSuffix("/ws"):
                guard request.headerValue("upgrade").lowercased() == "websocket" else {
                    socket.respond(status: 400, body: Array("expected an upgrade\n".utf8), keepAlive: keepAlive)
                    continue
                }
                socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
                socket.echoUntilEOF(prefix: socket.takeBuffered())
                return
            case SingleSignOnPages.page(path: path, cookie: "") != nil:
                let page = SingleSignOnPages.page(path: path, cookie: request.headerValue("cookie")) ?? ""
                socket.respond(status: 200, body: Array(page.utf8), keepAlive: keepAlive, extraHeaders: "Content-Type: text/html\r\n")
            case path == "/browser-form":
                // A page whose script POSTs `n` forms of 200 KB to /answer-early-reset (an
                // application that answers 401 without reading them and closes) and writes
                // what it got into #result, for a headless browser to report.
                let page = """
                    <!doctype html><html><body><pre id="result">running</pre><script>
                    (async () => {
                      const n = \(request.query("n") ?? "20"), body = "f".repeat(200000);
                      let ok = 0, failed = [];
                      for (let i = 0; i < n; i++) {
                        try {
                          const r = await fetch("/answer-early-reset?i=" + i, {method: "POST", body});
                          if (r.status === 401) ok++; else failed.push("status " + r.status);
                        } catch (e) { failed.push(String(e)); }
                      }
                      document.getElementById("result").textContent = "ok=" + ok + " failed=" + failed.length + " " + failed.join("; ");
                    })();
                    </script></body></html>
                    """
                socket.respond(status: 200, body: Array(page.utf8), keepAlive: keepAlive, extraHeaders: "Content-Type: text/html\r\n")
            case path == "/answer-early":
                // Answers from the head alone, then reads and drops the body (nginx's
                // `return 302` with lingering close): the answer is complete before the body.
                socket.respond(status: 302, body: Array("to the login page\n".utf8), keepAlive: false,
                               extraHeaders: "Location: /login\r\n")
                socket.drain(quietMilliseconds: 2_000)
                return
            case path == "/answer-early-reset":
                // Answers from the head alone and closes at once: the unread body makes the
                // kernel reset the connection while the client is still sending it.
                socket.respond(status: 401, body: Array("log in first\n".utf8), keepAlive: false)
                return
            case path == "/echo":
                socket.respond(status: 200, body: request.body, keepAlive: keepAlive)
            case path == "/discard" || path == "/read-later":
                socket.respond(status: 200, body: Array("\(request.bodyLength)\n".utf8), keepAlive: keepAlive)
            case path == "/headers":
                socket.respond(status: 200, body: Array(request.head.utf8), keepAlive: keepAlive)
            case path == "/chunked-ext":
                var text = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n"
                text += keepAlive ? "\r\n" : "Connection: close\r\n\r\n"
                for part in ["first;", "second;", "third"] {
                    text += String(part.utf8.count, radix: 16) + ";ext=\"a b\"\r\n" + part + "\r\n"
                }
                text += "0;last=1\r\nX-Checksum: 1234\r\n\r\n"
                socket.write(text)
            case path == "/hop-by-hop":
                socket.respond(status: 200, body: Array("hop\n".utf8), keepAlive: keepAlive,
                               extraHeaders: "Connection: X-Foo\r\nX-Foo: secret\r\nKeep-Alive: timeout=5\r\n"
                                   + "Trailer: X-Checksum\r\nProxy-Connection: keep-alive\r\nX-Kept: yes\r\n")
            case path == "/early-hints":
                socket.write("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
                socket.respond(status: 200, body: Array("after hints\n".utf8), keepAlive: keepAlive)
            case path == "/chunked":
                var text = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
                text += keepAlive ? "\r\n" : "Connection: close\r\n\r\n"
                for part in ["first;", "second;", "third"] {
                    text += String(part.utf8.count, radix: 16) + "\r\n" + part + "\r\n"
                }
                text += "0\r\n\r\n"
                socket.write(text)
            case path.hasPrefix("/status/"):
                let status = Int(path.dropFirst("/status/".count)) ?? 500
                socket.respond(status: status, body: status == 204 || status == 304 ? [] : Array("status \(status)\n".utf8), keepAlive: keepAlive)
            case path == "/big":
                let count = Int(request.query("bytes") ?? "0") ?? 0
                socket.respondStreaming(status: 200, count: count, keepAlive: keepAlive)
            case path == "/slow":
                usleep(OriginRequest.pauseMicroseconds(request.query("ms"), default: 100))
                socket.respond(status: 200, body: Array("\(name) answered slowly\n".utf8), keepAlive: keepAlive)
            default:
                let suffix = generation.isEmpty ? "" : " (generation \(generation))"
                let body = "\(name) answered \(request.method) \(path)\(suffix)\n"
                socket.respond(status: 200, body: Array(body.utf8), keepAlive: keepAlive,
                               extraHeaders: "X-Origin: \(name)\r\n")
            }
            if !keepAlive { return }
        }
    }
}

/// A TCP echo server: echoes bytes and passes a half-close back (shutdown after EOF).
public final class EchoServer: @unchecked Sendable {
    public let port: UInt16
    private let listener: FileDescriptor
    public private(set) var connections = 0

    public init() throws {
        let fd = try Socket.listen(on: SocketAddress(ip: "127.0.0.1", port: 0)!, reusePort: false)
        let flags = fcntl(fd.rawValue, F_GETFL)
        _ = fcntl(fd.rawValue, F_SETFL, flags & ~O_NONBLOCK)
        listener = fd
        port = try Socket.localAddress(fd).port
    }

    public func start() {
        Thread { [self] in
            while true {
                let client = accept(listener.rawValue, nil, nil)
                if client < 0 { if errno == EINTR { continue }; return }
                connections += 1
                Thread { OriginSocket(fd: client).echoUntilEOF(prefix: []); Glibc.close(client) }.start()
            }
        }.start()
    }

    public func stop() { Glibc.shutdown(listener.rawValue, Int32(SHUT_RDWR)) }
}
