import Foundation
import Testing
@testable import SwitchyardRouting

/// The repository's `routes/` folder, found by walking up from this file's real location
/// (the tests may be reached through a symlink), so the tests work from any clone.
func routesDirectory(file: String = #filePath) -> URL? {
    var directory = URL(fileURLWithPath: file).resolvingSymlinksInPath().deletingLastPathComponent()
    while directory.path != "/" {
        let candidate = directory.appendingPathComponent("routes")
        if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("demo.routes").path) {
            return candidate
        }
        directory = directory.deletingLastPathComponent()
    }
    return nil
}

/// A request over memory it owns, standing in for the proxy's read buffer.
final class FakeRequest: RoutableRequest {
    let host: UnsafeRawBufferPointer
    let path: UnsafeRawBufferPointer
    let clientAddress: ClientAddress
    private let headers: [(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)]
    private var owned: [UnsafeMutableRawBufferPointer] = []

    init(host: String = "app.example", path: String = "/", client: ClientAddress = .v4(0xC000_0201),
         headers: [(String, String)] = []) {
        var owned: [UnsafeMutableRawBufferPointer] = []
        func copy(_ text: String) -> UnsafeRawBufferPointer {
            let bytes = Array(text.utf8)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
            buffer.copyBytes(from: bytes)
            owned.append(buffer)
            return UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[0..<bytes.count])
        }
        self.host = copy(host)
        self.path = copy(path)
        self.clientAddress = client
        self.headers = headers.map { (copy($0.0), copy($0.1)) }
        self.owned = owned
    }

    deinit {
        for buffer in owned { buffer.deallocate() }
    }

    func headerValue(lowercasedName name: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        for header in headers where header.name.count == name.count {
            if zip(header.name, name).allSatisfy({ ByteMatch.lower($0) == $1 }) { return header.value }
        }
        return nil
    }
}

func parse(_ text: String, file: String = "test.routes") throws -> RoutesConfig {
    try RoutesConfig.parse(text, file: file)
}

func table(_ text: String, state: RuntimeState = RuntimeState(), generation: UInt64 = 1) throws -> RouteTable {
    try RouteTable.build(config: try parse(text), state: state, generation: generation)
}

func hex16(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}

/// Two sides and one http listener: the start of most test files (7 lines).
let twoBackends = """
    listen http 127.0.0.1:0
    backend legacy {
        server 192.0.2.1:80
    }
    backend cloud {
        server 192.0.2.2:80
    }

    """
