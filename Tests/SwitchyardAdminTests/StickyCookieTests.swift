import Foundation
import Testing
import SwitchyardTestSupport
import SwitchyardAdmin

/// Stickiness on live sockets: the exact cookie a new user gets, and a returning user
/// keeping its side across connections while operators raise a share.
@Suite struct StickyCookieTests {
    /// "SWITCHYARD_BUCKET=<16 lower-case hex>; Path=/; Max-Age=34560000; HttpOnly; SameSite=Lax",
    /// nothing else.
    static func cookieValue(_ setCookie: String?) -> String? {
        guard let setCookie, setCookie.hasPrefix("SWITCHYARD_BUCKET="), setCookie.hasSuffix("; Path=/; Max-Age=34560000; HttpOnly; SameSite=Lax") else { return nil }
        let value = setCookie.dropFirst("SWITCHYARD_BUCKET=".count).dropLast("; Path=/; Max-Age=34560000; HttpOnly; SameSite=Lax".count)
        return value.count == 16 && value.allSatisfy({ "0123456789abcdef".contains($0) }) ? String(value) : nil
    }

    @Test func newUsersGetTheExactCookieAndKeepTheirSideWhileSharesRise() throws {
        let h = try AdminHarness()   // app: split legacy 90% cloud 10%, sticky cookie SWITCHYARD_BUCKET
        defer { h.stop() }
        // 200 new users, each on its own connection, without a cookie.
        var users: [(cookie: String, side: String)] = []
        for i in 0..<200 {
            let response = try #require(try TestClient(port: h.port).get("/new\(i)"))
            let header = response.header("Set-Cookie")
            let value = try #require(Self.cookieValue(header), "exact Set-Cookie, got \(header ?? "none")")
            #expect(!header!.contains("Secure"), "no Secure flag on plain HTTP")
            users.append((value, String(response.text.split(separator: " ")[0])))
        }
        #expect(Set(users.map(\.cookie)).count == 200, "every user has an own cookie")
        // Returning users: new connections, the cookie back, no new cookie, same side.
        func sides() throws -> [String] {
            try users.enumerated().map { i, user in
                let response = try #require(try TestClient(port: h.port).get("/back\(i)", headers: "Cookie: theme=dark; SWITCHYARD_BUCKET=\(user.cookie)\r\n"))
                #expect(response.header("Set-Cookie") == nil, "a returning user gets no new cookie")
                return String(response.text.split(separator: " ")[0])
            }
        }
        var before = try sides()
        #expect(before == users.map(\.side), "at fixed shares nobody moves")
        let cloudAtTen = before.filter { $0 == "cloud" }.count
        #expect((5...40).contains(cloudAtTen), "about 10% on cloud: \(cloudAtTen)/200")
        for share in [30, 60, 100] {
            #expect(h.run("weight app cloud \(share)%").ok)
            let after = try sides()
            for (b, a) in zip(before, after) where b != a {
                #expect(b == "legacy" && a == "cloud", "raising cloud to \(share)% moved a user \(b) → \(a)")
            }
            #expect(after.filter { $0 == "cloud" }.count >= before.filter { $0 == "cloud" }.count)
            before = after
        }
        #expect(before.allSatisfy { $0 == "cloud" }, "at 100% everyone is on cloud")
    }

    /// The bucket outlives the browser session. curl's `--junk-session-cookies` drops the
    /// session cookies of the jar it loads, as a browser does when it starts again (a ward
    /// PC at shift change). Before, the cookie had no Max-Age: after each restart the user
    /// came without it, drew a new bucket, and mid-canary could land on the other system.
    @Test func theBucketSurvivesABrowserRestart() throws {
        try requireTools("curl")
        let h = try AdminHarness()
        defer { h.stop() }
        let jar = NSTemporaryDirectory() + "switchyard-jar-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: jar) }
        let curl = try tool("curl")
        let first = try runProcess(curl, ["-s", "-D", "-", "-c", jar, "http://127.0.0.1:\(h.port)/first"], timeoutSeconds: 10)
        #expect(first.output.contains("Set-Cookie: SWITCHYARD_BUCKET="), "\(first.output)")
        let side = first.output.contains("cloud answered") ? "cloud" : "legacy"
        for i in 0..<3 {
            let again = try runProcess(curl, ["-s", "-D", "-", "-j", "-b", jar, "-c", jar, "http://127.0.0.1:\(h.port)/again\(i)"], timeoutSeconds: 10)
            #expect(!again.output.contains("Set-Cookie"), "the restarted browser still had its cookie: \(again.output)")
            #expect(again.output.contains("\(side) answered"), "and stays on \(side): \(again.output)")
        }
    }
}
