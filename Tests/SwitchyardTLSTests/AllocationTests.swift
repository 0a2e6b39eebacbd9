import CSwitchyardMallocCounter
import Testing
import SwitchyardTLS

/// The hot-path rule, counted. The counter interposes the malloc family in this test
/// binary and counts calls made on the thread that opted in.
///
/// Our code allocates nothing per read or write once warm: feeding and taking ciphertext
/// (memory BIOs keep their capacity) count exactly 0. OpenSSL 3.0's record layer itself
/// allocates a few small blocks per record (its `WPACKET` sub-packets: 40-byte `zalloc`s,
/// about 3 per record written and 1 per record read on Debian's 3.0), which no caller can
/// avoid; those are bounded per record here, so a regression on our side still shows.
/// Serialized: the counter is one total over every thread that opted in.
@Suite(.serialized) struct AllocationTests {
    @Test(arguments: [TLSVersion.v1_3, .v1_2])
    func steadyStateAllocatesOnlyInsideOpenSSLRecordLayer(version: TLSVersion) throws {
        let certificates = try TestCertificates.get()
        let pipe = try TLSPipe(try TLSClientContext(caFile: certificates.caFile, maximumVersion: version),
                               try TLSServerContext(defaultCertificate: certificates.server))
        try pipe.handshake()
        let buffers = RoundTripBuffers()
        defer { buffers.deallocate() }
        var counts = OperationCounts()

        for _ in 0..<200 { _ = try buffers.roundTrip(pipe.client, pipe.server, &counts) }  // warm up
        counts = OperationCounts()
        let rounds = 1_000
        var allArrived = true
        for _ in 0..<rounds {
            allArrived = try buffers.roundTrip(pipe.client, pipe.server, &counts) && allArrived
        }
        #expect(allArrived)
        #expect(counts.feed == 0, "feedCiphertext allocated \(counts.feed) times")
        #expect(counts.take == 0, "takeCiphertext allocated \(counts.take) times")
        // Each round trip writes and reads one record each way.
        let records = 2 * rounds
        #expect(counts.write <= 4 * records, "writePlaintext allocated \(counts.write) times for \(records) records")
        #expect(counts.read <= 2 * records, "readPlaintext allocated \(counts.read) times for \(records) records")
    }
}

private struct OperationCounts {
    var write = 0, take = 0, feed = 0, read = 0
}

/// Counts allocations made by `body` on this thread.
private func counting<T>(_ total: inout Int, _ body: () throws -> T) rethrows -> T {
    sy_malloc_counter_enable(1)
    defer { sy_malloc_counter_enable(0) }
    let start = sy_malloc_counter_read()
    defer { total += sy_malloc_counter_read() - start }
    return try body()
}

/// Preallocated buffers and a loop written so that the test itself allocates nothing.
private struct RoundTripBuffers {
    /// Under one record (16 KiB), so each send is exactly one record.
    let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: 6000, alignment: 16)
    let wire = UnsafeMutableRawBufferPointer.allocate(byteCount: 96 * 1024, alignment: 16)
    let plain = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 16)

    init() {
        for index in 0..<payload.count { payload[index] = UInt8(truncatingIfNeeded: index) }
    }

    func deallocate() {
        payload.deallocate()
        wire.deallocate()
        plain.deallocate()
    }

    /// Client → server, then server → client. Returns whether every byte arrived.
    func roundTrip(_ client: TLSSession, _ server: TLSSession, _ counts: inout OperationCounts) throws -> Bool {
        let there = try send(from: client, to: server, &counts)
        let back = try send(from: server, to: client, &counts)
        return there && back
    }

    private func send(from writer: TLSSession, to reader: TLSSession, _ counts: inout OperationCounts) throws -> Bool {
        let written = try counting(&counts.write) { try writer.writePlaintext(UnsafeRawBufferPointer(payload)) }
        var moved = 0
        while true {
            let count = counting(&counts.take) { writer.takeCiphertext(into: wire) }
            if count == 0 { break }
            moved += counting(&counts.feed) { reader.feedCiphertext(UnsafeRawBufferPointer(rebasing: wire[0..<count])) }
        }
        var received = 0
        while case .bytes(let count) = try counting(&counts.read, { try reader.readPlaintext(into: plain) }) {
            received += count
        }
        return written == payload.count && moved > 0 && received == payload.count
    }
}
