import HubWire
import NIOCore

/// What the fuzz targets run on each input; shared by the libFuzzer binary and the test that replays the
/// regression corpus, so that a crash found once is checked on every test run. Errors are the expected outcome of
/// most inputs; only crashes, hangs, leaks, unbounded memory and failed round trips are bugs.
public enum WireFuzzHarness {
    /// The targets, chosen with the environment variable FUZZ_TARGET.
    public enum Target: String, CaseIterable, Sendable {
        /// A hub-side byte stream: protocol detection, frame limits, then every frame decoded as a message.
        case frames
        /// One message payload: the first byte picks the message type, the rest is the payload.
        case messages
        /// One compressed payload: the first byte picks raw deflate or zlib, the rest is the compressed payload.
        case decompressor
    }

    /// A small fixed dictionary: compressed inputs need one, and the fuzzer should not spend time on which.
    static let dictionary: [UInt8] = Array(0..<64) + Array("north-eastsouth-westCONLABLDnational".utf8)

    public static func run(_ target: Target, _ bytes: UnsafeRawBufferPointer) {
        switch target {
        case .frames: frames(bytes)
        case .messages: messages(bytes)
        case .decompressor: decompressor(bytes)
        }
    }

    public static func frames(_ bytes: UnsafeRawBufferPointer) {
        var buffer = ByteBuffer(bytes: bytes)
        var decoder = FrameDecoder()
        let codec = FrameCodec(
            format: bytes.first.map { $0 & 1 == 0 } ?? true ? .deflate : .zlib, dictionary: dictionary)
        var framesSeen = 0
        while true {
            let frame: Frame
            do {
                guard let next = try decoder.decodeLast(buffer: &buffer, seenEOF: true) else { return }
                frame = next
            } catch {
                return
            }
            framesSeen += 1
            if framesSeen == 1 { decoder.maxFrameLength = WireLimits.maxFrameLength }
            guard let message = try? codec.decode(frame) else { continue }
            checkRoundTrip(message, codec: codec)
        }
    }

    public static func messages(_ bytes: UnsafeRawBufferPointer) {
        guard let first = bytes.first else { return }
        let type = MessageType.allCases[Int(first) % MessageType.allCases.count]
        guard let message = try? MessageCodec.decodePayload(type: type, payload: ByteBuffer(bytes: bytes.dropFirst()))
        else { return }
        checkRoundTrip(message, codec: FrameCodec())
    }

    /// The decompressor's limit here: far below `WireLimits.maxDecompressedLength`, so that each input stays fast;
    /// what is checked is that inflating never passes the limit it is given, whatever the limit.
    static let maxDecompressedLength = 1 << 16

    public static func decompressor(_ bytes: UnsafeRawBufferPointer) {
        guard let first = bytes.first else { return }
        let limit = maxDecompressedLength
        let decompressor = PayloadDecompressor(
            format: first & 1 == 0 ? .deflate : .zlib, dictionary: dictionary, maxDecompressedLength: limit)
        guard
            let inflated = try? decompressor.decompress(
                ByteBuffer(bytes: bytes.dropFirst()), allocator: ByteBufferAllocator())
        else { return }
        precondition(inflated.readableBytes <= limit, "inflated past the limit")
    }

    /// Anything that decodes must encode and decode back to itself.
    static func checkRoundTrip(_ message: HubMessage, codec: FrameCodec) {
        var encoded = codec.encode(message)
        var again = FrameDecoder(maxFrameLength: WireLimits.maxFrameLength, detectingProtocol: false)
        guard let reframed = try? again.decode(buffer: &encoded), let decoded = try? codec.decode(reframed),
            decoded == message
        else {
            fatalError("round trip changed a decoded \(message.type.specName) message")
        }
    }
}
