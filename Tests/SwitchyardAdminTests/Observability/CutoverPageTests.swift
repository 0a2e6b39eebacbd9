import Foundation
import Testing
import SwitchyardTestSupport

/// The cutover page in headless Chromium: what the ops team sees on the big screen.
@Suite struct CutoverPageTests {
    static func chromium(_ url: String, budgetMilliseconds: Int = 6_000, extra: [String] = []) throws -> String {
        let chromium = try tool("chromium")
        let profile = NSTemporaryDirectory() + "switchyard-chromium-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let result = try runProcess(chromium, [
            "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0",
            "--virtual-time-budget=\(budgetMilliseconds)",
        ] + extra + [url], timeoutSeconds: 120)
        #expect(result.status == 0, "chromium exit \(result.status): \(result.output.suffix(800))")
        return result.output
    }

    /// Script errors Chromium reports on its log ("Uncaught …" from the page's console).
    static func scriptErrors(_ output: String) -> [String] {
        output.split(separator: "\n").filter { $0.contains("Uncaught") || $0.contains("SyntaxError") || $0.contains("ReferenceError")
            || $0.contains("TypeError") }.map(String.init)
    }

    @Test func afterAWeightChangeThePageShowsTheNewGenerationBothSidesAndAMarker() throws {
        try requireTools("chromium")
        let h = try MetricsHarness()
        defer { h.stop() }
        // New users (no cookie) spread over both sides of the 90/10 split.
        let load = ClientLoad(clients: 3, port: h.proxyPort) { _, _, client in
            client?.get("/chart")?.status == 200
        }
        usleep(2_500_000)
        let change = h.admin.run("weight app cloud 50% --reason \"CHG-4711 move half\"")
        #expect(change.ok, "\(change.text)")
        usleep(2_500_000)
        let url = "http://127.0.0.1:\(h.port)/"
        let dom = try Self.chromium(url, extra: ["--dump-dom"])
        try load.stop()
        #expect(dom.contains("generation 2"), "the new generation: \(dom.prefix(1500))")
        #expect(dom.contains("CHG-4711"), "who and why")
        #expect(dom.contains(#"class="marker""#), "a marker at the generation change")
        #expect(dom.contains(#"data-side="legacy""#) && dom.contains(#"data-side="cloud""#))
        #expect(dom.contains("cloud 50.00 %") && dom.contains("legacy 50.00 %"), "the share bar")
        // Both sides have figures (a rate, and an error ratio with its sample size).
        for side in ["legacy", "cloud"] {
            #expect(dom.range(of: #"<td data-side="\#(side)">[0-9]+\.[0-9]</td>"#, options: .regularExpression) != nil, "\(side) req/s")
            #expect(dom.range(of: #"<td data-side="\#(side)">0\.00 %<span class="n"> n=[0-9]+</span>"#, options: .regularExpression) != nil,
                    "\(side) error ratio with its sample size")
        }
        #expect(dom.contains(#"<polyline"#), "chart lines")
        #expect(!dom.contains(#"<p id="empty">no data yet</p>"#))
        #expect(Self.scriptErrors(dom).isEmpty, "\(Self.scriptErrors(dom))")
        // A picture for a person to look at.
        let artefacts = repositoryRoot().appendingPathComponent(".build/test-artifacts").path
        try FileManager.default.createDirectory(atPath: artefacts, withIntermediateDirectories: true)
        let shot = artefacts + "/cutover-page.png"
        try? FileManager.default.removeItem(atPath: shot)
        _ = try Self.chromium(url, extra: ["--screenshot=\(shot)", "--window-size=1280,1500", "--hide-scrollbars"])
        #expect(FileManager.default.fileExists(atPath: shot), "screenshot at \(shot)")
    }

    @Test func aFreshStartSaysNoDataYetAndAVanishedProxyShowsRetryingWithoutScriptErrors() throws {
        try requireTools("chromium")
        let h = try MetricsHarness()
        let fresh = try Self.chromium("http://127.0.0.1:\(h.port)/", extra: ["--dump-dom"])
        #expect(fresh.contains(#"<p id="empty">no data yet</p>"#), "\(fresh.prefix(1500))")
        #expect(fresh.contains("generation 1"))
        #expect(fresh.contains("updated 0 s ago") || fresh.contains("updated 1 s ago") || fresh.contains("updated 2 s ago"))
        #expect(Self.scriptErrors(fresh).isEmpty, "\(Self.scriptErrors(fresh))")
        // The same page with no proxy behind it: red, retrying, and still no script error.
        let page = try h.request("/").text
        h.stop()
        let file = NSTemporaryDirectory() + "switchyard-page-\(UUID().uuidString).html"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try page.write(toFile: file, atomically: true, encoding: .utf8)
        let gone = try Self.chromium("file://" + file, extra: ["--dump-dom"])
        #expect(gone.contains(#"<span id="state" class="down">proxy not answering — retrying</span>"#), "\(gone.prefix(1500))")
        #expect(Self.scriptErrors(gone).isEmpty, "\(Self.scriptErrors(gone))")
    }

    /// A held route says so on the big screen: while it lasts every write waits, and a
    /// hold kept across a restart was visible nowhere but `status`'s last section.
    @Test func aHeldRouteShowsItsWriteHoldOnThePage() throws {
        try requireTools("chromium")
        let h = try MetricsHarness()
        defer { h.stop() }
        #expect(h.admin.run("hold app --max-wait 90s --reason \"DB freeze\"").ok)
        let dom = try Self.chromium("http://127.0.0.1:\(h.port)/", extra: ["--dump-dom"])
        #expect(dom.contains(#"data-held="app""#), "\(dom.prefix(1500))")
        #expect(dom.contains("WRITES HELD since") && dom.contains("(max-wait 90 s, DB freeze): writes park until switchyard release app; parked now on all held routes 0"),
                "\(dom.prefix(2000))")
        #expect(Self.scriptErrors(dom).isEmpty, "\(Self.scriptErrors(dom))")
        #expect(h.admin.run("release app").ok)
        let after = try Self.chromium("http://127.0.0.1:\(h.port)/", extra: ["--dump-dom"])
        #expect(!after.contains(#"data-held="app""#) && after.contains(#"data-route="app""#), "released: no banner")
    }

    /// Changes seconds apart get a marker each but one label, not a pile of overlapping text
    /// (an ops walkthrough's screenshot). The markers keep their tooltips.
    @Test func changesSecondsApartGetAMarkerEachAndOneLabel() throws {
        try requireTools("chromium")
        let h = try MetricsHarness()
        defer { h.stop() }
        for share in ["20%", "30%", "40%", "50%"] { #expect(h.admin.run("weight app cloud \(share)").ok) }
        let dom = try Self.chromium("http://127.0.0.1:\(h.port)/", extra: ["--dump-dom"])
        func count(_ text: String) -> Int { dom.components(separatedBy: text).count - 1 }
        // Every chart: a marker for each of the four changes, and one label.
        let charts = count(#"class="chart""#)
        #expect(charts >= 3 && count(#"<line class="marker""#) >= 4 * charts, "\(count(#"<line class="marker""#)) markers, \(charts) charts")
        #expect(count(#"class="marker-label""#) == count(#"class="chart""#), "one label per chart: \(count(#"class="marker-label""#))")
        #expect(Self.scriptErrors(dom).isEmpty, "\(Self.scriptErrors(dom))")
    }
}
