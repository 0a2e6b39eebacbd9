import CSwitchyardMallocCounter
import Foundation
import Testing
import SwitchyardTLS

/// OpenSSL's heap (`TLSHeap`): on a thread with a cache of its own, as every worker's is,
/// handshakes take the blocks the previous ones freed instead of calling malloc; blocks
/// may be freed and grown on any other thread. Serialized: the malloc counter is one total
/// over every thread that opted in.
@Suite(.serialized) struct TLSHeapTests {
    @Test func openSSLAllocatesThroughTheHeapOutsideSanitizerBuilds() {
        #expect(TLSHeap.isInstalled == (sy_sanitized() == 0))
    }

    /// Counted with the test binary's malloc counter: 5 handshakes (both ends in this
    /// process) after 2 to warm up, on a thread without a cache and on one with.
    @Test(.enabled(if: TLSHeap.isInstalled && sy_malloc_counter_active() != 0))
    func handshakesOnAThreadWithItsCacheReuseFreedBlocks() throws {
        let without = try onNewThread(attached: false) { try handshakeMallocs() }
        let with = try onNewThread(attached: true) { () -> (Int, Int, Int) in
            let counted = try handshakeMallocs()
            let cached = TLSHeap.cachedBlocksOnCurrentThread
            _ = TLSHeap.trimCurrentThread()
            _ = TLSHeap.trimCurrentThread()   // nothing allocated since the last: all of it
            return (counted, cached, TLSHeap.cachedBlocksOnCurrentThread)
        }
        #expect(without > 1_000, "a handshake pair without the cache calls malloc about 2,000 times: \(without)")
        #expect(with.0 * 10 < without, "with the cache: \(with.0) mallocs, without: \(without)")
        #expect(with.1 > 100, "freed blocks wait on the thread's lists: \(with.1)")
        #expect(with.2 == 0, "two trims without an allocation between them give every block back: \(with.2)")
    }

    /// A session made and completed on a thread with a cache goes on working on a thread
    /// without one: its blocks are freed and grown there (through malloc).
    @Test func aSessionFromAWorkersThreadWorksAndIsFreedElsewhere() throws {
        let pipe = try onNewThread(attached: true) { () -> TLSPipe in
            let certificates = try TestCertificates.get()
            let pipe = try TLSPipe(try TLSClientContext(caFile: certificates.caFile),
                                   try TLSServerContext(defaultCertificate: certificates.server))
            try pipe.handshake()
            return pipe
        }
        let message = Array(repeating: UInt8(ascii: "x"), count: 40_000)
        #expect(try pipe.send(message, from: .client) == message)
        #expect(try pipe.send(Array("pong".utf8), from: .server) == Array("pong".utf8))
    }
}

/// Mallocs of 5 handshakes on this thread, after 2 not counted.
private func handshakeMallocs() throws -> Int {
    let certificates = try TestCertificates.get()
    let server = try TLSServerContext(defaultCertificate: certificates.server)
    let client = try TLSClientContext(caFile: certificates.caFile)
    for _ in 0..<2 { try TLSPipe(client, server).handshake() }
    sy_malloc_counter_enable(1)
    defer { sy_malloc_counter_enable(0) }
    let start = sy_malloc_counter_read()
    for _ in 0..<5 { try TLSPipe(client, server).handshake() }
    return sy_malloc_counter_read() - start
}

/// Runs `body` on a thread of its own, with or without a heap cache, and waits for it.
private func onNewThread<T>(attached: Bool, _ body: @escaping () throws -> T) throws -> T {
    let box = ThreadBox(body)
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        if attached { TLSHeap.attachToCurrentThread() }
        box.result = Result { try box.body() }
        if attached { TLSHeap.detachFromCurrentThread() }
        done.signal()
    }
    thread.start()
    done.wait()
    return try box.result!.get()
}

/// The body and its result, handed between the test's thread and the new one (one at a
/// time: the semaphore orders them).
private final class ThreadBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
    let body: () throws -> T
    init(_ body: @escaping () throws -> T) { self.body = body }
}
