import SwitchyardRouting

extension AdminService {
    func planTick(_ windows: GuardWindows) {}
    func abortPlans(on route: String, because reason: String) {}
}
