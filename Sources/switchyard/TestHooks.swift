import Foundation
import SwitchyardProxy

/// Hooks that only tests turn on, through the environment of a `serve` process they start:
/// what a real process shows (systemd's watchdog falling silent) needs a real process.
enum TestHooks {
    /// `SWITCHYARD_HANG_WORKER_FOR_TESTING=MS`: worker 0's loop hangs MS milliseconds after
    /// the start (the watchdog test).
    static let hangWorkerVariable = "SWITCHYARD_HANG_WORKER_FOR_TESTING"

    /// `SWITCHYARD_SLOW_MOVE_IN_FOR_TESTING=MS`: an upgrade's new process waits MS
    /// milliseconds between `handed-over` and moving its admin socket into place.
    static let slowMoveInVariable = "SWITCHYARD_SLOW_MOVE_IN_FOR_TESTING"

    static func slowMoveIn() {
        guard let text = ProcessInfo.processInfo.environment[slowMoveInVariable], let delay = UInt32(text) else { return }
        usleep(delay * 1000)
    }

    /// `SWITCHYARD_FAIL_MOVE_IN_FOR_TESTING=1`: an upgrade's new process fails to move its
    /// admin socket into place, as a rename(2) refused would (the test of what it does then).
    static var failMoveIn: Bool { ProcessInfo.processInfo.environment["SWITCHYARD_FAIL_MOVE_IN_FOR_TESTING"] == "1" }

    static func apply(proxy: Proxy, errorLog: ErrorLog) {
        guard let text = ProcessInfo.processInfo.environment[hangWorkerVariable], let delay = UInt32(text) else { return }
        errorLog.warning("\(hangWorkerVariable)=\(delay): worker 0 will hang (tests only)")
        let thread = Thread {
            usleep(delay * 1000)
            proxy.hangWorkerForTesting(0)
        }
        thread.start()
    }
}
