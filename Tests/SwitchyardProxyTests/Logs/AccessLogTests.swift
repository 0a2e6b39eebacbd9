import Foundation
import Glibc
import SwitchyardSystem
import Testing
@testable import SwitchyardProxy

/// The access log's line, field by field where it formats by hand: a logged path escapes
/// exactly the bytes JSON needs escaped (the word-at-a-time scan against the byte-wise
/// rule, every byte value at every position of a word and of the tail), and the time —
/// formatted once a second and kept — is the same RFC 3339 text `gmtime_r` gives, across
/// second, day, month, year and leap-day boundaries.
@Suite struct AccessLogTests {
    /// Lines written by a fresh log with `entries` (path, time in µs each), read back.
    static func lines(_ entries: [([UInt8], UInt64)]) throws -> [String] {
        let path = NSTemporaryDirectory() + "switchyard-accesslog-\(UUID().uuidString).log"
        defer { unlink(path) }
        let fd = try AccessLog.open(path: path)
        defer { fd.close() }
        let log = AccessLog(fd: fd, bufferSize: 8 * 1024)
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        for (bytes, micros) in entries {
            bytes.withUnsafeBytes { p in
                log.append(.init(client: empty, method: empty, path: p, route: empty, backend: empty, server: empty,
                                 status: 200, bytesIn: 0, bytesOut: 0, durationMicroseconds: 0, generation: 1,
                                 protocolName: "h1", tlsVersion: ""), wallMicroseconds: micros)
            }
        }
        log.flush()
        let text = try String(contentsOfFile: path, encoding: .isoLatin1)
        return text.split(separator: "\n").map(String.init)
    }

    /// What JSON needs: control bytes, quote, backslash, and (our choice, the log stays
    /// ASCII) DEL and everything above as `\u00XX`.
    static func escaped(_ bytes: [UInt8]) -> String {
        var out = ""
        for b in bytes {
            if b < 0x20 || b == 0x22 || b == 0x5C || b >= 0x7F {
                out += "\\u00" + (b < 0x10 ? "0" : "") + String(b, radix: 16)
            } else {
                out += String(UnicodeScalar(b))
            }
        }
        return out
    }

    static func field(_ line: String, _ name: String, until next: String) -> String? {
        guard let start = line.range(of: "\"\(name)\":\""), let end = line.range(of: "\",\"\(next)\"", range: start.upperBound..<line.endIndex)
        else { return nil }
        return String(line[start.upperBound..<end.lowerBound])
    }

    @Test func everyByteValueAtEveryPositionIsEscapedExactlyAsJSONNeeds() throws {
        // 19 bytes: two words and a three-byte tail, so each position is scanned both ways.
        var paths: [[UInt8]] = []
        for position in 0..<19 {
            for value in 0...255 {
                var path = [UInt8](repeating: UInt8(ascii: "a"), count: 19)
                path[position] = UInt8(value)
                paths.append(path)
            }
        }
        paths.append(Array("/\u{7F}\"\\\u{1}x/y".utf8))
        paths.append([])
        let lines = try Self.lines(paths.map { ($0, 1_700_000_000_000_000) })
        #expect(lines.count == paths.count)
        var wrong = 0
        for (path, line) in zip(paths, lines) where Self.field(line, "path", until: "route") != Self.escaped(path) {
            wrong += 1
            if wrong <= 3 { Issue.record("path \(path) logged as \(line)") }
        }
        #expect(wrong == 0)
    }

    @Test func theTimeIsRFC3339UTCWithMicrosecondsAcrossEveryBoundary() throws {
        func gmtime(_ micros: UInt64) -> String {
            var seconds = time_t(micros / 1_000_000)
            var parts = tm()
            gmtime_r(&seconds, &parts)
            return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                          parts.tm_hour, parts.tm_min, parts.tm_sec, Int(micros % 1_000_000))
        }
        var times: [UInt64] = [0, 999_999, 1_000_000]
        // Around midnight of a year's end, a leap day, a century that is not a leap year
        // and one that is; the same second twice (the kept part), then the next.
        for second: UInt64 in [1_704_067_199, 1_709_164_799, 4_107_542_399, 951_782_399, 1_700_000_000] {
            times += [second * 1_000_000, second * 1_000_000 + 7, second * 1_000_000 + 999_999, (second + 1) * 1_000_000 + 1]
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<500 { times.append(UInt64.random(in: 0..<4_102_444_800_000_000, using: &generator)) }
        let lines = try Self.lines(times.map { (Array("/".utf8), $0) })
        #expect(lines.count == times.count)
        for (micros, line) in zip(times, lines) {
            #expect(Self.field(line, "time", until: "request_id") == gmtime(micros), "\(micros)")
        }
    }
}
