import HubWire
import NIOCore

/// Splits inbound bytes into frames with a `FrameDecoder`. The frame limit is the small pre-authentication one
/// until the handshake, then what the peer's role may send. The bytes of a frame still arriving are charged to the
/// hub-wide `PartialFrameBudget`. Decoding errors go down the pipeline as `WireError`s; after one, nothing more is
/// decoded.
final class FrameReader: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = Frame

    private var decoder: FrameDecoder
    private var buffer: ByteBuffer?
    private var failed = false
    private let budget: PartialFrameBudget
    /// What this connection holds of the budget: the capacity of `buffer`.
    private var charged = 0

    init(budget: PartialFrameBudget) {
        self.budget = budget
        decoder = FrameDecoder(maxFrameLength: WireLimits.maxFrameLengthBeforeHandshake, detectingProtocol: true)
    }

    /// After WELCOME: frames up to what the peer's role may send.
    func handshakeCompleted(maxFrameLength: UInt32) {
        decoder.maxFrameLength = maxFrameLength
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
            fail(error, context: context)
            return
        }
        keepOnlyThePartialFrame(allocator: context.channel.allocator)
        guard chargeBudget() else {
            fail(
                WireError(
                    .limitExceeded,
                    "the hub holds its limit of \(budget.limit) bytes of frames still arriving; send frames whole"),
                context: context)
            return
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        buffer = nil
        _ = chargeBudget()
    }

    private func fail(_ error: any Error, context: ChannelHandlerContext) {
        failed = true
        buffer = nil
        _ = chargeBudget()
        context.fireErrorCaught(error)
    }

    /// Drops what has been read, so that the buffer holds the start of the next frame only: a few bytes left at
    /// the end of a large read would otherwise keep the whole read's allocation alive.
    private func keepOnlyThePartialFrame(allocator: ByteBufferAllocator) {
        guard var pending = buffer, pending.readableBytes > 0 else {
            buffer = nil
            return
        }
        // A buffer grown by appending is at most twice its contents; four times means a large read's leftovers.
        if pending.capacity > 4 * pending.readableBytes, pending.capacity > WireLimits.partialFrameCompactionCapacity {
            var compact = allocator.buffer(capacity: pending.readableBytes)
            compact.writeBuffer(&pending)
            buffer = compact
        } else if pending.readerIndex > WireLimits.partialFrameDiscardReadBytes {
            pending.discardReadBytes()
            buffer = pending
        }
    }

    /// Brings this connection's charge to the buffer's capacity; false (charging nothing more) when the budget
    /// has no room for the growth.
    private func chargeBudget() -> Bool {
        let holding = buffer?.capacity ?? 0
        if holding > charged {
            guard budget.take(holding - charged) else { return false }
        } else if holding < charged {
            budget.give(charged - holding)
        }
        charged = holding
        return true
    }
}
