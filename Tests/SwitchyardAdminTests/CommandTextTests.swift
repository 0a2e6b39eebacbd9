import Foundation
import Glibc
import Testing
import SwitchyardAdmin
import SwitchyardOrigin
import SwitchyardTestSupport

/// What a command line may contain: no control, bidi or format characters anywhere, every
/// word quoted by the CLI so that a reason can never become a second command.
@Suite(.serialized) struct CommandTextTests {
    static let refused: [(String, String)] = [
        ("NUL", "\u{0}"), ("TAB inside quotes", "\t"), ("LF", "\n"), ("CR inside", "\r"), ("ESC", "\u{1B}"), ("DEL", "\u{7F}"),
        ("C1 CSI", "\u{9B}"), ("zero width space", "\u{200B}"), ("RLM", "\u{200F}"), ("LRE", "\u{202A}"),
        ("RLO", "\u{202E}"), ("LRI", "\u{2066}"), ("PDI", "\u{2069}"),
    ]

    @Test func everyRefusedCharacterIsRefusedInAReasonWithOneLine() {
        for (name, character) in Self.refused {
            do {
                _ = try AdminCommandLine(parsing: "flip all --reason \"CHG\(character)1\"")
                Issue.record("\(name) was accepted")
            } catch {
                #expect(error.message.contains("is not allowed in commands"), "\(name): \(error)")
                #expect(!error.message.contains("\n"))
            }
        }
        // Escaped inside quotes too (a client other than the CLI: `"\<ESC>"` was taken
        // as the character itself, unchecked).
        for (name, character) in Self.refused {
            #expect(throws: AdminError.self, "escaped \(name)") { try AdminCommandLine(parsing: "flip all --reason \"CHG\\\(character)1\"") }
        }
        // Unquoted too (a cohort value, a route name).
        #expect(throws: AdminError.self) { try AdminCommandLine(parsing: "cohort app add header X v\u{202E}1 -> cloud") }
        // What stays allowed: tabs between words, one CR ending the line, other Unicode.
        let line = try? AdminCommandLine(parsing: "flip\tall --reason \"Änderung 12 ✓\"\r")
        #expect(line?.words == ["flip", "all"])
        #expect(line?.reason == "Änderung 12 ✓")
    }

    @Test func quotedWordsComeBackExactly() throws {
        let words = ["weight", "app", "cloud", "10%", "--reason", "say \"hi\" \\ back\\", "", "x"]
        let line = try AdminCommandLine.line(quoting: words)
        #expect(line.hasSuffix("\n") && line.filter { $0 == "\n" }.count == 1)
        let parsed = try AdminCommandLine(parsing: String(line.dropLast()))
        #expect(parsed.words == ["weight", "app", "cloud", "10%", "", "x"])
        #expect(parsed.reason == "say \"hi\" \\ back\\")
        #expect(parsed.text == #"weight app cloud 10% --reason "say \"hi\" \\ back\\" "" x"#)
        #expect(throws: AdminError.self) { try AdminCommandLine.line(quoting: ["flip", "all", "--reason", "a\nflip all"]) }
    }

    @Test func requireReasonRefusesChangesWithoutOne() throws {
        let routes = AdminHarness.routes + "\nadmin /nonexistent/admin.sock require-reason\n"
        let h = try AdminHarness(routes: routes)
        defer { h.stop() }
        let refused = h.run("flip all")
        #expect(!refused.ok)
        #expect(refused.text.contains("a reason is required"), "\(refused.text)")
        #expect(h.run("flip all --reason \"  \"").ok == false, "a blank reason is no reason")
        #expect(h.proxy.table.generation == 1)
        #expect(h.auditRecords().last?["outcome"] as? String == "refused")
        #expect(h.run("status").ok, "reading needs no reason")
        #expect(h.run("flip all --reason CHG-7").ok)
        #expect(h.proxy.table.generation == 2)
    }

    @Test
    func aReasonWithANewlineRunsNoSecondCommand() throws {
        let legacy = try OriginServer(name: "legacy"), cloud = try OriginServer(name: "cloud")
        legacy.start(); cloud.start()
        defer { legacy.stop(); cloud.stop() }
        let directory = NSTemporaryDirectory() + "switchyard-text-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let served = try ServeProcessTests.Served(directory: directory, routes: ServeProcessTests.routes(directory, legacy.port, cloud.port))
        defer { served.stop() }

        // The CLI refuses the argument instead of sending two lines.
        let (status, output) = try runProcess(try switchyardBinary(),
                                              ["weight", "app", "cloud", "20%", "--reason", "CHG-1\nflip all", "--admin", served.admin])
        #expect(status == 2, "\(output)")
        #expect(output.contains("argument 6 contains U+000A"), "\(output)")
        #expect(output.split(separator: "\n").count == 1)
        // Words with spaces and quotes arrive whole.
        let (okStatus, okOutput) = try runProcess(try switchyardBinary(),
                                                  ["weight", "app", "cloud", "20%", "--reason", "CHG \"2\" now", "--admin", served.admin])
        #expect(okStatus == 0, "\(okOutput)")
        // The server refuses a bidi override on the raw socket, in one line.
        let raw = try #require(ServeProcessTests.command(served.admin, "weight app cloud 30% --reason \"CHG-\u{202E}3\""))
        #expect(raw.hasPrefix("error: character U+202E is not allowed"), "\(raw)")
        #expect(raw.split(separator: "\n").count == 1)
        let history = try #require(ServeProcessTests.command(served.admin, "history"))
        #expect(history.contains(#"CHG \"2\" now"#), "\(history)")
        #expect(!history.contains("flip"), "no second command ran: \(history)")
        #expect(ServeProcessTests.command(served.admin, "status")?.contains("cloud 20.00%") == true)
    }
}
