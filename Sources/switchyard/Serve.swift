import ArgumentParser
import Foundation
import SwitchyardAdmin
import Glibc
import SwitchyardProxy
import SwitchyardRouting

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the proxy on a routes file.",
        discussion: "SIGTERM or SIGINT: stop accepting, let requests in flight finish (up to --grace), exit. SIGHUP: reload the routes file. SIGUSR1: reopen the access and error logs (logrotate).")

    @Argument(help: "The routes file.")
    var routesFile: String

    @OptionGroup var options: ServeOptions

    func run() throws {
        try ServeRunner(routesFile: routesFile, options: options).run(ready: nil)
    }
}

struct ServeOptions: ParsableArguments {
    @Option(help: "Worker threads (default: the number of cores).")
    var workers: Int?

    @Option(help: "Access log path (JSON lines), or 'off'; overrides the routes file.")
    var accessLog: String?

    @Option(help: "Error log path (default: standard error).")
    var errorLog: String?

    @Option(help: "Seconds that requests in flight get to finish on shutdown.")
    var grace: Int = 10

    @Option(help: "Admin socket path; overrides the routes file's admin line.")
    var admin: String?

    @Option(help: "Runtime state file; overrides the routes file's state line.")
    var state: String?

    @Option(help: "Run as this user once listeners and files are open (started as root); overrides the routes file's user line.")
    var user: String?
}

/// Loads, starts, and waits for signals. Shared by `serve` and `demo`.
struct ServeRunner {
    /// The soft descriptor limit raised to the hard one (a shell's 1,024 against systemd's
    /// unit's 1,048,576): every client and upstream connection is a descriptor, and running
    /// out turns into refused accepts and 503s long before `limit connections`.
    static func raiseDescriptorLimit() {
        var limit = rlimit()
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        guard getrlimit(resource, &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(resource, &limit)
    }

    let routesFile: String
    let options: ServeOptions
    /// `upgrade`/SIGUSR2 start this executable again with the same arguments (not `demo`).
    var upgradable = true

    func run(ready: ((Proxy) -> Void)?) throws {
        Self.raiseDescriptorLimit()
        let config: RoutesConfig
        do {
            config = try RoutesConfig.load(path: routesFile)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
        var settings = ProxySettings(workers: options.workers ?? Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        if let accessLog = options.accessLog { settings.accessLogPath = accessLog }
        settings.errorLogPath = options.errorLog ?? config.errorLogPath.flatMap { $0 == "stderr" ? nil : $0 }
        let errorLog = try ErrorLog(path: settings.errorLogPath)
        for warning in Proxy.keyFileWarnings(config, file: routesFile) { errorLog.warning(warning) }

        // Whom to run as once everything is bound and open; nil: stay who we are.
        var dropTo: ServiceUser?
        if let name = options.user ?? config.serviceUser {
            do {
                let user = try ServiceUser.resolve(name)
                if user.uid != geteuid() || user.gid != getegid() {
                    guard geteuid() == 0 else {
                        printError("switchyard: user \(name): only root can switch to another user (running as uid \(geteuid()))")
                        throw ExitCode(1)
                    }
                    dropTo = user
                }
            } catch let error as ServiceUser.Failure {
                printError("switchyard: \(error)")
                throw ExitCode(1)
            }
        }

        // Runtime state (weights, flips, cohorts) comes back from the state file.
        let adminPath = options.admin ?? config.admin?.socketPath
        let statePath = options.state ?? config.statePath ?? adminPath.map { ($0 as NSString).deletingLastPathComponent + "/state.json" }
        let auditPath = statePath.map { AdminDirectory.parent(of: $0) + "/audit.log" }
        // An upgrade's new process takes the running proxy's sockets first; with them comes
        // its freeze on changes, so the state read below is the state it serves.
        let takeover = try ServeUpgrade.takeOverIfAsked(adminPath: adminPath)
        // A second `serve` typed by hand beside the running service is refused before it
        // does anything: it used to bind its listeners beside the first (SO_REUSEPORT: the
        // kernel gave it a share of the clients' connections, reset when it then exited)
        // and write the state file with a generation of its own, and only then find the
        // admin socket taken.
        if takeover == nil, let adminPath {
            do {
                try AdminServer.refuseIfServed(adminPath)
            } catch {
                printError("switchyard: \(error.message): nothing started; stop that one first, or `switchyard upgrade` to replace it")
                throw ExitCode(1)
            }
        }
        let table: RouteTable
        var restored: StateFile?
        var warnings: [String] = []
        var trust = dropTo?.trust ?? AdminDirectory.Trust.current()
        if let statePath, let auditPath {
            // The directories are checked before the state file is read: a file planted by
            // another user must not decide where traffic goes.
            do {
                trust.writerGroup = try AccessPolicy(config: config.admin, serviceUID: trust.serviceUID).socketGroupID
                try AdminDirectory.prepare(socketPath: adminPath, statePath: statePath, auditPath: auditPath, trust: trust)
                // Checked now too, so that a refusal comes before anything is written.
                if dropTo != nil { try AdminDirectory.handOver(statePath: statePath, auditPath: auditPath, to: trust) }
            } catch {
                printError("switchyard: \(error)")
                throw ExitCode(1)
            }
        }
        do {
            if let statePath {
                // In a fleet the generation is the fleet's: a restart serves the saved one and
                // does not count itself as a change (the store would be behind it).
                (table, warnings, restored) = try AdminService.startingTable(config: config, statePath: statePath,
                                                                             takingOver: takeover != nil || config.fleet != nil)
            } else {
                table = try RouteTable.build(config: config, state: RuntimeState(), generation: 1)
            }
        } catch let error as AdminError {
            printError("switchyard: \(error)")
            throw ExitCode(1)
        } catch let error as RoutesErrors {
            printError(error.description)
            throw ExitCode(1)
        }
        // An upgrade's new process serves the generation the running one serves, from the
        // same state file. Another (the routes file's `state` line edited, the file gone)
        // would serve other routing at once — every flip since the file's defaults lost —
        // while the trail says "upgrade at generation N": refused, the running one goes on.
        if let takeover, config.fleet == nil, table.generation != takeover.generation {
            printError("switchyard: upgrade refused: this process would serve generation \(table.generation) (state file \(statePath ?? "none")), "
                       + "the running one (pid \(takeover.previousPID)) serves generation \(takeover.generation): not the state file it writes "
                       + "(was the routes file's state line changed?); it keeps serving")
            throw ExitCode(1)
        }
        // Each warning already starts with "state: ".
        for warning in warnings { errorLog.warning(warning) }

        // Signals are taken by this thread with sigwait: block them before any worker
        // thread exists, so the workers inherit the mask and never see them.
        // SIGUSR1: reopen the logs (logrotate).
        // SIGUSR2: upgrade to the executable at this process's path.
        let signals: [Int32] = [SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2]
        Signals.block(signals)   // SIGPIPE: `Proxy` ignores it itself

        let proxy: Proxy
        var admin: AdminServer?
        var service: AdminService?
        var metrics: MetricsServer?
        do {
            var inherited = takeover?.listeners ?? InheritedListeners.fromSystemd()
            var inheritedMetrics = inherited.take(namedWith: MetricsServer.handOverPrefix)
            proxy = try Proxy(table: table, settings: settings, errorLog: errorLog, inherited: inherited)
            if let adminPath, let statePath, let auditPath {
                let policy = try AccessPolicy(config: config.admin, serviceUID: trust.serviceUID)
                let adminService = try AdminService(
                    routesPath: routesFile, config: config, statePath: statePath, auditPath: auditPath,
                    policy: policy, dataPlane: proxy, restored: restored, startWarnings: warnings, errorLog: errorLog,
                    takingOver: takeover != nil || (config.fleet != nil && restored != nil))
                admin = try AdminServer(path: adminPath, groupID: policy.socketGroupID, trust: trust,
                                        limits: config.admin ?? AdminConfig(socketPath: adminPath), service: adminService,
                                        replacing: takeover != nil)
                service = adminService
            }
            // The read-only HTTP listener is bound before any drop of privileges, like the
            // other listeners; it is off unless the routes file asks for it.
            if let endpoint = config.metrics {
                metrics = try MetricsServer(endpoint: endpoint, proxy: proxy, service: service, errorLog: errorLog,
                                            inherited: inheritedMetrics.popLast())
            }
            for fd in inheritedMetrics { fd.close() }
        } catch {
            printError("switchyard: \(error)")
            throw ExitCode(1)
        }
        if let dropTo {
            // Listeners are bound, the admin socket is made and the logs are open: root
            // has nothing left to do. The state file and audit log (written as root since
            // the first check) become the user's so that it can still write them.
            do {
                if let statePath, let auditPath {
                    try AdminDirectory.handOver(statePath: statePath, auditPath: auditPath, to: trust)
                }
                try dropTo.drop()
            } catch {
                printError("switchyard: \(error)")
                admin?.stop()
                throw ExitCode(1)
            }
            errorLog.info("running as user \(dropTo.name) (uid \(dropTo.uid), gid \(dropTo.gid))")
        }
        // systemd hears of every change from the commit path itself.
        let notifier = ServiceNotifier(environment: ProcessInfo.processInfo.environment, errorLog: errorLog)
        service?.generationObserver = { notifier.generationChanged($0) }
        if upgradable { service?.upgrade = ServeUpgrade.upgrade(proxy: proxy, metrics: metrics, notifier: notifier) }
        let fleet = try ServeFleet.make(config: config, service: service, errorLog: errorLog)
        proxy.start()
        // Guards and plans: checked every second on their own thread, off the data plane.
        let guards = service.map { GuardEvaluator(service: $0, proxy: proxy) }
        // The fleet's watcher and the guards commit (state file, audit log): an upgrade's new
        // process starts them only once handed over — before, the files are the old
        // process's, and two writers forked the audit chain (a fleet generation applied by
        // both, each after the record it had cached).
        let startCommitting = {
            if let fleet, let service { fleet.start(service: service) }
            guards?.start()
        }
        if takeover == nil { startCommitting() }
        admin?.start()
        metrics?.start()
        for address in proxy.httpAddresses { errorLog.info("listening on http://\(address) (generation \(table.generation))") }
        for (route, address) in proxy.tcpAddresses.sorted(by: { $0.key < $1.key }) { errorLog.info("route \(route): tcp on \(address)") }
        if let admin { errorLog.info("admin socket \(admin.path)") }
        if let metrics { errorLog.info("cutover page on http://\(metrics.address)/ (metrics: /metrics, JSON: /status.json)") }
        for warning in HoldStatus.startupWarnings(proxy.table) { errorLog.warning(warning) }
        ready?(proxy)
        if let takeover {
            // The old process names us the main process, stops taking changes and drains.
            switch ServeUpgrade.finish(takeover, admin: admin) {
            case .serving:
                errorLog.info("took over from pid \(takeover.previousPID) at generation \(proxy.table.generation)")
                service?.reloadCountsAfterTakeOver()
                startCommitting()
            case .refused(let failure):
                errorLog.error(failure)
                admin?.stop()
                // The listening sockets are the running process's, which serves on: a
                // handshake gate set on them here would drop its new connections too.
                proxy.shutdown(graceMilliseconds: options.grace * 1000, listenersHandedOver: true)
                throw ExitCode(1)
            case .servingWithoutAdminPath(let failure):
                service?.reloadCountsAfterTakeOver()
                startCommitting()
                errorLog.error("took over from pid \(takeover.previousPID) at generation \(proxy.table.generation), "
                               + "but \(failure): the admin socket answers at \(admin?.boundPath ?? "-") until a restart")
            }
        }
        notifier.ready(generation: proxy.table.generation)
        let liveness = WorkerLiveness(proxy: proxy)
        liveness.start()
        notifier.startWatchdog(liveness)
        TestHooks.apply(proxy: proxy, errorLog: errorLog)
        service?.startSavingInventory()
        service?.startSavingComparison()

        // The routes file as last applied (SIGHUP without an admin socket compares with it).
        var loadedConfig = config
        while true {
            let signal = Signals.wait(signals)
            if signal == SIGUSR2 {
                let answer = service?.upgradeFromSignal()
                guard let answer, answer.ok else {
                    errorLog.error(answer?.text ?? "upgrade (SIGUSR2): no admin socket, nothing to hand the sockets over through")
                    continue
                }
                errorLog.info(answer.text)
            } else if signal == SIGUSR1 {
                // logrotate's `postrotate kill -USR1`: the line lands in the new error log.
                let result = proxy.reopenLogs()
                if result.ok { errorLog.info("\(result.summary) (SIGUSR1)") } else { errorLog.error("\(result.summary) (SIGUSR1)") }
                continue
            }
            if signal == SIGHUP {
                // Reload: a file that does not validate changes nothing.
                notifier.reloading()
                let refusal: String?
                if let service {
                    let answer = service.reloadFromSignal()
                    if answer.ok { errorLog.info(answer.text) } else { errorLog.error(answer.text) }
                    refusal = answer.ok ? nil : answer.text.replacingOccurrences(of: "error: ", with: "")
                } else {
                    refusal = reloadWithoutAdmin(proxy, &loadedConfig, errorLog)
                }
                notifier.reloaded(generation: proxy.table.generation, refusal: refusal)
                continue
            }
            notifier.stopping()
            errorLog.info("shutting down: finishing requests in flight (up to \(options.grace) s)")
            admin?.stop()
            service?.freezeForShutdown()
            // No trip or plan step commits while the data plane drains.
            guards?.stop()
            metrics?.stop()
            fleet?.stop()
            service?.flushRefusalSummaries()
            service?.saveInventory(final: true)
            service?.saveComparison(final: true)
            // After an upgrade (or during one) the listening sockets serve on in the new process.
            proxy.shutdown(graceMilliseconds: options.grace * 1000, listenersHandedOver: service?.upgrade?.socketsHandedOn ?? false)
            errorLog.info("stopped")
            return
        }
    }

    /// Why the reload was refused, or nil when it applied. The rules of the admin side's
    /// `reload` (before, this path skipped them): listeners are bound at start, so a file
    /// that adds, moves or removes one is refused (options are found by position: a line
    /// inserted above would have lent its `trust-forwarded` to a bound listener); the
    /// runtime state is reconciled with the new file; certificates are read again.
    private func reloadWithoutAdmin(_ proxy: Proxy, _ running: inout RoutesConfig, _ errorLog: ErrorLog) -> String? {
        do {
            let newConfig = try RoutesConfig.load(path: routesFile)
            if let refusal = newConfig.listenerRefusal(from: running, file: routesFile) { throw AdminError(refusal) }
            let generation = proxy.table.generation + 1
            let (state, warnings) = proxy.table.state.reconciled(with: newConfig)
            let newTable = try RouteTable.build(config: newConfig, state: state, generation: generation)
            try proxy.publish(newTable, reloadingCertificates: true)
            running = newConfig
            for warning in warnings { errorLog.warning(warning) }
            errorLog.info("reloaded \(routesFile): generation \(generation)")
            return nil
        } catch {
            errorLog.error("reload refused, nothing changed:\n\(error)")
            return "reload refused, nothing changed: \(error)"
        }
    }
}

/// Writes to standard output at once (print is buffered when stdout is a pipe).
func printNow(_ message: String) {
    var bytes = Array((message.hasSuffix("\n") ? message : message + "\n").utf8)
    _ = bytes.withUnsafeMutableBytes { write(1, $0.baseAddress, $0.count) }
}

func printError(_ message: String) {
    var text = message
    if !text.hasSuffix("\n") { text += "\n" }
    var bytes = Array(text.utf8)
    _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}
