import Glibc

/// A fixed-size byte buffer with a read and a write index, taken from a worker's pool.
/// Bytes in `readable` are waiting to be consumed; `writable` is free space after them.
/// Confined to its worker's thread.
final class IOBuffer {
    let base: UnsafeMutableRawPointer
    let capacity: Int
    private(set) var readerIndex = 0
    private(set) var writerIndex = 0

    /// Each buffer is its own anonymous mapping, so freeing one really returns its pages to
    /// the kernel (malloc would keep 64 KiB blocks in its heap) and an untouched tail costs
    /// nothing.
    init(capacity: Int) {
        self.capacity = capacity
        let mapped = mmap(nil, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        precondition(mapped != MAP_FAILED && mapped != nil, "out of memory for an I/O buffer")
        base = mapped!
        isMapped = true
    }

    /// A small buffer from the heap (`BufferPool.takeSmall`): a page of its own would be
    /// most of a waiting head's cost.
    init(heapCapacity: Int) {
        capacity = heapCapacity
        base = .allocate(byteCount: heapCapacity, alignment: 16)
        isMapped = false
    }

    private let isMapped: Bool

    deinit {
        if isMapped { munmap(base, capacity) } else { base.deallocate() }
    }

    /// Moves this buffer's unread bytes into `bigger` (empty, larger), for a head that
    /// outgrew a small buffer.
    func move(into bigger: IOBuffer) {
        precondition(bigger.isEmpty && bigger.capacity >= readableCount, "moving into a smaller or used buffer")
        bigger.append(readable)
        clear()
    }

    @inline(__always) var readableCount: Int { writerIndex - readerIndex }
    @inline(__always) var isEmpty: Bool { writerIndex == readerIndex }
    @inline(__always) var writableCount: Int { capacity - writerIndex }

    @inline(__always) var readable: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + readerIndex, count: writerIndex - readerIndex)
    }

    /// Free space; compacts first when the tail is short and there is room at the front.
    @inline(__always) var writable: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: base + writerIndex, count: capacity - writerIndex)
    }

    @inline(__always) func consume(_ n: Int) {
        precondition(n <= readableCount)
        readerIndex += n
        if readerIndex == writerIndex { readerIndex = 0; writerIndex = 0 }
    }

    @inline(__always) func commit(_ n: Int) {
        precondition(n <= writableCount)
        writerIndex += n
    }

    /// Moves unread bytes to the front (or `front` bytes after it) so that `writable` is as
    /// large as it can be.
    func compact(keepingFront front: Int = 0) {
        guard readerIndex > front else { return }
        let n = readableCount
        if n > 0 { (base + front).copyMemory(from: base + readerIndex, byteCount: n) }
        readerIndex = front
        writerIndex = front + n
    }

    /// Starts an empty buffer `front` bytes in, leaving them free for bytes to be written
    /// in front of what comes (an HTTP/2 DATA frame's header, `H2Stream.bodyHeadroom`).
    func reserveFront(_ front: Int) {
        precondition(isEmpty && front <= capacity, "front room is reserved only in an empty buffer")
        readerIndex = front
        writerIndex = front
    }

    /// Compacts when less than `wanted` bytes are free at the end.
    @inline(__always) func ensureWritable(_ wanted: Int) {
        if writableCount < wanted { compact() }
    }

    /// Compacts when less than `wanted` bytes are free at the end and the bytes to move are
    /// no more than the room it makes at the front. A full buffer whose unread bytes start
    /// just past a consumed head (an upstream read adopted as an HTTP/2 stream's body) is
    /// left as it is: it empties as its frames leave, and is then reused from the front
    /// without moving 64 KiB by a few hundred bytes.
    /// `front`: bytes kept free before the unread ones when they move (`compact`).
    @inline(__always) func ensureWritableCheaply(_ wanted: Int, keepingFront front: Int = 0) {
        if writableCount < wanted && readableCount <= readerIndex - front { compact(keepingFront: front) }
    }

    /// Writes `bytes` into the consumed space just before the unread ones, which they then
    /// precede (`bytes.count` must be at most `readerIndex`).
    func prepend(_ bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count <= readerIndex, "no room in front for the bytes prepended")
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        readerIndex -= bytes.count
        (base + readerIndex).copyMemory(from: source, byteCount: bytes.count)
    }

    /// Drops written bytes from the end, keeping the first `count` unread ones (a head that
    /// did not fit, taken back whole).
    func truncate(toReadable count: Int) {
        precondition(count <= readableCount)
        writerIndex = readerIndex + count
        if readerIndex == writerIndex { readerIndex = 0; writerIndex = 0 }
    }

    /// Consumes without recycling the space, so the bytes can be replayed with `restore`.
    @inline(__always) func consumeKeeping(_ n: Int) {
        precondition(n <= readableCount)
        readerIndex += n
    }

    /// Makes the first `count` bytes readable again (a request head replayed on a fresh
    /// upstream connection). Valid only while nothing was appended since they were written.
    func restore(count: Int) {
        precondition(count <= capacity)
        readerIndex = 0
        writerIndex = count
    }

    /// Gives up a replay: recycles the space if everything was consumed.
    func dropKept() {
        if readerIndex == writerIndex { readerIndex = 0; writerIndex = 0 }
    }

    func clear() { readerIndex = 0; writerIndex = 0 }

    /// Appends as much of `bytes` as fits; returns how many were appended.
    @inline(__always) @discardableResult
    func append(_ bytes: UnsafeRawBufferPointer) -> Int {
        let n = min(bytes.count, writableCount)
        if n > 0 { Self.copy(to: base + writerIndex, from: bytes.baseAddress!, count: n) }
        writerIndex += n
        return n
    }

    /// A head is written as dozens of pieces of a few bytes (names, ": ", values, CRLF):
    /// up to 32 bytes are moved with overlapping 8-byte loads and stores in line; a call to
    /// memmove for each was 4 % of an HTTP/2 request's instructions (callgrind, 27 calls
    /// from `HeadWriter.writeRequestHead` alone). Longer runs go to memmove.
    @inline(__always)
    static func copy(to destination: UnsafeMutableRawPointer, from source: UnsafeRawPointer, count n: Int) {
        switch n {
        case 8...16:
            copyEnds(to: destination, from: source, count: n, as: UInt64.self)
        case 17...32:
            let a = source.loadUnaligned(as: UInt64.self)
            let b = source.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
            let c = source.loadUnaligned(fromByteOffset: n - 16, as: UInt64.self)
            let d = source.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
            destination.storeBytes(of: a, as: UInt64.self)
            destination.storeBytes(of: b, toByteOffset: 8, as: UInt64.self)
            destination.storeBytes(of: c, toByteOffset: n - 16, as: UInt64.self)
            destination.storeBytes(of: d, toByteOffset: n - 8, as: UInt64.self)
        case 4...7:
            copyEnds(to: destination, from: source, count: n, as: UInt32.self)
        case 1...3:
            var i = 0
            while i < n {
                destination.storeBytes(of: source.load(fromByteOffset: i, as: UInt8.self), toByteOffset: i, as: UInt8.self)
                i += 1
            }
        default:
            destination.copyMemory(from: source, byteCount: n)
        }
    }

    /// `n` bytes (one to two `Word`s) as the word at the start and the word at the end,
    /// overlapping in the middle; both loaded before either is stored.
    @inline(__always)
    private static func copyEnds<Word: FixedWidthInteger>(to destination: UnsafeMutableRawPointer, from source: UnsafeRawPointer,
                                                          count n: Int, as _: Word.Type) {
        let tailOffset = n - MemoryLayout<Word>.size
        let head = source.loadUnaligned(as: Word.self)
        let tail = source.loadUnaligned(fromByteOffset: tailOffset, as: Word.self)
        destination.storeBytes(of: head, as: Word.self)
        destination.storeBytes(of: tail, toByteOffset: tailOffset, as: Word.self)
    }

    @inline(__always) func append(_ string: StaticString) {
        append(UnsafeRawBufferPointer(start: string.utf8Start, count: string.utf8CodeUnitCount))
    }

    @inline(__always) func append(byte: UInt8) {
        guard writerIndex < capacity else { return }
        base.storeBytes(of: byte, toByteOffset: writerIndex, as: UInt8.self)
        writerIndex += 1
    }

    /// Appends a decimal number without allocating (nothing when it does not fit). Two
    /// digits a step from a table of pairs: the access log writes nine numbers a line, and
    /// a digit a step was a quarter of the line's cost.
    func append(decimal value: UInt64) {
        var count = 1
        var power: UInt64 = 10
        while count < 20 && value >= power {
            count &+= 1
            power &*= 10
        }
        guard writableCount >= count else { return }
        let pairs = Self.digitPairs.utf8Start
        var v = value
        var i = writerIndex &+ count
        while v >= 100 {
            let pair = Int(truncatingIfNeeded: v % 100) &* 2
            v /= 100
            i &-= 2
            base.storeBytes(of: pairs[pair], toByteOffset: i, as: UInt8.self)
            base.storeBytes(of: pairs[pair &+ 1], toByteOffset: i &+ 1, as: UInt8.self)
        }
        if v >= 10 {
            let pair = Int(truncatingIfNeeded: v) &* 2
            base.storeBytes(of: pairs[pair], toByteOffset: writerIndex, as: UInt8.self)
            base.storeBytes(of: pairs[pair &+ 1], toByteOffset: writerIndex &+ 1, as: UInt8.self)
        } else {
            base.storeBytes(of: UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: v), toByteOffset: writerIndex, as: UInt8.self)
        }
        writerIndex &+= count
    }

    /// "00", "01", … "99" end to end.
    private static let digitPairs: StaticString = """
        00010203040506070809101112131415161718192021222324252627282930313233343536373839\
        40414243444546474849505152535455565758596061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899
        """

    /// Appends `value` as lower-case hex, `width` digits (zero-padded).
    func append(hex value: UInt64, width: Int) {
        guard writableCount >= width else { return }
        let digits: StaticString = "0123456789abcdef"
        for k in 0..<width {
            let nibble = Int((value >> UInt64(4 * (width - 1 - k))) & 0xF)
            base.storeBytes(of: digits.utf8Start[nibble], toByteOffset: writerIndex + k, as: UInt8.self)
        }
        writerIndex += width
    }
}

/// Buffers recycled per worker, so steady-state traffic allocates none.
///
/// Lifetime rule the hot path leans on: a connection's or a stream's buffer is never freed
/// while an event is handled. Every buffer a `DownstreamConnection` or an `H2Stream` drops
/// from its fields comes back here (`give`; `releaseBuffer`), and the pool frees idle ones
/// only in `trim`, on the loop's tick — which runs between handler calls, never inside one.
/// So those fields may be used through unretained references
/// (`DownstreamConnection.fromClientRef`, `H2Stream.copyResponseBody`,
/// `H2Stream.sendResponseBodyInPlace`) for the rest of a
/// call, even past a call that gives the buffer back: no atomic retain and release per use.
/// (Using a buffer after giving it back would still be a logic error; the rule only keeps
/// its memory valid.) Buffers held elsewhere (the mirror's) are not borrowed so.
final class BufferPool {
    let bufferSize: Int
    private let free: ObjectStack<IOBuffer>

    init(bufferSize: Int, preallocate: Int) {
        self.bufferSize = bufferSize
        free = ObjectStack(capacity: max(preallocate, 64))
        for _ in 0..<preallocate { free.push(IOBuffer(capacity: bufferSize)) }
    }

    /// Buffers handed out and not given back, and the most there were since `resetPeak`:
    /// what bounds a connection's memory, checked by tests (plain counters: one thread).
    private(set) var outstanding = 0
    private(set) var peakOutstanding = 0

    @inline(__always) func take() -> IOBuffer {
        outstanding += 1
        if outstanding > peakOutstanding { peakOutstanding = outstanding }
        if let buffer = free.pop() { return buffer }
        return IOBuffer(capacity: bufferSize)
    }

    /// `consuming`: the caller's reference moves into the pool (see `ObjectStack.push`).
    @inline(__always) func give(_ buffer: consuming IOBuffer) {
        if buffer.capacity != bufferSize {
            giveSmall(buffer)
            return
        }
        outstanding -= 1
        buffer.clear()
        free.push(buffer)
    }

    /// Small buffers, for a client's request head until it proves larger than one (or
    /// completes): a connection trickling its head (slowloris) holds 2 KiB of heap, not a
    /// page of its own. `give` takes them back too (it tells them apart by capacity).
    static let smallSize = 2048
    private let smallFree = ObjectStack<IOBuffer>(capacity: 64)
    /// Small buffers handed out and not given back (tests read it).
    private(set) var smallOutstanding = 0

    @inline(__always) func takeSmall() -> IOBuffer {
        guard bufferSize > Self.smallSize else { return take() }
        smallOutstanding += 1
        if let buffer = smallFree.pop() { return buffer }
        return IOBuffer(heapCapacity: Self.smallSize)
    }

    private func giveSmall(_ buffer: consuming IOBuffer) {
        precondition(buffer.capacity == Self.smallSize, "a buffer of \(buffer.capacity) bytes came back to a pool of \(bufferSize)")
        smallOutstanding -= 1
        buffer.clear()
        smallFree.push(buffer)
    }

    func resetPeak() { peakOutstanding = outstanding }

    /// Idle buffers kept for the next burst; beyond that, `trim` returns them to the kernel.
    static let keepIdle = 64

    /// Ticks an idle buffer must stay unused before `trim` may release it: a second at
    /// the loop's 100 ms tick.
    static let trimWindowTicks = 10

    /// Called on the loop's tick: gives back to the kernel, gradually, the idle buffers
    /// beyond `keepIdle` that no exchange needed for a whole window (see
    /// `ObjectStack.releaseUnused`).
    /// The number of heap buffers released (mapped ones unmap by themselves).
    @discardableResult
    func trim() -> Int {
        free.releaseUnused(keeping: Self.keepIdle, windowTicks: Self.trimWindowTicks)
        return smallFree.releaseUnused(keeping: Self.keepIdle, windowTicks: Self.trimWindowTicks)
    }

    var idleCount: Int { free.count }
}
