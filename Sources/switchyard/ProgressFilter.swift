import Glibc
import SwitchyardAdmin

/// Splits an admin answer as it arrives: `progress: …` lines (a `hold` waiting for writes in
/// flight, a `release` draining its queue) are shown as one live line on a terminal,
/// rewritten in place, and dropped otherwise (a script gets the answer alone); everything
/// else is the answer, printed once the proxy closes the connection.
struct ProgressFilter {
    private let live: Bool
    private var pending: [UInt8] = []
    private var answer: [UInt8] = []
    private var showing = false

    init(live: Bool) {
        self.live = live
    }

    mutating func take(_ bytes: ArraySlice<UInt8>) {
        pending.append(contentsOf: bytes)
        while let newline = pending.firstIndex(of: 0x0A) {
            let line = Array(pending[..<newline])
            pending.removeSubrange(...newline)
            let text = String(decoding: line, as: UTF8.self)
            if answer.isEmpty && text.hasPrefix(AdminProgress.prefix) {
                show(String(text.dropFirst(AdminProgress.prefix.count)))
            } else {
                answer.append(contentsOf: line)
                answer.append(0x0A)
            }
        }
    }

    /// The answer without its progress lines; clears the live line first.
    mutating func finish() -> String {
        answer.append(contentsOf: pending)
        pending = []
        if showing { write("\r\u{1B}[K") }
        return String(decoding: answer, as: UTF8.self)
    }

    private mutating func show(_ text: String) {
        guard live else { return }
        showing = true
        write("\r\u{1B}[K… " + text)
    }

    private func write(_ text: String) {
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { _ = Glibc.write(STDOUT_FILENO, $0.baseAddress, $0.count) }
    }
}
