import NIOCore

/// One frame (spec 1): type, flags and payload. The payload is a slice of the bytes read, not a copy.
public struct Frame: Hashable, Sendable {
    /// The `length` field (u32) before type and flags.
    public static let lengthFieldLength = 4
    /// Length, type and flags.
    public static let headerLength = lengthFieldLength + 2
    public static let compressedFlag: UInt8 = 0x01

    public var type: UInt8
    public var flags: UInt8
    public var payload: ByteBuffer

    public init(type: UInt8, flags: UInt8, payload: ByteBuffer) {
        self.type = type
        self.flags = flags
        self.payload = payload
    }

    public var isCompressed: Bool { flags & Frame.compressedFlag != 0 }

    /// The frame's first bytes as they came (header, then payload; only the header for a HELLO, whose payload holds
    /// credentials), for a `WireError` about the whole frame. Only called when an error is made: it copies.
    var offendingBytes: [UInt8] {
        let length = UInt32(payload.readableBytes) + WireLimits.minFrameLength
        let header: [UInt8] = [
            UInt8(truncatingIfNeeded: length >> 24), UInt8(truncatingIfNeeded: length >> 16),
            UInt8(truncatingIfNeeded: length >> 8), UInt8(truncatingIfNeeded: length), type, flags,
        ]
        guard type != MessageType.hello.rawValue else { return header }
        return header + payload.readableBytesView.prefix(WireLimits.maxOffendingBytes - header.count)
    }

    /// Writes the frame: length, type, flags, payload.
    public func write(into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt32(payload.readableBytes) + WireLimits.minFrameLength, endianness: .big)
        buffer.writeInteger(type)
        buffer.writeInteger(flags)
        var payload = payload
        buffer.writeBuffer(&payload)
    }
}

/// Splits a byte stream into frames, checking every length before buffering it, and recognising on the first
/// bytes a peer that does not speak this protocol (spec 1.1). Its errors carry at most a frame's header, since the
/// payload (perhaps a HELLO with credentials) is not parsed yet; a foreign protocol's error carries its first bytes.
///
/// ```
/// +----------------+--------+--------+--------------------+
/// | length (u32 BE)| type   | flags  | payload            |
/// +----------------+--------+--------+--------------------+
///   counts type + flags + payload; 2 ... maxFrameLength
/// ```
public struct FrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = Frame

    private enum State {
        /// Nothing read yet: the first bytes tell whether this is our protocol at all.
        case awaitingFirstFrame
        case readingFrames
    }

    private var state: State
    /// The largest `length` accepted now; raised after the handshake.
    public var maxFrameLength: UInt32

    /// - Parameter detectingProtocol: true on the hub's side, where a stranger may connect.
    public init(
        maxFrameLength: UInt32 = WireLimits.maxFrameLengthBeforeHandshake, detectingProtocol: Bool = true
    ) {
        self.maxFrameLength = maxFrameLength
        self.state = detectingProtocol ? .awaitingFirstFrame : .readingFrames
    }

    public mutating func decode(buffer: inout ByteBuffer) throws(WireError) -> Frame? {
        if case .awaitingFirstFrame = state {
            guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
            if first == 0x16 {
                throw WireError(.notThisProtocol(.tls), "the peer sent a TLS ClientHello", bytesOf: buffer)
            }
            if (0x41...0x5A).contains(first) {
                throw WireError(
                    .notThisProtocol(.http), "the peer sent what looks like an HTTP request", bytesOf: buffer)
            }
            if first != 0 {
                throw WireError(.notThisProtocol(.unknown), "the first byte is not a frame length", bytesOf: buffer)
            }
            guard let second = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt8.self) else { return nil }
            if second != 0 {
                throw WireError(
                    .notThisProtocol(.unknown), "the first bytes are not a frame length", bytesOf: buffer)
            }
            state = .readingFrames
        }
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: UInt32.self) else {
            return nil
        }
        guard length >= WireLimits.minFrameLength else {
            throw WireError(
                .malformedFrame, "frame length \(length) is below the minimum of \(WireLimits.minFrameLength)",
                bytesOf: buffer, from: buffer.readerIndex, limit: Frame.headerLength)
        }
        guard length <= maxFrameLength else {
            throw WireError(
                .frameTooLarge, "frame length \(length) is over the limit \(maxFrameLength)", bytesOf: buffer,
                from: buffer.readerIndex, limit: Frame.headerLength)
        }
        guard buffer.readableBytes >= Frame.lengthFieldLength + Int(length) else { return nil }
        let start = buffer.readerIndex
        buffer.moveReaderIndex(forwardBy: Frame.lengthFieldLength)
        let type = buffer.readInteger(as: UInt8.self)!
        let flags = buffer.readInteger(as: UInt8.self)!
        guard flags & ~Frame.compressedFlag == 0 else {
            throw WireError(
                .malformedFrame, "frame flags 0x\(String(flags, radix: 16)) have reserved bits set", bytesOf: buffer,
                from: start, limit: Frame.headerLength)
        }
        let payload = buffer.readSlice(length: Int(length) - Int(WireLimits.minFrameLength))!
        return Frame(type: type, flags: flags, payload: payload)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws(WireError) -> Frame? {
        if let frame = try decode(buffer: &buffer) { return frame }
        if seenEOF && buffer.readableBytes > 0 {
            throw WireError(
                .truncated, "the stream ended \(buffer.readableBytes) bytes into a frame", bytesOf: buffer,
                from: buffer.readerIndex, limit: Frame.headerLength)
        }
        return nil
    }
}
