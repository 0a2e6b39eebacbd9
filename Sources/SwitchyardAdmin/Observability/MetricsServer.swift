import Foundation
import Glibc
import SwitchyardProxy
import SwitchyardRouting
import SwitchyardSystem
import Synchronization

/// The read-only admin HTTP listener (`metrics ADDR:PORT` in the routes file): `/metrics`,
/// `/status.json` and `/`, the cutover page. GET only — changes stay on the audited admin
/// socket. A `Host` that is not this listener's own address is refused (421), so a page on
/// another origin cannot reach it through DNS rebinding; no CORS header is ever sent.
///
/// Off the data plane: its own accept thread and a thread per connection (at most
/// `maxConnections`, one request each), reading what the workers copy out for it.
public final class MetricsServer: @unchecked Sendable {
    /// The bound address (port 0 in the routes file resolved).
    public let address: SocketAddress
    public let history: StatusHistory
    private let listener: FileDescriptor
    private let proxy: Proxy
    private let service: AdminService?
    private let errorLog: ErrorLog
    private let allowedHosts: Set<String>
    private let stopping = Locked(false)
    /// Connections being served: a counter added to on admit and taken from at each end, which
    /// is all an atomic is for (no lock around a single number).
    private let open = Atomic<Int>(0)
    static let maxConnections = 64
    static let timeoutMilliseconds = 5_000

    /// `inherited`: the listening socket an upgrade handed over (the old process still holds
    /// the port until it stops, so binding it again would fail); used when it is bound to
    /// the address the routes file names now, else closed and the address bound anew.
    public init(endpoint: Endpoint, proxy: Proxy, service: AdminService?, history: StatusHistory? = nil,
                errorLog: ErrorLog = .standardError, inherited: FileDescriptor? = nil) throws {
        self.proxy = proxy
        self.service = service
        self.errorLog = errorLog
        self.history = history ?? StatusHistory(proxy: proxy)
        let resolved = try SocketAddress.resolve(host: endpoint.host, port: endpoint.port)
        if let inherited, let bound = try? Socket.localAddress(inherited),
           resolved.port == 0 ? bound.ipString == resolved.ipString : bound.description == resolved.description {
            try? inherited.setNonBlocking()
            listener = inherited
            address = bound
        } else {
            inherited?.close()
            do {
                listener = try Socket.listen(on: resolved, reusePort: false, backlog: 128)
                address = try Socket.localAddress(listener)
            } catch {
                throw AdminError("metrics \(endpoint): \(error)")
            }
        }
        allowedHosts = AdminHTTPRequest.allowedHosts(configured: endpoint.host, port: address.port)
    }

    /// The listening socket, handed to the next process by `upgrade`.
    public var listeningSocket: (name: String, fd: FileDescriptor) { ("\(Self.handOverPrefix)\(address)", listener) }

    /// How `upgrade` names the socket, so that the new process finds it among the others.
    public static let handOverPrefix = "metrics "

    public func start() {
        history.start()
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "switchyard-metrics"
        thread.start()
    }

    /// Stops accepting (the accept thread notices within its poll interval) and sampling.
    public func stop() {
        stopping.withLock { $0 = true }
        history.stop()
    }

    private func acceptLoop() {
        defer { listener.close() }
        var poller = pollfd(fd: listener.rawValue, events: Int16(POLLIN), revents: 0)
        while !stopping.withLock({ $0 }) {
            poller.revents = 0
            guard poll(&poller, 1, 200) > 0 else { continue }
            var peer = SocketAddress(storage: sockaddr_storage(), length: 0)
            guard case .processed(let fd)? = try? Socket.accept(listener, peer: &peer) else {
                usleep(10_000)
                continue
            }
            let admitted = open.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue <= Self.maxConnections
            // Refused, or not made blocking: the place taken is given back (it was not, when
            // `makeBlocking` failed).
            guard admitted, (try? AdminServer.makeBlocking(fd, timeoutMilliseconds: Self.timeoutMilliseconds)) != nil else {
                open.wrappingSubtract(1, ordering: .acquiringAndReleasing)
                fd.close()
                continue
            }
            let thread = Thread { [self] in
                defer {
                    fd.close()
                    open.wrappingSubtract(1, ordering: .acquiringAndReleasing)
                }
                serve(fd)
            }
            thread.start()
        }
    }

    private func serve(_ fd: FileDescriptor) {
        let response: AdminHTTPResponse
        do {
            let request = try AdminHTTPRequest.read(from: fd)
            response = answer(request)
        } catch {
            response = AdminHTTPResponse(status: error.status, body: Data("\(error.message)\n".utf8))
        }
        try? response.write(to: fd)
    }

    func answer(_ request: AdminHTTPRequest) -> AdminHTTPResponse {
        guard let host = request.host, allowedHosts.contains(host.lowercased()) else {
            return AdminHTTPResponse(status: 421, body: Data("421 Misdirected Request: this listener answers to \(allowedHosts.sorted().joined(separator: ", ")) only\n".utf8))
        }
        let known = ["/", "/metrics", "/status.json"]
        guard known.contains(request.path) else {
            return AdminHTTPResponse(status: 404, body: Data("404 Not Found: try /, /metrics or /status.json\n".utf8))
        }
        guard request.method == "GET" else {
            return AdminHTTPResponse(status: 405, body: Data("405 Method Not Allowed: read-only, GET only; changes go through the admin socket\n".utf8),
                                     extraHeaders: "Allow: GET\r\n")
        }
        switch request.path {
        case "/metrics":
            let text = MetricsExposition.render(snapshot: proxy.metricsSnapshot(), table: proxy.table, service: service)
                + HoldMetrics.render(proxy.holdSnapshot())
                + MirrorMetrics.render(proxy.mirrorSnapshot(), table: proxy.table)
                + CompareMetrics.render(service: service, table: proxy.table)
            return AdminHTTPResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: Data(text.utf8))
        case "/status.json":
            return AdminHTTPResponse(status: 200, contentType: "application/json",
                                     body: StatusDocument.render(table: proxy.table, history: history, service: service))
        default:
            return AdminHTTPResponse(status: 200, contentType: "text/html; charset=utf-8", body: Data(CutoverPage.html.utf8),
                                     extraHeaders: CutoverPage.securityHeaders)
        }
    }
}
