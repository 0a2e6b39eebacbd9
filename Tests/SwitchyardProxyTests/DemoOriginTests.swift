import Foundation
import Testing
import SwitchyardTestSupport

/// The demo's built-in backends run inside `switchyard demo`, beside its proxy: a request
/// from outside must not bring them down. `/slow?ms=-1` trapped converting the pause to
/// `UInt32`, ending the whole process (here, the test process).
@Suite struct DemoOriginTests {
    @Test func aNegativePauseIsNoPauseAndNothingCrashes() throws {
        let h = try ProxyHarness()
        defer { h.stop() }
        let slow = try #require(h.client().get("/slow?ms=-1"))
        #expect(slow.status == 200 && slow.text.contains("answered slowly"))
        let later = try #require(h.client().get("/read-later?ms=-5"))
        #expect(later.status == 200)
        #expect(try h.client().get("/after")?.status == 200, "the origins still answer")
    }
}
