import Foundation
import SwitchyardProxy
import SwitchyardRouting

enum SimulateCommand {
    static func run(_ service: AdminService, _ command: AdminCommandLine) throws(AdminError) -> AdminAnswer {
        throw AdminError("not yet")
    }
}
