import Testing
@testable import SwitchyardProxy
import SwitchyardCompare

/// The report's endpoint templates use the inventory's `{id}` rule; the data plane's copy
/// works on raw bytes (`InventoryKey.appendTemplate`), the comparer's on a String
/// (`EndpointTemplate`). They must fold every path the same way.
@Suite struct CompareEndpointRuleTests {
    @Test func theComparerFoldsPathsExactlyAsTheInventoryDoes() {
        let paths = ["/", "", "/patients/42", "/patients/42/notes/3f2c9a1e-0b4d-4c8e-9f1a-2b3c4d5e6f70?x=1",
                     "/files/deadbeefdeadbeef1/raw#frag", "/files/deadbeef/v2", "/a//b/", "/v1/0123456789abcdef",
                     "/v1/abcdefabcdefabcdef", "/v1/-", "/x/3F2C9A1E-0B4D-4C8E-9F1A-2B3C4D5E6F70", "?q=1", "/api/v2/items/1234/ts"]
        let key = InventoryKey()
        for path in paths {
            key.start(route: UnsafeRawBufferPointer(start: nil, count: 0))
            Array(path.utf8).withUnsafeBytes { key.appendTemplate(ofPath: $0) }
            let inventory = String(decoding: UnsafeBufferPointer(start: key.text, count: key.count), as: UTF8.self)
            #expect(EndpointTemplate.template(path) == inventory, "\(path)")
        }
    }
}
