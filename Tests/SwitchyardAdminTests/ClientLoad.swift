import Foundation
import Synchronization
import SwitchyardTestSupport

/// Keep-alive clients sending requests from their own threads until `stop`, for the
/// under-load tests: each thread calls `request(worker, n, client)` in a loop with the
/// request number `n` (from 1). A nil client (the connection could not be opened) or a
/// `false` answer (the exchange failed) opens a fresh connection for the next request, as
/// does `reconnectEvery(worker, n)`.
final class ClientLoad: Sendable {
    private let running = Atomic<Bool>(true)
    private let group = DispatchGroup()

    init(clients: Int, port: UInt16, reconnectEvery: @escaping @Sendable (_ worker: Int, _ n: Int) -> Bool = { _, _ in false },
         request: @escaping @Sendable (_ worker: Int, _ n: Int, _ client: TestClient?) -> Bool) {
        for worker in 0..<clients {
            group.enter()
            Thread { [self] in
                defer { group.leave() }
                var client = try? TestClient(port: port)
                var n = 0
                while running.load(ordering: .relaxed) {
                    n += 1
                    if reconnectEvery(worker, n) { client = try? TestClient(port: port) }
                    if !request(worker, n, client) { client = try? TestClient(port: port) }
                }
            }.start()
        }
    }

    /// Stops every client after its current request and waits for them (at most `seconds`:
    /// a client stuck past that fails the test).
    func stop(seconds: Double = 30) throws {
        running.store(false, ordering: .relaxed)
        try group.wait(seconds: seconds, for: "the load's client threads to stop")
    }
}
