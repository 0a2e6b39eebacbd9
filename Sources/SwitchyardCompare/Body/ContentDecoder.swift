import CZlib

/// Decodes a compressed body (`Content-Encoding: gzip` or `deflate`) with zlib, up to
/// `limit` bytes of output: a small answer that inflates without bound (a gzip bomb) must
/// not take the comparer's memory.
enum ContentDecoder {
    /// Decoded bodies larger than this are compared by hash only.
    static let defaultLimit = 8 << 20

    enum Failure: Error, Equatable {
        case tooLarge
        case corrupt
    }

    /// A content coding this decoder knows (RFC 9110 §8.4.1).
    enum Coding: Equatable {
        case identity, gzip, deflate
    }

    /// The coding a Content-Encoding value names; nil for one it cannot decode (`br`,
    /// `zstd`, `compress`, or several codings stacked). No value: identity.
    static func coding(of value: String?) -> Coding? {
        switch folded(value) {
        case "", "identity": return .identity
        case "gzip", "x-gzip": return .gzip
        case "deflate": return .deflate
        default: return nil
        }
    }

    /// A Content-Encoding value as compared: letter case and surrounding blanks aside, no
    /// value the same as an empty one.
    static func folded(_ value: String?) -> String {
        (value ?? "").trimmingCharacters(in: [" ", "\t"]).lowercased()
    }

    static func decode(_ input: [UInt8], _ coding: Coding, limit: Int = defaultLimit) throws(Failure) -> [UInt8] {
        switch coding {
        case .identity:
            return input
        case .gzip:
            // 16 + MAX_WBITS: a gzip header and trailer (zlib.h, inflateInit2).
            return try inflate(input, windowBits: 16 + MAX_WBITS, limit: limit)
        case .deflate:
            // "deflate" is the zlib format (RFC 9110 §8.4.1.2), but some servers send the raw
            // deflate stream without its zlib header: that is tried when the header is not one.
            do throws(Failure) {
                return try inflate(input, windowBits: MAX_WBITS, limit: limit)
            } catch .tooLarge {
                throw .tooLarge
            } catch {
                return try inflate(input, windowBits: -MAX_WBITS, limit: limit)
            }
        }
    }

    private static func inflate(_ input: [UInt8], windowBits: Int32, limit: Int) throws(Failure) -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .corrupt
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        var input = input
        let status: Int32 = input.withUnsafeMutableBufferPointer { source in
            stream.next_in = source.baseAddress
            stream.avail_in = uInt(source.count)
            while true {
                let (code, produced) = chunk.withUnsafeMutableBufferPointer { out -> (Int32, Int) in
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(out.count)
                    let code = CZlib.inflate(&stream, Z_NO_FLUSH)
                    return (code, out.count - Int(stream.avail_out))
                }
                if output.count + produced > limit { return Z_BUF_ERROR + 1000 }
                output.append(contentsOf: chunk[0..<produced])
                if code == Z_STREAM_END { return Z_STREAM_END }
                if code != Z_OK { return code }
                // No progress and no input left: a truncated stream.
                if produced == 0 && stream.avail_in == 0 { return Z_DATA_ERROR }
            }
        }
        if status == Z_BUF_ERROR + 1000 { throw .tooLarge }
        guard status == Z_STREAM_END else { throw .corrupt }
        return output
    }
}
