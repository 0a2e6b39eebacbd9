import Foundation
import Glibc
import Testing
@testable import SwitchyardAdmin
import SwitchyardRouting
import SwitchyardTestSupport

/// The audit log's hash chain, written by the real commit path and checked by
/// `AuditVerifier` and by `switchyard audit verify` as a process.
@Suite(.serialized) struct AuditChainTests {
    /// A harness with `changes` accepted changes (and its start record, if any).
    static func harness(changes: Int) throws -> AdminHarness {
        let h = try AdminHarness()
        for i in 0..<changes {
            let answer = h.run("weight app cloud \(20 + i % 2)% --reason \"CHG-\(i)\"")
            #expect(answer.ok, "\(answer.text)")
        }
        return h
    }

    static func lines(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    static func write(_ lines: [String], to path: String) throws {
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: false, encoding: .utf8)
    }

    static func verifyWithTheCLI(_ path: String) throws -> (status: Int32, output: String) {
        try runProcess(try switchyardBinary(), ["audit", "verify", path])
    }

    @Test func anUntouchedLogOfAThousandChangesVerifies() throws {
        let h = try Self.harness(changes: 1000)
        defer { h.stop() }
        let lines = try Self.lines(h.auditPath)
        #expect(lines.count == 1000)
        guard case .intact(let records, let instance, let last)? = try? AuditVerifier.verify(path: h.auditPath) else {
            Issue.record("not intact: \(String(describing: try? AuditVerifier.verify(path: h.auditPath)))")
            return
        }
        #expect(records == 1000 && instance.count == 32 && last.count == 64)
        // Each record is still one JSON object with what it always had.
        let first = try #require(h.auditRecords().first)
        #expect(first["seq"] as? Int == 1 && first["instance"] as? String == instance && first["command"] as? String != nil)
        let cli = try Self.verifyWithTheCLI(h.auditPath)
        #expect(cli.status == 0 && cli.output.contains("ok — 1000 record(s)") && cli.output.contains(instance), "\(cli.output)")
    }

    @Test func aChangedByteARemovedLineAndSwappedLinesAreNamed() throws {
        let h = try Self.harness(changes: 8)
        defer { h.stop() }
        let original = try Self.lines(h.auditPath)
        #expect(original.count == 8)
        let path = h.directory + "/tampered.log"

        // One byte of record 4's reason.
        var altered = original
        altered[3] = altered[3].replacingOccurrences(of: "CHG-3", with: "CHG-9")
        try Self.write(altered, to: path)
        var cli = try Self.verifyWithTheCLI(path)
        #expect(cli.status == 1 && cli.output.contains("tampered.log:4: record 4 (line 4) was altered"), "\(cli.output)")

        // The last record: no successor, its own hash tells.
        altered = original
        altered[7] = altered[7].replacingOccurrences(of: "CHG-7", with: "CHG-1")
        try Self.write(altered, to: path)
        #expect(AuditVerifier.verify(text: altered.joined(separator: "\n")) ==
                .broken(line: 8, reason: "record 8 (line 8) was altered: its content does not match its hash"))

        // Rewritten with a fresh hash of its own: the next record's link tells.
        altered = original
        let rewritten = altered[3].replacingOccurrences(of: "CHG-3", with: "CHG-9")
        let link = try #require(AuditChain.link(of: Substring(rewritten)))
        let body = "{" + rewritten.dropFirst(rewritten.distance(from: rewritten.startIndex, to: rewritten.range(of: ",\"command\"")!.lowerBound) + 1)
        altered[3] = AuditChain.line(body: body, prev: link.prev, seq: link.seq).line
        try Self.write(altered, to: path)
        cli = try Self.verifyWithTheCLI(path)
        #expect(cli.status == 1 && cli.output.contains("tampered.log:4: record 4 (line 4) was altered or replaced"), "\(cli.output)")

        // Record 5 removed.
        altered = original
        altered.remove(at: 4)
        try Self.write(altered, to: path)
        cli = try Self.verifyWithTheCLI(path)
        #expect(cli.status == 1 && cli.output.contains("tampered.log:5: record 5 was removed before line 5 (record 6)"), "\(cli.output)")

        // Records 3 and 4 swapped.
        altered = original
        altered.swapAt(2, 3)
        try Self.write(altered, to: path)
        cli = try Self.verifyWithTheCLI(path)
        #expect(cli.status == 1 && cli.output.contains("tampered.log:3: record 4 (line 3) is out of order"), "\(cli.output)")

        // The first record removed, and the anchor changed.
        altered = original
        altered.removeFirst()
        #expect(AuditVerifier.verify(text: altered.joined(separator: "\n")) ==
                .broken(line: 1, reason: "records 1…1 were removed: the log starts at record 2"))
        altered = original
        altered[0] = altered[0].replacingOccurrences(of: "\"instance\":\"", with: "\"instance\":\"0")
        #expect(AuditVerifier.verify(text: altered.joined(separator: "\n")) != AuditVerifier.verify(text: original.joined(separator: "\n")))

        // The original still verifies.
        cli = try Self.verifyWithTheCLI(h.auditPath)
        #expect(cli.status == 0, "\(cli.output)")
    }

    @Test func aRestartedWriterContinuesTheChain() throws {
        let h = try Self.harness(changes: 3)
        defer { h.stop() }
        // A new writer (a restart, an upgrade) reads the head from the file.
        let again = AuditLog(path: h.auditPath)
        try again.append(.init(time: AuditLog.now(), outcome: "accepted", uid: 0, pid: 1, user: "root", command: "test",
                               reason: nil, changes: [], error: nil, generationBefore: nil, generation: nil))
        #expect(try AuditVerifier.verify(path: h.auditPath) != .empty)
        guard case .intact(let records, _, _) = try AuditVerifier.verify(path: h.auditPath) else {
            Issue.record("\(try AuditVerifier.verify(path: h.auditPath))")
            return
        }
        #expect(records == 4)
    }

    /// The head is read from the file's end, not the whole file: a log far past the first
    /// 64 KiB read, and a last record longer than that (many changes), both continue the
    /// chain. Before, every start and first append read years of records whole.
    @Test func aRestartedWriterFindsTheHeadAtTheEndOfALargeLog() throws {
        let h = try Self.harness(changes: 3)
        defer { h.stop() }
        let writer = AuditLog(path: h.auditPath)
        for i in 0..<400 {
            try writer.append(.init(time: AuditLog.now(), outcome: "accepted", uid: 0, pid: 1, user: "root", command: "test \(i)",
                                    reason: String(repeating: "r", count: 400), changes: [], error: nil, generationBefore: nil, generation: nil))
        }
        let long = (0..<1200).map { "route r\($0): split legacy 50.00% cloud 50.00% (was legacy 100.00%)" }
        try writer.append(.init(time: AuditLog.now(), outcome: "accepted", uid: 0, pid: 1, user: "root", command: "reload",
                                reason: nil, changes: long, error: nil, generationBefore: nil, generation: nil))
        let size = (try FileManager.default.attributesOfItem(atPath: h.auditPath)[.size] as? Int) ?? 0
        #expect(size > 200_000)
        let again = AuditLog(path: h.auditPath)
        try again.append(.init(time: AuditLog.now(), outcome: "accepted", uid: 0, pid: 1, user: "root", command: "after",
                               reason: nil, changes: [], error: nil, generationBefore: nil, generation: nil))
        guard case .intact(let records, _, _) = try AuditVerifier.verify(path: h.auditPath) else {
            Issue.record("\(try AuditVerifier.verify(path: h.auditPath))")
            return
        }
        #expect(records == 3 + 400 + 1 + 1, "one chain: \(records)")
    }

    /// The state file is written before the audit record: a process killed between the two
    /// restarts in a state the audit log never named. The next start writes a `recovered`
    /// record from the state file's history, and the chain stays intact.
    @Test func aChangeInForceWithoutItsRecordIsRecoveredAtTheNextStart() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        #expect(h.run("weight app cloud 20%").ok)
        #expect(h.run("weight app cloud 30% --reason CHG-31").ok)
        // Killed after the state file, before the record: the last line never made it.
        let text = try String(contentsOfFile: h.auditPath, encoding: .utf8)
        var lines = text.split(separator: "\n")
        #expect(lines.last?.contains("cloud 30%") == true)
        lines.removeLast()
        try (lines.joined(separator: "\n") + "\n").write(toFile: h.auditPath, atomically: true, encoding: .utf8)
        try h.restartedService()
        let recovered = h.auditRecords().filter { $0["outcome"] as? String == "recovered" }
        #expect(recovered.count == 1, "\(recovered)")
        #expect(recovered.first?["generation"] as? Int == 3)
        #expect((recovered.first?["command"] as? String)?.hasPrefix("weight app cloud 30%") == true)
        #expect(recovered.first?["reason"] as? String == "CHG-31")
        guard case .intact = try AuditVerifier.verify(path: h.auditPath) else {
            Issue.record("\(try AuditVerifier.verify(path: h.auditPath))")
            return
        }
        // A second start finds generation 3 recorded: nothing more.
        try h.restartedService()
        #expect(h.auditRecords().filter { $0["outcome"] as? String == "recovered" }.count == 1)
    }

    /// Runs `line` while the audit log cannot be written (a directory in its place), then puts
    /// the log back as it was: the change is in force, its record missing.
    static func runWithTheAuditLogUnwritable(_ h: AdminHarness, _ line: String) throws -> (ok: Bool, text: String) {
        let kept = try String(contentsOfFile: h.auditPath, encoding: .utf8)
        try FileManager.default.removeItem(atPath: h.auditPath)
        try FileManager.default.createDirectory(atPath: h.auditPath, withIntermediateDirectories: false)
        let answer = h.run(line)
        try FileManager.default.removeItem(atPath: h.auditPath)
        try kept.write(toFile: h.auditPath, atomically: true, encoding: .utf8)
        return answer
    }

    /// An append that failed (answered with a warning, the process ran on) leaves a gap
    /// that later records pass: it is recovered at the next start all the same.
    @Test func aChangeWhoseAppendFailedIsRecoveredThoughLaterOnesWereRecorded() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        #expect(h.run("weight app cloud 20%").ok)
        let unrecorded = try Self.runWithTheAuditLogUnwritable(h, "weight app cloud 30%")
        #expect(unrecorded.ok && unrecorded.text.contains("warning: the audit record was not written"), "\(unrecorded.text)")
        #expect(h.run("weight app cloud 40%").ok)
        try h.restartedService()
        let recovered = h.auditRecords().filter { $0["outcome"] as? String == "recovered" }
        #expect(recovered.count == 1 && recovered.first?["generation"] as? Int == 3, "\(recovered)")
        #expect((recovered.first?["command"] as? String)?.hasPrefix("weight app cloud 30%") == true)
    }

    /// The same gap followed by a command that makes no generation (a guard added at run
    /// time: its record names the generation in force, the unrecorded one). Before, that
    /// record counted as the gap's and the change was never recovered.
    @Test func aChangeWhoseAppendFailedIsRecoveredThoughALaterRecordNamesItsGeneration() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        #expect(h.run("weight app cloud 20%").ok)
        #expect(try Self.runWithTheAuditLogUnwritable(h, "weight app cloud 30%").text.contains("warning: the audit record was not written"))
        let added = h.run("guard app add errs errors new cloud old legacy")
        #expect(added.ok, "\(added.text)")
        #expect(h.auditRecords().last?["generation"] as? Int == 3, "the guard's record names generation 3")
        try h.restartedService()
        let recovered = h.auditRecords().filter { $0["outcome"] as? String == "recovered" }
        #expect(recovered.count == 1 && recovered.first?["generation"] as? Int == 3, "\(recovered)")
    }

    @Test func refusalsFromManyThreadsStayInOneChain() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        let stranger = Caller(uid: 4242, gid: 4242, pid: 7, userName: "stranger")
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            _ = h.run("weight app cloud \(30 + i)%", as: stranger)
            _ = h.run("weight app cloud \(30 + i)%")
        }
        guard case .intact(let records, _, _) = try AuditVerifier.verify(path: h.auditPath) else {
            Issue.record("\(try AuditVerifier.verify(path: h.auditPath))")
            return
        }
        #expect(records == (try Self.lines(h.auditPath)).count && records >= 9)
    }

    /// A log whose last line was torn (power lost mid-write: no newline) gets the fragment
    /// ended before the next record, which starts a new chain on a line of its own. Before,
    /// that record was glued to the fragment: unreadable to `verify`, `export` and the start.
    @Test func aTornLastLineIsEndedBeforeTheNextRecord() throws {
        let path = NSTemporaryDirectory() + "switchyard-audit-torn-\(UUID().uuidString).log"
        defer { unlink(path) }
        func record(_ command: String) -> AuditLog.Record {
            .init(time: "2026-12-05T00:00:00Z", outcome: "accepted", uid: 0, pid: 1, user: "root", command: command,
                  reason: nil, changes: ["x"], error: nil, generationBefore: 1, generation: 2)
        }
        try AuditLog(path: path).append(record("first"))
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data(#"{"command":"torn mid-wri"#.utf8))
        try handle.close()
        try AuditLog(path: path).append(record("after the crash"))
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 4 && lines[3].isEmpty, "\(lines)")
        #expect(lines[1] == #"{"command":"torn mid-wri"#, "the fragment stays, alone on its line")
        let last = try #require(try JSONSerialization.jsonObject(with: Data(lines[2].utf8)) as? [String: Any])
        #expect(last["command"] as? String == "after the crash", "\(lines[2])")
    }

    /// An append cut short (a full disk; here a file-size limit) is taken back: the fragment
    /// stayed without its newline, the next record was glued to it, and both were lost to
    /// the verifier. In a child process: the limit and its signal are the whole process's.
    @Test func anAppendCutShortLeavesNoFragmentForTheNextRecord() async {
        await #expect(processExitsWith: .success) {
            signal(SIGXFSZ, SIG_IGN)
            let path = NSTemporaryDirectory() + "switchyard-audit-cut-\(getpid()).log"
            defer { unlink(path) }
            let log = AuditLog(path: path)
            func record(_ command: String) -> AuditLog.Record {
                .init(time: "2026-12-04T00:00:00Z", outcome: "accepted", uid: 0, pid: 1, user: "root", command: command,
                      reason: nil, changes: ["x"], error: nil, generationBefore: 1, generation: 2)
            }
            guard (try? log.append(record("first"))) != nil else { exit(2) }
            var info = stat()
            guard stat(path, &info) == 0 else { exit(3) }
            var limit = rlimit()
            getrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limit)
            let hard = limit.rlim_max
            limit.rlim_cur = rlim_t(info.st_size) + 20
            setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limit)
            if (try? log.append(record(String(repeating: "long ", count: 40)))) != nil { exit(4) }   // must fail
            limit.rlim_cur = hard
            setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limit)
            guard (try? log.append(record("third"))) != nil else { exit(5) }
            guard case .intact(let records, _, _)? = try? AuditVerifier.verify(path: path), records == 2 else { exit(6) }
        }
    }
}
