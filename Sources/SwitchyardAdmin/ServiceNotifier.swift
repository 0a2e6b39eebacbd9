import Foundation
import Glibc
import SwitchyardProxy
import SwitchyardSystem

/// What the proxy tells systemd (sd_notify(3), `Type=notify-reload`): `READY=1` once
/// listeners are bound and state is loaded, `RELOADING=1` + `MONOTONIC_USEC=` and then
/// `READY=1` around a SIGHUP reload (a refused one too, its `STATUS=` saying why),
/// `STATUS=serving, generation N` on every change, `STOPPING=1` at shutdown, and
/// `WATCHDOG=1` at half of `$WATCHDOG_USEC` only while every worker loop turns.
/// Without `$NOTIFY_SOCKET` every call does nothing.
public final class ServiceNotifier: Sendable {
    private let socket: NotifySocket?
    private let errorLog: ErrorLog
    /// Between `reloading()` and `reloaded(…)`: the reload's own commit is reported by the
    /// closing `READY=1`, not by a `STATUS=` of its own in the middle.
    private let reloadInProgress = Locked(false)
    /// Set once this process handed its place to a successor (`upgrade`): from then on the
    /// successor speaks for the service, and a `STOPPING=1` from us would stop it.
    private let silenced = Locked(false)
    private let watchdogInterval: UInt64?

    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from `environment`. A
    /// `NOTIFY_SOCKET` that cannot be used is logged and ignored: the proxy serves anyway.
    public init(environment: [String: String], errorLog: ErrorLog) {
        self.errorLog = errorLog
        var socket: NotifySocket?
        do {
            socket = try NotifySocket(environment: environment["NOTIFY_SOCKET"])
        } catch {
            errorLog.warning("systemd notification disabled: \(error)")
        }
        self.socket = socket
        // WATCHDOG_PID names the process the watchdog is meant for (sd_watchdog_enabled(3)).
        let forUs = environment["WATCHDOG_PID"].map { Int32($0) == getpid() } ?? true
        if forUs, let text = environment["WATCHDOG_USEC"], let usec = UInt64(text), usec > 0 {
            watchdogInterval = usec / 2 / 1000
        } else {
            watchdogInterval = nil
        }
    }

    /// Whether anything is listening (tests, log lines).
    public var enabled: Bool { socket != nil }

    /// With a watchdog, the first ping goes with READY=1: after an upgrade the old process
    /// fell silent at the hand-over and this one's thread pings only half an interval from
    /// now, so the gap since the old process's last ping could pass WatchdogSec.
    public func ready(generation: UInt64) {
        send("READY=1\nMAINPID=\(getpid())\nSTATUS=serving, generation \(generation)" + (watchdogInterval != nil ? "\nWATCHDOG=1" : ""))
    }

    public func reloading() {
        reloadInProgress.withLock { $0 = true }
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let usec = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
        send("RELOADING=1\nMONOTONIC_USEC=\(usec)\nSTATUS=reloading")
    }

    /// The end of a SIGHUP reload: `refusal` is why it changed nothing (nil: it applied).
    public func reloaded(generation: UInt64, refusal: String?) {
        reloadInProgress.withLock { $0 = false }
        if let refusal {
            send("READY=1\nSTATUS=reload refused, still generation \(generation): \(Self.oneLine(refusal))")
        } else {
            send("READY=1\nSTATUS=serving, generation \(generation)")
        }
    }

    /// A committed change (any admin command).
    public func generationChanged(_ generation: UInt64) {
        guard !reloadInProgress.withLock({ $0 }) else { return }
        send("STATUS=serving, generation \(generation)")
    }

    public func stopping() {
        send("STOPPING=1\nSTATUS=stopping: finishing requests in flight")
    }

    /// An upgrade: `pid` is the service's main process from now on.
    public func mainPID(_ pid: Int32) {
        send("MAINPID=\(pid)\nSTATUS=handed over to pid \(pid)")
    }

    /// From now on this process says nothing: a successor is the service's main process.
    public func silence() { silenced.withLock { $0 = true } }

    /// Starts the watchdog thread when `$WATCHDOG_USEC` asked for one. Each ping needs a
    /// complete round of `liveness` within the interval: a stuck worker silences it.
    public func startWatchdog(_ liveness: WorkerLiveness) {
        guard let interval = watchdogInterval, socket != nil else { return }
        let thread = Thread { [self] in
            var complained = false
            while true {
                usleep(UInt32(min(interval, 60_000)) * 1000)
                if liveness.allLoopsTurned(withinMilliseconds: max(interval, 200)) {
                    send("WATCHDOG=1")
                    complained = false
                } else if !complained {
                    complained = true
                    errorLog.error("watchdog: a worker loop has not turned for \(interval) ms; no longer telling systemd we are alive")
                }
            }
        }
        thread.name = "switchyard-watchdog"
        thread.start()
    }

    private func send(_ message: String) {
        guard let socket, !silenced.withLock({ $0 }) else { return }
        do {
            try socket.send(message)
        } catch {
            errorLog.warning("systemd notification to \(socket.name) failed: \(error)")
        }
    }

    /// The first line that says something, without control characters (a STATUS= value
    /// ends at the newline).
    static func oneLine(_ text: String) -> String {
        var lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        if lines.first?.hasSuffix(":") == true && lines.count > 1 { lines[0] += " " + lines[1]; lines.remove(at: 1) }
        let first = lines.first ?? ""
        return String(first.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }.map(Character.init))
    }
}
