import Testing
@testable import SwitchyardProxy

/// `IOBuffer.append` moves short pieces with overlapping loads and stores of its own: every
/// length and alignment must land exactly the bytes asked for, and none beyond them.
@Suite struct IOBufferTests {
    @Test func everyLengthAndOffsetCopiesExactlyItsBytes() {
        let source = UnsafeMutableRawBufferPointer.allocate(byteCount: 128, alignment: 16)
        let target = UnsafeMutableRawBufferPointer.allocate(byteCount: 128, alignment: 16)
        defer { source.deallocate(); target.deallocate() }
        for i in 0..<128 { source[i] = UInt8(truncatingIfNeeded: i &* 37 &+ 11) }
        for count in 0...40 {
            for from in 0..<9 {
                for to in 0..<9 {
                    target.initializeMemory(as: UInt8.self, repeating: 0xEE)
                    IOBuffer.copy(to: target.baseAddress! + to, from: UnsafeRawPointer(source.baseAddress!) + from, count: count)
                    let copied = (0..<count).allSatisfy { target[to + $0] == source[from + $0] }
                    let untouched = (0..<to).allSatisfy { target[$0] == 0xEE } && (to + count..<128).allSatisfy { target[$0] == 0xEE }
                    #expect(copied && untouched, "count \(count) from \(from) to \(to)")
                }
            }
        }
    }

    @Test func appendStopsAtTheCapacity() {
        let buffer = IOBuffer(heapCapacity: 20)
        let text: StaticString = "X-Forwarded-Proto: "
        buffer.append(text)
        #expect(buffer.readableCount == 19)
        let n = buffer.append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        #expect(n == 1 && buffer.readableCount == 20)
        #expect(Array(buffer.readable) == Array("X-Forwarded-Proto: X".utf8))
    }
}
