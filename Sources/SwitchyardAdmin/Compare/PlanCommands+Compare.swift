import SwitchyardRouting

extension PlanCommands {
    /// `require compare-ready` in a plan: its first step waits for the route's verdict.
    /// Checked when the plan starts and when it is approved (the step is applied then).
    static func refuseUnlessCompareReady(_ service: AdminService, _ plan: PlanConfig) throws(PlanRefusal) {
        guard plan.requireCompareReady == true else { return }
        guard let verdict = service.compareReport(route: plan.route).routes.first?.verdict, !verdict.ready else { return }
        throw PlanRefusal("route \(plan.route)'s mirror comparison is \(verdict.text) (the plan requires compare-ready; see `switchyard compare \(plan.route)`)")
    }
}
