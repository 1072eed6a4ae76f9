import HubWire
import NIOCore

/// What the fuzz targets run on each input; shared by the libFuzzer binary and the test that replays the
/// regression corpus, so that a crash found once is checked on every test run.
public enum WireFuzzHarness {
    /// A small fixed dictionary: compressed inputs need one, and the fuzzer should not spend time on which.
    static let dictionary: [UInt8] = Array(0..<64) + Array("north-eastsouth-westCONLABLDnational".utf8)

    /// Feeds the bytes to a hub-side frame decoder (protocol detection, the pre-handshake limit, then the full limit)
    /// and decodes every frame as a message, inflating compressed ones. Any message that decodes must survive
    /// encode-then-decode unchanged. Errors are the expected outcome of most inputs; only crashes, hangs and
    /// failed round trips are bugs.
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
            var encoded = codec.encode(message)
            var again = FrameDecoder(maxFrameLength: WireLimits.maxFrameLength, detectingProtocol: false)
            guard let reframed = try? again.decode(buffer: &encoded), let decoded = try? codec.decode(reframed),
                decoded == message
            else {
                fatalError("round trip changed a decoded \(message.type.specName) message")
            }
        }
    }
}
