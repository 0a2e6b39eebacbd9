import Foundation
import Glibc
import SwitchyardSystem

/// `switchyard upgrade [--binary PATH]` and SIGUSR2, on the old process's side: start the
/// new binary with this process's own arguments; hand it every listening socket over the
/// admin socket when it asks (`takeover`, SCM_RIGHTS), with changes frozen so that it loads
/// the very state this process serves; once it says `ready`, name it systemd's main process
/// (`MAINPID=`), record the upgrade in the audit log, and stop: stop accepting and drain.
/// Until `ready`, nothing changed here: a new process that fails, hangs or dies leaves this
/// one serving, with changes allowed again.
public final class Upgrade: Sendable {
    enum Phase: Sendable, Equatable, CustomStringConvertible {
        case idle
        /// `upgrade` started this pid and waits for it.
        case started(pid: Int32)
        /// This pid has the sockets and is getting ready.
        case handingOver(pid: Int32)
        /// This pid is the service now and moves its admin socket into place (`in-place`).
        case movingIn(pid: Int32)
        /// This pid is the service now; we drain.
        case handedOver(pid: Int32)

        var description: String {
            switch self {
            case .idle: return "none"
            case .started(let pid): return pid == 0 ? "a new process is starting" : "new process pid \(pid) is starting"
            case .handingOver(let pid): return "pid \(pid) is taking the sockets over"
            case .movingIn(let pid), .handedOver(let pid): return "handed over to pid \(pid)"
            }
        }
    }

    private let phase = Locked(Phase.idle)
    /// Where the new process's admin socket answers when it could not take the path (its
    /// `admin-at PATH`); nil when it did (`in-place`) or did not say.
    private let adminElsewhere = Locked<String?>(nil)
    /// Who asked for the upgrade under way, why, and to which binary (the audit record).
    private let request = Locked<(caller: Caller, reason: String?, binary: String)?>(nil)
    /// This executable, as it was when the process started (`/proc/self/exe` then): a
    /// package upgrade replaces the file at that path.
    private let executable: String
    private let arguments: [String]
    private let sockets: @Sendable () -> [(name: String, fd: FileDescriptor)]
    private let notifier: ServiceNotifier
    /// Seconds a new process gets from its start to `ready`.
    static let readySeconds = 30.0
    /// Seconds the new process gets, once handed over, to move its admin socket into place.
    static let inPlaceSeconds = 5.0
    /// The environment variable that makes `serve` take over from the admin socket's process.
    public static let takeoverVariable = "SWITCHYARD_TAKEOVER"

    public init(executable: String, arguments: [String], notifier: ServiceNotifier,
                sockets: @escaping @Sendable () -> [(name: String, fd: FileDescriptor)]) {
        self.executable = executable
        self.arguments = arguments
        self.notifier = notifier
        self.sockets = sockets
    }

    /// The path of the running executable, read now (call it at start).
    public static func currentExecutable() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        return n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
    }

    public var handedOver: Bool { if case .handedOver = phase.withLock({ $0 }) { return true } else { return false } }
    /// The listening sockets are, or are being, handed to a new process, which serves from
    /// them: a shutdown of this one must leave them as they are.
    public var socketsHandedOn: Bool {
        switch phase.withLock({ $0 }) {
        case .handingOver, .movingIn, .handedOver: return true
        case .idle, .started: return false
        }
    }

    // MARK: starting the new process (the `upgrade` command, SIGUSR2)

    /// Starts `binary` (default: this executable) and waits until it took over or failed.
    /// `service`: for the freeze and the audit record.
    func run(binary: String?, service: AdminService, caller: Caller, reason: String?) -> AdminAnswer {
        let path = binary ?? executable
        let here = "still serving (pid \(getpid()), generation \(service.table.generation))"
        let busy: Phase? = phase.withLock { current in
            guard current == .idle else { return current }
            current = .started(pid: 0)
            return nil
        }
        if let busy { return .failure(AdminError("an upgrade is already under way (\(busy)): refused; \(here)")) }
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, access(path, X_OK) == 0 else {
            phase.withLock { $0 = .idle }
            return .failure(AdminError("upgrade refused: \(path) is not an executable file; \(here)"))
        }
        let pid: Int32
        do {
            pid = try spawn(path)
        } catch {
            phase.withLock { $0 = .idle }
            return .failure(AdminError("upgrade refused: cannot start \(path): \(error); \(here)"))
        }
        request.withLock { $0 = (caller, reason, path) }
        phase.withLock { $0 = .started(pid: pid) }
        service.errorLog.info("upgrade: started \(path) as pid \(pid), waiting for it to take over")
        let deadline = Date().addingTimeInterval(Self.readySeconds)
        while true {
            let current = phase.withLock { $0 }
            if case .handedOver(let new) = current {
                var text = "upgrade: pid \(getpid()) → \(new) (\(path)), generation \(service.table.generation); pid \(getpid()) stops accepting and drains"
                var json: [String: Any] = ["pid": Int(new), "previous": Int(getpid()), "generation": service.table.generation]
                if let elsewhere = adminElsewhere.withLock({ $0 }) {
                    // It serves (stopping would leave nobody serving), but commands sent to
                    // the usual path find nobody once this process is gone.
                    text += "\nwarning: pid \(new) could not move its admin socket into place: it answers at \(elsewhere) until it restarts (its error log says why)"
                    json["adminSocket"] = elsewhere
                }
                return .success(text, json: json)
            }
            // Once `takeOver` has moved on to `.movingIn` the new process is the service:
            // never stopped or given up on here (the in-place wait that follows is bounded).
            if Self.beforeHandOver(current) {
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid, giveUpBeforeHandOver() {
                    service.thaw()
                    let how = status & 0x7F == 0 ? "exited with status \((status >> 8) & 0xFF)" : "was killed by signal \(status & 0x7F)"
                    return .failure(AdminError("upgrade failed: the new process (pid \(pid), \(path)) \(how) before taking over (its standard error says why); \(here)"))
                }
                // Too slow: it must not take over later, behind our back. Given up only if
                // `takeOver` has not moved on in the meantime (one step under the lock).
                if Date() >= deadline, giveUpBeforeHandOver() {
                    kill(pid, SIGKILL)
                    _ = waitpid(pid, nil, 0)
                    service.thaw()
                    return .failure(AdminError("upgrade failed: the new process (pid \(pid)) was not ready within \(Int(Self.readySeconds)) s and was stopped; \(here)"))
                }
            }
            usleep(20_000)
        }
    }

    /// Started or taking the sockets over, but not handed over yet.
    private static func beforeHandOver(_ phase: Phase) -> Bool {
        switch phase {
        case .started, .handingOver: return true
        case .idle, .movingIn, .handedOver: return false
        }
    }

    /// Back to `.idle` if the hand-over has not happened; false if `takeOver` got there first.
    private func giveUpBeforeHandOver() -> Bool {
        phase.withLock { current in
            guard Self.beforeHandOver(current) else { return false }
            current = .idle
            return true
        }
    }

    /// posix_spawn with a clean signal mask and default dispositions (this process blocks
    /// the signals it takes with sigwait; the child must start with its own).
    private func spawn(_ path: String) throws(Errno) -> Int32 {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t(), all = sigset_t()
        sigemptyset(&empty)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var environment = ProcessInfo.processInfo.environment
        environment[Self.takeoverVariable] = "\(getpid())"
        // systemd's watchdog names our pid; the new process is the one to feed it once it
        // is the main process.
        environment["WATCHDOG_PID"] = nil
        let argv = [path] + arguments
        let envp = environment.map { "\($0.key)=\($0.value)" }
        var pid: Int32 = 0
        let result = withCStrings(argv) { argvPointers in
            withCStrings(envp) { envPointers in
                posix_spawn(&pid, path, nil, &attributes, argvPointers, envPointers)
            }
        }
        guard result == 0 else { throw Errno(code: result, call: "posix_spawn") }
        return pid
    }

    // MARK: handing over (the new process's `takeover` line)

    /// Serves one `takeover` conversation on `fd` (an admin connection, blocking, with the
    /// admin idle timeout on reads). Returns what to do once the connection's thread is done.
    func takeOver(_ fd: FileDescriptor, caller: Caller, service: AdminService) {
        func refuse(_ message: String) { Self.write(fd, "error: \(message)\n") }
        // Only this service's own user (or root) may take its sockets.
        guard caller.uid == geteuid() || caller.uid == 0 else {
            return refuse("\(caller.userName) (uid \(caller.uid)) may not take this proxy's sockets over")
        }
        // A child of `run` may ask before posix_spawn has even returned its pid.
        _ = waitUntil(seconds: 2) { phase.withLock { $0 } != .started(pid: 0) }
        let previousPhase: Phase? = phase.withLock { current in
            switch current {
            // .idle: a process started by hand with SWITCHYARD_TAKEOVER set.
            case .idle, .started(pid: caller.pid):
                defer { current = .handingOver(pid: caller.pid) }
                return current
            default: return nil
            }
        }
        guard let previousPhase else { return refuse("an upgrade to another process is under way") }
        func giveUp(_ why: String) {
            service.thaw()
            phase.withLock { current in if case .handingOver = current { current = previousPhase } }
            service.errorLog.error("upgrade: pid \(caller.pid) did not take over: \(why); still serving")
        }
        // From now on the state on disk is the state the new process serves.
        service.freeze("an upgrade is handing this proxy over to pid \(caller.pid): send the command again in a moment")
        // `upgrade` checked for held writes before this freeze; a `hold` may have committed
        // in between (the new process takes a moment to start). Parked writes cannot go over
        // and would be cut at the end of this process's grace: checked again, frozen.
        if let held = service.holdRefusal() {
            giveUp(held.message)
            return refuse(held.message)
        }
        let list = sockets()
        let header = "takeover generation \(service.table.generation) pid \(getpid()) sockets \(list.count)\n"
        do {
            try DescriptorPassing.send(fd, Array(header.utf8), descriptors: [])
            var start = 0
            while start < list.count {
                let batch = list[start..<min(start + DescriptorPassing.maxPerMessage, list.count)]
                let names = batch.map { $0.name + "\n" }.joined()
                try DescriptorPassing.send(fd, Array(names.utf8), descriptors: batch.map(\.fd))
                start += batch.count
            }
            try DescriptorPassing.send(fd, Array("end\n".utf8), descriptors: [])
        } catch {
            return giveUp("sending the sockets: \(error)")
        }
        // The inventory, the decision log and the comparison as counted up to now, while
        // the new process starts: it reads them again once handed over, as its baseline.
        // Saved here, before the point of no return, so a slow disk can only make the new
        // process give up (this one serves on), never strand a hand-over half-made.
        service.saveCountsForHandOver()
        // Wait for `ready`: the new process has bound its admin socket, loaded the state and
        // its workers run.
        let line = Self.readLine(fd, seconds: Self.readySeconds)
        guard line == "ready\n" else {
            return giveUp(line.isEmpty ? "it closed the connection (or went silent) before it was ready" : "it said \(line.debugDescription)")
        }
        // The hand-over happens here, in one step under the lock: unless `run` gave up on
        // the new process (too slow: it is being killed) in the meantime.
        let handingOver = phase.withLock { current -> Bool in
            guard current == .handingOver(pid: caller.pid) else { return false }
            current = .movingIn(pid: caller.pid)
            return true
        }
        guard handingOver else { return giveUp("the upgrade gave up waiting for it") }
        // systemd: the new process is the service's main process now (we are still the main
        // process, so NotifyAccess=main accepts this); after this we say nothing to it.
        notifier.mainPID(caller.pid)
        notifier.silence()
        let asked = request.withLock { $0 }
        service.recordUpgrade(to: caller.pid, by: asked?.caller, reason: asked?.reason, binary: asked?.binary)
        service.handOver("this proxy (pid \(getpid())) handed over to pid \(caller.pid) and is draining: commands go to the new process")
        // This process saves its counts no more (they were saved before `ready`): a later
        // save would write over the new process's.
        service.stopSavingCounts()
        Self.write(fd, "handed-over\n")
        // `upgrade` is answered (and this process stops accepting admin connections) once
        // the new process's admin socket has taken the path: `in-place`, or the connection's
        // end from a new process that failed to move it or does not say it.
        let moved = Self.readLine(fd, seconds: Self.inPlaceSeconds)
        let adminAt = "admin-at "
        if moved.hasPrefix(adminAt), moved.hasSuffix("\n") {
            let elsewhere = String(moved.dropFirst(adminAt.count).dropLast())
            adminElsewhere.withLock { $0 = elsewhere }
            service.errorLog.warning("upgrade: pid \(caller.pid) could not move its admin socket into place; it answers at \(elsewhere)")
        } else if moved != "in-place\n" {
            // A new process of an earlier version closes without saying it: the hand-over
            // stands either way (it serves already); commands may meet a closed socket
            // for a moment.
            service.errorLog.warning("upgrade: pid \(caller.pid) did not say its admin socket took the path (\(moved.isEmpty ? "no answer" : moved.debugDescription)); handing over anyway")
        }
        phase.withLock { $0 = .handedOver(pid: caller.pid) }
        // Nobody waits for this hand-over (a process started by hand): stop by ourselves.
        if previousPhase == .idle { kill(getpid(), SIGTERM) }
    }

    /// One line of at most 300 bytes (a socket path fits) from the new process within `seconds`: what came,
    /// possibly without its newline. Reads wait 250 ms at a time (the connection's own
    /// timeout is the admin idle timeout, 30 s: longer than a wait may be).
    private static func readLine(_ fd: FileDescriptor, seconds: Double) -> String {
        var slice = timeval(tv_sec: 0, tv_usec: 250_000)
        setsockopt(fd.rawValue, SOL_SOCKET, SO_RCVTIMEO, &slice, socklen_t(MemoryLayout<timeval>.size))
        let deadline = Date().addingTimeInterval(seconds)
        var line = ""
        while !line.hasSuffix("\n") {
            var byte: UInt8 = 0
            let n = read(fd.rawValue, &byte, 1)
            if n == 1 { line.append(Character(UnicodeScalar(byte))); if line.utf8.count > 300 { break }; continue }
            if n < 0 && (errno == EINTR || ((errno == EAGAIN || errno == EWOULDBLOCK) && Date() < deadline)) { continue }
            break
        }
        return line
    }

    private static func write(_ fd: FileDescriptor, _ text: String) {
        Array(text.utf8).withUnsafeBytes { try? fd.writeAll($0) }
    }
}

/// Polls `condition` every 10 ms for up to `seconds`.
private func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while !condition() && Date() < deadline { usleep(10_000) }
    return condition()
}

/// Runs `body` with a NULL-terminated array of C strings.
private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    let pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) } + [nil]
    defer { for pointer in pointers { free(pointer) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
