import CNGHTTP2

/// The server side of one HTTP/2 connection, over nghttp2's memory I/O: the owner feeds it
/// the bytes the client sent (`receive`) and writes out what it produces (`produce`); no
/// file descriptor is touched here. Requests and stream events go to the delegate.
///
/// Every session is created with the limits in `H2Limits` — the SETTINGS we advertise and
/// nghttp2's flood guards — and with automatic window updates off: request body bytes are
/// acknowledged (`consume`) only when the delegate has passed them on, which is what
/// bounds the memory a slow backend can make us hold.
public final class H2ServerSession {
    private var session: OpaquePointer?
    /// Strong on purpose: the delegate (the HTTP/2 connection) owns this session, and the
    /// cycle is broken when it drops the session at close. A strong `let` read through a
    /// borrowed owner (`withOwner`) costs nothing per callback; the `unowned(unsafe)` form
    /// cost a retain and release at every callback (one per header field).
    private let delegate: H2SessionDelegate
    /// Where nghttp2 allocates (nil: malloc). Held so that it outlives the session, whose
    /// deletion frees through it.
    private let memory: H2Memory?
    /// Output nghttp2 handed us that did not fit the caller's buffer yet.
    private var pending: UnsafePointer<UInt8>?
    private var pendingCount = 0
    /// While `produce` asks nghttp2 for frames: the caller's buffer, its size, and how many
    /// bytes of it the frames written so far took. Response bodies take nghttp2's no-copy
    /// path: a DATA frame's body is copied once, from the stream's buffer into the caller's
    /// (`h2CopyResponseBody`), instead of into nghttp2's frame buffer first and out of it
    /// again — or, with `sendsDataInPlace`, not at all (`h2SendResponseBodyInPlace`).
    private var out: UnsafeMutableRawPointer?
    private var outRoom = 0
    private var produced = 0

    /// Whether a large DATA frame may be passed on straight from where its stream staged
    /// the body (`H2SessionDelegate.h2SendResponseBodyInPlace`) instead of copied into the
    /// buffer `produce` fills. The owner sets it when it can pass bytes on from anywhere
    /// (a TLS connection encrypts them); a cleartext connection, which sends that buffer,
    /// leaves it off.
    public var sendsDataInPlace = false

    /// The smallest DATA frame passed on in place. One sent in place is encrypted alone, as
    /// a TLS record of its own; below this, copying it beside other streams' frames, into
    /// a record they share, costs less than a record's work.
    public static let smallestFrameInPlace = 4096

    /// Whether the last `produce` passed frames on in place: with none written to its
    /// buffer it returns 0, yet it made progress.
    public private(set) var sentInPlace = false

    /// The highest stream id the client opened with HEADERS.
    private var highestOpened: Int32 = 0
    /// The last streams that were reset (by us, or closed with an error code): a client's
    /// HEADERS for one of them (trailers racing the RST_STREAM, RFC 9113 §5.1) is nghttp2's
    /// to ignore, not a reason to end the connection. Streams that ended normally are not
    /// kept: on a busy connection eight of them closed within milliseconds and pushed a
    /// reset stream out, and its client's trailers then cost every stream a GOAWAY.
    private var recentlyClosed = [Int32](repeating: 0, count: 8)
    private var recentlyClosedNext = 0

    /// Notes a reset stream in `recentlyClosed` (once).
    private func noteClosed(_ id: Int32) {
        guard !recentlyClosed.contains(id) else { return }
        recentlyClosed[recentlyClosedNext] = id
        recentlyClosedNext = (recentlyClosedNext + 1) % recentlyClosed.count
    }

    /// RFC 9113 §5.1.1: a new stream's id must exceed every id the client used before, and
    /// "an endpoint that receives an unexpected stream identifier MUST respond with a
    /// connection error of type PROTOCOL_ERROR". nghttp2 ignores such HEADERS silently, and
    /// the client then waits for an answer that never comes: end the connection instead.
    private func checkHeadersStream(_ id: Int32) {
        guard let session, id & 1 == 1, id < highestOpened,
              nghttp2_session_find_stream(session, id) == nil, !recentlyClosed.contains(id) else { return }
        let reason = Array("HEADERS on stream \(id), below stream \(highestOpened) already opened".utf8)
        _ = reason.withUnsafeBufferPointer {
            nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), highestOpened,
                                  UInt32(NGHTTP2_PROTOCOL_ERROR.rawValue), $0.baseAddress, $0.count)
        }
    }

    /// `memory`: the worker's `H2Memory`, which every session of that worker shares (on
    /// its thread only); nil allocates with malloc.
    public init(limits: H2Limits = .default, delegate: H2SessionDelegate, memory: H2Memory? = nil) throws(H2Error) {
        self.delegate = delegate
        self.memory = memory
        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else { throw H2Error(code: NGHTTP2_ERR_NOMEM.rawValue) }
        defer { nghttp2_session_callbacks_del(callbacks) }
        Self.install(callbacks)

        var option: OpaquePointer?
        guard nghttp2_option_new(&option) == 0, let option else { throw H2Error(code: NGHTTP2_ERR_NOMEM.rawValue) }
        defer { nghttp2_option_del(option) }
        nghttp2_option_set_no_auto_window_update(option, 1)
        nghttp2_option_set_stream_reset_rate_limit(option, limits.resetBurst, limits.resetRatePerSecond)
        nghttp2_option_set_max_continuations(option, limits.maxContinuations)
        nghttp2_option_set_max_settings(option, limits.maxSettings)
        nghttp2_option_set_max_outbound_ack(option, limits.maxOutboundAck)

        var created: OpaquePointer?
        let context = Unmanaged.passUnretained(self).toOpaque()
        let rv: Int32
        if var allocator = memory?.allocator {
            // nghttp2 copies the allocator into the session.
            rv = nghttp2_session_server_new3(&created, callbacks, context, option, &allocator)
        } else {
            rv = nghttp2_session_server_new2(&created, callbacks, context, option)
        }
        guard rv == 0, let created else { throw H2Error(code: rv) }
        session = created

        var settings = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: limits.maxConcurrentStreams),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: limits.streamWindow),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: UInt32(limits.maxHeaderListBytes)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0),
        ]
        var status = nghttp2_submit_settings(created, UInt8(NGHTTP2_FLAG_NONE.rawValue), &settings, settings.count)
        if status == 0 {
            status = nghttp2_session_set_local_window_size(created, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Int32(clamping: limits.connectionWindow))
        }
        guard status == 0 else {
            nghttp2_session_del(created)
            session = nil
            throw H2Error(code: status)
        }
    }

    deinit {
        if let session { nghttp2_session_del(session) }
    }

    // MARK: input and output

    /// Processes bytes from the client. nghttp2 takes all of them (buffering partial
    /// frames); a protocol violation or a broken limit throws, with a GOAWAY queued.
    public func receive(_ bytes: UnsafeRawBufferPointer) throws(H2Error) {
        guard let session, let base = bytes.baseAddress, bytes.count > 0 else { return }
        let n = nghttp2_session_mem_recv(session, base.assumingMemoryBound(to: UInt8.self), bytes.count)
        if n < 0 { throw H2Error(code: Int32(n)) }
    }

    /// Copies frames to send into `buffer`; returns the byte count (0: nothing to send now,
    /// unless `sentInPlace`). Call it only once what the last call wrote has been passed on:
    /// a frame sent in place goes out after those bytes.
    public func produce(into buffer: UnsafeMutableRawBufferPointer) throws(H2Error) -> Int {
        guard let session, let base = buffer.baseAddress else { return 0 }
        // DATA frames nghttp2 sends on the way (`sendData`) are written at `out + produced`,
        // before the bytes it returns: the frames' order is kept.
        out = base
        outRoom = buffer.count
        produced = 0
        sentInPlace = false
        defer { out = nil; outRoom = 0 }
        while produced < buffer.count {
            if pendingCount == 0 {
                var data: UnsafePointer<UInt8>?
                let n = nghttp2_session_mem_send(session, &data)
                if n < 0 { throw H2Error(code: Int32(n)) }
                guard n > 0, let data else { break }
                pending = data
                pendingCount = n
            }
            let take = min(pendingCount, buffer.count - produced)
            (base + produced).copyMemory(from: pending!, byteCount: take)
            produced += take
            pending = pending! + take
            pendingCount -= take
        }
        return produced
    }

    /// The session still expects frames from the client.
    public var wantsRead: Bool { session.map { nghttp2_session_want_read($0) != 0 } ?? false }
    /// The session has frames to send (including bytes `produce` could not hand out yet).
    public var wantsWrite: Bool { pendingCount > 0 || (session.map { nghttp2_session_want_write($0) != 0 } ?? false) }

    // MARK: streams

    /// Submits a response head; with `hasBody`, DATA is asked from the delegate.
    @discardableResult
    public func submitResponse(_ stream: Int32, head: H2ResponseHead, hasBody: Bool) -> Bool {
        guard let session else { return false }
        if hasBody {
            var provider = nghttp2_data_provider(source: nghttp2_data_source(ptr: nil), read_callback: Self.readBody)
            return nghttp2_submit_response(session, stream, head.nv, head.count, &provider) == 0
        }
        return nghttp2_submit_response(session, stream, head.nv, head.count, nil) == 0
    }

    /// The body of `stream` has bytes again after `.deferred`.
    public func resume(_ stream: Int32) {
        guard let session else { return }
        _ = nghttp2_session_resume_data(session, stream)
    }

    /// `count` request body bytes of `stream` were passed on: the client may send more.
    public func consume(_ stream: Int32, _ count: Int) {
        guard let session, count > 0 else { return }
        // Fails only for a closed stream; its connection window still has to be returned.
        if nghttp2_session_consume(session, stream, count) != 0 {
            _ = nghttp2_session_consume_connection(session, count)
        }
    }

    /// Ends `stream` with RST_STREAM (`code`: RFC 9113 error code).
    public func reset(_ stream: Int32, code: UInt32) {
        guard let session else { return }
        noteClosed(stream)
        _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream, code)
    }

    /// Graceful shutdown: GOAWAY naming the last stream we took; those finish, no new ones.
    public func goAway() {
        guard let session else { return }
        _ = nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue),
                                  nghttp2_session_get_last_proc_stream_id(session), UInt32(NGHTTP2_NO_ERROR.rawValue), nil, 0)
    }

    /// Ends the session with GOAWAY(`code`); open streams are closed.
    public func terminate(code: UInt32) {
        guard let session else { return }
        _ = nghttp2_session_terminate_session(session, code)
    }

    /// Associates an object's address with a stream (looked up by `object(of:)`).
    public func setObject(_ object: UnsafeMutableRawPointer?, for stream: Int32) {
        guard let session else { return }
        _ = nghttp2_session_set_stream_user_data(session, stream, object)
    }

    public func object(of stream: Int32) -> UnsafeMutableRawPointer? {
        guard let session else { return nil }
        return nghttp2_session_get_stream_user_data(session, stream)
    }

    public static let noError: UInt32 = UInt32(NGHTTP2_NO_ERROR.rawValue)
    public static let internalError: UInt32 = UInt32(NGHTTP2_INTERNAL_ERROR.rawValue)
    public static let refusedStream: UInt32 = UInt32(NGHTTP2_REFUSED_STREAM.rawValue)
    public static let protocolError: UInt32 = UInt32(NGHTTP2_PROTOCOL_ERROR.rawValue)
    public static let flowControlError: UInt32 = UInt32(NGHTTP2_FLOW_CONTROL_ERROR.rawValue)
    public static let cancel: UInt32 = UInt32(NGHTTP2_CANCEL.rawValue)
    public static let enhanceYourCalm: UInt32 = UInt32(NGHTTP2_ENHANCE_YOUR_CALM.rawValue)

    // MARK: callbacks

    /// Runs `body` with the session behind nghttp2's `user_data`, borrowed: nghttp2 calls
    /// back only from inside the session's own methods, so the session is alive throughout
    /// and no retain is needed (`takeUnretainedValue` would retain and release it).
    @inline(__always)
    private static func withOwner<R>(_ userData: UnsafeMutableRawPointer?, _ body: (H2ServerSession) -> R) -> R {
        Unmanaged<H2ServerSession>.fromOpaque(userData!)._withUnsafeGuaranteedRef(body)
    }

    private static func install(_ callbacks: OpaquePointer) {
        nghttp2_session_callbacks_set_on_begin_frame_callback(callbacks) { _, hd, userData in
            guard let hd, hd.pointee.type == UInt8(NGHTTP2_HEADERS.rawValue) else { return 0 }
            H2ServerSession.withOwner(userData) { $0.checkHeadersStream(hd.pointee.stream_id) }
            return 0
        }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, userData in
            guard let frame, frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue),
                  frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST else { return 0 }
            H2ServerSession.withOwner(userData) { owner in
                owner.highestOpened = max(owner.highestOpened, frame.pointee.hd.stream_id)
                owner.delegate.h2StreamOpened(frame.pointee.hd.stream_id)
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { session, frame, name, nameLength, value, valueLength, _, userData in
            guard let frame, frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST else { return 0 }
            let id = frame.pointee.hd.stream_id
            let object = nghttp2_session_get_stream_user_data(session, id)
            H2ServerSession.withOwner(userData) {
                $0.delegate.h2Header(id, object: object,
                                     name: UnsafeRawBufferPointer(start: name, count: nameLength),
                                     value: UnsafeRawBufferPointer(start: value, count: valueLength))
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, userData in
            guard let frame else { return 0 }
            let hd = frame.pointee.hd
            let endStream = hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
            H2ServerSession.withOwner(userData) { owner in
                switch Int(hd.type) {
                case Int(NGHTTP2_HEADERS.rawValue):
                    if frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST {
                        owner.delegate.h2HeadComplete(hd.stream_id, endStream: endStream)
                    } else if endStream {
                        owner.delegate.h2RequestEnded(hd.stream_id)   // trailers: dropped, as on HTTP/1.1
                    }
                case Int(NGHTTP2_DATA.rawValue):
                    if endStream { owner.delegate.h2RequestEnded(hd.stream_id) }
                default:
                    break
                }
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, stream, data, length, userData in
            H2ServerSession.withOwner(userData) { $0.delegate.h2Data(stream, UnsafeRawBufferPointer(start: data, count: length)) }
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks) { _, frame, userData in
            guard let frame else { return 0 }
            let hd = frame.pointee.hd
            if hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0,
               hd.type == UInt8(NGHTTP2_DATA.rawValue) || hd.type == UInt8(NGHTTP2_HEADERS.rawValue) {
                H2ServerSession.withOwner(userData) { $0.delegate.h2ResponseSent(hd.stream_id) }
            } else if hd.type == UInt8(NGHTTP2_GOAWAY.rawValue) {
                // nghttp2 says why in the GOAWAY's debug data ("request HEADERS: max concurrent
                // streams exceeded"): the error log can then name the limit.
                let goAway = frame.pointee.goaway
                let reason = goAway.opaque_data_len > 0 && goAway.opaque_data != nil
                    ? String(decoding: UnsafeRawBufferPointer(start: goAway.opaque_data, count: min(goAway.opaque_data_len, 256)), as: UTF8.self)
                    : ""
                H2ServerSession.withOwner(userData) { $0.delegate.h2GoAwaySent(errorCode: goAway.error_code, reason: reason) }
            }
            return 0
        }
        nghttp2_session_callbacks_set_send_data_callback(callbacks, sendData)
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, stream, errorCode, userData in
            H2ServerSession.withOwner(userData) { owner in
                if errorCode != 0 { owner.noteClosed(stream) }
                owner.delegate.h2StreamClosed(stream, errorCode: errorCode)
            }
            return 0
        }
    }

    /// A DATA frame's header: its bytes go out before the payload (RFC 9113 §4.1).
    public static let frameHeaderBytes = 9

    /// A frame is cut to the room left in the caller's buffer only if this much still fits;
    /// with less room left it waits for the next buffer whole, rather than go out as a
    /// sliver with a header of its own.
    private static let smallestCutFrame = 4096

    /// The most plaintext one TLS record carries (RFC 8446 §5.1). A frame sent in place is
    /// encrypted alone, as its own record: with its header and the frames before it, it is
    /// cut to fit one, or a 9-byte frame header would cost a second record.
    public static let recordPlaintext = 16384

    /// Sizes the next DATA frame of `stream`; its bytes are copied later, by `sendData`,
    /// straight into the caller's buffer (`NGHTTP2_DATA_FLAG_NO_COPY`), or passed on in
    /// place. A copied frame is cut to the room left in that buffer, so that `sendData` can
    /// write it at once; with little room left it keeps nghttp2's size and `sendData`
    /// answers WOULDBLOCK: `produce` returns what it wrote, and the caller's next, empty
    /// buffer (a pool buffer, 64 KiB) holds the frame (nghttp2 asks for at most 16 KiB, its
    /// default frame size, as we set no `data_source_read_length_callback`).
    private static let readBody: nghttp2_data_source_read_callback = { _, stream, _, length, flags, _, userData in
        H2ServerSession.withOwner(userData) { owner in
            let room = owner.outRoom - owner.produced - frameHeaderBytes
            let size = room >= length || room < smallestCutFrame ? length : room
            let inPlaceMax = owner.sendsDataInPlace ? min(length, recordPlaintext - frameHeaderBytes) : 0
            switch owner.delegate.h2ResponseBodyReady(stream, max: size, inPlaceMax: inPlaceMax, preceding: owner.produced) {
            case .deferred:
                return Int(NGHTTP2_ERR_DEFERRED.rawValue)
            case .bytes(let n, let end):
                if end { flags!.pointee |= UInt32(NGHTTP2_DATA_FLAG_EOF.rawValue) }
                // An empty frame (END_STREAM alone) is nghttp2's to write.
                if n > 0 { flags!.pointee |= UInt32(NGHTTP2_DATA_FLAG_NO_COPY.rawValue) }
                return n
            }
        }
    }

    /// Writes a DATA frame `readBody` sized: header, pad length, payload, padding, in that
    /// order (nghttp2's contract for `NGHTTP2_DATA_FLAG_NO_COPY`), all of it or nothing:
    /// passed on in place with the bytes `produce` wrote before it, when the delegate
    /// can; else at `out + produced`. We ask for no padding (no padding callback); it is
    /// written all the same if nghttp2 ever adds some (never in place).
    private static let sendData: nghttp2_send_data_callback = { _, frame, header, length, _, userData in
        guard let frame, let header else { return Int32(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue) }
        return H2ServerSession.withOwner(userData) { owner in
            guard let out = owner.out else { return Int32(NGHTTP2_ERR_WOULDBLOCK.rawValue) }
            let stream = frame.pointee.hd.stream_id
            let padding = Int(frame.pointee.data.padlen)
            if owner.sendsDataInPlace && padding == 0 && length >= smallestFrameInPlace {
                switch owner.delegate.h2SendResponseBodyInPlace(stream, header: UnsafeRawBufferPointer(start: header, count: frameHeaderBytes),
                                                                 count: length, preceding: UnsafeRawBufferPointer(start: out, count: owner.produced)) {
                case .sent:
                    // The bytes before it went with it: the caller's buffer starts over.
                    owner.produced = 0
                    owner.sentInPlace = true
                    return 0
                case .wouldBlock:
                    return Int32(NGHTTP2_ERR_WOULDBLOCK.rawValue)
                case .gone:
                    return Int32(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
                case .failed:
                    return Int32(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue)
                case .copy:
                    break
                }
            }
            let size = frameHeaderBytes + length + padding
            guard owner.outRoom - owner.produced >= size else {
                return Int32(NGHTTP2_ERR_WOULDBLOCK.rawValue)
            }
            var at = out + owner.produced
            at.copyMemory(from: header, byteCount: frameHeaderBytes)
            at += frameHeaderBytes
            if padding > 0 {
                at.storeBytes(of: UInt8(padding - 1), as: UInt8.self)
                at += 1
            }
            guard owner.delegate.h2CopyResponseBody(stream, into: UnsafeMutableRawBufferPointer(start: at, count: length)) else {
                return Int32(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
            }
            if padding > 1 { (at + length).initializeMemory(as: UInt8.self, repeating: 0, count: padding - 1) }
            owner.produced += size
            return 0
        }
    }
}
