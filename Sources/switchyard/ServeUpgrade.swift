import ArgumentParser
import Foundation
import SwitchyardAdmin
import SwitchyardProxy

/// `serve`'s part in an upgrade: as the new process, take the sockets over and finish the
/// hand-over; as any process, be ready to start the next one.
enum ServeUpgrade {
    /// With `SWITCHYARD_TAKEOVER` set (by the old process), the sockets of the proxy on the
    /// admin socket; nil otherwise. A failure stops this process before it binds anything.
    static func takeOverIfAsked(adminPath: String?) throws -> TakeoverClient? {
        guard let starter = ProcessInfo.processInfo.environment[Upgrade.takeoverVariable] else { return nil }
        // Not for a process this one starts in turn.
        unsetenv(Upgrade.takeoverVariable)
        guard let adminPath else {
            printError("switchyard: upgrade: no admin socket to take the sockets over through")
            throw ExitCode(1)
        }
        do {
            // The variable holds the pid of the process that started this one (`upgrade`):
            // the one whose sockets to take. Set by hand to anything else (`1`, a process
            // that did not start this one), only the socket's owner is checked.
            let expected = Int32(starter).flatMap { $0 == getppid() ? $0 : nil }
            return try TakeoverClient(adminPath: adminPath, expectedPID: expected)
        } catch {
            printError("switchyard: \(error)")
            throw ExitCode(1)
        }
    }

    /// How the hand-over ended for the new process.
    enum Finish {
        /// This process serves, its admin socket on the path.
        case serving
        /// The old process did not hand over: it goes on serving, this one must stop.
        case refused(String)
        /// Handed over (the old process drains), but the admin socket could not take the
        /// path: this process serves all the same — stopping now would leave nobody
        /// serving — and says where its socket is.
        case servingWithoutAdminPath(String)
    }

    /// Says `ready`, waits for `handed-over`, moves the admin socket into place, then says
    /// `in-place` (the old process answers `upgrade` only then).
    static func finish(_ takeover: TakeoverClient, admin: AdminServer?) -> Finish {
        do {
            try takeover.ready()
        } catch {
            return .refused("\(error)")
        }
        TestHooks.slowMoveIn()
        do {
            if TestHooks.failMoveIn { throw AdminError("admin socket: rename refused (test hook)") }
            try admin?.moveIntoPlace()
        } catch {
            takeover.abandon(adminAt: admin?.boundPath)
            return .servingWithoutAdminPath("\(error)")
        }
        takeover.inPlace()
        return .serving
    }

    /// The `upgrade` machinery of a running `serve`: the executable as it was at start and
    /// this process's own arguments.
    static func upgrade(proxy: Proxy, metrics: MetricsServer?, notifier: ServiceNotifier) -> Upgrade {
        Upgrade(executable: executableAtStart, arguments: Array(CommandLine.arguments.dropFirst()), notifier: notifier) {
            // The read-only HTTP listener too: the old process holds its port until it stops.
            proxy.listeningSockets + (metrics.map { [$0.listeningSocket] } ?? [])
        }
    }

    /// Read at the first use, which is at start (before a package upgrade can replace it).
    static let executableAtStart = Upgrade.currentExecutable()
}
