import Foundation
import Glibc
import SwitchyardRouting

/// A guard's latch across a fleet. A trip here is written to the store's `latches`
/// (`FleetLatch`) before its revert commits; every instance refuses a raise of that route's
/// new side while the store has it (`refuseFleetLatchedRaise`), adopts it for a guard of the
/// same name, aborts its own plans on the route, and opens its latch when a `guard ROUTE ack`
/// on any instance took it out of the store. Before, the latch stayed on the instance that
/// tripped: an operator on another instance could raise the failing side again, and a plan
/// started there kept stepping. Everything here runs under the commit lock.
extension AdminService {
    /// The store's key for a guard's latch (the same as the guard book's).
    static func latchKey(_ latch: FleetLatch) -> String { GuardBook.key(route: latch.route, name: latch.guardName) }

    /// Writes this instance's trip of `guardConfig` to the store; false when it could not
    /// (detached, the store out of reach: logged). The trip stays latched here and is tried
    /// again every `revertRetrySeconds` (`syncFleetLatches`).
    @discardableResult
    func shareTrip(_ guardConfig: GuardConfig) -> Bool {
        let key = GuardBook.key(guardConfig)
        guard let fleet, guardConfig.mode != .observe, let trip = guardBook.record.trips[key] else { return true }
        guardBook.latchesHandled.insert("\(key)@\(trip.time)")
        let latch = FleetLatch(route: guardConfig.route, guardName: guardConfig.name, newSide: guardConfig.newSide,
                               mode: guardConfig.mode.rawValue, time: trip.time, figures: trip.figures, instance: fleet.instanceName)
        do {
            let view = try fleet.updateLatches { $0[key] = latch }
            guardBook.record.trips[key]?.fleetRevision = view.revision
            return true
        } catch {
            guardBook.nextLatchShare = GuardEvaluator.clockSeconds() + Self.revertRetrySeconds
            errorLog.error("guard \(guardConfig.route) \(guardConfig.name): latch not shared with the fleet (\(error.message)); raises are refused here only, retried every \(Int(Self.revertRetrySeconds)) s")
            return false
        }
    }

    /// Whether the latch of guard `key`, shared with the fleet, has since been taken out of
    /// the store by an ack: the `latches` key was written after the share and no longer
    /// holds it. (A key older than the share and without it is a store restored from a
    /// backup: the trip is shared again, never taken as acknowledged.)
    func acknowledgedInFleet(_ key: String) -> Bool {
        guard let fleet, let shared = guardBook.record.trips[key]?.fleetRevision, let view = fleet.latches,
              !view.unreadable else { return false }
        return view.latches[key] == nil && view.modRevision > shared
    }

    /// Once a tick, in a fleet: shares the trips not shared yet, opens the latches
    /// acknowledged on another instance, and takes up the latches tripped on another.
    func syncFleetLatches() {
        guard let fleet else { return }
        let guards = allGuards
        if !guardBook.record.trips.isEmpty, GuardEvaluator.clockSeconds() >= guardBook.nextLatchShare {
            for guardConfig in guards where guardConfig.mode != .observe {
                guard let trip = guardBook.record.trips[GuardBook.key(guardConfig)], trip.fleetRevision == nil else { continue }
                // One failure is enough for this tick: each try waits for etcd.
                guard shareTrip(guardConfig) else { break }
                saveGuardRecord()
            }
        }
        guard let view = fleet.latches, !view.unreadable else { return }
        var changed = false
        for guardConfig in guards {
            let key = GuardBook.key(guardConfig)
            guard let trip = guardBook.record.trips[key], let shared = trip.fleetRevision, view.latches[key] == nil else { continue }
            if !acknowledgedInFleet(key) {
                // Missing from a store that is older than our write of it (restored from a
                // backup): shared again, not opened.
                if view.modRevision < shared {
                    guardBook.record.trips[key]?.fleetRevision = nil
                    changed = true
                    errorLog.warning("guard \(guardConfig.route) \(guardConfig.name): its latch is missing from fleet \(fleet.config.name)'s store (restored from a backup?); shared again")
                }
                continue
            }
            acknowledgeLocally(guardConfig)
            changed = true
            errorLog.warning("guard \(guardConfig.route) \(guardConfig.name): trip of \(trip.time) acknowledged on another instance of fleet \(fleet.config.name)")
            try? audit.append(.init(time: AuditLog.now(), outcome: "accepted", uid: geteuid(), pid: getpid(), user: "fleet \(fleet.config.name)",
                                    command: "guard \(guardConfig.route) ack", reason: nil,
                                    changes: ["guard \(guardConfig.name): trip of \(trip.time) acknowledged on another instance"],
                                    error: nil, generationBefore: table.generation, generation: table.generation))
        }
        // Tripped elsewhere: a guard of the same name here latches too; the route's plans
        // here abort (revert guards revert through the store themselves).
        for (key, latch) in view.latches.sorted(by: { $0.key < $1.key }) where latch.mode != GuardMode.observe.rawValue {
            guard guardBook.latchesHandled.insert("\(key)@\(latch.time)").inserted else { continue }
            if guardBook.record.trips[key] != nil { continue }
            let reason = "guard \(latch.guardName) tripped on instance \(latch.instance): \(latch.figures)"
            if let guardConfig = guards.first(where: { GuardBook.key($0) == key }) {
                var trip = GuardTrip(time: latch.time, figures: "\(latch.figures) (tripped on instance \(latch.instance))")
                trip.fleetRevision = view.revision
                guardBook.record.trips[key] = trip
                guardBook.runs[key] = GuardRun(trip: trip)
                guardBook.revertRetry[key] = nil
                errorLog.warning("guard \(guardConfig.route) \(guardConfig.name): latched by the fleet: \(reason)")
                changed = true
            }
            abortPlans(on: latch.route, because: reason, revert: latch.mode != GuardMode.revert.rawValue)
        }
        if changed { saveGuardRecord() }
    }

    /// Opens a guard's latch here (an `ack`, here or on another instance): it counts afresh.
    func acknowledgeLocally(_ guardConfig: GuardConfig) {
        let key = GuardBook.key(guardConfig)
        var run = guardBook.run(guardConfig)
        run.acknowledged()
        guardBook.runs[key] = run
        guardBook.countFrom[key] = GuardEvaluator.clockSeconds()
        guardBook.record.trips.removeValue(forKey: key)
        guardBook.revertRetry[key] = nil
    }

    /// A latch in the fleet's store refuses any raise of its route's new side, here as on
    /// the instance that tripped, whether this instance has the guard or not.
    func refuseFleetLatchedRaise(old: RouteTable, newState: RuntimeState, config newConfig: RoutesConfig) throws(AdminError) {
        guard let view = fleet?.latches else { return }
        for latch in view.latches.values.sorted(by: { Self.latchKey($0) < Self.latchKey($1) }) where latch.mode != GuardMode.observe.rawValue {
            guard let route = newConfig.routes.first(where: { $0.name == latch.route }) else { continue }
            if route.raises(latch.newSide, from: old.state.routes[route.name], to: newState.routes[route.name]) {
                throw AdminError("route \(route.name): guard \(latch.guardName) tripped on instance \(latch.instance) at \(latch.time) (\(latch.figures)); \(latch.newSide)'s share may not rise until `guard \(route.name) ack` on any instance")
            }
        }
    }

    /// Whether `newState` raises any backend's share on any route (the fleet's transaction
    /// is then guarded by the latches key too).
    func raisesAShare(old: RouteTable, newState: RuntimeState) -> Bool {
        config.routes.contains { route in
            old.state.routes[route.name] != newState.routes[route.name] && config.backends.contains { backend in
                route.raises(backend.name, from: old.state.routes[route.name], to: newState.routes[route.name])
            }
        }
    }

    /// The fleet's latches of guards this instance does not have, for `guards`.
    var foreignLatches: [FleetLatch] {
        guard let view = fleet?.latches else { return [] }
        let known = Set(allGuards.map(GuardBook.key))
        return view.latches.filter { !known.contains($0.key) }.map(\.value).sorted { Self.latchKey($0) < Self.latchKey($1) }
    }
}
