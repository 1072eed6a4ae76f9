import HubWire
import NIOCore

/// Splits inbound bytes into frames with a `FrameDecoder`, and lets the connection raise the frame limit once the
/// handshake is done. Decoding errors go down the pipeline as `WireError`s; after one, nothing more is decoded.
final class FrameReader: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = Frame

    private var decoder: FrameDecoder
    private var buffer: ByteBuffer?
    private var failed = false

    init() {
        decoder = FrameDecoder(maxFrameLength: WireLimits.maxFrameLengthBeforeHandshake, detectingProtocol: true)
    }

    /// After WELCOME: frames up to the full limit.
    func handshakeCompleted() {
        decoder.maxFrameLength = WireLimits.maxFrameLength
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        var incoming = unwrapInboundIn(data)
        if buffer == nil {
            buffer = incoming
        } else {
            buffer!.writeBuffer(&incoming)
        }
        do {
            while var pending = buffer, let frame = try decoder.decode(buffer: &pending) {
                buffer = pending
                context.fireChannelRead(wrapInboundOut(frame))
            }
        } catch {
            failed = true
            buffer = nil
            context.fireErrorCaught(error)
            return
        }
        if let pending = buffer, pending.readableBytes == 0 {
            buffer = nil
        } else if var pending = buffer, pending.readerIndex > 65_536 {
            pending.discardReadBytes()
            buffer = pending
        }
    }
}
