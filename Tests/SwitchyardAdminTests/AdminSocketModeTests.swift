import Foundation
import Glibc
import Testing
@testable import SwitchyardAdmin

/// The admin socket is never more open than 0660, not even between bind and chmod.
@Suite struct AdminSocketModeTests {
    @Test func theSocketIsCreated0660ByBindItself() throws {
        let directory = NSTemporaryDirectory() + "switchyard-sock-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/admin.sock"
        let fd = try AdminServer.listen(at: path)
        defer { fd.close() }
        // No chmod has run: this is the mode bind(2) gave the file.
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_mode & S_IFMT == S_IFSOCK)
        #expect(info.st_mode & 0o777 == 0o660, "mode right after bind: \(String(info.st_mode & 0o777, radix: 8))")
        // And the process's umask is back to what it was.
        let mask = umask(0o022)
        umask(mask)
        #expect(mask != 0o117, "the umask was restored")
    }
}
