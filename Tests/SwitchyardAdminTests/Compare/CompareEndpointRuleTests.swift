import Testing
@testable import SwitchyardProxy
import SwitchyardCompare

/// The report's endpoint templates use the inventory's `{id}` rule (one function,
/// `EndpointTemplate.isIdentifier`); the data plane walks raw bytes
/// (`InventoryKey.appendTemplate`), the comparer a String (`EndpointTemplate.template`).
/// They must fold every path the same way.
@Suite struct CompareEndpointRuleTests {
    @Test func theComparerFoldsPathsExactlyAsTheInventoryDoes() {
        let paths = ["/", "", "/patients/42", "/patients/42/notes/3f2c9a1e-0b4d-4c8e-9f1a-2b3c4d5e6f70?x=1",
                     "/files/deadbeefdeadbeef1/raw#frag", "/files/deadbeef/v2", "/a//b/", "/v1/0123456789abcdef",
                     "/v1/abcdefabcdefabcdef", "/v1/-", "/x/3F2C9A1E-0B4D-4C8E-9F1A-2B3C4D5E6F70", "?q=1", "/api/v2/items/1234/ts",
                     "/by-email/jane@x.org", "/mrn/MRN00417/notes", "/t/a1b2c3d4", "/t/a1b2c3d", "/t/v2beta", "/q/x=1", "/q/a;b",
                     "/s/Jane%20Doe", "/c/\u{1b}[31m", "/long/" + String(repeating: "a", count: 33), "/long/" + String(repeating: "a", count: 32),
                     "/files/deadbeef/report-2024.pdf", "/v1/abcdefgh", "/patients/1234567,7654321/allergies", "/at/12:30:00"]
        let key = InventoryKey()
        for path in paths {
            key.start(route: UnsafeRawBufferPointer(start: nil, count: 0))
            Array(path.utf8).withUnsafeBytes { key.appendTemplate(ofPath: $0) }
            let inventory = String(decoding: UnsafeBufferPointer(start: key.text, count: key.count), as: UTF8.self)
            #expect(EndpointTemplate.template(path) == inventory, "\(path)")
        }
    }

    /// The segments that may carry a person's data fold too, on both sides.
    @Test func segmentsThatMayHoldAPersonsDataFold() {
        let expected = ["/by-email/jane@x.org": "/by-email/{id}", "/mrn/MRN00417/notes": "/mrn/{id}/notes",
                        "/t/a1b2c3d4": "/t/{id}", "/t/a1b2c3d": "/t/a1b2c3d", "/t/v2beta": "/t/v2beta",
                        "/q/x=1": "/q/{id}", "/q/a;b": "/q/{id}", "/s/Jane%20Doe": "/s/{id}", "/c/\u{1b}[31m": "/c/{id}",
                        "/long/" + String(repeating: "a", count: 33): "/long/{id}",
                        "/files/deadbeef/report-2024.pdf": "/files/deadbeef/{id}", "/v1/abcdefgh": "/v1/abcdefgh",
                        // Dashed or dotted numbers: a social security number, a birth date, phone numbers.
                        "/members/123-45-6789": "/members/{id}", "/patients/by-dob/1984-03-12": "/patients/by-dob/{id}",
                        "/callers/555.123.4567": "/callers/{id}", "/p/+15551234567": "/p/{id}", "/p/(555)1234567": "/p/{id}",
                        // Short record numbers: letters with four digits or more.
                        "/patients/E12345": "/patients/{id}", "/mrn/MRN0042/chart": "/mrn/{id}/chart", "/t/x1y2z3": "/t/x1y2z3",
                        // Digits with other punctuation: lists of record numbers, times.
                        "/patients/1234567,7654321/allergies": "/patients/{id}/allergies", "/at/12:30:00": "/at/{id}",
                        "/r/~2024": "/r/{id}", "/r/1,2,3": "/r/1,2,3",
                        // Versions and short numbers stay.
                        "/api/v1.2/x": "/api/v1.2/x", "/r/1.0": "/r/1.0", "/a-b/c.d": "/a-b/c.d"]
        for (path, template) in expected { #expect(EndpointTemplate.template(path) == template, "\(path)") }
    }
}
