/// Where a long-running command (`hold` waiting for quiet, `release` draining its queue)
/// reports how far it is while its answer is not ready yet: one `progress: …` line at a time
/// on the admin connection, which the CLI shows as a live line on a terminal and a person
/// at socat reads as it comes. JSON answers get none (a reader expects one object).
///
/// Used by the one admin thread that runs the command; rate-limited so a tight wait loop
/// does not flood the socket.
public final class AdminProgress: @unchecked Sendable {
    /// The marker the CLI recognises; the rest of the line is for people.
    public static let prefix = "progress: "
    private let sink: ((String) -> Void)?
    private var lastSent: UInt64 = 0
    private var lastText = ""
    private let intervalMilliseconds: UInt64

    /// `sink` writes one line (without its newline); nil reports nothing.
    public init(intervalMilliseconds: UInt64 = 250, sink: ((String) -> Void)?) {
        self.sink = sink
        self.intervalMilliseconds = intervalMilliseconds
    }

    public static let silent = AdminProgress(sink: nil)

    /// Sends `text` unless it is what was sent last or the last line is younger than the
    /// interval.
    func report(_ text: String, now: UInt64) {
        guard let sink, text != lastText, now &- lastSent >= intervalMilliseconds || lastSent == 0 else { return }
        lastSent = now
        lastText = text
        sink(Self.prefix + text)
    }
}
