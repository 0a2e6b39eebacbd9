import SwitchyardSystem

/// Something registered with an event loop. Called on the loop's thread only.
///
/// A class to subclass, not a protocol: the loop calls a handler through an unretained
/// reference (`Unmanaged._withUnsafeGuaranteedRef` needs a class type), so an event costs
/// no atomic retain and release of its handler. A handler deregistered or replaced while
/// the loop handles a batch of events (a connection that closes itself in its own call)
/// is kept alive until the batch ends (`EventLoop.retired`).
class EventHandler {
    /// epoll reported `events` (a mask of `Epoll.readable`, `.writable`, `.error`, `.hangUp`).
    func eventsReceived(_ events: UInt32) {
        preconditionFailure("\(type(of: self)) does not override eventsReceived")
    }
}

/// Work an event handler asks to run once the current batch of events is handled (an
/// HTTP/2 connection writing out what several of its streams produced in one go). Running
/// it later, not at once, keeps a handler from being re-entered from its own call stack.
protocol DeferredWork: AnyObject {
    func runDeferred()
}

/// Identifies one registration: the slot in the loop's table and the slot's generation at
/// the time. epoll user data carries both, so an event that was queued for an fd which has
/// since been closed and reused is recognised as stale and dropped.
struct RegistrationID: Equatable {
    var slot: UInt32
    var generation: UInt32
    static let none = RegistrationID(slot: .max, generation: 0)
    @inline(__always) var packed: UInt64 { UInt64(generation) << 32 | UInt64(slot) }
}

/// One worker's event loop on epoll. Everything a loop owns (registrations, connections,
/// buffers, pools) is protected by being touched only on the loop's thread; the only
/// thread-safe entry points are `execute` and `wakeUp`, flagged below.
final class EventLoop: @unchecked Sendable {
    private let epoll: Epoll
    private let wakeup: EventFD
    private let timer: TimerFD
    /// The handlers, owned; `calls` holds the same ones unretained, for the call per event.
    private var handlers: [EventHandler?] = []
    private var calls: [Unmanaged<EventHandler>?] = []
    /// Handlers deregistered or replaced since the batch of events began: the one being
    /// called may be among them and must outlive its call. Released when the batch ends.
    private var retired: [EventHandler] = []
    private var generations: [UInt32] = []
    private var freeSlots: [UInt32] = []
    private var interests: [UInt32] = []
    /// Per slot: registered edge-triggered (see `register`).
    private var edges: [Bool] = []
    private var fds: [Int32] = []
    /// Edge-triggered registrations whose last read filled what it asked for: more may be
    /// queued, and no new edge will say so. Each gets one more readable event after the
    /// current batch (see `readAgain`).
    private var again: [RegistrationID] = []
    private var againSpare: [RegistrationID] = []

    /// Cross-thread work, the one piece of state behind a lock (never touched per request).
    private let pending = Locked<[@Sendable () -> Void]>({
        var queue: [@Sendable () -> Void] = []
        queue.reserveCapacity(64)
        return queue
    }())
    private var running = false
    private(set) var thread: UInt = 0
    private var deferredWork: [DeferredWork] = []
    /// The registration slot whose event is being handled: one handler serves many
    /// registrations (the worker's `IdleTable`) and reads which one here.
    private(set) var eventSlot: UInt32 = 0

    /// Where TLS connections of this loop read ciphertext before handing it to their
    /// session (the session copies it, so one scratch serves every connection).
    let cipherScratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 16)

    /// Called on every tick (`tickMilliseconds`) on the loop's thread: timeouts, log flushes.
    var onTick: ((UInt64) -> Void)?
    let tickMilliseconds: Int

    init(tickMilliseconds: Int = 100) throws(Errno) {
        let now = Clock.monotonicNanoseconds()
        nowNanoseconds = now
        nowMilliseconds = now / 1_000_000
        epoll = try Epoll(capacity: 512)
        wakeup = try EventFD()
        timer = try TimerFD(intervalMilliseconds: tickMilliseconds)
        self.tickMilliseconds = tickMilliseconds
        spare.reserveCapacity(64)
        deferredWork.reserveCapacity(64)
        handlers.reserveCapacity(1024)
        calls.reserveCapacity(1024)
        retired.reserveCapacity(64)
        generations.reserveCapacity(1024)
        interests.reserveCapacity(1024)
        edges.reserveCapacity(1024)
        again.reserveCapacity(64)
        againSpare.reserveCapacity(64)
        fds.reserveCapacity(1024)
        freeSlots.reserveCapacity(1024)
        try epoll.add(wakeup.fd, events: Epoll.readable, data: Self.wakeupData)
        try epoll.add(timer.fd, events: Epoll.readable, data: Self.timerData)
    }

    deinit {
        wakeup.fd.close()
        timer.fd.close()
    }

    private static let wakeupData: UInt64 = .max
    private static let timerData: UInt64 = .max - 1

    // MARK: registrations (loop thread)

    /// Adds `fd` for `events`. `edgeTriggered` registrations (`EPOLLET`) are reported once
    /// per change of readiness, not at every `epoll_wait` while ready: epoll then polls the
    /// socket once per report instead of twice (level-triggered entries go back on the
    /// ready list and are polled again at the next wait to find them drained). Their
    /// handler must read until a read comes back short, and says so with `readAgain` when
    /// a read filled what it asked for; `EPOLLRDHUP` comes with every readable interest,
    /// so an end that arrived with the last bytes is seen in the same report.
    func register(_ fd: FileDescriptor, _ handler: EventHandler, events: UInt32, edgeTriggered: Bool = false) throws(Errno) -> RegistrationID {
        let slot: UInt32
        if let reused = freeSlots.popLast() {
            slot = reused
        } else {
            slot = UInt32(handlers.count)
            handlers.append(nil)
            calls.append(nil)
            generations.append(0)
            interests.append(0)
            edges.append(false)
            fds.append(-1)
        }
        generations[Int(slot)] &+= 1
        let id = RegistrationID(slot: slot, generation: generations[Int(slot)])
        edges[Int(slot)] = edgeTriggered
        do {
            try epoll.add(fd, events: Self.mask(events, edge: edgeTriggered), data: id.packed)
        } catch {
            freeSlots.append(slot)
            throw error
        }
        handlers[Int(slot)] = handler
        calls[Int(slot)] = Unmanaged.passUnretained(handler)
        interests[Int(slot)] = events
        fds[Int(slot)] = fd.rawValue
        return id
    }

    /// Changes the events a registration waits for; a no-op (no syscall) when unchanged.
    @inline(__always)
    func setInterest(_ id: RegistrationID, _ events: UInt32) {
        let slot = Int(id.slot)
        precondition(generations[slot] == id.generation, "stale registration")
        guard interests[slot] != events, interests[slot] != Self.muted else { return }
        interests[slot] = events
        // EPOLL_CTL_MOD on a live registration fails only on our bugs (EBADF/ENOENT).
        try? epoll.modify(FileDescriptor(rawValue: fds[slot]), events: Self.mask(events, edge: edges[slot]), data: id.packed)
    }

    /// What epoll is given for an interest: edge-triggered registrations keep `EPOLLET` in
    /// every mask (an `EPOLL_CTL_MOD` without it would make them level-triggered), and read
    /// with `EPOLLRDHUP`.
    @inline(__always)
    private static func mask(_ events: UInt32, edge: Bool) -> UInt32 {
        guard edge else { return events }
        return events & Epoll.readable != 0 ? events | Epoll.edgeTriggered | Epoll.readHangUp : events | Epoll.edgeTriggered
    }

    /// The bit a `readAgain` event carries besides `Epoll.readable`: no socket event, so
    /// there may be nothing to read (a handler that closes on any event, an idle pooled
    /// connection, looks first).
    static let again = Epoll.edgeTriggered

    /// An edge-triggered registration's read filled what it asked for, or saw the peer's
    /// end coming: its handler gets `Epoll.readable | EventLoop.again` once the current
    /// batch is handled, as level-triggered epoll would have reported it again, unless it
    /// no longer waits to read then (when it does again, `EPOLL_CTL_MOD` reports a socket
    /// that is still readable). A no-op for level-triggered registrations.
    func readAgain(_ id: RegistrationID) {
        let slot = Int(id.slot)
        // A registration already gone owes nothing (and delivery checks again).
        guard slot < edges.count, generations[slot] == id.generation, edges[slot] else { return }
        again.append(id)
    }

    /// Hands a live registration to another handler (a connection going idle or waking up):
    /// the fd, its interests and the epoll entry stay as they are, so no syscall. An event
    /// still queued in this batch goes to the new handler.
    func replaceHandler(_ id: RegistrationID, with handler: EventHandler) {
        let slot = Int(id.slot)
        precondition(generations[slot] == id.generation && handlers[slot] != nil, "stale registration")
        retired.append(handlers[slot].unsafelyUnwrapped)
        handlers[slot] = handler
        calls[slot] = Unmanaged.passUnretained(handler)
    }

    /// Stops all events for a registration while keeping it (epoll reports hang-up and
    /// error whatever the interest mask, so a side that has ended must leave epoll, or a
    /// level-triggered loop spins on it). `setInterest` is a no-op afterwards.
    func mute(_ id: RegistrationID) {
        let slot = Int(id.slot)
        guard slot < handlers.count, generations[slot] == id.generation, interests[slot] != Self.muted else { return }
        epoll.remove(FileDescriptor(rawValue: fds[slot]))
        interests[slot] = Self.muted
    }

    private static let muted = UInt32.max

    /// Removes the registration; the caller closes the fd afterwards.
    func deregister(_ id: RegistrationID) {
        let slot = Int(id.slot)
        guard slot < handlers.count, generations[slot] == id.generation, handlers[slot] != nil else { return }
        epoll.remove(FileDescriptor(rawValue: fds[slot]))
        retired.append(handlers[slot].unsafelyUnwrapped)
        handlers[slot] = nil
        calls[slot] = nil
        fds[slot] = -1
        edges[slot] = false
        generations[slot] &+= 1   // any event still queued for this slot is now stale
        freeSlots.append(UInt32(slot))
    }

    var registrationCount: Int { handlers.count - freeSlots.count }

    // MARK: cross-thread (any thread)

    /// Runs `task` on the loop's thread soon. Safe from any thread.
    func execute(_ task: @escaping @Sendable () -> Void) {
        pending.withLock { $0.append(task) }
        wakeup.signal()
    }

    /// Wakes the loop without work (used after `stop`). Safe from any thread.
    func wakeUp() { wakeup.signal() }

    // MARK: running (loop thread)

    private var stopRequested = false
    func stop() { execute { [unowned self] in self.stopRequested = true } }

    /// The monotonic clock, read once per batch of events (when epoll_wait returns).
    /// Deadlines on the request path are set from it, and a request's timings (start, time
    /// to connect, to the first byte of the answer, to its end) are taken from it: a clock
    /// read is a vDSO call, ~20 ns here (the `rdtsc` inside it is slow under a hypervisor),
    /// and one read per batch replaces four to six per request. What a timing means then:
    /// from the batch in which the loop woke for the request to the batch in which it
    /// handled the answer — waiting behind the batch's other work is counted, as the client
    /// waited too. Its error is at most one batch's length, far below the 100 ms tick that
    /// checks the deadlines and the milliseconds that latency windows and guards compare.
    private(set) var nowNanoseconds: UInt64
    /// `nowNanoseconds` in milliseconds, divided once per batch.
    private(set) var nowMilliseconds: UInt64
    /// The wall clock minus the monotonic one, in milliseconds, read on each 100 ms tick:
    /// `wallSeconds` follows the batch clock without a clock read of its own, and a step of
    /// the wall clock shows within a tick.
    private var wallOffsetMilliseconds = EventLoop.wallOffset()
    /// The wall clock in whole seconds at this batch of events: what the inventory stamps
    /// its rows with ("last seen"), without a clock read per request.
    var wallSeconds: UInt64 {
        UInt64(clamping: Int64(clamping: nowMilliseconds) &+ wallOffsetMilliseconds) / 1000
    }

    private static func wallOffset() -> Int64 {
        Int64(clamping: Clock.wallMicroseconds() / 1000) &- Int64(clamping: Clock.monotonicMilliseconds())
    }

    func run() {
        thread = currentThreadID()
        running = true
        while !stopRequested {
            let count: Int
            // Reads owed to edge-triggered registrations are taken after a look at what else
            // is ready, not before: a connection with a lot queued gets one read per batch,
            // as under level-triggered epoll, and does not starve the others.
            do { count = try epoll.wait(timeoutMilliseconds: again.isEmpty ? -1 : 0) } catch { continue }
            nowNanoseconds = Clock.monotonicNanoseconds()
            nowMilliseconds = nowNanoseconds / 1_000_000
            for index in 0..<count {
                let event = epoll.event(at: index)
                if event.data == Self.wakeupData {
                    wakeup.drain()
                    runPending()
                } else if event.data == Self.timerData {
                    _ = timer.drain()
                    // The two clocks drift apart by milliseconds: an offset a little below
                    // the last one is that drift, and taking it could step `wallSeconds`
                    // back across a second (a row's "last seen" before its "first seen").
                    // A step of a second or more is the wall clock set: follow it.
                    let offset = Self.wallOffset()
                    if offset > wallOffsetMilliseconds || wallOffsetMilliseconds &- offset >= 1000 {
                        wallOffsetMilliseconds = offset
                    }
                    onTick?(nowMilliseconds)
                } else {
                    let slot = Int(truncatingIfNeeded: event.data & 0xFFFF_FFFF)
                    let generation = UInt32(truncatingIfNeeded: event.data >> 32)
                    // A handler closed earlier in this batch may have freed (and even
                    // reused) the slot: the generation tells.
                    guard slot < calls.count, generations[slot] == generation, let handler = calls[slot] else { continue }
                    eventSlot = UInt32(truncatingIfNeeded: slot)
                    // Unretained: `handlers` owns it, and `retired` once it leaves the table.
                    handler._withUnsafeGuaranteedRef { $0.eventsReceived(event.bits) }
                }
            }
            if !again.isEmpty { readAgainOwed() }
            runDeferredWork()
            releaseRetired()
        }
        running = false
    }

    /// Delivers the events `readAgain` queued (those queued meanwhile wait for the next
    /// batch) to the registrations still alive and still waiting to read.
    private func readAgainOwed() {
        swap(&again, &againSpare)
        var i = 0
        while i < againSpare.count {
            let id = againSpare[i]
            i += 1
            let slot = Int(id.slot)
            guard generations[slot] == id.generation, let handler = calls[slot],
                  interests[slot] != Self.muted, interests[slot] & Epoll.readable != 0 else { continue }
            eventSlot = id.slot
            handler._withUnsafeGuaranteedRef { $0.eventsReceived(Epoll.readable | Self.again) }
        }
        againSpare.removeAll(keepingCapacity: true)
    }

    /// Keeps `handler`, which its last owner is letting go of, alive until the current batch
    /// ends, as a deregistered one is: a call may still be running in it, reached through
    /// an unretained reference (an HTTP/2 stream's exchange driver that closed in its own
    /// upstream event and is not kept as a spare).
    func retire(_ handler: EventHandler) {
        retired.append(handler)
    }

    /// Frees the handlers deregistered or replaced since the last call. Only where no
    /// handler's call is on the stack: the end of a batch, and after the worker's `closeAll`
    /// at shutdown, which deregisters everything once `run` has returned (left in the list,
    /// those connections would keep their worker alive through their strong `worker`
    /// references).
    func releaseRetired() {
        if !retired.isEmpty { retired.removeAll(keepingCapacity: true) }
    }

    /// Queues `work` to run after the current batch of events (loop thread).
    func runAfterEvents(_ work: DeferredWork) {
        deferredWork.append(work)
    }

    /// Work queued while running deferred work runs in the same pass.
    private func runDeferredWork() {
        var i = 0
        while i < deferredWork.count {
            deferredWork[i].runDeferred()
            i += 1
        }
        deferredWork.removeAll(keepingCapacity: true)
    }

    /// The queue is swapped with a spare of the same capacity, so taking the tasks neither
    /// allocates nor runs them under the lock.
    private var spare: [@Sendable () -> Void] = []

    private func runPending() {
        pending.withLock { swap(&$0, &spare) }
        var i = 0
        while i < spare.count {
            spare[i]()
            i += 1
        }
        spare.removeAll(keepingCapacity: true)
    }

    @inline(__always) func assertInEventLoop() {
        assert(!running || thread == currentThreadID(), "not on the event loop's thread")
    }
}

import Glibc
@inline(__always) func currentThreadID() -> UInt { UInt(pthread_self()) }
