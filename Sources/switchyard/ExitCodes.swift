/// The exit statuses every command uses, written once: `--help` and the man page show
/// `summary`, and scripts (an upgrade, a CI check) can tell "refused" from "not done".
enum ExitCodes {
    static let ok: Int32 = 0
    /// The proxy answered with a refusal; a routes file or audit log did not pass a check.
    static let refused: Int32 = 1
    /// Nothing was done: no admin socket found, unreachable or untrusted, an unreadable
    /// file, a value that is not one (an unknown --format, a date that is not a date).
    static let unusable: Int32 = 2
    /// The proxy took the command and closed the connection without an answer (it stopped,
    /// or was killed, while running it): it may or may not have been applied.
    static let unanswered: Int32 = 3
    /// `hold`: the hold is on, but writes were still in flight upstream at the deadline, so
    /// the database must not be frozen yet (a script's `hold … && freeze` stops here).
    static let notQuiet: Int32 = 4
    /// The command line itself was wrong (the argument parser's own status, EX_USAGE).
    static let usage: Int32 = 64

    static let summary = """
        EXIT STATUS
          0   done: succeeded, file valid, audit chain intact
          1   refused by the proxy, routes file invalid, audit log altered
          2   not done: no trusted admin socket, unreadable file, bad value
          3   unknown: the proxy closed the connection without answering; see `history`
          4   hold: held, but writes still in flight at the deadline: do not freeze yet
          64  usage: a command or option this program itself does not know (a command
              the proxy refuses for its words, `flip` with no route, exits 1);
              COMMAND --help shows a command's usage
        """
}
