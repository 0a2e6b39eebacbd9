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

    @Test func decimalsAreStringsDigitsForEveryLengthAndNothingWhenTheyDoNotFit() {
        var values: [UInt64] = Array(0...1_000) + [UInt64.max, UInt64.max - 1]
        var power: UInt64 = 10
        for _ in 1...19 {
            values += [power - 1, power, power + 1, power / 10 * 9 + 7]
            if power > UInt64.max / 10 { break }
            power *= 10
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 { values.append(UInt64.random(in: 0...UInt64.max, using: &generator) >> UInt64.random(in: 0...63, using: &generator)) }
        let buffer = IOBuffer(heapCapacity: 64)
        for value in values {
            buffer.clear()
            buffer.append(byte: UInt8(ascii: "<"))
            buffer.append(decimal: value)
            buffer.append(byte: UInt8(ascii: ">"))
            #expect(String(decoding: buffer.readable, as: UTF8.self) == "<\(value)>")
        }
        // Too little room: nothing at all, not the first digits.
        let small = IOBuffer(heapCapacity: 4)
        small.append(decimal: 12_345)
        #expect(small.readableCount == 0)
        small.append(decimal: 1_234)
        #expect(String(decoding: small.readable, as: UTF8.self) == "1234")
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

    /// `ensureWritableCheaply` moves the unread bytes to the front only when they are no
    /// more than the room the move makes: a full buffer read just past its head stays put
    /// (an HTTP/2 stream's adopted body), one mostly consumed is compacted, and the bytes
    /// are the same either way.
    @Test func compactsOnlyWhenTheMoveIsNoLargerThanTheRoomItMakes() {
        let buffer = IOBuffer(heapCapacity: 100)
        let bytes = (0..<100).map { UInt8($0) }
        bytes.withUnsafeBytes { _ = buffer.append($0) }
        buffer.consume(10)   // a head of 10 bytes: 90 unread would move to free 10
        buffer.ensureWritableCheaply(16)
        #expect(buffer.writableCount == 0 && buffer.readableCount == 90, "left full, not moved")
        #expect(Array(buffer.readable) == Array(bytes[10...]))
        buffer.consume(40)   // 50 consumed, 50 unread: the move frees as much as it moves
        buffer.ensureWritableCheaply(16)
        #expect(buffer.writableCount == 50 && Array(buffer.readable) == Array(bytes[50...]))
        buffer.ensureWritableCheaply(16)   // enough room already: nothing moves
        #expect(buffer.writableCount == 50)
    }
}
