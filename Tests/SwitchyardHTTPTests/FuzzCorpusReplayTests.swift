import Foundation
import Testing
import SwitchyardHTTP
import SwitchyardTestSupport

/// The fuzz corpus (Tests/Fuzz/corpus), replayed through the parsers on every `make test`:
/// what the fuzzer once found interesting keeps being checked, without the fuzzer.
@Suite struct FuzzCorpusReplayTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus")

    static func files(_ name: String) -> [Data] {
        let dir = corpus.appendingPathComponent(name)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.sorted().compactMap { FileManager.default.contents(atPath: dir.appendingPathComponent($0).path) }
    }

    @Test func requestCorpusParsesTheSameWholeAndSplit() {
        let inputs = Self.files("request")
        #expect(inputs.count >= 4)
        for input in inputs {
            input.withUnsafeBytes { bytes in
                let whole = HTTPRequestParser().parse(bytes)
                for cut in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 16)) {
                    let split = HTTPRequestParser()
                    var result = split.parse(UnsafeRawBufferPointer(rebasing: bytes[0..<cut]))
                    if case .needMore = result { result = split.parse(bytes) }
                    #expect(result == whole)
                }
            }
        }
    }

    @Test func responseCorpusParsesTheSameWholeAndSplit() {
        let inputs = Self.files("response")
        #expect(inputs.count >= 3)
        for input in inputs where input.count > 1 {
            input.withUnsafeBytes { raw in
                let methods: [HTTPMethod] = [.get, .head, .post, .connect]
                let method = methods[Int(raw[0]) % methods.count]
                let bytes = UnsafeRawBufferPointer(rebasing: raw[1...])
                let whole = HTTPResponseParser().parse(bytes, requestMethod: method)
                for cut in 0..<bytes.count where cut % max(1, bytes.count / 16) == 0 {
                    let split = HTTPResponseParser()
                    var result = split.parse(UnsafeRawBufferPointer(rebasing: bytes[0..<cut]), requestMethod: method)
                    if case .needMore = result { result = split.parse(bytes, requestMethod: method) }
                    #expect(result == whole)
                }
            }
        }
    }

    @Test func chunkedCorpusDecodesTheSameWholeAndByteByByte() {
        let inputs = Self.files("chunked")
        #expect(inputs.count >= 2)
        for input in inputs where input.count > 1 {
            input.withUnsafeBytes { raw in
                let maxData = Int(raw[0] % 64) + 1
                let bytes = UnsafeRawBufferPointer(rebasing: raw[1...])
                let whole = decodeChunked(bytes, maxData: maxData, feed: bytes.count)
                let trickle = decodeChunked(bytes, maxData: maxData, feed: 1)
                #expect(whole.data == trickle.data && whole.finished == trickle.finished && whole.error == trickle.error)
            }
        }
    }
}
