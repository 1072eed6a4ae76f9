import HubWire
import NIOCore
import NIOPosix

/// What every client connection shares: the TCP connection with a frame decoder in front, and the reading of the
/// hub's answer to HELLO.
enum FrameChannel {
    /// Connects within `timeout` (5 s when nil).
    static func connect(to address: HubAddress, group: any EventLoopGroup, timeout: Duration? = nil) async throws
        -> NIOAsyncChannel<Frame, ByteBuffer>
    {
        let timeout = timeout ?? .seconds(5)
        do {
            return try await ClientBootstrap(group: group)
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .connectTimeout(timeout.timeAmount)
                .connect(host: address.host, port: address.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(
                                FrameDecoder(maxFrameLength: WireLimits.maxFrameLength, detectingProtocol: false)))
                        return try NIOAsyncChannel<Frame, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            if isConnectTimeout(error) {
                throw HubClientError.timedOut(address: "\(address)", waitingFor: "the connection", after: timeout)
            }
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

    private static func isConnectTimeout(_ error: any Error) -> Bool {
        if case ChannelError.connectTimeout = error { return true }
        if let failure = error as? NIOConnectionError {
            return failure.connectionErrors.contains {
                if case ChannelError.connectTimeout = $0.error { return true }
                return false
            }
        }
        return false
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
