import HubWire
import NIOCore
import NIOPosix

/// What every client connection shares: the TCP connection with a frame decoder in front, and the reading of the
/// hub's answer to HELLO.
enum FrameChannel {
    static func connect(to address: HubAddress, group: any EventLoopGroup) async throws
        -> NIOAsyncChannel<Frame, ByteBuffer>
    {
        do {
            return try await ClientBootstrap(group: group)
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .connectTimeout(.seconds(5))
                .connect(host: address.host, port: address.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(
                                FrameDecoder(maxFrameLength: WireLimits.maxFrameLength, detectingProtocol: false)))
                        return try NIOAsyncChannel<Frame, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw HubClientError.unreachable(address: "\(address)", reason: reason(error))
        }
    }

    /// The WELCOME in the hub's answer to HELLO, or the error its answer means.
    static func welcome(from answer: HubMessage?) throws(HubClientError) -> Welcome {
        switch answer {
        case .welcome(let welcome)?: return welcome
        case .versionRange(let range)?: throw .unsupportedVersion(range)
        case .goodbye(let goodbye)?: throw .closedByHub(goodbye)
        case let other?: throw .unexpected("\(other.type.specName) before WELCOME")
        case nil: throw .connectionLost
        }
    }

    /// A connection failure in words a person can act on.
    static func reason(_ error: any Error) -> String {
        let text = "\(error)"
        if text.contains("refused") || text.contains("ECONNREFUSED") {
            return "connection refused (is results-hub running there?)"
        }
        if text.contains("imeout") { return "timed out" }
        return text
    }
}
