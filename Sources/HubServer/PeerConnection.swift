import HubCore
import HubWire
import Logging
import NIOCore
import Synchronization

/// A connected, authenticated client as the server sees it: its channel, its logger (with its desk or subscriber
/// name), and the bytes handed to its socket and not yet written.
final class PeerConnection: Sendable {
    let id: PeerID
    let channel: any Channel
    let logger: Logger
    private let unwrittenBytes = Atomic<Int>(0)

    init(id: PeerID, channel: any Channel, logger: Logger) {
        self.id = id
        self.channel = channel
        self.logger = logger
    }

    /// Hands a frame to the socket. A peer that stops reading while it keeps asking (queries, pipelined
    /// submissions) is closed at `WireLimits.maxPeerPendingOutboundBytes` instead of growing the hub's memory.
    func write(_ frame: ByteBuffer) -> EventLoopFuture<Void> {
        let bytes = frame.readableBytes
        let limit = WireLimits.maxPeerPendingOutboundBytes
        guard unwrittenBytes.add(bytes, ordering: .relaxed).newValue <= limit else {
            unwrittenBytes.subtract(bytes, ordering: .relaxed)
            logger.warning(
                "closing a connection that does not read its answers",
                metadata: ["connection.outboundLimit": "\(limit)"])
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(ChannelError.outputClosed)
        }
        let written = channel.writeAndFlush(frame)
        written.whenComplete { _ in self.unwrittenBytes.subtract(bytes, ordering: .relaxed) }
        return written
    }
}

/// Sends a last frame and closes the connection: as soon as the frame is written, or after `grace` if the peer is
/// not reading (its socket is full), so that a stalled peer never keeps its connection, or a shutdown, waiting.
@discardableResult
func closeAfter(_ frame: ByteBuffer, on channel: any Channel, grace: TimeAmount = .seconds(1)) -> EventLoopFuture<Void>
{
    channel.writeAndFlush(frame).whenComplete { _ in channel.close(promise: nil) }
    channel.eventLoop.scheduleTask(in: grace) { channel.close(promise: nil) }
    return channel.closeFuture
}
