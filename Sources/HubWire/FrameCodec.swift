import NIOCore

/// Turns messages into frames and frames into messages for one connection, compressing and inflating with the
/// format negotiated in the handshake. Holds zlib state, so it belongs to one owner (one connection or one
/// fan-out writer) and is not shared across threads.
public final class FrameCodec {
    public let compressor: PayloadCompressor?
    public let decompressor: PayloadDecompressor?
    private let allocator: ByteBufferAllocator

    /// A codec without compression, as used before the handshake.
    public init(allocator: ByteBufferAllocator = ByteBufferAllocator()) {
        self.compressor = nil
        self.decompressor = nil
        self.allocator = allocator
    }

    public init(
        format: CompressionFormat, dictionary: [UInt8],
        maxDecompressedLength: Int = Int(WireLimits.maxDecompressedLength),
        allocator: ByteBufferAllocator = ByteBufferAllocator()
    ) {
        if format == .none {
            self.compressor = nil
            self.decompressor = nil
        } else {
            self.compressor = PayloadCompressor(format: format, dictionary: dictionary)
            self.decompressor = PayloadDecompressor(
                format: format, dictionary: dictionary, maxDecompressedLength: maxDecompressedLength)
        }
        self.allocator = allocator
    }

    /// Messages worth compressing: large, repetitive state. Small request/answer frames would only grow, and
    /// ELECTION stays plain because a client needs the definition to derive the dictionary (spec 8).
    public static func isCompressible(_ type: MessageType) -> Bool {
        type == .snapshot || type == .deltaBatch
    }

    /// The whole frame for `message`, compressed when the type is compressible and compression makes it smaller.
    /// The payload is encoded after room left for the header, which is filled in last: an uncompressed frame (every
    /// ACK) takes one buffer and no copy.
    public func encode(_ message: HubMessage) -> ByteBuffer {
        var frame = allocator.buffer(capacity: 64)
        frame.moveWriterIndex(forwardBy: Frame.headerLength)
        MessageCodec.encodePayload(message, into: &frame)
        let payloadLength = frame.writerIndex - Frame.headerLength
        if let compressor, Self.isCompressible(message.type) {
            var compressed = allocator.buffer(capacity: payloadLength / 2 + 32)
            compressor.compress(frame.getSlice(at: Frame.headerLength, length: payloadLength)!, into: &compressed)
            if compressed.readableBytes < payloadLength {
                var whole = allocator.buffer(capacity: Frame.headerLength + compressed.readableBytes)
                Frame(type: message.type.rawValue, flags: Frame.compressedFlag, payload: compressed).write(into: &whole)
                return whole
            }
        }
        frame.setInteger(UInt32(payloadLength) + WireLimits.minFrameLength, at: 0, endianness: .big)
        frame.setInteger(message.type.rawValue, at: Frame.lengthFieldLength)
        frame.setInteger(UInt8(0), at: Frame.lengthFieldLength + 1)
        return frame
    }

    /// Decodes a frame's message, inflating it first if it is compressed.
    public func decode(_ frame: Frame) throws(WireError) -> HubMessage {
        guard let type = MessageType(rawValue: frame.type) else {
            throw WireError(
                .unknownMessageType, "message type 0x\(String(frame.type, radix: 16)) is unknown",
                offendingBytes: frame.offendingBytes)
        }
        var payload = frame.payload
        if frame.isCompressed {
            guard let decompressor else {
                throw WireError(
                    .malformedFrame, "a compressed frame arrived but no compression was negotiated",
                    offendingBytes: frame.offendingBytes)
            }
            do throws(WireError) {
                payload = try decompressor.decompress(payload, allocator: allocator)
            } catch {
                throw frame.type == MessageType.hello.rawValue ? error.redacted() : error
            }
        }
        return try MessageCodec.decodePayload(type: type, payload: payload)
    }
}

/// The bytes a hub sends to a connection that does not speak this protocol (spec 1.1), before closing it.
public enum ForeignProtocolAnswer {
    /// A fatal TLS alert: protocol_version.
    public static let tlsAlert: [UInt8] = [0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46]

    public static let httpResponse: [UInt8] = {
        let body =
            "This port speaks the ResultsHub binary protocol (see Protocol/SPEC.md), not HTTP.\n"
        let head =
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n"
        return Array((head + body).utf8)
    }()
}
