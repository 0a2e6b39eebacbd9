import Foundation
import Glibc
import Testing
import SwitchyardTestSupport

/// `hold` answers once no write is in flight upstream, or at its deadline with what still
/// runs. At the deadline the database must not be frozen, so the CLI exits 4, not 0: a
/// script's `switchyard hold app && freeze-db` stops there.
@Suite(.serialized) struct HoldQuiescenceExitTests {
    @Test func aHoldThatIsNotQuietAtItsDeadlineExits4() throws {
        let setup = try UpgradeTests.Setup()
        let (pid, port) = try setup.serve(environment: ["SWITCHYARD_QUIESCENCE_MS_FOR_TESTING": "500"])
        defer { kill(pid, SIGTERM) }
        // A write the backend takes 3 s to answer: in flight when the hold starts.
        let client = try TestClient(port: port)
        #expect(client.send("POST /slow?ms=3000 HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi"))
        usleep(300_000)
        let held = try runProcess(try switchyardBinary(), ["hold", "app", "--admin", setup.admin])
        #expect(held.status == 4, "\(held.output)")
        #expect(held.output.contains("1 still in flight") && held.output.contains("not quiet yet: do not freeze the database"), "\(held.output)")
        #expect(client.readResponse()?.status == 200, "the write in flight is answered")
        // Quiet now: the next hold (already on) answers 0 in flight, exit 0.
        let again = try runProcess(try switchyardBinary(), ["release", "app", "--admin", setup.admin])
        #expect(again.status == 0, "\(again.output)")
        let quiet = try runProcess(try switchyardBinary(), ["hold", "app", "--admin", setup.admin])
        #expect(quiet.status == 0 && quiet.output.contains("0 in flight"), "\(quiet.output)")
    }
}
