import CZlib

/// Decodes a gzip-encoded body (`Content-Encoding: gzip`) with zlib, up to `limit` bytes
/// of output: a small answer that inflates without bound (a gzip bomb) must not take the
/// admin thread's memory.
enum GzipDecoder {
    /// Decoded bodies larger than this are compared by hash only.
    static let defaultLimit = 8 << 20

    enum Failure: Error, Equatable {
        case tooLarge
        case corrupt
    }

    static func decode(_ input: [UInt8], limit: Int = defaultLimit) throws(Failure) -> [UInt8] {
        var stream = z_stream()
        // 16 + MAX_WBITS: a gzip header and trailer, not a raw zlib stream (zlib.h, inflateInit2).
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
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
                    let code = inflate(&stream, Z_NO_FLUSH)
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
