import Foundation
import Glibc
import Testing
import SwitchyardSystem
import SwitchyardTestSupport

/// `Locked`, the lock behind every piece of state threads share.
@Suite struct LockedTests {
    /// Four threads add to one count under the lock, with a yield between the read and the
    /// write so an unguarded update would lose increments; the total is exact.
    @Test func updatesFromManyThreadsAreNeverLost() {
        let count = Locked(0)
        let threads = 4, rounds = 20_000
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            for i in 0..<rounds {
                count.withLock { value in
                    let read = value
                    if i % 1_000 == 0 { sched_yield() }
                    value = read + 1
                }
            }
        }
        #expect(count.withLock { $0 } == threads * rounds)
    }

    /// An error thrown inside the lock comes out typed and leaves the lock free.
    @Test func aThrowingBodyReleasesTheLock() {
        struct Refused: Error {}
        let state = Locked([1, 2])
        #expect(throws: Refused.self) {
            try state.withLock { (_: inout [Int]) throws(Refused) in throw Refused() }
        }
        let taken = DispatchSemaphore(value: 0)
        Thread { state.withLock { $0.append(3) }; taken.signal() }.start()
        #expect(taken.wait(timeout: .now() + 10) == .success, "the lock stayed held after the throw")
        #expect(state.withLock { $0 } == [1, 2, 3])
    }

    /// No source uses the standard library's `Mutex`: `make tsan` cannot see its lock (it is
    /// taken in `libswiftSynchronization`, which the sanitizer does not instrument) and reports
    /// every contended access under it as a race, hiding real ones among them.
    @Test func sourcesUseLockedNotTheStandardMutex() throws {
        let root = repositoryRoot()
        var offenders: [String] = []
        for top in ["Sources", "Tests"] {
            let base = root.appendingPathComponent(top).path
            let files = try #require(FileManager.default.enumerator(atPath: base)).compactMap { $0 as? String }
            for file in files where file.hasSuffix(".swift") && !file.hasSuffix("LockedTests.swift") {
                let text = try String(contentsOfFile: base + "/" + file, encoding: .utf8)
                for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
                where !line.trimmingCharacters(in: .whitespaces).hasPrefix("//")
                    && (line.contains("Mutex<") || line.contains("Mutex(")) {
                    offenders.append("\(top)/\(file):\(n + 1): \(line.trimmingCharacters(in: .whitespaces))")
                }
            }
        }
        #expect(offenders.isEmpty, "use Locked (SwitchyardSystem) instead:\n\(offenders.joined(separator: "\n"))")
    }
}
